"""The continuum equilibrium read back for users, and its certificate.

:func:`solve_continuum` takes a grid equilibrium (any method; the accuracy mode's
refined one is the usual start), solves the continuum equilibrium on its support
(:mod:`.continuum`) and certifies it:

* ``continuum.kkt``, ``continuum.clearing``: Newton's residual on the KKT conditions of
  Program 2 at the root, and every row family recomputed from the values;
* ``continuum.exchange_foc``: the planner's first-order condition in each active
  exchange's fundamental, dPhi/dz_j (numeraire per unit z);
* ``budget``: each type's expenditure minus wealth at the prices (59);
* ``continuum.entry``: the most any type would gain by entering an exchange of the
  support it does not use (pricing check, numeraire);
* ``consumer_optimality``: every type's own budget problem at the read-back prices,
  solved as a separate conic program, cannot beat the type's allocation -- the
  equilibrium certificate;
* ``support.welfare_gap``: Program 2 by column generation on the starting grid with
  the continuum's exchanges inserted, at the continuum's Pareto weights, cannot beat
  the continuum's welfare -- no exchange outside the support is worth opening (up to
  the grid's resolution in z);
* ``edge.grid.z``: no exchange at or past an end of that grid that could bind
  (:func:`continuum_edges`).
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from ...certificate import Certificate, GridEdge, add_edge_checks, edge_mass
from ...io.labels import label
from ...result import ResultMixin
from .certify import z_bounds
from .continuum import SOLVER, SOLVER_OPTS, Planner, Point, equilibrium, newton_accuracy, start_from_lp, u_expr
from .exchanges import grids_at
from .segregated import COORDINATES, solve_segregated

#: Tolerances and why. KKT and clearing: Newton solves to ~1e-14; 1e-10 leaves room
#: for the conditioning of wide economies.
KKT_TOL = 1e-10
#: dPhi/dz and budgets: Newton's stopping rule is 1e-12 on each equation.
FOC_TOL = 1e-9
#: The budget problems are solved by an interior-point method to ~1e-8 relative.
CONSUMER_TOL = 1e-6
#: The LP's reduced-cost tolerance is 1e-9 of max|c|; welfare is O(1)-O(10).
SUPPORT_TOL = 1e-7


class ContinuumResult(ResultMixin):
    """The competitive equilibrium with segregated exchanges without grids (KT 2.1.3,
    Program 2 at Negishi weights) on the support of a grid equilibrium."""

    CONCEPT = "segregated"
    HEADLINE = ("p0", "K", "welfare")

    def __init__(self, econ, planner: Planner, point: Point, path: list, start=None):
        self.econ, self.planner, self.point, self.path, self.start = econ, planner, point, path, start
        self.weights = point.weights
        self.objective = point.value
        self.equilibrium = bool(getattr(start, "equilibrium", True))
        self.certificate: Certificate | None = None
        self.lp = dict(start.lp) if start is not None else {}

    # ---------------------------------------------------------------- read-back
    def exchange_ids(self) -> list:
        st = self.planner.state
        return [f"s{s + 1}:e{int(np.sum(st[:j] == s)) + 1}" for j, s in enumerate(st)]

    def _by_exchange(self):
        """Per type and exchange: conditional means given the type is there."""
        econ, pl, pt = self.econ, self.planner, self.point
        p = econ.utility.spot_price(pt.z)
        on = pt.pi > 0
        pis = np.where(on, pt.pi, 1.0)
        W = pt.pi * pl.E1 + p * (pt.pi * pl.E2 + pl.RJ * pt.K) + pt.A
        c1, c2 = econ.utility.demand(W / pis, p)
        u = econ.utility.u(c1, c2)
        Delta = pt.z * (pt.pi * pl.E2 + pl.RJ * pt.K) - pt.pi * pl.E1
        nan = np.nan
        return {"k": np.where(on, pt.K / pis, nan), "a": np.where(on, pt.A / pis, nan), "c1": np.where(on, c1, nan),
                "c2": np.where(on, c2, nan), "u": np.where(on, u, nan), "Delta": np.where(on, Delta / pis, nan),
                "Delta_mass": Delta, "u_mass": np.where(on, pt.pi * u, 0.0), "c1_mass": np.where(on, pt.pi * c1, 0.0),
                "c2_mass": np.where(on, pt.pi * c2, 0.0)}

    def utilities(self) -> np.ndarray:
        econ, pt, pl = self.econ, self.point, self.planner
        bx = self._by_exchange()
        t1 = (bx["u_mass"] * econ.prob[pl.state]).sum(1)
        return econ.utility.u(pt.c0[:, 0], pt.c0[:, 1]) + econ.beta * t1

    def to_dict(self) -> dict:
        econ, pt, pl = self.econ, self.point, self.planner
        ids = self.exchange_ids()
        bx = self._by_exchange()
        U = self.utilities()
        member = pl.member
        mass = econ.share @ pt.pi
        p = econ.utility.spot_price(pt.z)
        exchanges = [{
            "id": ids[j], "state": int(pl.state[j]) + 1, "z": float(pt.z[j]), "p": float(p[j]),
            "fee": float(pt.P_delta[j]), "fee_interval": [float(pt.P_delta[j])] * 2, "Q": float(pt.Q[j]),
            "Q2": float(pt.Q[j] * p[j]), "tax_saving": float(pt.P_delta[j] * pt.z[j] * econ.R[pl.state[j]]),
            "tax_endowment2": float(pt.P_delta[j] * pt.z[j]), "subsidy_endowment1": float(pt.P_delta[j]),
            "mass": float(mass[j]), "active": True,
        } for j in range(pl.J)]
        types = []
        for h in range(econ.H):
            fees = pt.P_delta * bx["Delta_mass"][h]
            use = np.nonzero(pt.pi[h] > 0)[0]
            wealth = econ.e0[h, 0] + pt.p0 * econ.e0[h, 1]
            types.append({
                "k": float(pt.k[h]),
                "c0": pt.c0[h].tolist(),
                "c1": np.stack([bx["c1_mass"][h] @ member, bx["c2_mass"][h] @ member], axis=-1).tolist(),
                "theta": np.stack([pt.A[h] @ member, np.zeros(econ.S)], axis=-1).tolist(),
                "utility": float(U[h]),
                "transfer": -float(fees.sum()),
                "fee": float(fees.sum()),
                "lump_sum": float(pt.transfer[h]),
                "wealth": float(wealth),
                "expenditure": float(wealth + pt.transfer[h]),
                "shares": {ids[j]: float(pt.pi[h, j]) for j in use},
                "Delta": {ids[j]: float(bx["Delta"][h, j]) for j in use},
                "by_exchange": {ids[j]: {
                    "share": float(pt.pi[h, j]), "Delta": float(bx["Delta"][h, j]), "fee": float(fees[j] / pt.pi[h, j]),
                    "k": float(bx["k"][h, j]), "c1": [float(bx["c1"][h, j]), float(bx["c2"][h, j])],
                    "theta": [float(bx["a"][h, j]), 0.0], "utility_state": float(bx["u"][h, j]),
                } for j in use},
            })
        spot = [[float(p[j]) for j in range(pl.J) if pl.state[j] == s] for s in range(econ.S)]
        out = {
            "method": "continuum",
            "types": types,
            "p0": float(pt.p0),
            "spot": spot,
            "K": float(econ.share @ pt.k),
            "welfare": float(pt.value),
            "exchanges": exchanges,
            "active_exchanges": ids,
            "weights": self.weights.tolist(),
            "equilibrium": self.equilibrium,
            "continuum": {"newton": [{k: v for k, v in row.items() if k != "outputs"} for row in self.path],
                          "residual": {k: float(v) for k, v in pt.residual.items()},
                          "exchange_foc": pt.gradient.tolist()},
        }
        ref = getattr(self, "refinement_path", None)
        if ref is not None:
            out["refinement"] = {"tol": self.refinement_tol, "accuracy": self.accuracy, "converged": self.converged,
                                 "path": ref}
        return out

    def to_dataset(self) -> xr.Dataset:
        econ, pt, pl = self.econ, self.point, self.planner
        d = self.to_dict()
        bx = self._by_exchange()
        ids = self.exchange_ids()
        fee_x = pt.P_delta * bx["Delta"]
        return label(xr.Dataset(
            {
                "k": ("type", pt.k, {"long_name": "collateral k^h", "units": "good 2"}),
                "c0": (("type", "good"), pt.c0, {"long_name": "t=0 consumption"}),
                "c1": (("type", "state", "good"), np.array([t["c1"] for t in d["types"]]),
                       {"long_name": "expected state consumption after spot trade"}),
                "theta": (("type", "state", "good"), np.array([t["theta"] for t in d["types"]]),
                          {"long_name": "expected securities (theta_1s, theta_2s); theta_2s = 0 by convention"}),
                "utility": ("type", self.utilities(), {"long_name": "expected utility U^h"}),
                "fee": ("type", [t["fee"] for t in d["types"]],
                        {"long_name": "rights-to-trade fees paid", "units": "good 1 at t=0"}),
                "lump_sum": ("type", pt.transfer, {"long_name": "Negishi transfer T^h (0 in equilibrium)",
                                                   "units": "good 1 at t=0"}),
                "weight": ("type", self.weights, {"long_name": "Pareto weight lambda^h"}),
                "share": (("type", "exchange"), pt.pi, {"long_name": "fraction of type h assigned to the exchange"}),
                "Delta": (("type", "exchange"), bx["Delta"], {"long_name": "discrepancy Delta^h_s(z) (eq. 11)"}),
                "k_x": (("type", "exchange"), bx["k"], {"long_name": "k of type h in the exchange"}),
                "c1_x": (("type", "exchange", "good"), np.stack([bx["c1"], bx["c2"]], axis=-1),
                         {"long_name": "state consumption of type h in the exchange"}),
                "theta_x": (("type", "exchange"), bx["a"], {"long_name": "theta_1s of type h in the exchange"}),
                "fee_x": (("type", "exchange"), fee_x, {"long_name": "fee paid there", "units": "good 1 at t=0"}),
                "u_x": (("type", "exchange"), bx["u"], {"long_name": "state utility of type h in the exchange"}),
                "p": ("exchange", econ.utility.spot_price(pt.z), {"long_name": "spot price p(z) = z**gamma"}),
                "P_Delta": ("exchange", pt.P_delta, {"long_name": "price of rights to trade P_Delta(z,s)",
                                                     "units": "good 1 at t=0"}),
                "Q": ("exchange", pt.Q, {"long_name": "price of a claim to good 1 in exchange (z,s)",
                                         "units": "good 1 at t=0"}),
                "mass": ("exchange", econ.share @ pt.pi, {"long_name": "population mass in the exchange"}),
                "exchange_foc": ("exchange", pt.gradient, {"long_name": "dW/dz at the root (0 at the optimum)"}),
                "p0": ((), pt.p0, {"long_name": "price of good 2 at t=0", "units": "good 1 at t=0"}),
                "welfare": ((), pt.value, {"long_name": "sum_h lambda^h alpha^h U^h"}),
            },
            coords={"type": np.arange(econ.H), "state": np.arange(1, econ.S + 1), "good": [1, 2],
                    "exchange": ids, "exchange_state": ("exchange", pl.state + 1), "exchange_z": ("exchange", pt.z)},
            attrs={"economy": econ.name, "concept": "segregated", "method": "continuum",
                   "equilibrium": bool(self.equilibrium),
                   "numeraire": "good 1 at t=0",
                   "certificate_passed": bool(self.certificate is not None and self.certificate.passed),
                   "source": "Kilenthong & Townsend, Program 2 (Appendix A), continuous choices"},
        ), **COORDINATES)


# -------------------------------------------------------------------- certificate
def budget_problem(planner: Planner, pt: Point, h: int, income: float | None = None) -> float:
    """Type h's own problem (58)-(59) at the read-back prices over the support's
    exchanges, as a conic program (the planner's perspective formulation for one
    type): the most utility ``income`` buys (default its wealth e10 + p0 e20; at
    Pareto weights that are not Negishi's, wealth plus its lump-sum transfer)."""
    import cvxpy as cp

    econ, J, S = planner.econ, planner.J, planner.econ.S
    g = econ.gamma
    z, p = pt.z, econ.utility.spot_price(pt.z)
    e1, e2, R = planner.E1[h], planner.E2[h], planner.RJ[h]
    c = cp.Variable(2, pos=True)
    k = cp.Variable(nonneg=True)
    pi = cp.Variable(J, nonneg=True)
    K = cp.Variable(J, nonneg=True)
    A = cp.Variable(J)
    W = cp.multiply(pi, e1 + p * e2) + cp.multiply(p * R, K) + A
    Delta = cp.multiply(z * e2 - e1, pi) + cp.multiply(z * R, K)
    weight = econ.beta * econ.prob[planner.state]
    if g == 1.0:
        state_u = cp.sum(cp.multiply(2 * weight, -cp.rel_entr(pi, W)) + cp.multiply(weight * (-np.log(4) - np.log(p)), pi))
        cons = []
    else:
        t = cp.Variable(J)
        kappa = (1.0 + p ** (1.0 - 1.0 / g)) ** g / abs(1.0 - g)
        if g > 1.0:
            cons, state_u = [cp.PowCone3D(t, W, pi, 1.0 / g)], -cp.sum(cp.multiply(weight * kappa, t))
        else:
            cons, state_u = [cp.PowCone3D(pi, W, t, g)], cp.sum(cp.multiply(weight * kappa, t))
    wealth = econ.e0[h, 0] + pt.p0 * econ.e0[h, 1] if income is None else income
    cons += [
        pi @ planner.member == 1.0,
        K @ planner.member == k * np.ones(S),
        cp.multiply(p * R, K) + A >= 0,  # (13)
        c[0] + pt.p0 * (c[1] + k) + pt.Q @ A + pt.P_delta @ Delta <= wealth,  # (59) at prices (57)
    ]
    prob = cp.Problem(cp.Maximize(u_expr(c[0], g) + u_expr(c[1], g) + state_u), cons)
    prob.solve(solver=SOLVER, **SOLVER_OPTS)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return np.inf  # unbounded or failed: a profitable deviation or a broken price system
    return float(prob.value)


def certify_continuum(result: ContinuumResult, support_grids=None, support_columns=None) -> Certificate:
    """The certificate of a continuum equilibrium (module docstring)."""
    econ, pl, pt = result.econ, result.planner, result.point
    cert = Certificate()
    cert.add("continuum.kkt", pt.residual["kkt"], KKT_TOL, "Newton residual of Program 2's KKT conditions")
    clearing = max(v for k, v in pt.residual.items() if k != "kkt")
    cert.add("continuum.clearing", clearing, KKT_TOL, "(47), (51)-(53), (55), (13) recomputed from the values")
    cert.add("continuum.exchange_foc", float(np.abs(pt.gradient).max(initial=0.0)), FOC_TOL,
             "max_j |dW/dz_j| / P10 at the root (numeraire per unit z)")
    if result.equilibrium:
        cert.add("budget", float(np.max(np.abs(pt.transfer) / pt.wealth)), FOC_TOL,
                 "max_h |expenditure - wealth| / wealth, (59)")
    entry = pl.entry_value(pt)
    cert.add("continuum.entry", max(float(entry.max(initial=-np.inf)), 0.0), 1e-9,
             "largest gain (numeraire) of a type entering a support exchange it does not use")
    U = result.utilities()
    # in equilibrium a type has its wealth alone; at other weights, plus its lump sum
    income = [None] * econ.H if result.equilibrium else pt.wealth + pt.transfer
    gaps = [max(budget_problem(pl, pt, h, income=income[h]) - U[h], 0.0) / (1.0 + abs(U[h])) for h in range(econ.H)]
    cert.add("consumer_optimality", max(gaps), CONSUMER_TOL,
             "max_h (value of own budget problem at read-back prices - U^h) / (1 + |U^h|), conic solve")
    grids = support_grids if support_grids is not None else getattr(result.start, "grids", None)
    if grids is not None:
        add_edge_checks(cert, continuum_edges(result, grids))
    if support_grids is not None:
        gap = support_gap(result, support_grids, support_columns)
        cert.add("support.welfare_gap", max(gap, 0.0), SUPPORT_TOL,
                 "(Program 2 on the grid plus the continuum's exchanges, at its weights) - continuum welfare, "
                 "relative: an exchange outside the support would raise welfare")
    return cert


def continuum_edges(result: ContinuumResult, grids) -> list:
    """grid.z of every state against the continuum's exchanges: the largest mass a type
    puts on an exchange at or past an end of the grid it started from
    (:class:`~segex.certificate.GridEdge`). At fixed exchanges the program is convex and
    solved with c, k and a continuous, so no other grid can bind; but which exchanges
    exist comes from the LP on that grid, and ``support.welfare_gap`` prices exchanges
    only inside it -- an exchange that moved to an end or past it may have a better one
    beyond (an end that cannot bind, :func:`.certify.z_bounds`, excepted)."""
    econ, pl, pt = result.econ, result.planner, result.point
    out = []
    for s in range(econ.S):
        zg, on = grids.z[s], pl.state == s
        out.append(GridEdge("grid.z", zg[0], zg[-1], edge_mass(pt.z[on], pt.pi[:, on], zg[0], zg[-1]),
                            f"state {s + 1}" if econ.S > 1 else "", z_bounds(econ, s, zg, grids.k[-1])))
    return out


def support_gap(result: ContinuumResult, grids, columns=None) -> float:
    """(LP welfare on ``grids`` with the continuum's exchanges inserted, at the
    continuum's weights) - (continuum welfare), relative to 1 + |welfare|."""
    econ, pl, pt = result.econ, result.planner, result.point
    zeta = [pt.z[pl.state == s] for s in range(econ.S)]
    g, _ = grids_at(econ, grids, zeta)
    lp = solve_segregated(econ, g, weights=pt.weights, equilibrium=False, method="colgen")
    result.support_result = lp
    result.support_lp = {"rows": lp.lp["rows"], "cols": lp.lp["cols"], "objective": lp.objective,
                         "active": [e["id"] for e in lp.exchanges() if e["active"]]}
    return (lp.objective - pt.value) / (1.0 + abs(pt.value))


# -------------------------------------------------------------------- driver
def solve_continuum(start, support_check: bool = True, max_rounds: int = 4) -> ContinuumResult:
    """The continuum equilibrium on the support of the grid solution ``start`` (a
    :class:`.segregated.SegregatedResult`), certified (module docstring). If ``start``
    is an equilibrium the answer is too (Negishi weights solved for); if it was solved
    at given Pareto weights, the answer is the planner's optimum at those weights. Raises :class:`~segex.errors.SolveError` when the
    support cannot be made a root of the equilibrium conditions.

    When the support check fails -- at the continuum's weights the LP opens an
    exchange the support lacks -- that LP's solution is the next start: a column
    generation over exchanges, at most ``max_rounds`` times.
    """
    t0 = time.perf_counter()
    econ = start.econ
    is_eq = bool(start.equilibrium)
    rounds = 0
    while True:
        z0, state, w0 = start_from_lp(start)
        planner, pt, path = equilibrium(econ, z0, state, w0, fixed_weights=not is_eq)
        res = ContinuumResult(econ, planner, pt, path, start=start)
        res.equilibrium = is_eq
        solve_s = time.perf_counter() - t0
        res.certificate = certify_continuum(res, start.grids if support_check else None)
        rounds += 1
        failed = [name for name in res.certificate.failed() if not name.startswith("edge.")]  # edges: the grid's
        if failed != ["support.welfare_gap"] or rounds >= max_rounds:
            break
        start = res.support_result  # the LP at the continuum's weights found a better support
    # ``lp`` stays the last LP's (the continuum solve is not an LP); the continuum's own
    # figures are added: its variables and constraints, Newton iterations and seconds
    res.lp = {**start.lp, "method": f"{start.lp.get('method', 'grid')}+continuum",
              "continuum": {"variables": int(planner.n), "constraints": int(pt.mu.size), "exchanges": int(planner.J),
                            "newton_iterations": len(path), "support_rounds": rounds, "solve_s": solve_s,
                            "certify_s": time.perf_counter() - t0 - solve_s}}
    res.accuracy = newton_accuracy(path)
    return res
