"""Certificate of a segregated-exchange solve: LP optimality, clearing in every
exchange, budgets, and each type's optimality in its own budget problem (58)-(59)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...backends import solve
from ...certificate import Certificate, lp_checks
from ...engine.lp import LP

#: Clearing is recomputed from expected quantities; 1e-7 of aggregate endowment is
#: ~100x the solver's feasibility tolerance.
CLEARING_TOL = 1e-7
#: Budgets after the face LP balance to the solver tolerance; relative to wealth.
BUDGET_TOL = 1e-7
#: A type's own budget problem at read-back prices may beat its lottery only by the
#: face LP's reduced-cost slack (1e-9 of max|c|) scaled by 1/(lambda alpha P10): 1e-6.
CONSUMER_TOL = 1e-6


def certify_segregated(res, backend="highs") -> Certificate:
    prog, econ, x, pr = res.prog, res.econ, res.x, res.prices
    cert = Certificate()
    lp_checks(cert, prog.lp, x, res.row_dual)
    # clearing, recomputed from bundles (independent of how rows were assembled)
    E = econ.aggregate
    good1 = good2 = 0.0
    sec = rights = spot1 = spot2 = 0.0
    for h, tc in enumerate(prog.columns):
        al = econ.share[h]
        good1 += al * x[prog.block(f"c10[{h}]").slice] @ tc.c10
        good2 += al * (x[prog.block(f"c20[{h}]").slice] @ tc.c20 + x[prog.block(f"k[{h}]").slice] @ tc.k)
    cert.add("clearing.good1_t0", abs(good1 - E[0, 0]) / E[0, 0], CLEARING_TOL, "(51)")
    cert.add("clearing.good2_t0", abs(good2 - E[0, 1]) / E[0, 1], CLEARING_TOL, "(52)")
    for s in range(econ.S):
        nz = res.grids.z[s].size
        acc = {n: np.zeros(nz) for n in ("a", "delta", "tau1", "tau2")}
        for h, tc in enumerate(prog.columns):
            st = tc.x1[s]
            xs = econ.share[h] * x[prog.block(f"x1[{h},{s}]").slice]
            e1, e2 = econ.e1[h, s]
            k = res.grids.k[st["k_idx"]]
            acc["a"] += np.bincount(st["z_idx"], xs * st["a"], minlength=nz)
            acc["delta"] += np.bincount(st["z_idx"], xs * st["delta"], minlength=nz)
            # spot trades: c1 = e1 + theta_1 + tau_1 with theta_1 = a; c2 = e2 + R k + tau_2
            acc["tau1"] += np.bincount(st["z_idx"], xs * (st["c1"] - e1 - st["a"]), minlength=nz)
            acc["tau2"] += np.bincount(st["z_idx"], xs * (st["c2"] - e2 - econ.R[s] * k), minlength=nz)
        scale = E[1 + s].max()
        sec = max(sec, np.abs(acc["a"]).max() / scale)
        rights = max(rights, np.abs(acc["delta"]).max() / scale)
        spot1 = max(spot1, np.abs(acc["tau1"]).max() / scale)
        spot2 = max(spot2, np.abs(acc["tau2"]).max() / scale)
    cert.add("clearing.securities", sec, CLEARING_TOL, "(53), every exchange")
    cert.add("clearing.rights", rights, CLEARING_TOL, "(55), every exchange")
    cert.add("clearing.spot_good1", spot1, CLEARING_TOL, "(54), implied by (55) under CRRA; recomputed")
    cert.add("clearing.spot_good2", spot2, CLEARING_TOL, "(54)")
    from .segregated import expenditures

    spend, wealth, P = expenditures(prog, x, pr)
    T = spend - wealth
    if res.equilibrium:
        cert.add("budget", np.max(np.abs(T) / wealth), BUDGET_TOL, "max_h |expenditure - wealth| / wealth, (59)")
    gaps = consumer_gaps(prog, x, P, wealth + T, backend)
    cert.add("consumer_optimality", gaps.max(), CONSUMER_TOL,
             "max_h (value of own budget problem at read-back prices - U^h) / (1 + |U^h|)")
    return cert


def consumer_lp(prog, h, P, income) -> tuple[LP, np.ndarray]:
    """Type h's problem (58)-(59) at bundle prices P: max E V s.t. E P <= income, lotteries."""
    lp = prog.lp
    cols = np.nonzero(prog.col_type == h)[0]
    rb = lp.row_blocks
    rows = np.concatenate([rb["prob"].index(np.full(3, h), np.arange(3)),
                           rb["cons"].start + np.nonzero(
                               np.repeat(np.arange(prog.econ.H), prog.econ.S * prog.grids.k.size) == h)[0]])
    A = sp.vstack([lp.A[rows][:, cols], sp.csr_matrix(P[cols][None, :])]).tocsc()
    sub = LP(
        c=prog.col_util[cols],
        A=A,
        col_lb=np.zeros(cols.size),
        col_ub=np.full(cols.size, np.inf),
        row_lb=np.concatenate([lp.row_lb[rows], [-np.inf]]),
        row_ub=np.concatenate([lp.row_ub[rows], [income]]),
        col_blocks={},
        row_blocks={},
    )
    return sub, cols


def consumer_gaps(prog, x, P, income, backend="highs") -> np.ndarray:
    """Per type: (best utility affordable at the prices - utility of its lottery), relative."""
    gaps = np.zeros(prog.econ.H)
    for h in range(prog.econ.H):
        sub, cols = consumer_lp(prog, h, P, income[h])
        U = prog.col_util[cols] @ x[cols]
        best = solve(sub, backend=backend).objective
        gaps[h] = max(best - U, 0.0) / (1.0 + abs(U))
    return gaps
