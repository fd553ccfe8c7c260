"""KT Definition 5: the competitive equilibrium with segregated exchanges of the
incomplete-markets economy, from its lottery LP (:mod:`.lottery`) and the shared market
machinery (:mod:`segex.markets`): Negishi weights at which every type's budget balances,
prices and fees read back from the duals, who trades where, and a certificate.

:func:`solve_segregated` inserts Definition 4's exact equilibrium into the grids (when it
solves), so that allocation is feasible in the LP: the Pareto program at its supporting
weights then beats or matches it, and the Negishi search starts from those weights.

On grids the equilibrium is an equilibrium *of the grid economy*: each type is optimal
among the grid's bundles at the read-back prices (the certificate's
``consumer_optimality``), and such equilibria are not unique -- an exchange's security
price and fees are pinned only to an interval by the portfolios a type may deviate to, p0
by the spacing of the t = 0 consumption grid around each type's consumption (a kink of the
lottery's value), and the Negishi search lands on one point of that set. ``--tol``
refines the grids onto the support until the allocation stops moving (:mod:`.refine`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate, GridEdge, add_edge_checks, edge_mass
from ...errors import SolveError
from ...io.labels import label
from ...result import ResultMixin
from ...markets.certify import CLEARING_TOL, certify_planner
from ...markets.equilibrium import Equilibrium, solve_planner
from .grids import MarketGrids
from .lottery import Program, build_program
from .model import IncompleteMarketsEconomy

#: An exchange is active when this much population mass trades there: far above the
#: solver's feasibility tolerance (1e-9), far below any meaningful share.
ACTIVE_MASS = 1e-7


@dataclass(repr=False)
class SegregatedResult(ResultMixin):
    """Definition 5 solved: the allocation, prices, fees, exchanges and certificate."""

    CONCEPT = "segregated"

    econ: IncompleteMarketsEconomy
    program: Program
    eq: Equilibrium
    x: np.ndarray
    lp: dict
    certificate: Certificate = None
    stats: dict = field(default_factory=dict, repr=False)
    #: show the fee intervals' progress when :meth:`to_dataset` computes them (segex.progress)
    progress: bool = field(default=False, repr=False, compare=False)

    # ------------------------------------------------------------------ read-back
    @property
    def grids(self) -> MarketGrids:
        return self.program.grids

    @property
    def y(self) -> np.ndarray:
        return self.eq.y

    @property
    def weights(self) -> np.ndarray:
        return self.eq.weights

    def prices(self) -> dict:
        """p0, Q (n_ex, J), P_Delta (n_ex, S) in units of good 1 at t = 0."""
        pr = self.program.planner.prices(self.y)
        n_ex = self.grids.exchanges.shape[0]
        return {"p0": float(pr["good2"][0]), "Q": pr["securities"].reshape(n_ex, self.econ.J),
                "P_Delta": pr["rights"].reshape(n_ex, self.econ.S)}

    def masses(self) -> np.ndarray:
        """(H, n_ex) population mass alpha^h of each type trading in each exchange."""
        return self.program.planner.masses(self.x, self.program.col_exchange, self.grids.exchanges.shape[0])

    def type_stats(self) -> list[dict]:
        """Per type: expected c0, c1 (S, 2), theta (J,), Delta (S,), utility, rights fee."""
        if "types" in self.stats:
            return self.stats["types"]
        econ, prog, x = self.econ, self.program, self.x
        pr = self.prices()
        out = []
        for h, tb in enumerate(prog.bundles):
            xc = [x[prog.blocks[h, n].slice] for n in ("c10", "c20")]
            x1 = x[prog.blocks[h, "x1"].slice]
            fee_col = (pr["P_Delta"][tb.exchange] * tb.delta).sum(axis=1)
            out.append({
                "c0": np.array([xc[0] @ self.grids.c0[0], xc[1] @ self.grids.c0[1]]),
                "c1": np.stack([x1 @ tb.c1, x1 @ tb.c2], axis=1),
                "theta": x1 @ tb.theta,
                "Delta": x1 @ tb.delta,
                "utility": float(prog.planner.utilities(x)[h]),
                "fee": float(x1 @ fee_col),
            })
        self.stats["types"] = out
        return out

    @property
    def lump_sum(self) -> np.ndarray:
        """(H,) Negishi transfer T^h each type needs to afford its lottery (0 in equilibrium)."""
        return self.program.planner.transfers(self.x, self.y)

    def exchanges(self) -> list[dict]:
        pr, mass = self.prices(), self.masses()
        P = self.grids.exchanges
        tot = mass.sum(axis=0)
        return [{"id": f"e{i}", "p": P[i].tolist(), "fee": pr["P_Delta"][i].tolist(), "Q": pr["Q"][i].tolist(),
                 "mass": float(tot[i]), "active": bool(tot[i] > ACTIVE_MASS)} for i in range(P.shape[0])]

    def fee_intervals(self) -> np.ndarray:
        """(n_ex, S, 2) the range of P_Delta(p, s) over every price system supporting the
        solution (:class:`segex.markets.fees.DualFace`) for the active exchanges; NaN for
        the inactive ones (not computed: their fees only keep types out)."""
        if "fee_intervals" in self.stats:
            return self.stats["fee_intervals"]
        from ...markets.fees import DualFace
        from ...progress import Bar

        pl = self.program.planner
        pl.set_weights(self.weights)
        n_ex, S = self.grids.exchanges.shape[0], self.econ.S
        out = np.full((n_ex, S, 2), np.nan)
        face = DualFace(pl, self.x, self.y, self.eq.equilibrium)
        rights = pl.lp.row_blocks["rights"]
        active = np.nonzero(self.masses().sum(axis=0) > ACTIVE_MASS)[0]
        with Bar("fee intervals", total=active.size * S, unit="price", enabled=self.progress) as bar:
            for e in active:
                for s in range(S):
                    out[e, s] = face.range(int(rights.index(e, s)))
                    bar.update()
        self.stats["fee_intervals"] = out
        return out

    def to_dict(self) -> dict:
        """The JSON of KT 2.2's issue, exactly: ``p0``, ``Q`` (mass-weighted over the active
        exchanges), ``types[h]`` {c0, c1, theta, utility, shares, transfer = what the type
        receives in the rights market}, ``exchanges`` [{id, p, fee, Q, mass, active}],
        ``weights``, ``welfare`` (the planner's objective at the weights). The rights fees
        paid, Delta and the Negishi transfer are in :meth:`to_dataset`."""
        econ = self.econ
        pr, mass = self.prices(), self.masses()
        active = mass.sum(axis=0) > ACTIVE_MASS
        w = mass.sum(axis=0)[active]
        types = []
        for h, d in enumerate(self.type_stats()):
            on = np.nonzero(mass[h] > ACTIVE_MASS)[0]
            types.append({"c0": d["c0"].tolist(), "c1": d["c1"].tolist(), "theta": d["theta"].tolist(),
                          "utility": d["utility"], "shares": {f"e{i}": float(mass[h, i] / econ.share[h]) for i in on},
                          "transfer": -d["fee"]})
        return {
            "p0": pr["p0"],
            "Q": (w @ pr["Q"][active] / w.sum()).tolist(),
            "types": types,
            "exchanges": self.exchanges(),
            "weights": self.weights.tolist(),
            "welfare": float(self.program.planner.lp.c @ self.x),
        }

    def to_dataset(self):
        import xarray as xr

        econ, g = self.econ, self.grids
        pr, mass = self.prices(), self.masses()
        st = self.type_stats()
        dims = {"type": np.arange(econ.H), "state": np.arange(1, econ.S + 1), "good": [1, 2],
                "security": np.arange(1, econ.J + 1), "exchange": [f"e{i}" for i in range(g.exchanges.shape[0])]}
        prog, x = self.program, self.x
        x_c10 = np.array([x[prog.blocks[h, "c10"].slice] for h in range(econ.H)])
        x_c20 = np.array([x[prog.blocks[h, "c20"].slice] for h in range(econ.H)])
        sup = self.support()
        return label(xr.Dataset(
            {
                "c0": (("type", "good"), np.array([d["c0"] for d in st]), {"long_name": "expected t=0 consumption"}),
                "c1": (("type", "state", "good"), np.array([d["c1"] for d in st]),
                       {"long_name": "expected state consumption after spot trade"}),
                "theta": (("type", "security"), np.array([d["theta"] for d in st]),
                          {"long_name": "expected security holdings"}),
                "utility": ("type", [d["utility"] for d in st], {"long_name": "expected utility U^h (eq. 27)"}),
                "fee": ("type", [d["fee"] for d in st], {"long_name": "rights fees paid, sum_s E[P_Delta Delta_s]",
                                                         "units": "good 1 at t=0"}),
                "Delta": (("type", "state"), np.array([d["Delta"] for d in st]),
                          {"long_name": "mean right to trade Delta^h_s: spot excess demand for good 1 (eq. 34)"}),
                "lump_sum": ("type", self.lump_sum, {"long_name": "Negishi transfer T^h (0 in equilibrium)",
                                                     "units": "good 1 at t=0"}),
                "weight": ("type", self.weights, {"long_name": "Pareto weight lambda^h"}),
                "p0": ((), pr["p0"], {"long_name": "price of good 2 at t=0", "units": "good 1 at t=0"}),
                "exchange_p": (("exchange", "state"), g.exchanges, {"long_name": "the exchange's spot prices p_s"}),
                "Q": (("exchange", "security"), pr["Q"], {"long_name": "security price Q_j(p)",
                                                          "units": "good 1 at t=0"}),
                "P_Delta": (("exchange", "state"), pr["P_Delta"],
                            {"long_name": "price of the right to trade P_Delta(p, s)", "units": "good 1 at t=0"}),
                "P_Delta_interval": (("exchange", "state", "end"), self.fee_intervals(),
                                     {"long_name": "every P_Delta(p, s) of a price system supporting the solution "
                                                   "(active exchanges; NaN elsewhere)", "units": "good 1 at t=0"}),
                "mass": (("type", "exchange"), mass, {"long_name": "population mass alpha^h trading in the exchange"}),
                "x_c10": (("type", "c10_grid"), x_c10, {"long_name": "lottery over t=0 good 1"}),
                "x_c20": (("type", "c20_grid"), x_c20, {"long_name": "lottery over t=0 good 2"}),
                **{f"x1_{k}": ("x1_point", v, {"long_name": doc}) for k, (v, doc) in sup.items()},
            },
            coords={**dims, "c10_grid": g.c0[0], "c20_grid": g.c0[1], "end": ["min", "max"]},
            attrs={"economy": "incomplete_markets", "concept": "segregated", "equilibrium": bool(self.eq.equilibrium),
                   "certificate_passed": bool(self.certificate is not None and self.certificate.passed),
                   **{f"p_grid_{s + 1}": g.p[s] for s in range(econ.S)},
                   **{f"theta_grid_{j + 1}": g.theta[j] for j in range(econ.J)},
                   "family_radius": float(g.family.radius[:, 0].max()) if len(g.family) else 0.0},
        ))

    def support(self) -> dict:
        """Every (type, exchange, portfolio) the t = 1 lotteries hold, with its probability."""
        prog, x = self.program, self.x
        parts = []
        for h, tb in enumerate(prog.bundles):
            xs = x[prog.blocks[h, "x1"].slice]
            on = np.nonzero(xs > 0)[0]
            fam = tb.member[on]
            edge = np.zeros(on.size, bool)
            edge[fam >= 0] = self.grids.family.edge[fam[fam >= 0]]
            parts.append([np.full(on.size, h), tb.exchange[on], tb.theta[on], xs[on], fam, edge])
        typ, ex, th, pr, fam, edge = (np.concatenate(c) for c in zip(*parts))
        out = {"type": (typ, "type h (numbered from 0)"), "exchange": (ex, "exchange index (row of exchange_p)"),
               "prob": (pr, "probability of (exchange, portfolio)"),
               "member": (fam, "the clearing family's member behind the bundle, -1 for the product grid"),
               "family_edge": (edge, "the member lies on the family's outer boundary (edge.grid.family)")}
        for j in range(self.econ.J):
            out[f"theta{j + 1}"] = (th[:, j], f"holding of security {j + 1}")
        return out


# ---------------------------------------------------------------------------------- solving
def solve_segregated(econ: IncompleteMarketsEconomy, grids: MarketGrids | None = None, weights=None,
                     backend: str = "highs", grid_specs: dict | None = None,
                     progress: bool = False) -> SegregatedResult:
    """Definition 5 on the grids (module docstring). ``weights=None``: the equilibrium
    without transfers (Negishi); otherwise the Pareto program at those weights with the
    transfers that decentralise it. ``grid_specs``: the TOML ``[grid]`` specs, used when
    ``grids`` is None (:func:`initial_grids`). ``progress``: bars (:mod:`segex.progress`)."""
    if grids is None:
        grids, weights0 = initial_grids(econ, grid_specs)
    else:
        weights0 = _supporting_start(econ)
    return solve_on(econ, grids, weights, backend, weights0 if weights is None else None, progress,
                    definition4_start=True)


def _supporting_start(econ):
    """Definition 4's supporting weights, or None when it does not solve."""
    from .exact import solve_externality, supporting_weights

    try:
        return supporting_weights(solve_externality(econ))
    except SolveError:
        return None


def initial_grids(econ: IncompleteMarketsEconomy, grid_specs: dict | None = None):
    """The grids of the ``[grid]`` specs with Definition 4's equilibrium inserted and the
    clearing family centred on it, and its supporting weights (the Negishi search's start);
    when Definition 4 does not solve, the grids alone and None (the LP does not need it)."""
    from .exact import solve_externality, supporting_weights

    try:
        start = solve_externality(econ)
    except SolveError:
        return MarketGrids.build(econ, **(grid_specs or {})), None
    insert = {"c0": start.c0, "p": start.spot, "theta": start.theta}
    return MarketGrids.build(econ, **(grid_specs or {}), insert=insert), supporting_weights(start)


def solve_on(econ, grids, weights=None, backend: str = "highs", weights0=None,
             progress: bool = False, definition4_start: bool = False) -> SegregatedResult:
    """The equilibrium (``weights=None``; the Negishi search starts at ``weights0``) or the
    Pareto program at ``weights`` on fixed grids; ``progress``: bars for the search and the
    certificate's LPs. ``definition4_start``: ``weights0`` are Definition 4's supporting
    weights, accepted when a price system supporting the LP's allocation there balances
    every budget (Definition 4 is then a Definition 5 equilibrium of the grids: so with
    identical CRRA, whose equilibria form a continuum; :func:`segex.negishi.negishi`)."""
    from ...progress import Bar

    tb = time.perf_counter()
    prog = build_program(econ, grids, weights)
    build_s = time.perf_counter() - tb
    rb = prog.planner.lp.row_blocks
    try:
        with Bar("Negishi weights", unit="LP", enabled=progress and weights is None) as bar:
            eq = solve_planner(prog.planner, weights=weights, backend=backend, weights0=weights0, progress=bar,
                               accept_start=definition4_start,
                               fee_rows=rb["rights"].all())
    except SolveError as err:
        if err.status != "dual_error":
            raise
        u = prog.planner.col_util
        raise SolveError("dual_error", f"{err.message}: the LP's utilities span {u.min():.3g} to {u.max():.3g}, "
                                       "beyond what HiGHS resolves at its tolerances; lower the large "
                                       "types[h].gamma or narrow grid.c (its smallest points)") from None
    res = SegregatedResult(econ=econ, program=prog, eq=eq, x=eq.x,
                           lp={**prog.planner.lp.stats, "build_s": build_s, "solve_s": eq.solve_s, "backend": backend,
                               "lps": eq.lp_solves, "negishi_iterations": len(eq.trace)}, progress=progress)
    res.certificate = certify(res, backend, progress)
    return res


def certify(res: SegregatedResult, backend: str = "highs", progress: bool = False) -> Certificate:
    """The shared checks (:func:`segex.markets.certify.certify_planner`; its ``rights`` row is
    spot clearing of good 1, eq. 35 = 33) plus spot clearing of good 2 in every exchange and
    state, recomputed from the bundles (eqs. 30, 33), and no lottery on an end of a grid
    that binds (:func:`support_edges`)."""
    econ, prog, x = res.econ, res.program, res.x
    cert = certify_planner(prog.planner, x, res.y, res.eq.equilibrium, backend, families={
        "good1": "(31) good 1 at t=0", "good2": "(31) good 2 at t=0", "securities": "(32) in every exchange",
        "rights": "(35) in every exchange and state"}, scale=float(econ.aggregate.max()), progress=progress)
    n_ex = res.grids.exchanges.shape[0]
    spot2 = np.zeros((n_ex, econ.S))
    for h, tb in enumerate(prog.bundles):
        xs = econ.share[h] * x[prog.blocks[h, "x1"].slice]
        for s in range(econ.S):
            spot2[:, s] += np.bincount(tb.exchange, xs * (tb.c2[:, s] - econ.e1[h, s, 1]), minlength=n_ex)
    cert.add("clearing.spot_good2", float(np.abs(spot2).max()) / econ.aggregate[1:].max(), CLEARING_TOL,
             "(33) good 2 in every exchange and state: implied by (35) and the spot budgets (30)")
    add_edge_checks(cert, support_edges(res))
    return cert


def support_edges(res: SegregatedResult) -> list:
    """The largest probability a type's lottery puts on the ends of every grid
    (:class:`~segex.certificate.GridEdge`): t = 0 consumption of each good, each state's
    spot prices and each security's holdings (exchanges of the prices' product), and the
    clearing family's deviation radius (its members on the boundary of the deviations)."""
    prog, x, g = res.program, res.x, res.grids
    H = len(prog.bundles)
    out = []
    for l, (name, grid) in enumerate((("c10", g.c0[0]), ("c20", g.c0[1]))):
        xs = np.array([x[prog.blocks[h, name].slice] for h in range(H)])
        out.append(GridEdge("grid.c", grid[0], grid[-1], edge_mass(grid, xs, grid[0], grid[-1]), f"good {l + 1}"))
    x1 = [x[prog.blocks[h, "x1"].slice] for h in range(H)]
    prod = [tb.member < 0 for tb in prog.bundles]  # bundles of the product grid
    for s, p in enumerate(g.p):
        mass = np.zeros((H, 2))
        for h, tb in enumerate(prog.bundles):
            idx = np.unravel_index(tb.exchange[prod[h]], [q.size for q in g.p])[s]
            mass[h] = edge_mass(p[idx], x1[h][prod[h]], p[0], p[-1])
        out.append(GridEdge("grid.p", p[0], p[-1], tuple(mass.max(0)), f"state {s + 1}"))
    for j, t in enumerate(g.theta):
        mass = np.array([edge_mass(tb.theta[prod[h], j], x1[h][prod[h]], t[0], t[-1])
                         for h, tb in enumerate(prog.bundles)])
        out.append(GridEdge("grid.theta", t[0], t[-1], tuple(mass.max(0)), f"security {j + 1}"))
    if len(g.family):
        edge = max(float(x1[h][~prod[h]][g.family.edge[tb.member[~prod[h]]]].sum())
                   for h, tb in enumerate(prog.bundles))
        out.append(GridEdge("grid.family", 0.0, float(g.family.radius[:, 0].max()), (0.0, edge),
                            "radius or composition_radius"))
    return out
