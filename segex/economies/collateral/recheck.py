"""``segex check`` for the collateral economy: a saved result's checks recomputed from the
file alone, no LP solved and no dual trusted except where a check is *about* a saved price.

Both concepts: goods clear at t = 0 and in every state, storage included, and securities
net to zero, from the saved per-type means (clearing is linear, so means suffice). With
segregated exchanges also each type's own budget problem (58)-(59) at the saved prices,
by enumeration and Lagrangian duality (:func:`consumers`), and the grid edges from the saved
lotteries (:func:`edges`). Tolerances are those of the solve-time certificates.
"""

from __future__ import annotations

import numpy as np

from ...certificate import Certificate, GridEdge, add_edge_checks, edge_mass

#: An end whose solve-time verdict rested on the LP's reduced cost of the next point out.
PRICED = "the next point out was priced by the LP's duals at solve time; segex check cannot re-price it"


def recheck(spec, ds, concept: str) -> Certificate:
    """The checks of a saved ``externality`` or ``segregated`` result (module docstring)."""
    cert = clearing(spec.economy, ds)
    if concept == "segregated" and "x1_prob" in ds:
        consumers(cert, spec, ds)
        if ds.attrs.get("method") != "continuum":
            add_edge_checks(cert, edges(spec.economy, ds))
    return cert


def edges(econ, ds) -> list:
    """Every gridded choice of Program 2 (:func:`.certify.grid_edges`) from a saved grid or
    column-generation result: the saved lotteries' probability on the ends of the saved
    grids (c, k, each state's exchanges z and securities a) and the ends that cannot bind.
    An end the solve priced from the LP's duals (the next c, k or a point out) is taken as
    it was judged then (:data:`PRICED`, said in the note): pricing it needs the LP's columns.
    Continuum results are not re-checked here: their z edges are against the grid the
    continuum started from, which the file does not hold."""
    from .certify import a_bounds, a_edge_mass, c_bounds, k_bounds, z_bounds

    continuous = ds.attrs.get("method") == "colgen"
    out = []
    for l, name in enumerate(("c10", "c20")):
        c = ds[f"{name}_grid"].values
        priced = not continuous and c.size > 1
        out.append(GridEdge("grid.c", c[0], c[-1], edge_mass(c, ds[f"x_{name}"].values, c[0], c[-1]), f"good {l + 1}",
                            _priced(c_bounds(econ, l, c, continuous), (priced, priced))))
    kg = ds["k_grid"].values
    xk = ds["x_k"].transpose("type", "k_grid").values
    out.append(GridEdge("grid.k", kg[0], kg[-1], edge_mass(kg, xk, kg[0], kg[-1]), "",
                        _priced(k_bounds(econ, kg), (False, kg.size > 1))))
    ag, ex_state = ds["a_grid"].values, ds["exchange_state"].values
    sup = {n: ds[f"x1_{n}"].values for n in ("type", "state", "k", "z", "a", "prob")}
    for s in range(econ.S):
        zg = ds["exchange_z"].values[ex_state == s + 1]
        zmass, a_mass = np.zeros((econ.H, zg.size)), []
        for h, label in enumerate(ds["type"].values):
            on = (sup["type"] == label) & (sup["state"] == s + 1)
            zi = np.clip(np.searchsorted(zg, sup["z"][on]), 0, zg.size - 1)
            zmass[h] = np.bincount(zi, sup["prob"][on], minlength=zg.size)
            a_mass.append(a_edge_mass(econ, s, ag, sup["k"][on], sup["z"][on], sup["a"][on], sup["prob"][on]))
        part = f"state {s + 1}" if econ.S > 1 else ""
        out += [GridEdge("grid.z", zg[0], zg[-1], edge_mass(zg, zmass, zg[0], zg[-1]), part,
                         z_bounds(econ, s, zg, kg[-1])),
                GridEdge("grid.a", ag[0], ag[-1], tuple(np.max(a_mass, axis=0)), part,
                         _priced(a_bounds(econ, s, zg, ag, kg[-1], continuous), (ag.size > 1,) * 2))]
    return out


def _priced(bound: tuple, priced: tuple) -> tuple:
    """``bound`` with :data:`PRICED` at the ends the solve priced and no natural bound holds."""
    return tuple(b if b is not None or not p else PRICED for b, p in zip(bound, priced))


def clearing(econ, ds) -> Certificate:
    """Goods and securities clearing from the saved per-type means (module docstring)."""
    a = econ.share
    c0 = ds["c0"].transpose("type", "good").values
    c1 = ds["c1"].transpose("type", "state", "good").values
    k = ds["k"].values
    theta = ds["theta"].transpose("type", "state", "good").values
    E = econ.aggregate
    scale = float(np.abs(E).max())
    t0 = a @ c0 - E[0] + np.array([0.0, a @ k])  # storage takes good 2 at t = 0
    t1 = np.einsum("h,hsl->sl", a, c1) - E[1:] - np.stack([np.zeros(econ.S), econ.R * (a @ k)], axis=1)
    cert = Certificate()
    cert.add("goods_t0", float(np.abs(t0).max()) / scale, 1e-7, "sum_h alpha (c0 + (0, k) - e0) = 0")
    cert.add("goods_t1", float(np.abs(t1).max()) / scale, 1e-7,
             "sum_h alpha (c1_s - e1_s) = (0, R_s K) in every state")
    cert.add("securities", float(np.abs(np.einsum("h,hsl->sl", a, theta)).max()) / scale, 1e-7,
             "sum_h alpha theta_s = 0 in every state")
    return cert


def consumers(cert, spec, ds) -> None:
    """Each type's budget problem (58)-(59) at the saved prices, solved without an LP.

    The lotteries (marginals on c10, c20, k; state lotteries on (k, z_s, a_s) given k)
    are re-read from the file; their utility, cost and consistency are recomputed, the
    cost minus the endowment's value must be the saved transfer (zero in an
    equilibrium). The best lottery affordable with that income is bounded by Lagrangian
    duality: for every mu >= 0,
    ``g(mu) = mu W + max_c10 (u - mu c10) + max_c20 (u - mu p0 c20)
    + max_k [-mu p0 k + sum_s max_{(z, a) | k} (beta pi_s u_s - mu (Q a + P_Delta Delta))]``
    bounds it, and ``min_mu g`` equals it (a lottery LP with one budget row has no
    duality gap). g is convex and piecewise linear in mu: a log-spaced scan, then a
    bounded Brent search. Bundles: every bundle on the result's own grids (saved in the
    file: refinement may have moved them off the spec's) plus the lottery's points
    (under column generation a and c0 are continuous and the check is over that set).
    Tolerances: the solve-time BUDGET_TOL and CONSUMER_TOL.
    """
    from ...markets.certify import BUDGET_TOL, CONSUMER_TOL
    from .grids import CollateralGrids
    from .program2 import bundle_table, state_bundles

    econ = spec.economy
    u, beta, S = econ.utility, econ.beta, econ.S
    p0 = float(ds["p0"])
    ex_state = ds["exchange_state"].values
    zs = tuple(ds["exchange_z"].values[ex_state == s + 1] for s in range(S))
    Q = [ds["Q"].values[ex_state == s + 1] for s in range(S)]
    PD = [ds["P_Delta"].values[ex_state == s + 1] for s in range(S)]
    c10, c20, kg = ds["c10_grid"].values, ds["c20_grid"].values, ds["k_grid"].values
    a = ds["a_grid"].values if "a_grid" in ds else spec.build_grids().a  # (files before a_grid was saved)
    grids = CollateralGrids(c0=(c10, c20), k=kg, z=zs, a=a)
    sup = {n: ds[f"x1_{n}"].values for n in ("type", "state", "k", "z", "a", "prob")}
    labels = ds["type"].values  # the file's type labels (from 0; older files: from 1)
    gaps, transfer, marg, off = [], [], [], 0.0
    for h in range(econ.H):
        xc10, xc20 = ds["x_c10"].values[h], ds["x_c20"].values[h]
        xk = ds["x_k"].transpose("type", "k_grid").values[h]
        W0 = econ.e0[h, 0] + p0 * econ.e0[h, 1]
        T = float(ds["lump_sum"].values[h])
        U = xc10 @ u.u1(c10) + xc20 @ u.u1(c20)
        cost = xc10 @ c10 + p0 * (xc20 @ c20 + xk @ kg)
        marg.append(max(abs(xc10.sum() - 1), abs(xc20.sum() - 1), abs(xk.sum() - 1)))
        tables = []
        for s in range(S):
            on = (sup["type"] == labels[h]) & (sup["state"] == s + 1)
            ki, dk = _nearest(kg, sup["k"][on])
            zi, dz = _nearest(zs[s], sup["z"][on])
            off = max(off, dk, dz)
            own = bundle_table(econ, grids, h, s, ki, zi, sup["a"][on])
            xs = sup["prob"][on]
            U += beta * econ.prob[s] * xs @ own["util"]
            cost += xs @ (Q[s][zi] * own["a"] + PD[s][zi] * own["delta"])
            # the state lottery's k-marginal is the k lottery (conditional lotteries)
            marg.append(np.abs(np.bincount(ki, xs, minlength=kg.size) - xk).max())
            every = state_bundles(econ, grids, h, s)
            tables.append({n: np.concatenate([every[n], own[n]]) for n in ("k_idx", "z_idx", "a", "delta", "util")})
        transfer.append(abs(cost - W0 - T) / W0)
        gaps.append(max(_dual_bound(u, beta, econ.prob, p0, Q, PD, c10, c20, kg, tables, W0 + T) - U, 0.0)
                    / (1.0 + abs(U)))
    cert.add("consumer.points", off, 1e-12, "the lotteries' k and z are points of the saved grids (relative)")
    cert.add("consumer.lotteries", float(max(marg)), 1e-9,
             "every marginal sums to one and each state lottery's k-marginal is the k lottery")
    cert.add("consumer.transfer", float(max(transfer)), BUDGET_TOL,
             "max_h |cost of the lottery - value of the endowment - saved transfer| / wealth at the saved prices")
    if int(ds.attrs.get("equilibrium", 0)):
        W = econ.e0[:, 0] + p0 * econ.e0[:, 1]
        cert.add("consumer.no_transfer", float(np.max(np.abs(ds["lump_sum"].values) / W)), BUDGET_TOL,
                 "an equilibrium without transfers: max_h |saved transfer| / wealth")
    cert.add("consumer_optimality", float(max(gaps)), CONSUMER_TOL,
             "max_h (best affordable at the saved prices, by duality - U^h of the saved lottery) / (1 + |U^h|)")


def _nearest(grid, values):
    """Indices of the grid points nearest ``values`` and the largest relative distance."""
    if grid.size == 1:
        i = np.zeros(np.shape(values), int)
        return i, float((np.abs(grid[0] - values) / (1.0 + np.abs(values))).max(initial=0.0))
    i = np.clip(np.searchsorted(grid, values), 1, grid.size - 1)
    i = np.where((i > 0) & (np.abs(values - grid[i - 1]) <= np.abs(values - grid[i])), i - 1, i)
    d = np.abs(grid[i] - values) / (1.0 + np.abs(values))
    return i, float(d.max(initial=0.0))


def _dual_bound(u, beta, prob, p0, Q, PD, c10, c20, kg, tables, income) -> float:
    """min over mu >= 0 of g(mu) (see :func:`consumers`)."""
    from scipy.optimize import minimize_scalar

    def g(mu):
        best_k = -mu * p0 * kg
        for s, t in enumerate(tables):
            v = beta * prob[s] * t["util"] - mu * (Q[s][t["z_idx"]] * t["a"] + PD[s][t["z_idx"]] * t["delta"])
            per_k = np.full(kg.size, -np.inf)
            np.maximum.at(per_k, t["k_idx"], v)
            best_k = best_k + per_k
        return mu * income + (u.u1(c10) - mu * c10).max() + (u.u1(c20) - mu * p0 * c20).max() + best_k.max()

    mus = np.concatenate([[0.0], np.geomspace(1e-8, 1e8, 161)])
    vals = np.array([g(m) for m in mus])
    i = int(np.argmin(vals))
    lo, hi = mus[max(i - 1, 0)], mus[min(i + 1, mus.size - 1)]
    found = minimize_scalar(g, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12 * max(hi, 1.0)})
    return float(min(vals[i], found.fun))
