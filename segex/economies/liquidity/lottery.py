r"""SP3 (and SP2) as lottery LPs: hidden types, hidden trades, and the private market's
rate R chosen through exchanges indexed by R (Kilenthong–Townsend's segregated exchanges).

Bundles. A reported type receives a lottery over bundles b = (R_k, I_m, end): the
exchange k whose private market it trades in (rate R_k), the present value I_m of its
endowment (c1, c2) at R_k, and how that value is split, c1 = 0 or c1 = I (c2 = R (I -
c1)). Only (I, R) matter for utility (the agent re-trades to its demand at R); the split
enters resources and the private market linearly, so lotteries over the two ends
replicate every split exactly -- a grid of splits would add nothing.

Rows (FGT's problem (28)-(30) with lotteries, Prescott–Townsend):

* ``lottery[theta]``: each reported type's lottery sums to one;
* ``resources`` (FGT eq. 29): sum_theta F sum_b x (c1 + c2 / R-hat) <= e;
* ``market[k]``: the private market of exchange k clears, sum F x (x1(I, R_k; theta) - c1)
  = 0 -- good 1 at t = 1; good 2 then clears by each agent's budget at R_k. Its dual,
  divided by the resources dual, is Kilenthong–Townsend's :math:`P_\Delta(R_k)`: the
  price, in resources at t = 0, of the right to one unit of excess demand for good 1 in
  that exchange;
* ``ic[theta, theta']`` (FGT eq. 30, with the deviator's re-trade): a type theta gets at
  least what it would get by reporting theta' and re-trading at the rate of the exchange
  the lottery sends it to, sum_b x(theta, b) V(I_b, R_b; theta) >=
  sum_b x(theta', b) V(I_b, R_b; theta) -- linear in the lotteries, assembled as two
  sparse blocks per pair;
* ``common[theta, k]`` (``exchanges="common"`` only): every type is in exchange k with the
  same probability q_k -- one private market for everybody, as in FGT, its rate a public
  lottery over the grid (columns q). Each draw must stand on its own, so resources and
  truth-telling are then rows per exchange (``resources[k]`` <= e q_k, ``ic[pair, k]``):
  the LP is a mixture of single-rate programs and its value the best single rate's.
  ``exchanges="segregated"`` drops these rows: the lottery may send types to different
  exchanges (rights to trade at R, assigned and enforced, as Kilenthong–Townsend), and
  truth-telling holds in expectation over the assignment.

The objective is ex-ante utility, sum_theta F sum_b x V(I_b, R_b; theta). Read back: the
rate (mass-weighted over active exchanges), the liquidity requirement sum F E[c1] (eq.
19), its share of the endowment, R / R-hat, welfare and the gain over CE3.
:func:`refine_sp3` zooms both grids onto the lotteries' support until the answer moves
by less than a tolerance (adaptive refinement rather than a bigger grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ...backends import solve
from ...certificate import Certificate, GridEdge, add_edge_checks, edge_mass, lp_checks
from ...engine.lp import LPBuilder
from ...errors import SpecError
from ...gridspec import axis
from ...io import validate
from ...markets.incentives import add_truth_telling, truth_telling_multipliers
from ...markets.refine import extension_bounds, refine, zoom
from .model import LiquidityEconomy
from ...io.labels import label
from ...result import ResultMixin
from .reduced import COORDINATES, Allocation, ce3, demands, type_coords

EXCHANGES = ("segregated", "common")

#: What to change when a row family conflicts (the infeasibility diagnosis). ``lottery``
#: and ``common`` define the lotteries and stay exact there.
HINTS = {
    "lottery": "every type needs at least one bundle on its grids",
    "resources": "no allocation on the grids fits within the endowment: lower the minimum income/consumption "
                 "grid points (grid.I, grid.c) or widen grid.c",
    "market": "no exchange's private market can clear on the grids: widen grid.R (or grid.p) and grid.I",
    "common": "one market for all types cannot be formed on grid.R",
    "ic": "truth-telling cannot hold on the grids: widen them so that every type's own bundle is representable",
}
#: Short-asset differences from CE3 below this share of the endowment read as no regulation.
REGULATION_TOL = 1e-4


@dataclass(frozen=True)
class LotteryGrids:
    """Exchanges R (gross private-market rates) and incomes I (present values at R)."""

    R: np.ndarray
    I: np.ndarray
    index: str = "R"  # how the grid file gave the exchanges: rates "R" or prices "p" = 1/R

    @classmethod
    def around(cls, econ: LiquidityEconomy, n_R: int = 41, n_I: int = 41, span: float = 0.5):
        """R in R-hat * [1 - span, 1 + span] (always holding R-hat, CE3's rate) and I in
        e * [0.5, 1.5] (holding e, CE3's income)."""
        R = np.union1d(econ.R_hat * np.linspace(1 - span, 1 + span, n_R), [econ.R_hat])
        I = np.union1d(econ.e * np.linspace(0.5, 1.5, n_I), [econ.e])
        return cls(R=R, I=I)

    @classmethod
    def build(cls, econ: LiquidityEconomy, R=None, I=None, p=None) -> "LotteryGrids":
        """Grids from TOML specs (:func:`segex.gridspec.axis`): exchanges as rates ``R``
        or as spot prices ``p`` of good 2 in good 1 (Kilenthong–Townsend's index, p =
        1/R), incomes ``I``. Defaults are :meth:`around`'s ranges; R-hat (CE3's rate) and
        e (CE3's income) are always added, so the unregulated equilibrium is feasible."""
        if R is not None and p is not None:
            raise SpecError("grid.p", "give the exchanges as rates R or as prices p, not both")
        Rh, e = econ.R_hat, econ.e
        if p is not None:
            pp = axis(p, "grid.p", 1 / (1.5 * Rh), 1 / (0.5 * Rh), 41, insert=[1 / Rh])
            if pp[0] <= 0:
                raise SpecError("grid.p", f"spot prices must be positive, got min = {pp[0]:g}")
            RR = np.sort(1.0 / pp)
        else:
            RR = axis(R, "grid.R", 0.5 * Rh, 1.5 * Rh, 41, insert=[Rh])
            if RR[0] <= 0:
                raise SpecError("grid.R", f"gross rates must be positive, got min = {RR[0]:g}")
        II = axis(I, "grid.I", 0.5 * e, 1.5 * e, 41, insert=[e])
        if II[0] <= 0:
            raise SpecError("grid.I", f"incomes must be positive, got min = {II[0]:g}")
        return cls(R=RR, I=II, index="R" if p is None else "p")


def consumption_grid(econ: LiquidityEconomy, spec=None) -> np.ndarray:
    """SP2's consumption grid (both dates) from a TOML spec ``grid.c``; its range must
    hold the endowment e (CE3's present value) so that SP2 is feasible. It may start at
    0: SP2 bounds every bundle a type values at -inf to zero (:func:`solve_sp2`)."""
    c = axis(spec, "grid.c", 0.0, 2.0 * max(1.0, econ.R_hat) * econ.e, 81, must_hold=np.array([econ.e]),
             what=f"the endowment e = {econ.e:g}")
    validate.consumption_grid(c, "grid.c", econ.gamma, spec, zero_ok=True)
    return c


def bundles(econ: LiquidityEconomy, grids: LotteryGrids):
    """Flat bundle arrays: exchange index, R, I, c1, c2, and per type V and x1 (N, nb)."""
    k, m, end = np.meshgrid(np.arange(grids.R.size), np.arange(grids.I.size), [0, 1], indexing="ij")
    k, m, end = k.ravel(), m.ravel(), end.ravel()
    R, I = grids.R[k], grids.I[m]
    c1 = np.where(end == 1, I, 0.0)
    c2 = R * (I - c1)
    # demands are linear in I (FGT eqs. 20-21): unit-income demands per (type, exchange)
    unit = np.array([np.stack(demands(econ, 1.0, r)) for r in grids.R])  # (n_R, 2, N)
    x1 = unit[k, 0, :].T * I[None, :]
    x2 = unit[k, 1, :].T * I[None, :]
    V = econ.utility(x1, x2)
    return k, R, I, c1, c2, V, x1


@dataclass(repr=False)
class LotteryResult(ResultMixin):
    """What SP2 and SP3 share: lotteries x (N, nb) per reported type, welfare, the LP's
    sizes and times, its certificate, and CE3 (welfare and short asset) for comparison."""

    econ: LiquidityEconomy
    x: np.ndarray
    welfare: float
    liquidity: float  # sum F E[c1], the short asset (FGT eq. 19)
    c1: np.ndarray  # (N,) expected consumption at t = 1 and t = 2 per type (after re-trade)
    c2: np.ndarray
    ic_dual: np.ndarray  # (N, N) multipliers of truth-telling, [theta, reported]
    lp: dict
    ce3: Allocation
    certificate: Certificate | None = None
    refinement: list = field(default_factory=list)
    limits: tuple | None = None  # the grid ends the edge checks used, when refinement may extend the grids

    def _headline(self) -> dict:
        e = self.econ
        out = {"R_hat": e.R_hat, "liquidity": self.liquidity, "short_share": self.liquidity / e.e,
               "welfare": self.welfare, "welfare_gain": self.welfare - self.ce3.welfare,
               "c1": self.c1.tolist(), "c2": self.c2.tolist(),
               "binding_ic": [[int(a), int(b)] for a, b in zip(*np.nonzero(self.ic_dual > 1e-9))]}
        if self.refinement:
            out["refinement"] = self.refinement
        return out

    def _attrs(self, concept, source) -> dict:
        e = self.econ
        limits = {} if self.limits is None else {"edge_limits": np.asarray(self.limits, float)}
        return {"economy": e.name, "family": e.family, "gamma": e.gamma, "R_hat": e.R_hat, "e": e.e, "rho": e.rho,
                "concept": concept, "source": source,
                "certificate_passed": bool(self.certificate is not None and self.certificate.passed), **limits}

    def _common_vars(self) -> dict:
        return {"c1": ("type", self.c1, {"long_name": "expected consumption at t=1 after re-trade"}),
                "c2": ("type", self.c2, {"long_name": "expected consumption at t=2 after re-trade"}),
                "ic_dual": (("type", "report"), self.ic_dual, {"long_name": "multiplier of truth-telling (30)"}),
                "liquidity": ((), self.liquidity, {"long_name": "short asset, sum F E[c1] (eq. 19)"}),
                "welfare": ((), self.welfare),
                "welfare_gain": ((), self.welfare - self.ce3.welfare, {"long_name": "welfare - CE3 welfare"})}


@dataclass(repr=False)
class SP3Result(LotteryResult):
    HEADLINE = ("R", "regulation", "liquidity", "welfare", "welfare_gain")

    grids: LotteryGrids = None
    exchanges: str = "common"
    exchange_mass: np.ndarray = None  # (n_R, N) mass of each type in each exchange (sums to F)
    P_Delta: np.ndarray = None  # (n_R,) price of a right to one unit of excess demand for good 1
    pinned: np.ndarray = None  # (n_R,) both split ends used there: P_Delta = 1 - R/R_hat exactly
    Delta: np.ndarray = None  # (n_R, N) rights each type holds there: its excess demand for good 1

    @property
    def concept(self) -> str:
        return "SP3" if self.exchanges == "common" else "segregated"

    @property
    def R_by_type(self) -> np.ndarray:
        """(N,) each type's mass-weighted rate over the exchanges it is sent to."""
        m = self.exchange_mass
        return (self.grids.R @ m) / m.sum(0)

    @property
    def R(self) -> float:
        """The private market's rate (one market: the mass-weighted rate of its exchanges);
        NaN with segregated exchanges, where types face different rates (``R_by_type``) and
        a type whose demand does not depend on R may be put in any exchange."""
        if self.exchanges != "common":
            return float("nan")
        return float(self.R_by_type @ self.econ.prob)

    def active(self, tol: float = 1e-9) -> np.ndarray:
        return self.exchange_mass.sum(1) > tol

    def regulation(self) -> str:
        """"cap" when the allocation holds less short asset than CE3, "floor" when more,
        "none" within REGULATION_TOL of the endowment (FGT Theorem 1; the refined LP pins
        the short asset to ~1e-5)."""
        d = self.liquidity - self.ce3.liquidity
        return "none" if abs(d) <= REGULATION_TOL * self.econ.e else ("floor" if d > 0 else "cap")

    def to_dict(self) -> dict:
        out = {"R": self.R, "R_over_R_hat": self.R / self.econ.R_hat, "R_by_type": self.R_by_type.tolist(),
               "regulation": self.regulation(), "exchanges_structure": self.exchanges, **self._headline()}
        out["exchanges"] = [{"R": float(self.grids.R[k]), "p": float(1 / self.grids.R[k]),
                             "mass": self.exchange_mass[k].tolist(), "P_Delta": float(self.P_Delta[k]),
                             "pinned": bool(self.pinned[k]), "Delta": self.Delta[k].tolist()}
                            for k in np.nonzero(self.active())[0]]
        if "refinement" in out:
            out["refinement"] = out.pop("refinement")  # last: the long part
        return out

    def to_dataset(self):
        """The lotteries on (type, exchange R, income I, split), the exchanges' masses,
        fees and rights, the truth-telling multipliers, and the headline numbers."""
        import xarray as xr

        N, nR, nI = self.econ.theta.size, self.grids.R.size, self.grids.I.size
        return label(xr.Dataset(
            {
                "lottery": (("type", "R", "I", "split"), self.x.reshape(N, nR, nI, 2),
                            {"long_name": "probability of the bundle for the reported type (split: c1 = 0 or c1 = I)"}),
                "mass": (("R", "type"), self.exchange_mass, {"long_name": "population mass of the type in the exchange"}),
                "P_Delta": ("R", self.P_Delta, {"long_name": "price of the right to one unit of excess demand for good 1",
                                                "units": "resources at t=0"}),
                "pinned": ("R", self.pinned.astype(bool),
                           {"long_name": "both split ends used: P_Delta = 1 - R/R_hat exactly (else one point of an "
                                         "interval)"}),
                "Delta": (("R", "type"), self.Delta, {"long_name": "rights to trade held: excess demand for good 1"}),
                "R_mean": ((), self.R, {"long_name": "the private market's rate (NaN: segregated exchanges)"}),
                "R_by_type": ("type", self.R_by_type, {"long_name": "mass-weighted rate of the type's exchanges"}),
                **self._common_vars(),
            },
            coords={**type_coords(self.econ), "report": np.arange(N), "R": self.grids.R, "I": self.grids.I,
                    "split": ["c1=0", "c1=I"], "p": ("R", 1 / self.grids.R)},
            attrs={**self._attrs(self.concept, "Farhi-Golosov-Tsyvinski (2007) eqs. 28-30 as a lottery LP"),
                   "exchanges": self.exchanges},
        ), **COORDINATES)


@dataclass(repr=False)
class SP2Result(LotteryResult):
    CONCEPT = "SP2"
    HEADLINE = ("liquidity", "welfare", "welfare_gain")

    c_grid: np.ndarray = None
    bundles: tuple = None  # (c1, c2) of the LP's columns
    kept: np.ndarray = None  # positions of the columns in the c_grid x c_grid product

    def to_dict(self) -> dict:
        return self._headline()

    def to_dataset(self):
        import xarray as xr

        n = self.c_grid.size
        full = np.zeros((self.econ.theta.size, n * n))
        full[:, self.kept] = self.x
        return label(xr.Dataset({"lottery": (("type", "c1_grid", "c2_grid"), full.reshape(-1, n, n),
                                             {"long_name": "probability of the bundle for the reported type"}),
                                 **self._common_vars()},
                                coords={**type_coords(self.econ), "report": np.arange(self.econ.theta.size),
                                        "c1_grid": self.c_grid, "c2_grid": self.c_grid},
                                attrs=self._attrs("SP2", "Farhi-Golosov-Tsyvinski (2007) eq. 7 as a lottery LP")),
                     **COORDINATES)


# ---------------------------------------------------------------------------------- SP3
def solve_sp3(econ: LiquidityEconomy, grids: LotteryGrids | None = None, incentives: bool = True,
              exchanges: str = "common", backend: str = "highs", limits=None) -> SP3Result:
    """SP3 on the grids (module docstring). ``incentives=False`` drops the truth-telling
    rows (segregated, that is SP1: each type in its own exchange). ``limits`` = (R_lo,
    R_hi, I_lo, I_hi) for the certificate's support check (default: the grids' ends).

    With ``exchanges="common"`` the market's rate is a public lottery q over the grid, and
    each draw must stand on its own: resources and truth-telling hold exchange by
    exchange (rows ``resources[k]`` <= e q_k and ``ic[pair, k]``), so the LP is a mixture
    of single-rate programs -- FGT's SP3 with lotteries over incomes only, whose value is
    the best single rate's."""
    if exchanges not in EXCHANGES:
        raise SpecError("solve.exchanges", f"unknown exchange structure {exchanges!r}; use 'segregated' or 'common'")
    grids = grids or LotteryGrids.around(econ)
    k, R, I, c1, c2, V, x1 = bundles(econ, grids)
    N, nb, nR, F = econ.theta.size, k.size, grids.R.size, econ.prob
    common = exchanges == "common"
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s] if incentives else []
    cost = c1 + c2 / econ.R_hat
    b = LPBuilder()
    cols = [b.add_cols(f"x[{t}]", F[t] * V[t]) for t in range(N)]
    q = b.add_cols("q", np.zeros(nR), coords={"R": grids.R}) if common else None
    r_lot = b.add_rows("lottery", coords={"type": np.arange(N)}, lb=1.0, ub=1.0, exact=True, hint=HINTS["lottery"])
    r_res = b.add_rows("resources", coords={"R": grids.R} if common else None, lb=-np.inf, ub=0.0 if common else econ.e,
                       hint=HINTS["resources"])
    r_mkt = b.add_rows("market", coords={"R": grids.R}, hint=HINTS["market"])
    res_row = r_res.start + (k if common else 0)
    for t in range(N):
        cc = cols[t].all()
        b.add_terms(r_lot.start + t, cc, 1.0)
        b.add_terms(res_row, cc, F[t] * cost)
        b.add_terms(r_mkt.start + k, cc, F[t] * (x1[t] - c1))
    add_truth_telling(b, cols, lambda t, s: V[t], pairs, group=k if common else None, n_groups=nR,
                      hint=HINTS["ic"])
    if common:  # x(theta, exchange k) = q_k for every theta; resources[k]: ... - e q_k <= 0
        b.add_terms(r_res.start + np.arange(nR), q.all(), -econ.e)
        r_com = b.add_rows("common", coords={"type": np.arange(N), "R": grids.R}, exact=True, hint=HINTS["common"])
        for t in range(N):
            b.add_terms(r_com.start + t * nR + k, cols[t].all(), 1.0)
            b.add_terms(r_com.start + t * nR + np.arange(nR), q.all(), -1.0)
    lp = b.build()
    sol = solve(lp, backend, **_highs_options(econ, backend))
    x = sol.x[: N * nb].reshape(N, nb)
    cert = Certificate()
    lp_checks(cert, lp, sol.x, sol.row_dual)
    economic_checks(cert, econ, x, pairs, V, cost, market=(k, x1, c1, nR), common=common)
    mass = np.stack([np.bincount(k, weights=F[t] * x[t], minlength=nR) for t in range(N)], axis=1)  # (nR, N)
    excess = np.stack([np.bincount(k, weights=F[t] * x[t] * (x1[t] - c1), minlength=nR) for t in range(N)], axis=1)
    # engine sign convention: row_dual = d welfare / d bound, so a resources dual is >= 0
    # (welfare per unit of resources at t = 0) and P_Delta is in resources at t = 0
    y_res = sol.row_dual[r_res.slice] if common else np.full(nR, sol.row_dual[r_res.start])
    with np.errstate(divide="ignore", invalid="ignore"):
        P_Delta = np.where(y_res > 0, sol.row_dual[r_mkt.slice] / y_res, np.nan)
    ends = x.reshape(N, nR, grids.I.size, 2).sum((0, 2)) > SUPPORT_TOL
    pinned = ends.all(1)
    check_rights_prices(cert, econ, grids, P_Delta, pinned)
    _check_support(cert, x.reshape(N, nR, grids.I.size, 2), econ, grids, common, limits)
    x2 = (I[None, :] - x1) * R[None, :]  # consumption at t = 2 from the budget at R_k
    return SP3Result(
        econ=econ, x=x, welfare=float(sol.objective), liquidity=float(F @ (x @ c1)),
        c1=(x * x1).sum(1), c2=(x * x2).sum(1),
        ic_dual=truth_telling_multipliers(sol.row_dual, b.row_blocks.get("ic"), pairs, N, nR if common else 1),
        lp={**lp.stats, "build_s": lp.build_s, "solve_s": sol.solve_s}, ce3=ce3(econ), certificate=cert,
        grids=grids, exchanges=exchanges, exchange_mass=mass, P_Delta=P_Delta, pinned=pinned,
        Delta=np.divide(excess, mass, out=np.zeros_like(excess), where=mass > 0), limits=limits)


#: HiGHS's algorithm per preference family, measured (benchmarks/liquidity.py): the
#: Diamond-Dybvig LPs are highly degenerate (a continuum of optimal rate lotteries), and
#: HiGHS's default dual simplex took 8.9 s where IPM with crossover took 0.75 s on the
#: same 41,391-column SP3 LP; on the other families simplex is as fast or faster, and its
#: vertex choices keep the refinement's support stable (IPM's did not: 12 LPs instead of 5
#: on FGT Example 2 with segregated exchanges).
SOLVER = {"diamond_dybvig": "ipm"}


def _highs_options(econ, backend) -> dict:
    return {"solver": SOLVER[econ.family]} if backend == "highs" and econ.family in SOLVER else {}


#: Rights-to-trade prices come from duals, accurate to HiGHS's dual tolerance 1e-9
#: relative to the objective's scale; 1e-6 leaves room for the division by y_res.
PRICE_TOL = 1e-6


def check_rights_prices(cert, econ, grids, P_Delta, pinned):
    """No-arbitrage between an exchange and the two assets: moving d of a bundle's c1 into
    c2 = R (I - c1) leaves utility unchanged, costs d (R/R-hat - 1) in resources and adds
    d to the exchange's excess demand for good 1. Where the lotteries use both ends of the
    split, both columns price to zero, so P_Delta(R) = 1 - R / R-hat exactly (where one end
    is used, the unused one's reduced cost only bounds P_Delta from one side). This is the
    LP's own complementary slackness read as economics -- a consistency check of the
    read-back (the duals' normalisation and signs), not an independent test."""
    gap = np.abs(P_Delta[pinned] - (1 - grids.R[pinned] / econ.R_hat)).max(initial=0.0)
    cert.add("rights_prices", gap, PRICE_TOL,
             f"P_Delta = 1 - R/R_hat in the {int(pinned.sum())} exchanges whose lotteries use both split ends")


def _check_support(cert, used, econ, grids, common, limits=None):
    """``edge.grid.I`` and ``edge.grid.R`` (``edge.grid.p`` for exchanges given as prices):
    no lottery on an end of the grids that binds (:func:`segex.certificate.add_edge_checks`).
    The ends are the grids', or under refinement how far it may extend them (``limits`` =
    (R_lo, R_hi, I_lo, I_hi)). ``used`` (N, n_R, n_I, 2) are the lotteries."""
    add_edge_checks(cert, support_edges(used, econ, grids, common, limits))


def support_edges(used, econ, grids, common, limits=None) -> list:
    """The lotteries' probability on the ends of grid.I and of the exchanges' grid
    (:class:`~segex.certificate.GridEdge`). With segregated exchanges a type whose value
    ignores the rate (Diamond-Dybvig's impatient) may sit on any rate, an end included:
    its mass there cannot bind."""
    lo_R, hi_R, lo_I, hi_I = limits or (grids.R[0], grids.R[-1], grids.I[0], grids.I[-1])
    reach = "as far as refinement extends it" if limits else ""
    out = [GridEdge("grid.I", lo_I, hi_I, edge_mass(grids.I, used.sum((1, 3)), lo_I, hi_I), reach)]
    on_R = used.sum((2, 3))  # (N, n_R)
    free = np.zeros(on_R.shape[0], bool) if common else ignores_rate(econ, grids.R)
    for types, why in ((~free, None), (free, "a type whose value ignores the rate may sit on any rate")):
        if not types.any():
            continue
        mass = edge_mass(grids.R, on_R[types], lo_R, hi_R)
        part = reach if why is None else "types whose value ignores the rate"
        if grids.index == "p":  # the same ends, as prices p = 1/R
            out.append(GridEdge("grid.p", 1 / hi_R, 1 / lo_R, mass[::-1], part, (why, why)))
        else:
            out.append(GridEdge("grid.R", lo_R, hi_R, mass, part, (why, why)))
    return out


def ignores_rate(econ, R) -> np.ndarray:
    """(N,) which types' value at a given income is the same at every rate of ``R``
    (to 1e-12 relative)."""
    V = np.array([econ.utility(*demands(econ, 1.0, r)) for r in R])  # (n_R, N)
    return np.ptp(V, axis=0) <= 1e-12 * (1.0 + np.abs(V).max(axis=0))


#: Residuals recomputed from the lotteries; HiGHS's feasibility tolerance is 1e-7 on
#: this O(1)-scaled LP, so 1e-7 means feasible and anything near 1e-5 is a defect.
RESIDUAL_TOL = 1e-7


def economic_checks(cert, econ, x, pairs, V, cost, market=None, common=False, value=None):
    """Recomputed from the lotteries x (N, nb), independent of the LP: lotteries sum to
    one, resources, truth-telling (per exchange with one market), and with ``market =
    (k, x1, c1, n_R)`` every exchange's private market."""
    for name, (res, note) in economic_residuals(econ, x, pairs, V, cost, market, common, value).items():
        cert.add(name, res, RESIDUAL_TOL, note)


def economic_residuals(econ, x, pairs, V, cost, market=None, common=False, value=None) -> dict:
    """{check: (residual, note)} (:func:`economic_checks`). ``value(t, s)`` is type t's
    utility of s's bundles (default ``V[t]``)."""
    F = econ.prob
    x = np.maximum(x, 0.0)
    value = value or (lambda t, s: V[t])
    k = market[0] if market is not None else np.zeros(x.shape[1], int)
    n = market[3] if market is not None else 1
    groups = k if common else np.zeros_like(k)
    worst = 0.0
    for t, s in pairs:
        gain = np.bincount(groups, weights=x[s] * value(t, s) - x[t] * value(t, t), minlength=n)
        worst = max(worst, float(gain.max()))
    used = np.bincount(groups, weights=F @ (x * cost[None, :]), minlength=n)
    share = np.bincount(groups, weights=x[0], minlength=n) if common else np.ones(1)
    out = {
        "lotteries": (float(np.abs(x.sum(1) - 1).max()), "each reported type's lottery sums to 1"),
        "resources": (float(np.maximum(used - econ.e * share, 0.0).max()) / econ.e,
                      "FGT eq. 29" + (", for each drawn rate" if common else "")),
        "truth_telling": (worst, "max over (theta, theta') of the gain from reporting theta'"
                                 + (" and re-trading (FGT eq. 30)" if market is not None else " (FGT eq. 7)")
                                 + (", for each drawn rate" if common else "")),
    }
    if market is not None:
        k, x1, c1, n_R = market
        excess = np.bincount(k, weights=F @ (x * (x1 - c1[None, :])), minlength=n_R)
        out["private_markets"] = (float(np.abs(excess).max()), "good 1 at t=1 clears in every exchange")
    return out


# ---------------------------------------------------------------------------------- refinement
#: Exchanges and incomes carrying less probability than this are outside the support.
SUPPORT_TOL = 1e-9


def refine_sp3(econ: LiquidityEconomy, tol: float = 1e-8, exchanges: str = "common",
               grids: LotteryGrids | None = None, n_R: int = 21, n_I: int = 41, max_steps: int = 12,
               incentives: bool = True, backend: str = "highs", progress: bool = False) -> SP3Result:
    """SP3 refined: re-grid R and I onto the neighbourhoods of the lotteries' support
    (each run of active grid points, out to its neighbours, with ``n_R`` / ``n_I``
    points; a support on the grid's edge extends the grid outward) until welfare moves
    by less than ``tol`` between two solves (:func:`_refine`).

    Welfare is what refinement can pin down: near the optimum it is flat in the rate,
    W(R) ~ W* - |W''| (R - R*)^2 / 2, so a welfare accuracy tol pins R (and the short
    asset) only to about sqrt(2 tol / |W''|) -- about 1e-5 at tol = 1e-10 for FGT's
    examples -- and where the optimum is not unique in R (segregated exchanges: a type
    whose demand ignores the rate) not at all; the allocation and welfare are unique."""
    grids = grids or LotteryGrids.around(econ, n_R, n_I)
    bounds_R, bounds_I = extension_bounds(grids.R), extension_bounds(grids.I)
    limits = (*bounds_R[:2], *bounds_I[:2])

    def regrid(res, grids):
        used = res.x.reshape(econ.theta.size, grids.R.size, grids.I.size, 2)
        R, out_R = zoom(grids.R, used.sum((0, 2, 3)) > SUPPORT_TOL, n_R, bounds_R)
        I, out_I = zoom(grids.I, used.sum((0, 1, 3)) > SUPPORT_TOL, n_I, bounds_I)
        I = _follow_rates(econ, grids, used, R, I, n_I, bounds_I)
        # with segregated exchanges a type whose demand ignores R may sit on any rate, an
        # edge included: that does not hold convergence back (cf. _check_support)
        return replace(grids, R=R, I=I), (out_R and exchanges == "common") or out_I

    return _refine(lambda g: solve_sp3(econ, g, incentives=incentives, exchanges=exchanges, backend=backend,
                                       limits=limits), regrid, grids, tol, max_steps, progress)


def balanced_income(econ: LiquidityEconomy, R) -> np.ndarray:
    """The income I at which every type trading at rate R uses exactly the endowment:
    e / sum F (x1 + x2 / R-hat) at unit income (demands are linear in I)."""
    return np.array([econ.e / econ.cost(*demands(econ, 1.0, r)) for r in np.atleast_1d(R)])


def _follow_rates(econ, grids, used, R_new, I_new, n_I, bounds):
    """Incomes for the new rates. Zooming R and I separately stalls when the optimal
    income moves with the rate (resources bind: I ~ balanced_income(R)); so the incomes
    the support uses, as multiples u of the balanced income at their rates, are carried
    to the new grid's lowest and highest rate, and the I grid is widened to hold them."""
    on = used.sum((0, 3)) > SUPPORT_TOL  # (n_R, n_I)
    k, m = np.nonzero(on)
    if k.size == 0:
        return I_new
    u = grids.I[m] / balanced_income(econ, grids.R[k])
    ends = balanced_income(econ, [R_new[0], R_new[-1]])
    lo = max(float(u.min() * ends.min()), bounds[0])
    hi = min(float(u.max() * ends.max()), bounds[1])
    if lo >= I_new[0] and hi <= I_new[-1]:
        return I_new
    return np.union1d(I_new, np.linspace(min(lo, I_new[0]), max(hi, I_new[-1]), n_I))


def refine_sp2(econ: LiquidityEconomy, tol: float = 1e-8, c_grid: np.ndarray | None = None, n_c: int = 21,
               max_steps: int = 12, backend: str = "highs", progress: bool = False) -> SP2Result:
    """SP2 refined the same way: the consumption grid zooms onto every consumption level
    the lotteries use (at either date), ``n_c`` points per run."""
    c_grid = consumption_grid(econ) if c_grid is None else np.asarray(c_grid, float)
    bounds = (0.0, *extension_bounds(c_grid)[1:])

    positive = c_grid[c_grid > 0]
    c_low = positive.min() / 2 if positive.size else 0.0

    def regrid(res, c_grid):
        c1, c2 = res.bundles
        on = res.x.sum(0) > SUPPORT_TOL
        g, extended = zoom(c_grid, np.isin(c_grid, np.concatenate([c1[on], c2[on]])), n_c, bounds)
        # a corner at c = 0 (Diamond-Dybvig) stays a corner: no new points in (0, c_low),
        # where CRRA utilities would run to -1e15 and past what an LP solver accepts
        return g[(g == 0) | (g >= c_low)], extended

    return _refine(lambda g: solve_sp2(econ, g, backend=backend, limits=bounds[:2]), regrid, c_grid, tol, max_steps,
                   progress)


def _refine(solve_at, regrid, grids, tol, max_steps, progress):
    """Solve on ``grids``, re-grid onto the support, repeat until the welfare changes by
    less than ``tol`` between two solves or ``max_steps`` LPs (:func:`segex.markets.refine.refine`).
    Each step shrinks the spacing around the support by about (n-1)/2, so the grid error
    (O(spacing^2) in welfare for lotteries over a concave value) falls geometrically. The
    result's ``refinement`` lists every step, its ``lp`` has the last LP's sizes and all
    LPs' times, and its certificate adds ``refinement.accuracy``: the last change against ``tol``
    (failed when ``max_steps`` ran out first). ``regrid(result, grids)`` returns the next
    grids and whether it extended them past an edge of the support. ``progress``: a bar
    counting the LPs (:mod:`segex.progress`)."""
    from ...progress import Bar

    def record(res):
        rate = {"R": res.R} if hasattr(res, "R") else {}
        return {**res.lp, "welfare": res.welfare, **rate, "liquidity": res.liquidity}

    with Bar(f"refine (at most {max_steps} LPs)", unit="LP", enabled=progress) as bar:
        res, steps, change = refine(solve_at, regrid, grids, tol, lambda a, b: abs(b.welfare - a.welfare), record,
                                    max_steps, lambda row: bar.update(change=f"{row['change']:.1e}"))
    res.refinement = steps
    res.lp = {**res.lp, "build_s": sum(r["build_s"] for r in steps), "solve_s": sum(r["solve_s"] for r in steps),
              "lps": len(steps)}
    res.certificate.add("refinement.accuracy", change, tol, f"change of welfare over the last step ({len(steps)} LPs)")
    return res


def solve_sp2(econ: LiquidityEconomy, c_grid: np.ndarray | None = None, backend: str = "highs",
              limits=None) -> SP2Result:
    """SP2 (FGT eq. 7): types private, no hidden trades -- a lottery LP over consumption
    bundles (c1, c2) on ``c_grid`` x ``c_grid`` per reported type, with truth-telling
    rows on the bundles themselves (a deviator consumes what it is given). SP1 >= SP2 >=
    SP3 >= CE3 (fewer informational constraints each).

    A bundle some type values at -inf (no consumption of a good it needs; Diamond-Dybvig's
    patient bundle (0, c2) for the impatient) is closed to that type (upper bound 0) and
    enters its truth-telling rows at its lowest finite utility on the grid: conservative,
    since the true deviation is worse, and it keeps the rows finite. Bundles no type can
    value are dropped. ``limits`` = (c_lo, c_hi) for the certificate's ``edge.grid.c``
    (default: the grid's ends; under refinement how far it may extend them)."""
    c_grid = consumption_grid(econ) if c_grid is None else np.asarray(c_grid, float)
    c1, c2 = (a.ravel() for a in np.meshgrid(c_grid, c_grid, indexing="ij"))
    V = econ.utility(c1[None, :], c2[None, :])
    finite = np.isfinite(V)
    kept = np.nonzero(finite.any(0))[0]
    c1, c2, V, finite = c1[kept], c2[kept], V[:, kept], finite[:, kept]
    floor = np.where(finite, V, np.inf).min(1)
    Vic = np.where(finite, V, floor[:, None])  # V in truth-telling rows (docstring)
    N, F = econ.theta.size, econ.prob
    b = LPBuilder()
    cols = [b.add_cols(f"x[{t}]", F[t] * Vic[t], ub=np.where(finite[t], np.inf, 0.0)) for t in range(N)]
    r_lot = b.add_rows("lottery", coords={"type": np.arange(N)}, lb=1.0, ub=1.0, exact=True, hint=HINTS["lottery"])
    r_res = b.add_rows("resources", lb=-np.inf, ub=econ.e, hint=HINTS["resources"])
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s]
    cost = c1 + c2 / econ.R_hat
    for t in range(N):
        b.add_terms(r_lot.start + t, cols[t].all(), 1.0)
        b.add_terms(r_res.start, cols[t].all(), F[t] * cost)
    add_truth_telling(b, cols, lambda t, s: Vic[t], pairs, hint=HINTS["ic"])
    lp = b.build()
    sol = solve(lp, backend)
    x = sol.x.reshape(N, -1)
    cert = Certificate()
    lp_checks(cert, lp, sol.x, sol.row_dual)
    economic_checks(cert, econ, x, pairs, Vic, cost)
    add_edge_checks(cert, consumption_edges(c1, c2, x, c_grid, limits))
    return SP2Result(econ=econ, x=x, welfare=float(sol.objective), liquidity=float(F @ (x @ c1)), c1=x @ c1,
                     c2=x @ c2, ic_dual=truth_telling_multipliers(sol.row_dual, b.row_blocks.get("ic"), pairs, N),
                     lp={**lp.stats, "build_s": lp.build_s, "solve_s": sol.solve_s}, ce3=ce3(econ),
                     certificate=cert, c_grid=c_grid, bundles=(c1, c2), kept=kept, limits=limits)


def consumption_edges(c1, c2, x, c_grid, limits=None) -> list:
    """SP2's ``grid.c``: the lotteries ``x`` (N, bundles) on bundles (c1, c2) with either
    consumption at or past an end of ``c_grid`` (or, under refinement, of how far it may
    extend it, ``limits`` = (c_lo, c_hi)); c >= 0 is a natural bound
    (:class:`~segex.certificate.GridEdge`)."""
    lo, hi = limits or (c_grid[0], c_grid[-1])
    return [GridEdge("grid.c", lo, hi, (edge_mass(np.minimum(c1, c2), x, lo, hi)[0],
                                        edge_mass(np.maximum(c1, c2), x, lo, hi)[1]),
                     "as far as refinement extends it" if limits else "", ("c >= 0" if lo <= 0 else None, None))]
