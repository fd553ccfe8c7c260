"""Certificate of a segregated-exchange solve: LP optimality, clearing in every
exchange, budgets, each type's optimality in its own budget problem (58)-(59), and no
lottery on an end of a grid that binds (:func:`grid_edges`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...certificate import EDGE_MASS, Certificate, GridEdge, add_edge_checks, edge_mass, lp_checks
from ...markets.certify import BUDGET_TOL, CLEARING_TOL, CONSUMER_TOL, consumer_gaps
from .colgen import best_security, enumerated_security
from .program2 import bundle_table, expenditures, state_bundles

#: An exchange is active when this much population mass trades there (a k point is in a
#: type's support above this probability): far above the solver's feasibility tolerance
#: (1e-9), far below any economically meaningful share.
ACTIVE_MASS = 1e-7

__all__ = ["BUDGET_TOL", "CLEARING_TOL", "CONSUMER_TOL", "a_bounds", "a_edge_mass", "c_bounds", "certify_segregated",
           "grid_edges", "k_bounds", "z_bounds"]


def certify_segregated(res, backend="highs", progress: bool = False) -> Certificate:
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
    gaps = consumer_gaps(prog.planner, x, P, wealth + T, backend, progress=progress)
    cert.add("consumer_optimality", gaps.max(), CONSUMER_TOL,
             "max_h (value of own budget problem at read-back prices - U^h) / (1 + |U^h|)")
    add_edge_checks(cert, grid_edges(res))
    return cert


def grid_edges(res) -> list:
    """Every gridded choice of Program 2 -- t = 0 consumption c, collateral k, each
    state's exchanges z and securities a -- and the largest probability a type's lottery
    puts on its ends (:class:`~segex.certificate.GridEdge`), the ends that cannot bind,
    and for c and a (whose next point outward uses rows the LP has) that point's reduced
    cost at the LP's duals (:func:`_gain`). Under ``method = "colgen"`` c and a are
    priced as continua (:mod:`.colgen`): c has no ends, a only its upper one."""
    prog, econ, x, g = res.prog, res.econ, res.x, res.grids
    continuous = res.lp.get("method") == "colgen"
    out = []
    for l, name in enumerate(("c10", "c20")):
        c = g.c0[l]
        ends = np.array([edge_mass(getattr(tc, name), x[prog.block(f"{name}[{h}]").slice], c[0], c[-1])
                         for h, tc in enumerate(prog.columns)])
        bound = c_bounds(econ, l, c, continuous)
        # the next point out, priced for the types on that end
        gain = (None, None) if continuous or c.size < 2 else _gain(res, lambda h, l=l, c=c: tuple(
            r if m > EDGE_MASS else np.zeros(0) for r, m in zip(_consumption_rc(res, h, l, c), ends[h])))
        out.append(GridEdge("grid.c", c[0], c[-1], tuple(ends.max(0)), f"good {l + 1}", bound, gain))
    xk = np.array([x[prog.block(f"k[{h}]").slice] for h in range(econ.H)])
    ends = np.array([edge_mass(g.k, xk[h], g.k[0], g.k[-1]) for h in range(econ.H)])
    gain = (None, None) if g.k.size < 2 else _gain(res, lambda h: (
        np.zeros(0), _storage_rc(res, h, continuous) if ends[h, 1] > EDGE_MASS else np.zeros(0)))
    out.append(GridEdge("grid.k", g.k[0], g.k[-1], tuple(ends.max(0)), "", k_bounds(econ, g.k), gain))
    for s in range(econ.S):
        out += _state_edges(res, s, continuous)
    return out


def c_bounds(econ, l, c, continuous) -> tuple:
    """Which ends of good l's t = 0 consumption grid ``c`` cannot bind
    (:class:`~segex.certificate.GridEdge` ``bound``): c >= 0; more than the economy holds."""
    top = econ.aggregate[0, l] / econ.share.min()
    if continuous:
        return ("continuous under column generation",) * 2
    return ("c >= 0" if c[0] <= 0 else None,
            f"at least E_0{l + 1} / min share = {top:.4g}: more than the economy holds" if c[-1] >= top else None)


def k_bounds(econ, k) -> tuple:
    """Which ends of the collateral grid ``k`` cannot bind: k >= 0; more than the economy holds."""
    top = econ.aggregate[0, 1] / econ.share.min()
    return ("k >= 0", f"at least E_02 / min share = {top:.4g}: more than the economy holds" if k[-1] >= top else None)


def a_bounds(econ, s, zg, ag, kmax, continuous) -> tuple:
    """Which ends of state s's securities grid ``ag`` cannot bind (:func:`_state_edges`)."""
    a_top = float(econ.utility.spot_price(zg[-1])) * econ.R[s] * kmax / econ.share.min()
    return ("continuous down to the collateral constraint under column generation" if continuous else None,
            f"at least {a_top:.4g}: all collateral pledged to one type" if ag[-1] >= a_top else None)


def a_edge_mass(econ, s, ag, k, z, a, prob) -> tuple:
    """(probability on a's lowest point above the collateral constraint (13), on its highest
    point) of one type's state-s bundles (k, z, a) with probabilities ``prob``."""
    eps = 1e-12 * max(1.0, abs(ag[0]), abs(ag[-1]))
    floor = -econ.utility.spot_price(z) * econ.R[s] * k
    return float(prob[(a <= ag[0] + eps) & (a > floor + eps)].sum()), float(prob[a >= ag[-1] - eps].sum())


def _state_edges(res, s, continuous) -> list:
    """grid.z and grid.a of state s. z's natural ends are :func:`z_bounds`; a's lower end
    binds only where it lies above the collateral constraint (13), its upper end cannot
    bind once it exceeds all the economy's collateral pledged to one type, p(z_max) R_s
    k_max / min share."""
    prog, econ, x, g = res.prog, res.econ, res.x, res.grids
    zg, ag, kmax = g.z[s], g.a, g.k[-1]
    zmass, a_mass = [], []
    for h, tc in enumerate(prog.columns):
        st, xs = tc.x1[s], x[prog.block(f"x1[{h},{s}]").slice]
        zmass.append(np.bincount(st["z_idx"], xs, minlength=zg.size))
        a_mass.append(a_edge_mass(econ, s, ag, g.k[st["k_idx"]], zg[st["z_idx"]], st["a"], xs))
    part = f"state {s + 1}" if econ.S > 1 else ""
    gain = _gain(res, lambda h: _security_rc(res, h, s, continuous)) if ag.size > 1 else (None, None)
    return [GridEdge("grid.z", zg[0], zg[-1], edge_mass(zg, np.array(zmass), zg[0], zg[-1]), part,
                     z_bounds(econ, s, zg, kmax)),
            GridEdge("grid.a", ag[0], ag[-1], tuple(np.max(a_mass, axis=0)), part,
                     a_bounds(econ, s, zg, ag, kmax, continuous), gain)]


def z_bounds(econ, s, zg, kmax) -> tuple:
    """Which ends of state s's z grid ``zg`` cannot bind (:class:`~segex.certificate.GridEdge`
    ``bound``): below z_lo = min_h e_1s / (e_2s + R_s kmax) every type's Delta (11) is
    negative, above z_hi = max_h e_1s / e_2s positive (k >= 0), so no exchange there can
    clear its rights (55)."""
    e1 = econ.e1[:, s]
    z_lo = (e1[:, 0] / (e1[:, 1] + econ.R[s] * kmax)).min()
    z_hi = (e1[:, 0] / e1[:, 1]).max()
    return (f"below {z_lo:.4g} no exchange clears its rights" if zg[0] <= z_lo else None,
            f"above {z_hi:.4g} no exchange clears its rights" if zg[-1] >= z_hi else None)


def _gain(res, rc_of_type) -> tuple:
    """(lower, upper) largest reduced cost over types of the next points outward, relative
    to the LP's max|c| (the scale of its dual-feasibility check); ``rc_of_type(h)`` gives
    (reduced costs below, above), each an array (possibly empty)."""
    scale = max(float(np.abs(res.prog.lp.c).max(initial=0.0)), 1e-300)
    lo, hi = zip(*(rc_of_type(h) for h in range(res.econ.H)))
    best = [max((float(np.max(r, initial=-np.inf)) for r in side), default=-np.inf) for side in (lo, hi)]
    return tuple(None if not np.isfinite(b) and b < 0 else b / scale for b in best)


def _consumption_rc(res, h, l, c) -> tuple:
    """Reduced costs of type h's t = 0 consumption of good l one (geometric) grid step
    past the ends, c_0^2 / c_1 and c_n^2 / c_(n-1) (:func:`.colgen.price`); with c_0 = 0,
    a linear step above and none below."""
    prog, econ, y = res.prog, res.econ, res.row_dual
    rb = prog.lp.row_blocks
    y_good, y_prob = y[rb[f"good{l + 1}"].start], y[rb["prob"].index(h, l)]
    lam, al = res.weights[h], econ.share[h]
    pts = np.array([c[0] * c[0] / c[1], c[-1] * c[-1] / c[-2]]) if c[0] > 0 else np.array([np.nan, 2 * c[-1] - c[-2]])
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = lam * al * econ.utility.u1(pts) - al * y_good * pts - y_prob
    return rc[:1][pts[:1] > 0], rc[1:]


def _storage_rc(res, h, continuous) -> np.ndarray:
    """Reduced cost of type h storing k' = one grid step above k's highest point. A new k
    point brings new conditional-lottery rows, so it is priced as one composite column:
    the k-marginal column at k' plus, in every state, the best state bundle at k' (their
    cons rows cancel) -- on the grid's a and the collateral constraint's point, or under
    column generation the best a (:func:`.colgen.best_security`); in active exchanges
    only (:func:`_security_rc`). Lotteries over k cost nothing -- with securities that
    equalise wealth across them they give the mean's consumption (KT Env 2 puts 0.149
    on k = 2 of a grid to 2, with a mean of 0.42), so mass on the end alone shows no gain."""
    prog, econ, g, y = res.prog, res.econ, res.grids, res.row_dual
    rb, lam, al = prog.lp.row_blocks, res.weights[h], econ.share[h]
    k_next = 2 * g.k[-1] - g.k[-2]
    grid = replace(g, k=np.array([k_next]))
    stats = res.type_stats()
    rc = -al * y[rb["good2"].start] * k_next - y[rb["prob"].index(h, 2)]
    for s in range(econ.S):
        z_on = sum(econ.share[q] * stats[q]["share"][s] for q in range(econ.H)) > ACTIVE_MASS
        if continuous:
            _, zi, _, best = best_security(econ, grid, y, rb, h, s, lam, g.a[-1], cons=False)
        else:
            st = state_bundles(econ, grid, h, s)
            zi, best = st["z_idx"], enumerated_security(econ, y, rb, h, s, lam, st, 1, cons=False)[3]
        rc += float(np.max(best[z_on[zi]], initial=-np.inf))
    return np.array([rc])


def _security_rc(res, h, s, continuous) -> tuple:
    """Reduced costs of type h's state-s securities one grid step past a's ends
    (:func:`.colgen.enumerated_security`): above the highest point, and below the lowest
    where the collateral constraint (13) still allows it (else the constraint's own point
    is already a column). Under column generation a is continuous up to the highest
    point: above it, the best a (:func:`.colgen.best_security`). Only in the exchanges
    (k, z) where trade pins the duals: z active and k in the type's support. Elsewhere a
    row's dual is any point of an interval (KT Env 2: inactive exchanges price a = 0.7
    at +0.014 while the LP with it has the same optimum), so a positive reduced cost
    there is a degenerate pivot, not a gain."""
    prog, econ, g, y = res.prog, res.econ, res.grids, res.row_dual
    rb, lam, ag = prog.lp.row_blocks, res.weights[h], g.a
    stats = res.type_stats()
    z_on = sum(econ.share[q] * stats[q]["share"][s] for q in range(econ.H)) > ACTIVE_MASS
    k_on = stats[h]["x_k"] > ACTIVE_MASS
    if continuous:
        ki, zi, a, rc = best_security(econ, g, y, rb, h, s, lam, np.inf)
        keep = k_on[ki] & z_on[zi] & (a > ag[-1])
        with np.errstate(invalid="ignore"):
            return np.zeros(0), np.where(np.isfinite(rc), rc, np.inf)[keep]
    ki, zi = (v.ravel() for v in np.meshgrid(np.nonzero(k_on)[0], np.nonzero(z_on)[0], indexing="ij"))
    floor = -econ.utility.spot_price(g.z[s][zi]) * econ.R[s] * g.k[ki]
    up = np.full(ki.size, ag[-1] + (ag[-1] - ag[-2]))
    low = np.maximum(ag[0] - (ag[1] - ag[0]), floor)
    open_low = floor < ag[0] - 1e-12 * max(1.0, abs(ag[0]))
    out = []
    for a, keep in ((low, open_low), (up, np.ones(ki.size, bool))):
        st = bundle_table(econ, g, h, s, ki[keep], zi[keep], a[keep])
        out.append(enumerated_security(econ, y, rb, h, s, lam, st, g.k.size)[3])
    return tuple(out)
