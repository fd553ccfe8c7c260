"""``segex check`` for KT 2.2: a saved result's checks recomputed from the file alone.

* ``externality`` (Definition 4): the allocation the saved prices and holdings imply is
  recomputed (every type's t = 0 demand and spot optimum), Definition 4's certificate with
  it (first-order conditions, budgets, clearing, each consumer's problem re-solved), and the
  saved consumption and utilities must match;
* ``segregated`` (Definition 5): from the saved lotteries (t = 0 marginals, and the support
  of the t = 1 lotteries over exchange and portfolio) every bundle's spot optimum is
  recomputed, and with it clearing of goods at t = 0, of securities and rights in every
  exchange and of both goods in every exchange and state, each type's budget at the saved
  prices (cost minus the endowment's value is the saved transfer, zero in an equilibrium)
  and its utility; and the grid edges ``edge.grid.c``, ``edge.grid.p``, ``edge.grid.theta``
  and ``edge.grid.family`` from the saved lotteries and grids (:func:`edges`; each held
  bundle saves its family member and whether it lies on the family's boundary). Each type's
  optimality among all grid bundles needs the LP's columns and is checked at solve time only.

Every summary a user reads (consumption, holdings, spot trades, fees, masses, utilities) must
equal what the saved prices and lotteries imply, to ``MATCH_TOL`` (float64 written and read
back exactly; recomputed sums differ by rounding only).
"""

from __future__ import annotations

import numpy as np

from ...certificate import MATCH_TOL, Certificate, GridEdge, add_edge_checks, edge_mass
from ...markets.certify import BUDGET_TOL, CLEARING_TOL


def recheck(spec, ds, concept: str) -> Certificate:
    """Definition 4's (``externality``) or Definition 5's (``segregated``) checks of a saved
    result (module docstring)."""
    if concept == "externality":
        return externality(spec.economy, ds)
    return segregated(spec.economy, ds)


def externality(econ, ds) -> Certificate:
    from .exact import equilibrium_at

    eq = equilibrium_at(econ, float(ds["p0"]), ds["Q"].values, ds["spot"].values,
                        ds["theta"].transpose("type", "security").values)
    cert = eq.certificate
    for h in range(econ.H):
        cert.match(f"utility[{h}]", float(eq.utility[h]), float(ds["utility"].values[h]))
    for name, dims, value in (("c0", ("type", "good"), eq.c0), ("c1", ("type", "state", "good"), eq.c1),
                              ("tau", ("type", "state", "good"), eq.tau)):
        if name in ds:
            _same(cert, name, value, ds[name].transpose(*dims).values)
    return cert


def _same(cert, name, recomputed, saved, tol=MATCH_TOL):
    """``<name>_recomputed``: an array recomputed from the file equals the saved one,
    relative to its largest entry (1 + |.|)."""
    cert.add(f"{name}_recomputed", float(np.abs(recomputed - saved).max() / (1.0 + np.abs(saved).max())), tol,
             f"{name} recomputed from the saved prices and lotteries vs the saved {name}")


def segregated(econ, ds) -> Certificate:
    cert = Certificate()
    P = ds["exchange_p"].values
    n_ex = P.shape[0]
    p0 = float(ds["p0"])
    Q = ds["Q"].transpose("exchange", "security").values
    PD = ds["P_Delta"].transpose("exchange", "state").values
    typ = np.searchsorted(ds["type"].values, ds["x1_type"].values)  # positions, whatever the labels' base
    ex = ds["x1_exchange"].values.astype(int)
    th = np.stack([ds[f"x1_theta{j + 1}"].values for j in range(econ.J)], axis=1)
    prob = ds["x1_prob"].values
    a = econ.share
    c10, c20 = ds["c10_grid"].values, ds["c20_grid"].values
    x10, x20 = ds["x_c10"].values, ds["x_c20"].values
    goods = a @ np.stack([x10 @ c10, x20 @ c20], axis=1) - econ.aggregate[0]
    cert.add("clearing.goods_t0", float(np.abs(goods).max() / econ.aggregate[0].max()), CLEARING_TOL, "(31)")
    sec, rights, spot2 = np.zeros((n_ex, econ.J)), np.zeros((n_ex, econ.S)), np.zeros((n_ex, econ.S))
    U, cost, marg = np.zeros(econ.H), np.zeros(econ.H), 0.0
    theta_mean, fee_paid, mass = np.zeros((econ.H, econ.J)), np.zeros(econ.H), np.zeros((econ.H, n_ex))
    for h in range(econ.H):
        on = typ == h
        xs, exh, thh = prob[on], ex[on], th[on]
        theta_mean[h] = xs @ thh
        mass[h] = np.bincount(exh, a[h] * xs, minlength=n_ex)
        u = econ.utilities[h]
        U[h] = x10[h] @ u.u1(c10) + x20[h] @ u.u1(c20)
        cost[h] = x10[h] @ c10 + p0 * (x20[h] @ c20) + xs @ (Q[exh] * thh).sum(1)
        for s in range(econ.S):
            c1, c2, delta, v = econ.spot(h, s, thh, P[exh, s])
            U[h] += econ.beta * econ.prob[s] * (xs @ v)
            cost[h] += xs @ (PD[exh, s] * delta)
            fee_paid[h] += xs @ (PD[exh, s] * delta)
            rights[:, s] += np.bincount(exh, a[h] * xs * delta, minlength=n_ex)
            spot2[:, s] += np.bincount(exh, a[h] * xs * (c2 - econ.e1[h, s, 1]), minlength=n_ex)
        for j in range(econ.J):
            sec[:, j] += np.bincount(exh, a[h] * xs * thh[:, j], minlength=n_ex)
        marg = max(marg, abs(x10[h].sum() - 1), abs(x20[h].sum() - 1), abs(xs.sum() - 1))
    scale = econ.aggregate[1:].max()
    cert.add("lotteries", marg, 1e-9, "every marginal of every type sums to one")
    cert.add("clearing.securities", float(np.abs(sec).max() / scale), CLEARING_TOL, "(32) in every exchange")
    cert.add("clearing.rights", float(np.abs(rights).max() / scale), CLEARING_TOL, "(35) in every exchange and state")
    cert.add("clearing.spot_good2", float(np.abs(spot2).max() / scale), CLEARING_TOL,
             "(33) good 2 in every exchange and state")
    wealth = econ.e0[:, 0] + p0 * econ.e0[:, 1]
    T = ds["lump_sum"].values
    cert.add("budget.transfer", float(np.max(np.abs(cost - wealth - T) / wealth)), BUDGET_TOL,
             "max_h |cost of the lottery - value of the endowment - saved transfer| / wealth at the saved prices")
    if int(ds.attrs.get("equilibrium", 0)):
        cert.add("budget.no_transfer", float(np.max(np.abs(T) / wealth)), BUDGET_TOL,
                 "an equilibrium without transfers: max_h |saved transfer| / wealth")
    for h in range(econ.H):
        cert.match(f"utility[{h}]", float(U[h]), float(ds["utility"].values[h]))
    _same(cert, "c0", np.stack([x10 @ c10, x20 @ c20], axis=1), ds["c0"].transpose("type", "good").values)
    _same(cert, "theta", theta_mean, ds["theta"].transpose("type", "security").values)
    _same(cert, "fee", fee_paid, ds["fee"].values)
    _same(cert, "mass", mass, ds["mass"].transpose("type", "exchange").values)
    add_edge_checks(cert, edges(econ, ds))
    return cert


def edges(econ, ds) -> list:
    """The saved lotteries' largest probability (over types) on the ends of t = 0
    consumption's grids, each state's spot-price grid and each security's holdings grid, on
    the exchanges of the price grids' product (:func:`.segregated.support_edges`; the
    grids are saved with the result, refined or not)."""
    out = []
    for l, name in enumerate(("c10", "c20")):
        c = ds[f"{name}_grid"].values
        out.append(GridEdge("grid.c", c[0], c[-1], edge_mass(c, ds[f"x_{name}"].values, c[0], c[-1]), f"good {l + 1}"))
    grids = {"p": [np.atleast_1d(ds.attrs[f"p_grid_{s + 1}"]) for s in range(econ.S)],
             "theta": [np.atleast_1d(ds.attrs[f"theta_grid_{j + 1}"]) for j in range(econ.J)]}
    typ = np.searchsorted(ds["type"].values, ds["x1_type"].values)
    ex, prob = ds["x1_exchange"].values.astype(int), ds["x1_prob"].values
    product = ds["x1_member"].values < 0  # bundles of the product grid (the family's are checked below)
    values = {"p": [ds["exchange_p"].transpose("exchange", "state").values[ex, s] for s in range(econ.S)],
              "theta": [ds[f"x1_theta{j + 1}"].values for j in range(econ.J)]}
    for name, what in (("p", "state"), ("theta", "security")):
        for i, (g, v) in enumerate(zip(grids[name], values[name])):
            mass = np.array([edge_mass(v[on], prob[on], g[0], g[-1])
                             for on in ((typ == h) & product for h in range(econ.H))])
            out.append(GridEdge(f"grid.{name}", g[0], g[-1], tuple(mass.max(0)), f"{what} {i + 1}"))
    if (~product).any():
        edge = ds["x1_family_edge"].values.astype(bool)
        out.append(GridEdge("grid.family", 0.0, float(ds.attrs.get("family_radius", 0.0)),
                            (0.0, max(float(prob[(typ == h) & edge].sum()) for h in range(econ.H))),
                            "radius or composition_radius"))
    return out
