r"""The market chooses the contract (Peiris–Vardoulakis §6; derivation §6): a competitive
equilibrium with segregated exchanges, one per contract ``e = (rho_e, K_e)`` -- a reserve
every member stores and a pool delivering ``K_e[s]`` per unit promised in state s -- with
the right to trade in each exchange priced, as a lottery LP (:mod:`.planner` states the
LP; this module adds the reserves, the equilibrium weights and the read-back).

**Equilibrium.** Agents take the prices as given: the t = 0 good (numeraire), the bond of
every exchange ``q_e = y_bond[e] / y_resource0`` (a buyer pays ``q_e theta``, a seller
receives ``q_e phi``) and the right to trade there, ``fee[e, s] = y_delivery[e, s] /
y_resource0`` per unit of *excess delivery* ``D_s - A_s K_{e,s} phi``: a member pays
``sum_s fee[e, s] (D_s - A_s K_{e,s} phi)`` at t = 0 (engine dual convention, y = d welfare /
d bound, so a positive fee charges those who deliver more than the pool's rate and pays
those who deliver less). Each type's budget is ``E[x0] + E[sigma + q (theta - phi) + fee .
(D - A K phi)] = e_0``. The Negishi search of :mod:`segex.markets.equilibrium` finds the
Pareto weights at which every budget balances -- the equilibrium without transfers (KT
Theorem 3's construction) -- and :func:`~segex.markets.equilibrium.least_fee_prices`
reports the least fees among the price systems that support it (lottery LPs are
degenerate; :class:`~segex.markets.fees.DualFace` gives each active fee's whole interval).

Column generation (:mod:`.planner`) runs at the search's weights; after each search every
grid point is priced at the reported prices and, if one enters, added and the search
repeated, so the certificate's ``pricing.max_reduced_cost`` says no agent gains by any
point of the grids (the consumer certificate's LPs are over the master's points).

**Answers** (tests/test_default_reserves_lp.py, baseline, PV's single bond: ``K_mode =
"equal"``, one rate for both states). For every lambda of the baseline the market trades
only in exchanges with K = (1/2, 1/2) -- full delivery in the good state -- and its welfare
equals the constrained planner's (:func:`.planner.solve_planner`) to the LP's tolerance:
e.g. lambda = 0.75, w = -0.7950574 in both (the paper's unpriced arc, rho = 7/18, gives
-0.7957672: 7.1e-4 lower, so the arc is not constrained optimal for lambda < 7/9). Trade
spreads over exchanges with different rho: the reserve is not pinned down (any rho at most
the storage of its members supports the same allocation). With a rate per state
(``K_mode = "product"``, the default), pools separate by who delivers: the market picks
K = (1, 0) and (0, 1) -- type-specific bonds, each delivered fully in its seller's good state
-- and welfare rises far above the single-bond planner's (lambda = 0.75: about -0.7567).

**Single exchange** (:func:`solve_single_exchange`): the LP with one exchange (rho, K) that
binds every agent (no outside option free of the reserve): at an exact equilibrium's
(rho, K) it reproduces that equilibrium's welfare up to the grid error (derivation §6).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate
from ...errors import SpecError
from ...markets.equilibrium import Equilibrium
from ...markets.equilibrium import solve_planner as solve_weights
from ...result import ResultMixin
from .model import DefaultReservesEconomy
from .planner import (PRICE_TOL, Columns, Duals, Grids, LotteryWelfare, Program, add_priced, build_program, certify_program,
                      column_generation, grids_from_specs, initial_columns, layer_points, outside_pricer, price, solve_on_grids, support,
                      support_dataset)

#: An exchange is active when this much population mass trades there (HiGHS feasibility 1e-9 x 100).
ACTIVE_MASS = 1e-7
#: Searches (Negishi on the master, then pricing at its prices) before giving up on new points.
MAX_SEARCHES = 12


@dataclass(repr=False)
class ContractsResult(LotteryWelfare, ResultMixin):
    """The market's choice of contracts (module docstring)."""

    CONCEPT = "contracts"

    econ: DefaultReservesEconomy
    prog: Program
    eq: Equilibrium
    lp: dict
    certificate: Certificate = None
    stats: dict = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        return self.eq.x

    @property
    def y(self) -> np.ndarray:
        return self.eq.y

    @property
    def weights(self) -> np.ndarray:
        return self.eq.weights

    @property
    def transfers(self) -> np.ndarray:
        """(H,) Negishi transfer each type needs (0 in the equilibrium without transfers)."""
        return self.prog.planner.transfers(self.x, self.y)

    def prices(self) -> dict:
        """q (E,), fee (E, S) in units of the t = 0 good (module docstring)."""
        d = Duals.of(self.prog, self.y)
        return {"q": d.bond / d.y0, "fee": d.delivery / d.y0}

    def masses(self) -> np.ndarray:
        """(E,) population mass trading (theta + phi > 0) in each exchange."""
        pl = self.prog.planner
        return pl.masses(self.x, self.prog.col_exchange, self.prog.grids.E).sum(0)

    def active(self) -> np.ndarray:
        return np.nonzero(self.masses() > ACTIVE_MASS)[0]

    def fee_intervals(self) -> np.ndarray:
        """(E, S, 2) every fee of a price system supporting the solution
        (:class:`~segex.markets.fees.DualFace`) against the master's points and every grid
        point of the active exchanges (:func:`extended`); active exchanges only (NaN
        elsewhere); an end is None in the JSON where those points leave it unbounded."""
        if "fee_intervals" not in self.stats:
            from ...markets.fees import DualFace

            S = self.econ.S
            pl, x = extended(self.prog, self.x, self.active(), self.weights)
            out = np.full((self.prog.grids.E, S, 2), np.nan)
            face = DualFace(pl, x, self.y, self.eq.equilibrium)
            rows = pl.lp.row_blocks["delivery"]
            for e in self.active():
                for s in range(S):
                    out[e, s] = face.range(int(rows.start + e * S + s))
            self.stats["fee_intervals"] = out
        return self.stats["fee_intervals"]

    def exchanges(self) -> list[dict]:
        """The exchanges with trade: rho, K, mass, fee (per state), fee_interval, q."""
        g, pr, mass, iv = self.prog.grids, self.prices(), self.masses(), self.fee_intervals()
        return [{"id": f"e{e}", "rho": float(g.ex_rho[e]), "K": g.ex_K[e].tolist(), "mass": float(mass[e]),
                 "fee": pr["fee"][e].tolist(), "fee_interval": [[_num(a), _num(b)] for a, b in iv[e]],
                 "q": float(pr["q"][e])} for e in self.active()]

    def to_dict(self) -> dict:
        return {"exchanges": self.exchanges(), "w": self.w.tolist(), "welfare": self.welfare,
                "weights": self.weights.tolist(), "transfers": self.transfers.tolist(),
                "equilibrium": bool(self.eq.equilibrium)}

    def to_dataset(self):
        ds = support_dataset(self, "contracts")
        g, pr, mass = self.prog.grids, self.prices(), self.masses()
        a = self.active()
        iv = self.fee_intervals()[a]
        ds = ds.assign(
            exchange_rho=("exchange", g.ex_rho[a], {"long_name": "reserve rho of the exchange", "units": "good at t=0"}),
            exchange_K=(("exchange", "state"), g.ex_K[a], {"long_name": "delivery rate K of the exchange", "units": "1"}),
            exchange_mass=("exchange", mass[a], {"long_name": "population mass trading there", "units": "1"}),
            fee=(("exchange", "state"), pr["fee"][a],
                 {"long_name": "price of the right to trade: per unit of D_s - A_s K_s phi", "units": "good at t=0"}),
            fee_interval=(("exchange", "state", "end"), iv,
                          {"long_name": "fees of every supporting price system", "units": "good at t=0"}),
            q=("exchange", pr["q"][a], {"long_name": "bond price q_e", "units": "good at t=0"}),
            transfer=("type", self.transfers, {"long_name": "Negishi transfer T^h (0 in equilibrium)",
                                               "units": "good at t=0"}),
        ).assign_coords(exchange=[f"e{e}" for e in a], end=["min", "max"])
        from ...io.labels import label

        return label(ds)


def extended(prog: Program, x: np.ndarray, exchanges, weights):
    """The master's planner LP with every point of every layer in ``exchanges`` added (the
    fee of an exchange is bounded by the points that could trade there), and x extended by
    zeros. Returns (PlannerLP, x)."""
    econ, grids = prog.econ, prog.grids
    cols = copy.copy(prog.cols)
    n1 = cols.h.size
    for e in exchanges:
        r, k = divmod(int(e), grids.K.shape[0])
        for layer in grids.layers:
            if k not in layer.kidx:
                continue
            for h in range(econ.H):
                sig, th, ph = layer_points(econ, layer, grids.K[[k]], grids.snap, h)
                ok = ~np.isnan(ph[0]) & (sig[0] >= grids.rho[r] - 1e-12)
                cols.add_points(econ, grids, h, np.full(ok.sum(), e), sig[0][ok], th[0][ok], ph[0][ok])
    ext = build_program(econ, grids, cols, weights)
    return ext.planner, np.concatenate([x[:n1], np.zeros(cols.h.size - n1), x[n1:]])


def _num(v):
    return float(v) if np.isfinite(v) else None


# ---------------------------------------------------------------------------------- solving
def equilibrium_on(econ, grids: Grids, cols: Columns, weights=None, backend: str = "highs",
                   progress=None) -> tuple[Program, Equilibrium, dict]:
    """Column generation, then (``weights=None``) the Negishi search on the master, pricing
    at its prices and repeating while a grid point enters (module docstring); with weights,
    the Pareto program there and the least fees supporting it. Returns (program,
    equilibrium, stats)."""
    w = np.ones(econ.H) if weights is None else np.asarray(weights, float)
    t0 = time.perf_counter()
    m = solve_on_grids(econ, grids, w, backend, cols)
    build_s, rounds, searches = m.build_s, list(m.rounds), 0
    for searches in range(1, MAX_SEARCHES + 1):
        tb = time.perf_counter()
        prog = build_program(econ, grids, cols, w)
        build_s += time.perf_counter() - tb
        rows = prog.planner.lp.row_blocks["delivery"].all()
        eq = solve_weights(prog.planner, weights=weights, backend=backend, weights0=w, fee_rows=rows,
                           accept_start=weights is None, pricer=outside_pricer(prog))
        cscale = max(1.0, float(np.abs(prog.planner.lp.c).max()))
        pr = price(econ, grids, Duals.of(prog, eq.y), eq.weights, cscale)
        if pr.max_rc <= PRICE_TOL or not add_priced(econ, grids, cols, pr):
            break
        w = eq.weights
        mm = column_generation(econ, grids, cols, w, backend)
        build_s, rounds = build_s + mm.build_s, rounds + mm.rounds
    stats = {**prog.planner.lp.stats, "build_s": build_s, "solve_s": time.perf_counter() - t0 - build_s,
             "backend": backend, "colgen_rounds": len(rounds), "searches": searches,
             "negishi_iterations": len(eq.trace), "lps": eq.lp_solves}
    return prog, eq, stats


def solve_contracts(econ: DefaultReservesEconomy, grid_specs: dict | None = None, weights=None,
                    backend: str = "highs", progress: bool = False) -> ContractsResult:
    """The market's choice of contracts (module docstring): exchanges over the ``[grid]``
    table's rho and K grids (:func:`.planner.grids_from_specs`); ``weights=None``: the
    equilibrium without transfers, otherwise the Pareto program at ``weights`` with the
    transfers that decentralise it."""
    grids = grids_from_specs(econ, grid_specs)
    return solve_grids(econ, grids, weights, backend)


def solve_single_exchange(econ: DefaultReservesEconomy, rho: float, K, grid_specs: dict | None = None,
                          weights=None, backend: str = "highs") -> ContractsResult:
    """The LP with one exchange (``rho``, ``K`` per state, or one number for every state)
    binding every agent: the equilibrium of the economy whose only bond market pools at
    rate K under reserve rho (derivation §6's single-exchange test)."""
    K = np.broadcast_to(np.asarray(K, float), (econ.S,)).copy()
    if np.any(K < 0) or np.any(K > 1):
        raise SpecError("K", f"delivery rates are in [0, 1], got {K.tolist()}")
    if rho < econ.reserve:
        raise SpecError("rho", f"the exchange's reserve {rho:g} is below the economy's {econ.reserve:g}")
    specs = {k: v for k, v in (grid_specs or {}).items() if k not in ("K", "K_mode", "rho")}
    grids = grids_from_specs(econ, {**specs, "K": {"vectors": [K.tolist()]}}, rho=[rho])
    return solve_grids(econ, grids, weights, backend)


def solve_grids(econ, grids: Grids, weights=None, backend: str = "highs") -> ContractsResult:
    """:func:`equilibrium_on` from the feasible start, the result and its certificate."""
    if weights is not None:
        weights = np.asarray(weights, float)
        if weights.shape != (econ.H,) or np.any(weights <= 0):
            raise SpecError("solve.weights", f"give {econ.H} positive Pareto weights")
    cols = initial_columns(econ, grids)
    prog, eq, stats = equilibrium_on(econ, grids, cols, weights, backend)
    res = ContractsResult(econ, prog, eq, stats)
    res.certificate = certify_program(prog, eq.x, eq.y, eq.weights, eq.equilibrium, backend)
    return res


def held(res: ContractsResult) -> dict:
    """The support of the lotteries (:func:`.planner.support`)."""
    return support(res.prog, res.x)


__all__ = ["ContractsResult", "solve_contracts", "solve_single_exchange", "solve_grids", "equilibrium_on"]
