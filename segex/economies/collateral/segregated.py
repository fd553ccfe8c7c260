"""Competitive equilibrium with segregated exchanges (KT 2.1.5, Definition 6).

:func:`solve_segregated` solves Program 2 (:mod:`.program2`) for given Pareto weights,
or searches Negishi weights so that every type's budget (59) balances at the read-back
prices (the equilibrium without transfers), and returns a :class:`SegregatedResult`
with allocations, prices, fees, exchange assignments and a certificate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ... import negishi as ng
from ...markets.equilibrium import PlannerOracle, Solved, balance_on_face, reraise_limit
from ...markets.fees import DualFace
from ...backends import solve
from ...certificate import Certificate
from ...errors import SolveError
from ...io.labels import label
from ...result import ResultMixin
from .grids import CollateralGrids
from .model import CollateralEconomy
from . import colgen
from .certify import ACTIVE_MASS, certify_segregated  # ACTIVE_MASS: when an exchange is active
from .program2 import (ROWS, Prices, Program2, build_program2, bundle_prices, bundle_table, expenditures,
                       make_type_columns, read_prices, type_columns)

#: "grid": every bundle on the grids is a column; "colgen": column generation with a
#: and c0 continuous; "colgen-grid": column generation over the grid's own bundles.
METHODS = ("grid", "colgen", "colgen-grid")



@dataclass
class _Solved(Solved):
    """A solve with Program 2's read-back prices beside the bundle prices."""

    prices: Prices = None


class _Oracle(PlannerOracle):
    """What the Negishi search needs from Program 2: the shared oracle
    (:class:`segex.markets.equilibrium.PlannerOracle`) on ``prog.planner``, whose points
    also carry Program 2's read-back prices (p0, Q, P_Delta per state) and whose budgets are
    priced by eq. (57) term by term (:func:`.program2.expenditures`).

    With HiGHS one session is kept, so every LP after the first is a warm-started dual
    simplex re-solve (only the objective changes with the weights).
    """

    def __init__(self, prog: Program2, backend, solver_opts, pricer=None):
        super().__init__(prog.planner, backend, solver_opts, pricer)
        self.prog = prog
        if backend == "highs":
            self.session = self._session()

    @property
    def prog(self) -> Program2:
        return self._prog

    @prog.setter
    def prog(self, prog: Program2) -> None:  # column generation swaps in a larger master
        self._prog, self.planner = prog, prog.planner

    def point(self, weights, sol) -> ng.NegishiPoint:
        prices = read_prices(self.prog, sol.row_dual)
        spend, wealth, P = expenditures(self.prog, sol.x, prices)
        return ng.NegishiPoint(weights=np.asarray(weights, float), transfer=spend - wealth, wealth=wealth,
                               state=_Solved(sol=sol, bundle_price=P, prices=prices))

    def residual(self, x, pt) -> np.ndarray:
        spend, wealth, _ = expenditures(self.prog, x, pt.state.prices)
        return (spend - wealth) / wealth


@dataclass(repr=False)
class SegregatedResult(ResultMixin):
    """Program 2 / equilibrium with segregated exchanges, read back for users."""

    CONCEPT = "segregated"

    econ: CollateralEconomy
    grids: CollateralGrids
    weights: np.ndarray
    equilibrium: bool
    x: np.ndarray
    prices: Prices
    lp: dict
    certificate: Certificate
    prog: Program2 = field(repr=False)
    row_dual: np.ndarray = field(repr=False)
    col_dual: np.ndarray = field(repr=False)
    objective: float = 0.0
    negishi_trace: list = field(default_factory=list)
    #: show the fee intervals' progress when :meth:`to_dict` computes them (segex.progress)
    progress: bool = field(default=False, repr=False, compare=False)

    # ------------------------------------------------------------------ read-back
    # The result is immutable once built; read-backs (per-type statistics, and the fee
    # intervals, two warm re-solves of one dual-face LP per exchange) are computed once
    # and cached.
    def _cached(self, key, fn):
        cache = self.__dict__.setdefault("_readback", {})
        if key not in cache:
            cache[key] = fn()
        return cache[key]

    def type_stats(self) -> list:
        """Per type: its expected choices, marginal lotteries and, per state, its mass and
        mean discrepancy in every exchange (computed once)."""
        return self._cached("type_stats", self._compute_type_stats)

    def _compute_type_stats(self):
        prog, econ, x, pr = self.prog, self.econ, self.x, self.prices
        S = econ.S
        out = []
        for h, tc in enumerate(prog.columns):
            xc1 = x[prog.block(f"c10[{h}]").slice]
            xc2 = x[prog.block(f"c20[{h}]").slice]
            xk = x[prog.block(f"k[{h}]").slice]
            d = {
                "c0": np.array([xc1 @ tc.c10, xc2 @ tc.c20]),
                "k": xk @ tc.k,
                "x_c10": xc1,
                "x_c20": xc2,
                "x_k": xk,
                "c1": np.zeros((S, 2)),
                "theta": np.zeros((S, 2)),
                "share": [],
                "delta": [],
                "fee": 0.0,
                "tax_saving": 0.0,
                "tax_e2": np.zeros(S),
                "sub_e1": np.zeros(S),
                "utility": float(xc1 @ tc.u_c10 + xc2 @ tc.u_c20),
            }
            for s, stt in enumerate(tc.x1):
                xs = x[prog.block(f"x1[{h},{s}]").slice]
                nz = self.grids.z[s].size
                zi = stt["z_idx"]
                d["c1"][s] = [xs @ stt["c1"], xs @ stt["c2"]]
                d["theta"][s, 0] = xs @ stt["a"]
                d["utility"] += econ.beta * econ.prob[s] * float(xs @ stt["util"])
                mass = np.bincount(zi, xs, minlength=nz)
                dsum = np.bincount(zi, xs * stt["delta"], minlength=nz)
                d["share"].append(mass)
                d["delta"].append(np.divide(dsum, mass, out=np.zeros(nz), where=mass > 0))
                # conditional on being assigned to exchange (s, z): E[. | z]
                k = self.grids.k[stt["k_idx"]]
                cond = {}
                for name, v in (("k", k), ("c1", stt["c1"]), ("c2", stt["c2"]), ("a", stt["a"]),
                                ("u", stt["util"])):
                    tot = np.bincount(zi, xs * v, minlength=nz)
                    cond[name] = np.divide(tot, mass, out=np.full(nz, np.nan), where=mass > 0)
                cond["fee"] = pr.P_delta[s] * d["delta"][-1]
                d.setdefault("cond", []).append(cond)
                d["fee"] += float(pr.P_delta[s] @ dsum)
                zz = self.grids.z[s]
                d["tax_saving"] += float(mass @ (pr.P_delta[s] * zz * econ.R[s]))
                d["tax_e2"][s] = float(mass @ (pr.P_delta[s] * zz))
                d["sub_e1"][s] = float(mass @ pr.P_delta[s])
            # the fee decomposes exactly into the three taxes when k and z are independent
            # within the type's lottery; report what the type pays under that reading
            e1 = econ.e1[h]
            d["tax_paid"] = (d["tax_saving"] * d["k"] + float(d["tax_e2"] @ e1[:, 1]) - float(d["sub_e1"] @ e1[:, 0]))
            out.append(d)
        return out

    def exchanges(self):
        """Every exchange (s, z): price p(z), fee P_Delta, Q, population mass, fee interval."""
        return self._cached("exchanges", self._compute_exchanges)

    def _compute_exchanges(self):
        econ, pr = self.econ, self.prices
        stats = self.type_stats()
        lo_hi = self._cached("fee_intervals", lambda: fee_intervals(self))
        rows = []
        for s in range(econ.S):
            zg = self.grids.z[s]
            mass = sum(econ.share[h] * stats[h]["share"][s] for h in range(econ.H))
            for j, z in enumerate(zg):
                active = bool(mass[j] > ACTIVE_MASS)
                lo, hi = lo_hi[s][j]
                rows.append({
                    "id": f"s{s + 1}:z{j}",
                    "state": s + 1,
                    "z": float(z),
                    "p": float(econ.utility.spot_price(z)),
                    "fee": float(pr.P_delta[s][j]),
                    "fee_interval": [float(lo), float(hi)],
                    "Q": float(pr.Q[s][j]),
                    "Q2": float(pr.Q[s][j] * econ.utility.spot_price(z)),
                    # public-finance reading (KT 2.1.5): implied tax rates in this exchange
                    "tax_saving": float(pr.P_delta[s][j] * z * econ.R[s]),
                    "tax_endowment2": float(pr.P_delta[s][j] * z),
                    "subsidy_endowment1": float(pr.P_delta[s][j]),
                    "mass": float(mass[j]),
                    "active": active,
                })
        return rows

    def headline(self) -> dict:
        """p0, K and welfare, without the fee intervals ``to_dict()`` computes."""
        stats = self.type_stats()
        K = sum(self.econ.share[h] * stats[h]["k"] for h in range(self.econ.H))
        return {"p0": float(self.prices.p0), "K": float(K), "welfare": float(self.objective)}

    def to_dict(self) -> dict:
        econ = self.econ
        stats = self.type_stats()
        ex = self.exchanges()
        types = []
        for h, d in enumerate(stats):
            shares = {}
            deltas = {}
            by_ex = {}
            for s in range(econ.S):
                cd = d["cond"][s]
                for j in np.nonzero(d["share"][s] > ACTIVE_MASS)[0]:
                    eid = f"s{s + 1}:z{j}"
                    shares[eid] = float(d["share"][s][j])
                    deltas[eid] = float(d["delta"][s][j])
                    by_ex[eid] = {
                        "share": shares[eid],
                        "Delta": deltas[eid],
                        "fee": float(cd["fee"][j]),
                        "k": float(cd["k"][j]),
                        "c1": [float(cd["c1"][j]), float(cd["c2"][j])],
                        "theta": [float(cd["a"][j]), 0.0],
                        "utility_state": float(cd["u"][j]),
                    }
            wealth = econ.e0[h, 0] + self.prices.p0 * econ.e0[h, 1]
            spend = wealth + self.lump_sum[h]
            types.append({
                "k": float(d["k"]),
                "c0": d["c0"].tolist(),
                "c1": d["c1"].tolist(),
                "theta": d["theta"].tolist(),
                "utility": float(d["utility"]),
                "transfer": -float(d["fee"]),
                "fee": float(d["fee"]),
                "lump_sum": float(self.lump_sum[h]),
                "wealth": float(wealth),
                "expenditure": float(spend),
                "shares": shares,
                "Delta": deltas,
                "by_exchange": by_ex,
                "taxes": {
                    "saving": float(d["tax_saving"]),
                    "endowment2": d["tax_e2"].tolist(),
                    "subsidy_endowment1": d["sub_e1"].tolist(),
                    "paid": float(d["tax_paid"]),
                    "note": "KT 2.1.5: per unit of k, sum_s P_Delta(z_s,s) z_s R_s; per unit of e_2s, P_Delta z_s; "
                            "per unit of e_1s, a subsidy P_Delta; averaged over the type's exchanges. "
                            "paid = tax_saving*k + sum_s (tax_e2 e_2s - subsidy e_1s) equals the fee",
                },
            })
        spot = []
        for s in range(econ.S):
            act = [e for e in ex if e["state"] == s + 1 and e["active"]]
            spot.append([e["p"] for e in act])
        return {
            "types": types,
            "p0": self.prices.p0,
            "spot": spot,
            "K": float(sum(econ.share[h] * stats[h]["k"] for h in range(econ.H))),
            "welfare": float(self.objective),
            "exchanges": ex,
            "active_exchanges": [e["id"] for e in ex if e["active"]],
            "weights": self.weights.tolist(),
            "equilibrium": self.equilibrium,
            **_fee_interval_note(ex),
            **self._refinement(),
        }

    def _refinement(self) -> dict:
        """The accuracy mode's report (refine.solve_to_tolerance), when there was one."""
        path = getattr(self, "refinement_path", None)
        if path is None:
            return {}
        return {"refinement": {"tol": self.refinement_tol, "accuracy": self.accuracy, "converged": self.converged,
                               "path": path}}

    @property
    def lump_sum(self) -> np.ndarray:
        """(H,) Negishi transfer each type still needs to afford its lottery (0 in equilibrium)."""
        def compute():
            spend, wealth, _ = expenditures(self.prog, self.x, self.prices)
            return spend - wealth

        return self._cached("lump_sum", compute)

    def _state_support(self) -> dict:
        """Every (type, state, k, z, a) the state lotteries hold, with its probability."""
        prog, x = self.prog, self.x
        parts = []
        for h, tc in enumerate(prog.columns):
            for s, st in enumerate(tc.x1):
                xs = x[prog.block(f"x1[{h},{s}]").slice]
                on = np.nonzero(xs > 0)[0]
                parts.append((np.full(on.size, h), np.full(on.size, s + 1), self.grids.k[st["k_idx"][on]],
                              self.grids.z[s][st["z_idx"][on]], st["a"][on], xs[on]))
        cols = [np.concatenate(c) for c in zip(*parts)]
        docs = ("type h (numbered from 0)", "state", "collateral k", "exchange z_s",
                "security a_s = theta_1s (theta_2s = 0)",
                "probability of (k, z_s, a_s) in state s")
        return {n: (v, d) for n, v, d in zip(("type", "state", "k", "z", "a", "prob"), cols, docs)}

    def to_dataset(self) -> xr.Dataset:
        econ, g = self.econ, self.grids
        stats = self.type_stats()
        ex = self.exchanges()
        H, S = econ.H, econ.S
        typ = np.arange(H)
        eid = [e["id"] for e in ex]
        share = np.array([np.concatenate([stats[h]["share"][s] for s in range(S)]) for h in range(H)])

        def cond(name):
            return np.array([np.concatenate([stats[h]["cond"][s][name] for s in range(S)]) for h in range(H)])

        delta = np.array([np.concatenate([stats[h]["delta"][s] for s in range(S)]) for h in range(H)])
        # t = 0 lotteries on the union of the types' points (under column generation
        # each type has its own points, off the c grid)
        c10_pts, c10_x = _on_union([tc.c10 for tc in self.prog.columns], [d["x_c10"] for d in stats])
        c20_pts, c20_x = _on_union([tc.c20 for tc in self.prog.columns], [d["x_c20"] for d in stats])
        sup = self._state_support()
        ds = xr.Dataset(
            {
                "k": ("type", [d["k"] for d in stats], {"long_name": "expected collateral k^h", "units": "good 2"}),
                "c0": (("type", "good"), np.array([d["c0"] for d in stats]), {"long_name": "expected t=0 consumption"}),
                "c1": (("type", "state", "good"), np.array([d["c1"] for d in stats]),
                       {"long_name": "expected state consumption after spot trade"}),
                "theta": (("type", "state", "good"), np.array([d["theta"] for d in stats]),
                          {"long_name": "expected securities (theta_1s, theta_2s); theta_2s = 0 by convention"}),
                "utility": ("type", [d["utility"] for d in stats], {"long_name": "expected utility U^h"}),
                "fee": ("type", [d["fee"] for d in stats],
                        {"long_name": "rights-to-trade fees paid, sum_s E[P_Delta Delta_s]", "units": "good 1 at t=0"}),
                "lump_sum": ("type", self.lump_sum, {"long_name": "Negishi transfer T^h (0 in equilibrium)",
                                                     "units": "good 1 at t=0"}),
                "weight": ("type", self.weights, {"long_name": "Pareto weight lambda^h"}),
                "share": (("type", "exchange"), share, {"long_name": "fraction of type h assigned to the exchange"}),
                "Delta": (("type", "exchange"), delta,
                          {"long_name": "mean discrepancy Delta^h_s(z) of type h in the exchange (eq. 11)"}),
                "k_x": (("type", "exchange"), cond("k"), {"long_name": "E[k | type h in the exchange]"}),
                "c1_x": (("type", "exchange", "good"), np.stack([cond("c1"), cond("c2")], axis=-1),
                         {"long_name": "E[state consumption | type h in the exchange]"}),
                "theta_x": (("type", "exchange"), cond("a"),
                            {"long_name": "E[theta_1s | type h in the exchange] (theta_2s = 0)"}),
                "fee_x": (("type", "exchange"), cond("fee"),
                          {"long_name": "fee paid there, P_Delta E[Delta]", "units": "good 1 at t=0"}),
                "u_x": (("type", "exchange"), cond("u"), {"long_name": "E[state utility | type h in the exchange]"}),
                "p": ("exchange", [e["p"] for e in ex], {"long_name": "spot price p(z) = z**gamma", "units": "good 1"}),
                "P_Delta": ("exchange", [e["fee"] for e in ex],
                            {"long_name": "price of rights to trade P_Delta(z,s)", "units": "good 1 at t=0"}),
                "P_Delta_lo": ("exchange", [e["fee_interval"][0] for e in ex]),
                "P_Delta_hi": ("exchange", [e["fee_interval"][1] for e in ex]),
                "Q": ("exchange", [e["Q"] for e in ex],
                      {"long_name": "price of a claim to good 1 in exchange (z,s)", "units": "good 1 at t=0"}),
                "mass": ("exchange", [e["mass"] for e in ex], {"long_name": "population mass in the exchange"}),
                "active": ("exchange", np.array([e["active"] for e in ex], dtype=bool),
                           {"long_name": "population mass above ACTIVE_MASS trades there"}),
                "x_k": (("type", "k_grid"), np.array([d["x_k"] for d in stats]), {"long_name": "lottery over k"}),
                "x_c10": (("type", "c10_grid"), c10_x, {"long_name": "lottery over t=0 consumption of good 1"}),
                "x_c20": (("type", "c20_grid"), c20_x, {"long_name": "lottery over t=0 consumption of good 2"}),
                "p0": ((), self.prices.p0, {"long_name": "price of good 2 at t=0", "units": "good 1 at t=0"}),
                "welfare": ((), self.objective, {"long_name": "sum_h lambda^h alpha^h U^h"}),
                # the state lotteries, long format over their support (what segex check
                # needs to re-solve each type's budget problem)
                **{f"x1_{name}": ("x1_point", v, {"long_name": doc}) for name, (v, doc) in sup.items()},
            },
            coords={
                "type": typ,
                "state": np.arange(1, S + 1),
                "good": [1, 2],
                "exchange": eid,
                "exchange_state": ("exchange", [e["state"] for e in ex]),
                "exchange_z": ("exchange", [e["z"] for e in ex]),
                "k_grid": g.k,
                "a_grid": g.a,
                "c10_grid": c10_pts,
                "c20_grid": c20_pts,
            },
            attrs={
                "economy": econ.name,
                "concept": "segregated",
                "equilibrium": bool(self.equilibrium),
                "numeraire": "good 1 at t=0",
                "certificate_passed": bool(self.certificate.passed),
                "method": str((self.lp or {}).get("method", "grid")),
                "source": "Kilenthong & Townsend, Program 2 (Appendix A)",
            },
        )
        return label(ds, **COORDINATES)


#: The collateral economy's own coordinates (:func:`segex.io.labels.label`).
COORDINATES = {
    "exchange_z": ("market fundamental z_s of the exchange (KT eq. 10)", "1"),
    "k_grid": ("collateral k on the grid", "good 2 at t=0"),
    "a_grid": ("security value a = theta_1s + p_s theta_2s on the grid", "good 1 in state s"),
}


def _on_union(points: list, masses: list):
    """Lotteries given on per-type point sets, as one (type, point) array on their union."""
    pts = np.unique(np.concatenate(points))
    out = np.zeros((len(points), pts.size))
    for h, (p, m) in enumerate(zip(points, masses)):
        np.add.at(out[h], np.searchsorted(pts, p), m)
    return pts, out


def _fee_interval_note(exchanges: list[dict]) -> dict:
    """``{"fee_interval_note": why}`` when an end of some exchange's fee interval is
    unknown (NaN, null in the JSON, "nan" in the report), else ``{}``."""
    unknown = [e["id"] for e in exchanges if any(np.isnan(v) for v in e["fee_interval"])]
    if not unknown:
        return {}
    return {"fee_interval_note": f"fee interval ends not computed for {', '.join(unknown)}: the supporting-price "
                                 "LP (segex.markets.fees.DualFace) failed in HiGHS or stayed cut by its box; "
                                 "the fee itself is a supporting price. Infinite ends (unbounded) are null in "
                                 "the JSON too"}


def fee_intervals(res: SegregatedResult):
    """For each exchange (s, z), the range of fees P_Delta(z, s) over every price system
    that supports the solution -- the interval a degenerate LP's duals leave open.

    A price system is a dual vector y of Program 2 at the solution's weights with
    ``A_j'y >= c_j`` for every bundle j (no bundle gains, eq. 56) and equality where
    x_j > 0 (complementary slackness); in an equilibrium also every type's budget (59)
    balanced at x (:meth:`PlannerLP.budget_rows`). Fees are in numeraire units,
    ``P_Delta = y_rights / y_good1`` -- a ratio, so the program is linear-fractional;
    with Charnes-Cooper variables ``v = y / y_good1``, ``t = 1 / y_good1 >= 0`` it is
    the LP ``A'v >= c t`` (= where x > 0), ``v_good1 = 1``, ``B v = rhs t``, solved
    twice per exchange (min and max of ``v_rights[s, z]``) in one HiGHS session that
    only changes its objective. Every other price (p0, Q, the other fees) moves with
    the fee: for an active exchange the interval is the set of its fees at which the
    same allocation is still an equilibrium, for an inactive one the fees at which
    nobody wants to enter. With column generation the bundles are the final master's.
    Returns per state an (n_z, 2) array (+-inf where unbounded, NaN where HiGHS could
    not solve the face LP warm, cold or by IPM).
    """
    from ...progress import Bar

    prog, econ = res.prog, res.econ
    rb = prog.lp.row_blocks
    prog.set_weights(res.weights)
    face = DualFace(prog.planner, res.x, res.row_dual, res.equilibrium)
    out = []
    n = sum(z.size for z in res.grids.z)
    with Bar("fee intervals", total=n, unit="exchange", enabled=res.progress) as bar:
        for s in range(econ.S):
            r0 = rb[f"rights[{s}]"].start
            iv = np.empty((res.grids.z[s].size, 2))
            for j in range(iv.shape[0]):
                iv[j] = face.range(r0 + j)
                bar.update()
            out.append(iv)
    return out


def solve_segregated(
    econ: CollateralEconomy,
    grids: CollateralGrids | None = None,
    weights=None,
    backend: str = "highs",
    equilibrium: bool | None = None,
    progress: bool = False,
    boundary: bool = True,
    solver: str = "ipm",
    presolve: str = "choose",
    method: str = "grid",
    tol: float = 1e-8,
    max_rounds: int = 200,
    weights0=None,
    columns0=None,
) -> SegregatedResult:
    """Solve Program 2 and read back prices; with ``weights=None`` find Negishi weights.

    Parameters
    ----------
    econ, grids : the economy and its grids (default grids if None).
    weights : Pareto weights lambda^h; None (default) searches the weights at which
        every type's budget (59) balances -- the equilibrium without transfers.
    backend : "highs" (default) or "cvxpy" (small grids, cross-checks).
    solver, presolve : HiGHS options for the first (cold) solve; later Negishi steps
        warm-start dual simplex from the previous basis.
    method : "grid" -- every bundle on the grids is a column; "colgen" -- column
        generation (:mod:`.colgen`): securities a and t = 0 consumption are continuous
        (priced in closed form), k and z stay on their grids, and the answer carries a
        certificate that no bundle anywhere has a positive reduced cost.
    tol : reduced-cost tolerance of column generation, relative to max |objective
        coefficient|: no bundle outside the LP could raise welfare by more than this per
        unit of probability.
    weights0 : a starting guess for the Negishi weights (e.g. from a coarser grid).
    columns0 : column generation's starting master, per type :class:`TypeColumns` on
        ``grids`` (e.g. a coarser solution's bundles, :func:`.exchanges.carried_columns`);
        it must contain a feasible allocation (no trade in every exchange does).
    """
    grids = grids or CollateralGrids.build(econ)
    equilibrium = weights is None if equilibrium is None else equilibrium
    tol = max(tol, 1e-9)  # below HiGHS's dual feasibility tolerance reduced costs are noise
    if method not in METHODS:
        from ...errors import SpecError

        raise SpecError("solve.method", f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    opts = {"solver": solver, "presolve": presolve} if backend == "highs" else {}
    bar = _progress(progress, econ)
    t0 = time.perf_counter()
    w_start = None
    if weights is not None or weights0 is not None:
        w_start = np.asarray(weights if weights is not None else weights0, float)
    if method == "grid":
        tb = time.perf_counter()
        prog = build_program2(econ, grids, weights, boundary)
        build_s = time.perf_counter() - tb
        oracle = _Oracle(prog, backend, opts)
    with bar:  # closed however the search ends
        if method == "grid" or weights is not None:
            if method != "grid":
                oracle = _ColgenOracle(econ, grids, boundary, backend, opts, tol, max_rounds,
                                       method == "colgen-grid", columns0)
            pt, x, sol, trace = _solve_master(oracle, weights, w_start, bar)
        else:
            oracle = _ColgenOracle(econ, grids, boundary, backend, opts, tol, max_rounds, method == "colgen-grid",
                                   columns0)
            pt, x, sol, trace = _colgen_equilibrium(oracle, w_start, bar)
    if method != "grid":  # the master may have grown since these were found
        build_s, prog = oracle.build_s, oracle.prog
        pt, x = oracle.lift_point(pt), oracle.lift(x)
    if weights is not None:
        if equilibrium:
            x = balance_on_face(prog.planner, pt, backend)
    else:
        # final face LP: all budgets, then the least-trade selection among the solutions
        xb = balance_on_face(prog.planner, pt, backend)
        if np.abs(oracle.residual(xb, pt)).max() <= np.abs(sol.residual).max():
            x = xb  # (the least-trade re-selection must not undo the balance)
    rounds = []
    if method != "grid":
        # the certificate's pricing check, at the reported prices (which the dual face
        # LP may have moved within the optimal dual face)
        prog.set_weights(pt.weights)
        final = _price_round(prog, pt.state.sol.row_dual, pt.weights, x, tol, len(oracle.rounds), oracle.candidates)
        final.pop("pricing")
        rounds = oracle.rounds + [{**final, "final": True}]
    solve_s = time.perf_counter() - t0 - build_s
    lpsol = pt.state.sol
    prog.set_weights(pt.weights)
    res = SegregatedResult(
        econ=econ,
        grids=grids,
        weights=pt.weights,
        equilibrium=equilibrium,
        x=x,
        prices=pt.state.prices,
        lp={**prog.lp.stats, "build_s": build_s, "solve_s": solve_s, "backend": backend, "method": method,
            "negishi_iterations": len(trace), "colgen_rounds": len(rounds)},
        certificate=None,
        prog=prog,
        row_dual=lpsol.row_dual,
        col_dual=lpsol.col_dual,
        objective=float(prog.lp.c @ x),
        negishi_trace=trace,
    )
    res.colgen_path = rounds
    res.progress = progress
    res.certificate = certify_segregated(res, backend=backend, progress=progress)
    if method != "grid":
        res.certificate.add("pricing.max_reduced_cost", max(rounds[-1]["max_reduced_cost"], 0.0), max(tol, 1e-12),
                            "largest reduced cost of any bundle (a, c0 continuous; k, z on grid) / max|c|")
    return res


def _solve_master(oracle, weights, w_start, bar):
    """At the given weights one evaluation; without weights the Negishi search.
    Returns (point, x, search solution or None, trace)."""
    if weights is not None:
        pt = oracle.evaluate(np.asarray(weights, float))
        return pt, pt.state.sol.x, None, []
    sol, tr = ng.negishi(oracle, progress=bar, weights0=w_start)
    return sol.point, sol.x, sol, tr.rows()


#: Negishi searches over a fixed restricted master before column generation moves
#: inside every evaluation of the search (see :func:`_colgen_equilibrium`).
CHEAP_SEARCHES = 2


def _colgen_equilibrium(oracle, w_start, bar):
    """The equilibrium by column generation, in two phases.

    Cheap phase: column generation at fixed weights, then a Negishi search over the
    fixed master, then pricing at the equilibrium's duals; if nothing prices in, done
    (KT Env 1 and Env 3 end here). Otherwise, after :data:`CHEAP_SEARCHES` tries,
    the exact phase: a search whose every evaluation runs column generation to the
    end (:class:`_ColgenOracle`), started from the last weights -- needed when the
    master's equilibrium is not optimal over all bundles at any of its optimal duals
    (KT Env 2).
    """
    w = w_start if w_start is not None else np.ones(oracle.H)
    trace = []
    for _ in range(CHEAP_SEARCHES):
        oracle.inner = True
        oracle.evaluate(w)  # column generation at fixed weights
        oracle.inner = False
        sol, tr = ng.negishi(oracle, progress=bar, weights0=w)
        trace += tr.rows()
        w = sol.point.weights
        pt = oracle.lift_point(sol.point)
        rnd = _price_round(oracle.prog, pt.state.sol.row_dual, w, oracle.lift(sol.x), oracle.tol, len(oracle.rounds),
                           oracle.candidates)
        rnd.pop("pricing")
        oracle.rounds.append({**rnd, "search": True})
        if rnd["new"] == 0:
            return sol.point, sol.x, sol, trace
    oracle.inner = True
    sol, tr = ng.negishi(oracle, progress=bar, weights0=w)
    return sol.point, sol.x, sol, trace + tr.rows()


class _ColgenOracle(_Oracle):
    """Column generation inside every evaluation of the Negishi search (see :mod:`.colgen`).

    ``evaluate(weights)`` re-solves the restricted master and prices every bundle at its
    duals, adding the profitable ones, until none remains: each point the search sees
    is then optimal over *all* bundles (a and c0 continuous, k and z on their grids),
    not only over the master's. That matters in degenerate economies (KT Env 2), where
    the master's equilibrium at the search's weights is not optimal over all bundles and
    no choice among its optimal duals prices every outside bundle out.

    Column sets only grow, append-only (:func:`.colgen.merge`), so allocations and
    points from earlier masters stay valid: :meth:`lift` carries them to the current LP
    (new columns at zero; duals are row-indexed and the rows never change). The search
    can therefore mix vertices met at any stage.
    """

    def __init__(self, econ, grids, boundary, backend, opts, tol, max_rounds, enumerate_grid=False, columns0=None):
        self.econ, self.grids, self.boundary, self.opts = econ, grids, boundary, opts
        # "colgen-grid": price the grid's own bundles (the grid LP, never built whole)
        self.candidates = ([type_columns(econ, grids, h, boundary) for h in range(econ.H)]
                           if enumerate_grid else None)
        self.tol, self.max_rounds = tol, max_rounds
        self.rounds, self.build_s = [], 0.0
        self._maps = {}  # ncols of an earlier master -> (positions of its columns in the next, its ncols)
        self.cols = columns0 if columns0 is not None else colgen.initial_columns(econ, grids)
        super().__init__(self._build(), backend, opts)

    def _build(self) -> Program2:
        tb = time.perf_counter()
        prog = build_program2(self.econ, self.grids, None, self.boundary, columns=self.cols)
        self.build_s += time.perf_counter() - tb
        return prog

    def pricer(self):
        """Bundles outside the current master (it grows between calls)."""
        return _bundle_pricer(self.prog, self.tol, self.candidates)

    #: run column generation inside :meth:`evaluate` (off: solve the master as it is)
    inner = True

    def evaluate(self, weights) -> ng.NegishiPoint:
        if not self.inner:
            return super().evaluate(weights)
        for _ in range(self.max_rounds):
            pt = super().evaluate(weights)
            x = pt.state.sol.x
            rnd = _price_round(self.prog, pt.state.sol.row_dual, pt.weights, x, self.tol, len(self.rounds),
                               self.candidates)
            pricing = rnd.pop("pricing")
            self.rounds.append(rnd)
            if pricing.n_new == 0:
                break
            self._grow(pricing)
        return pt

    def _grow(self, pricing) -> None:
        """Enlarge the master; its HiGHS session restarts from the mapped basis."""
        old, old_session = self.prog, self.session
        self.cols = colgen.merge(self.econ, self.grids, self.cols, pricing)
        self.prog = self._build()
        self._maps[old.lp.A.shape[1]] = (colgen.column_map(old, self.prog), self.prog.lp.A.shape[1])
        if old_session is not None:
            from ...backends.highs import HighsSession

            self.session = HighsSession(self.prog.lp, **self.opts)
            basis = colgen.map_basis(old, self.prog, old_session.h.getBasis())
            if basis is not None:
                self.session.set_basis(basis)
                self.session.h.setOptionValue("solver", "simplex")

    # -- carrying earlier vectors and points to the current master -------------------
    def lift(self, x: np.ndarray) -> np.ndarray:
        """``x`` of an earlier master as a vector of the current one (new columns 0)."""
        while x.size != self.prog.lp.A.shape[1]:
            pos, n_next = self._maps[x.size]
            nxt = np.zeros(n_next)
            nxt[pos] = x
            x = nxt
        return x

    def lift_point(self, pt: ng.NegishiPoint) -> ng.NegishiPoint:
        from ...engine.lp import LPSolution

        sol = pt.state.sol
        if sol.x.size == self.prog.lp.A.shape[1]:
            return pt
        prog = self.prog
        y = sol.row_dual
        c = (np.asarray(pt.weights) * self.econ.share)[prog.col_type] * prog.col_util
        new = LPSolution(status=sol.status, objective=sol.objective, x=self.lift(sol.x), row_dual=y,
                         col_dual=c - prog.lp.A.T @ y, solve_s=sol.solve_s, backend=sol.backend)
        pr = pt.state.prices
        out = ng.NegishiPoint(weights=pt.weights, transfer=pt.transfer, wealth=pt.wealth,
                              state=_Solved(sol=new, bundle_price=bundle_prices(prog, pr.p0, pr.Q, pr.P_delta),
                                            prices=pr))
        if hasattr(pt, "u"):
            out.u = pt.u
        return out

    def balance(self, pt, support=(), penalize=None, keep_allocation=False):
        self.prog.set_weights(pt.weights)
        return super().balance(self.lift_point(pt), penalize=penalize, keep_allocation=keep_allocation)

    def residual(self, x, pt) -> np.ndarray:
        return super().residual(self.lift(x), self.lift_point(pt))

    def utilities(self, x) -> np.ndarray:
        return super().utilities(self.lift(x))


def _price_round(prog, y, weights, x, tol, rnd, candidates=None) -> dict:
    """Price every bundle at duals ``y``: one entry of the column-generation path."""
    scale = max(1.0, np.abs(prog.lp.c).max())
    pricing = colgen.price(prog, y, weights, tol * scale, prog.grids.a.max(), candidates)
    return {"round": rnd, "cols": prog.lp.A.shape[1], "objective": float(prog.lp.c @ x),
            "max_reduced_cost": pricing.max_rc / scale, "new": pricing.n_new, "pricing": pricing}


def _bundle_pricer(prog: Program2, tol, candidates=None):
    """For the dual face LP under column generation: the profitable bundles outside the
    restricted master at duals y, as LP columns (same rows) and objective coefficients."""

    def pricer(y, weights):
        econ, grids = prog.econ, prog.grids
        scale = max(1.0, np.abs(prog.lp.c).max())
        pr = colgen.price(prog, y, weights, tol * scale, grids.a.max(), candidates)
        if pr.n_new == 0:
            return None, None
        cols = []
        for h in range(econ.H):
            c10n, c20n, x1n = pr.new[h]
            x1 = [bundle_table(econ, grids, h, s, *x1n[s]) for s in range(econ.S)]
            cols.append(make_type_columns(econ, c10n, c20n, grids.k, x1))
        extra = build_program2(econ, grids, weights, columns=cols)
        return extra.lp.A.tocsc(), extra.lp.c

    return pricer


def _progress(enabled, econ):
    """The Negishi search's bar (one type has no weights to search)."""
    from ...progress import Bar

    return Bar("Negishi weights", unit="LP", enabled=enabled and econ.H >= 2)


__all__ = ["SegregatedResult", "solve_segregated", "read_prices", "fee_intervals", "ROWS"]
