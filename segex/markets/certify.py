"""The certificate of a segregated-exchange solve, for any :class:`PlannerLP`: LP
optimality recomputed from the matrix, every priced row family (resources, securities and
rights in every exchange) cleared, budgets balanced in an equilibrium, and each type
optimal in its own budget problem at the read-back prices (the consumer side of the
equilibrium: KT eqs. 58-59 and their analogues).

The consumer problem of type h is its own lottery LP: maximise ``sum_j u_j x_j`` over its
columns subject to its lottery rows and one budget row ``sum_j P_j x_j <= wealth^h + T^h``
(T^h the transfer it receives; zero in an equilibrium). It is solved separately, so a
mis-read price or a budget the planner's LP does not see shows as a gap.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..backends import solve
from ..certificate import Certificate, lp_checks
from ..engine.lp import LP
from .planner import PlannerLP

#: Clearing is recomputed from the lotteries; 1e-7 of the row family's largest gross
#: volume is ~100x the solver's feasibility tolerance.
CLEARING_TOL = 1e-7
#: Budgets after the face LP balance to the solver tolerance; relative to wealth.
BUDGET_TOL = 1e-7
#: A type's own budget problem at read-back prices may beat its lottery only by the face
#: LP's reduced-cost slack (1e-9 of max|c|) scaled by 1/(lambda alpha y_num): 1e-6 relative.
CONSUMER_TOL = 1e-6


def certify_planner(planner: PlannerLP, x: np.ndarray, y: np.ndarray, equilibrium: bool, backend: str = "highs",
                    cert: Certificate | None = None, families=None, scale: float = 1.0,
                    progress: bool = False) -> Certificate:
    """LP checks, clearing per priced family (``families``: {row-family: note}, default
    every priced family), budgets (when ``equilibrium``) and consumer optimality (one LP
    per type; ``progress``: a bar).
    Clearing residuals are relative to the family's gross volume, its bounds and the
    economy's ``scale`` (its aggregate endowment): without that floor a market with no
    trade (volume at rounding level) would compare rounding with rounding."""
    cert = cert if cert is not None else Certificate()
    lp = planner.lp
    lp_checks(cert, lp, x, y)
    Ax = lp.A @ x
    gross = abs(lp.A) @ np.abs(x)
    for name, note in (families or priced_families(planner)).items():
        rows = _family_rows(lp, name)
        viol = np.maximum(np.maximum(lp.row_lb[rows] - Ax[rows], Ax[rows] - lp.row_ub[rows]), 0.0)
        bound = np.abs(lp.row_ub[rows][np.isfinite(lp.row_ub[rows])]).max(initial=0.0)
        floor = max(float(gross[rows].max(initial=0.0)), float(bound), scale)
        cert.add(f"clearing.{name}", float(viol.max(initial=0.0)) / floor, CLEARING_TOL, note)
    spend, wealth, P = planner.expenditures(x, y)
    T = spend - wealth
    if equilibrium:
        cert.add("budget", float(np.max(np.abs(T) / wealth)), BUDGET_TOL,
                 "max_h |expenditure - wealth| / wealth at the read-back prices")
    gaps = consumer_gaps(planner, x, P, wealth + T, backend, progress=progress)
    cert.add("consumer_optimality", float(gaps.max()), CONSUMER_TOL,
             "max_h (value of the type's own budget problem at the read-back prices - U^h) / (1 + |U^h|)")
    return cert


def priced_families(planner: PlannerLP) -> dict:
    """{row family: ""} of the priced row blocks (the part of a block name before "[")."""
    out = {}
    for name, blk in planner.lp.row_blocks.items():
        if np.all(planner.priced[blk.slice]):
            out.setdefault(name.split("[")[0], "")
    return out


def _family_rows(lp: LP, family: str) -> np.ndarray:
    rows = [np.arange(b.start, b.stop) for n, b in lp.row_blocks.items() if n.split("[")[0] == family]
    return np.concatenate(rows) if rows else np.zeros(0, int)


def consumer_lp(planner: PlannerLP, h: int, P: np.ndarray, income: float) -> tuple[LP, np.ndarray]:
    """Type h's own problem at bundle prices P: max E u s.t. its lotteries, E P <= income."""
    lp = planner.lp
    cols = np.nonzero(planner.col_type == h)[0]
    rows = np.nonzero(planner.lottery_type == h)[0]
    A = sp.vstack([lp.A[rows][:, cols], sp.csr_matrix(P[cols][None, :])]).tocsc()
    sub = LP(c=planner.col_util[cols], A=A, col_lb=np.zeros(cols.size), col_ub=np.full(cols.size, np.inf),
             row_lb=np.concatenate([lp.row_lb[rows], [-np.inf]]), row_ub=np.concatenate([lp.row_ub[rows], [income]]),
             col_blocks={}, row_blocks={})
    return sub, cols


def consumer_gaps(planner: PlannerLP, x, P, income, backend: str = "highs", progress: bool = False) -> np.ndarray:
    """(H,) best utility affordable at the prices minus the utility of the type's lottery,
    relative to 1 + |U^h|, clipped at zero (one LP per type; ``progress``: a bar)."""
    from ..progress import Bar

    gaps = np.zeros(planner.H)
    with Bar("certificate: consumer LPs", total=planner.H, unit="LP", enabled=progress) as bar:
        for h in range(planner.H):
            sub, cols = consumer_lp(planner, h, P, income[h])
            U = planner.col_util[cols] @ x[cols]
            gaps[h] = max(solve(sub, backend=backend).objective - U, 0.0) / (1.0 + abs(U))
            bar.update()
    return gaps
