"""Why an LP is infeasible: a phase-1 relaxation with a named slack per constraint family.

Every row r of ``lo <= A x <= hi`` gets two slacks, ``A x + s_plus - s_minus``, and the
relaxation minimises their sum, weighted by each row's scale so that families are
comparable -- except the rows that define the lotteries (``HARD``: probabilities sum to
one, one market for all), which stay exact: relaxing them would "explain" any conflict
by dropping probability mass. The rows whose slacks stay positive are the least violation that makes the LP
feasible; their *families* (the LP's labelled row blocks: ``resources``, ``market``,
``ic``, ``good1``, ...) are what conflicts. :func:`explain_infeasible` turns that into one
line a user can act on, with a hint per family where the economy registered one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .lp import LP, LPBuilder

#: Slack below this (relative to the row's scale) is zero: HiGHS's feasibility tolerance.
SLACK_TOL = 1e-7

#: Row families kept exact in the relaxation (module docstring).
HARD = ("lottery", "common")

#: What to change, per constraint family (row-block name; the part before any "[").
HINTS = {
    "lottery": "every type needs at least one bundle on its grids",
    "resources": "no allocation on the grids fits within the endowment: lower the minimum income/consumption "
                 "grid points (grid.I, grid.c) or widen grid.c",
    "market": "no exchange's private market can clear on the grids: widen grid.R (or grid.p) and grid.I",
    "common": "one market for all types cannot be formed on grid.R",
    "ic": "truth-telling cannot hold on the grids: widen them so that every type's own bundle is representable",
    "good1": "good 1 cannot clear: the c and k grids must hold every type's endowment and k = 0",
    "good2": "good 2 cannot clear: the c and k grids must hold every type's endowment and k = 0",
    "rights": "no exchange clears its rights to trade: the z grid must hold the no-trade fundamental",
}


def relaxation(lp: LP, hard=HARD) -> tuple[LP, int]:
    """The phase-1 LP (maximise minus the weighted slacks) and the number of original columns."""
    m, n = lp.A.shape
    scale = 1.0 + np.maximum(np.abs(np.where(np.isfinite(lp.row_lb), lp.row_lb, 0.0)),
                             np.abs(np.where(np.isfinite(lp.row_ub), lp.row_ub, 0.0)))
    soft = np.ones(m)
    for name, blk in lp.row_blocks.items():
        if name.split("[")[0] in hard:
            soft[blk.slice] = 0.0
    eye = sp.diags(soft, format="csc")
    A = sp.hstack([lp.A, eye, -eye], format="csc")
    c = np.concatenate([np.zeros(n), -1.0 / scale, -1.0 / scale])
    relaxed = LP(c=c, A=A, col_lb=np.concatenate([lp.col_lb, np.zeros(2 * m)]),
                 col_ub=np.concatenate([lp.col_ub, np.full(2 * m, np.inf)]), row_lb=lp.row_lb, row_ub=lp.row_ub,
                 col_blocks={}, row_blocks=lp.row_blocks)
    return relaxed, n


def conflicting_families(lp: LP) -> dict[str, float]:
    """{row family: its largest scaled violation} in the least violation that makes the LP
    feasible (empty if the relaxation finds the LP feasible after all). If even the hard
    rows cannot hold (a type with no bundle at all), they are the answer."""
    from ..backends.highs import solve_highs
    from ..errors import SolveError

    relaxed, n = relaxation(lp)
    try:
        solve_highs(relaxed, presolve="on")
    except SolveError:
        return {name.split("[")[0]: float("inf") for name in lp.row_blocks if name.split("[")[0] in HARD}
    m = lp.A.shape[0]
    sol = solve_highs(relaxed, presolve="on")
    scale = -relaxed.c[n:n + m]
    slack = (sol.x[n:n + m] + sol.x[n + m:]) * scale
    out: dict[str, float] = {}
    for name, blk in lp.row_blocks.items():
        worst = float(slack[blk.slice].max(initial=0.0))
        if worst > SLACK_TOL:
            family = name.split("[")[0]
            out[family] = max(out.get(family, 0.0), worst)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def explain_infeasible(lp: LP) -> str:
    """One line: which constraint families conflict and what to change."""
    try:
        fam = conflicting_families(lp)
    except Exception as exc:  # the diagnosis must never hide the original failure
        return f"(the phase-1 diagnosis failed too: {exc})"
    if not fam:
        return "the phase-1 relaxation finds no violated family (numerical trouble: rerun with presolve off)"
    parts = [f"{k} (violation {v:.3g})" for k, v in fam.items()]
    hints = [HINTS[k] for k in fam if k in HINTS]
    return ("constraint families that cannot all hold: " + ", ".join(parts)
            + ("; " + "; ".join(dict.fromkeys(hints)) if hints else ""))


__all__ = ["HINTS", "conflicting_families", "explain_infeasible", "relaxation", "LPBuilder"]
