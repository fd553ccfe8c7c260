"""Incentive rows of a lottery LP, written once for every economy with hidden information.

Truth-telling (Prescott–Townsend; FGT eqs. 7 and 30; KT eqs. 44-46): a type reporting
truthfully must get at least what it gets by reporting another type and taking that type's
lottery, valued with its own preferences (and, where trades are hidden, its own re-trade):

    sum_b V(t, t)_b x[t]_b - sum_b V(t, s)_b x[s]_b >= 0   for each (true t, report s).

With ``group`` (for example the exchange each bundle trades in, when every exchange's rate is
drawn publicly) there is one row per pair and group: truth-telling must hold whichever is drawn.
Rows are added vectorized over bundles, one call per pair.
"""

from __future__ import annotations

import numpy as np

from ..engine.lp import LPBuilder


def add_truth_telling(b: LPBuilder, cols, value, pairs, group=None, n_groups: int = 1, name: str = "ic",
                      hint: str | None = None):
    """Rows ``name`` (one per pair, or per pair and group) on the builder ``b``.

    ``cols[t]``: the column block of type t's lottery; ``value(t, s)``: type t's utility of
    each bundle of s's block; ``pairs``: (true t, report s); ``group``: the group of each
    bundle (same for every block), ``n_groups`` how many. Returns the row block, or None
    when there are no pairs."""
    if not pairs:
        return None
    n = n_groups if group is not None else 1
    rows_ = b.add_rows(name, size=len(pairs) * n, lb=0.0, ub=np.inf, hint=hint)
    for p, (t, s) in enumerate(pairs):
        rows = rows_.start + p * n + (group if group is not None else 0)
        b.add_terms(rows, cols[t].all(), value(t, t))  # the truthful type's own lottery
        b.add_terms(rows, cols[s].all(), -value(t, s))  # the report's lottery, valued by type t
    return rows_


def truth_telling_multipliers(row_dual: np.ndarray, block, pairs, n_types: int, n_groups: int = 1) -> np.ndarray:
    """(n_types, n_types) multipliers of the truth-telling rows, >= 0 (engine convention:
    a ``>=`` row's dual is d objective / d lower bound <= 0, so its negative), summed over
    groups."""
    out = np.zeros((n_types, n_types))
    if pairs:
        y = -row_dual[block.slice].reshape(len(pairs), n_groups).sum(1)
        for p, (t, s) in enumerate(pairs):
            out[t, s] = y[p]
    return out
