"""Certificate of a segregated-exchange solve: LP optimality, clearing in every
exchange, budgets, and each type's optimality in its own budget problem (58)-(59)."""

from __future__ import annotations

import numpy as np

from ...certificate import Certificate, lp_checks
from ...markets.certify import BUDGET_TOL, CLEARING_TOL, CONSUMER_TOL, consumer_gaps
from .program2 import expenditures

__all__ = ["BUDGET_TOL", "CLEARING_TOL", "CONSUMER_TOL", "certify_segregated"]



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
    spend, wealth, P = expenditures(prog, x, pr)
    T = spend - wealth
    if res.equilibrium:
        cert.add("budget", np.max(np.abs(T) / wealth), BUDGET_TOL, "max_h |expenditure - wealth| / wealth, (59)")
    gaps = consumer_gaps(prog.planner, x, P, wealth + T, backend)
    cert.add("consumer_optimality", gaps.max(), CONSUMER_TOL,
             "max_h (value of own budget problem at read-back prices - U^h) / (1 + |U^h|)")
    return cert
