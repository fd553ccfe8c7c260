"""Why an LP is infeasible: a phase-1 relaxation with a named slack per constraint family.

Every row r of ``lo <= A x <= hi`` gets two slacks, ``A x + s_plus - s_minus``, and the
relaxation minimises their sum, weighted by each row's scale so that families are
comparable -- except the row blocks the economy declared ``exact`` (the rows that define
the lotteries), which stay exact: relaxing them would "explain" any conflict by dropping
probability mass. The rows whose slacks stay positive are the least violation that makes
the LP feasible; their *families* (the LP's labelled row blocks, the part of the name
before any "[") are what conflicts. :func:`explain_infeasible` turns that into one line a
user can act on, with the ``hint`` each family's block declared.

The solver is passed in: ``solve(lp) -> LPSolution``, raising
:class:`~segex.errors.SolveError` unless optimal.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import SolveError
from .lp import LP, LPSolution

#: Slack below this (relative to the row's scale) is zero: HiGHS's feasibility tolerance.
SLACK_TOL = 1e-7

Solve = Callable[[LP], LPSolution]


def family(name: str) -> str:
    """A row block's family: its name before any "[" (``rights[0]`` -> ``rights``)."""
    return name.split("[")[0]


def relaxation(lp: LP) -> tuple[LP, int]:
    """The phase-1 LP (maximise minus the weighted slacks) and the number of original columns."""
    m, n = lp.A.shape
    scale = 1.0 + np.maximum(np.abs(np.where(np.isfinite(lp.row_lb), lp.row_lb, 0.0)),
                             np.abs(np.where(np.isfinite(lp.row_ub), lp.row_ub, 0.0)))
    soft = np.ones(m)
    for blk in lp.row_blocks.values():
        if blk.exact:
            soft[blk.slice] = 0.0
    eye = sp.diags(soft, format="csc")
    A = sp.hstack([lp.A, eye, -eye], format="csc")
    c = np.concatenate([np.zeros(n), -1.0 / scale, -1.0 / scale])
    relaxed = LP(c=c, A=A, col_lb=np.concatenate([lp.col_lb, np.zeros(2 * m)]),
                 col_ub=np.concatenate([lp.col_ub, np.full(2 * m, np.inf)]), row_lb=lp.row_lb, row_ub=lp.row_ub,
                 col_blocks={}, row_blocks=lp.row_blocks)
    return relaxed, n


def conflicting_families(lp: LP, solve: Solve) -> dict[str, float]:
    """{row family: its largest scaled violation} in the least violation that makes the LP
    feasible (empty if the relaxation finds the LP feasible after all). If even the exact
    rows cannot hold (a type with no bundle at all), they are the answer."""
    relaxed, n = relaxation(lp)
    try:
        sol = solve(relaxed)
    except SolveError:
        return {family(name): float("inf") for name, blk in lp.row_blocks.items() if blk.exact}
    m = lp.A.shape[0]
    scale = -relaxed.c[n:n + m]
    slack = (sol.x[n:n + m] + sol.x[n + m:]) * scale
    out: dict[str, float] = {}
    for name, blk in lp.row_blocks.items():
        worst = float(slack[blk.slice].max(initial=0.0))
        if worst > SLACK_TOL:
            fam = family(name)
            out[fam] = max(out.get(fam, 0.0), worst)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def hints(lp: LP) -> dict[str, str]:
    """{row family: what to change when it conflicts}, as its blocks declared."""
    out: dict[str, str] = {}
    for name, blk in lp.row_blocks.items():
        if blk.hint:
            out.setdefault(family(name), blk.hint)
    return out


def explain_infeasible(lp: LP, solve: Solve) -> str:
    """One line: which constraint families conflict and what to change."""
    try:
        fam = conflicting_families(lp, solve)
    except Exception as exc:  # the diagnosis must never hide the original failure
        return f"(the phase-1 diagnosis failed too: {exc})"
    if not fam:
        return "the phase-1 relaxation finds no violated family (numerical trouble: rerun with presolve off)"
    parts = [f"{k} (violation {v:.3g})" for k, v in fam.items()]
    what = hints(lp)
    todo = [what[k] for k in fam if k in what]
    return ("constraint families that cannot all hold: " + ", ".join(parts)
            + ("; " + "; ".join(dict.fromkeys(todo)) if todo else ""))


__all__ = ["SLACK_TOL", "conflicting_families", "explain_infeasible", "family", "hints", "relaxation"]
