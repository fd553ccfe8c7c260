r"""SP3 as a lottery LP: hidden types, hidden trades, and the private market's rate R
chosen through exchanges indexed by R (Kilenthong–Townsend's segregated exchanges).

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
  = 0 -- good 1 at t = 1; good 2 then clears by each agent's budget at R_k. Its dual is
  the value of a unit of good 1 delivered to that market;
* ``ic[theta, theta']`` (FGT eq. 30, with the deviator's re-trade): a type theta gets at
  least what it would get by reporting theta' and re-trading at the rate of the exchange
  the lottery sends it to, sum_b x(theta, b) V(I_b, R_b; theta) >=
  sum_b x(theta', b) V(I_b, R_b; theta) -- linear in the lotteries, assembled as two
  sparse blocks per pair.

The objective is ex-ante utility, sum_theta F sum_b x V(I_b, R_b; theta). Read back: the
rate (mass-weighted over active exchanges), the liquidity requirement sum F E[c1] (eq.
19), its share of the endowment, R / R-hat, welfare and the gain over CE3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...backends import solve
from ...engine.lp import LPBuilder
from .model import LiquidityEconomy
from .reduced import ce3, demands


@dataclass(frozen=True)
class LotteryGrids:
    """Exchanges R (gross private-market rates) and incomes I (present values at R)."""

    R: np.ndarray
    I: np.ndarray

    @classmethod
    def around(cls, econ: LiquidityEconomy, n_R: int = 41, n_I: int = 41, span: float = 0.5):
        """R in R-hat * [1 - span, 1 + span] (always holding R-hat, CE3's rate) and I in
        e * [0.5, 1.5] (holding e, CE3's income)."""
        R = np.union1d(econ.R_hat * np.linspace(1 - span, 1 + span, n_R), [econ.R_hat])
        I = np.union1d(econ.e * np.linspace(0.5, 1.5, n_I), [econ.e])
        return cls(R=R, I=I)


def _bundles(econ: LiquidityEconomy, grids: LotteryGrids):
    """Flat bundle arrays: exchange index, R, I, c1, c2, and per type V and x1 (N, nb)."""
    k, m, end = np.meshgrid(np.arange(grids.R.size), np.arange(grids.I.size), [0, 1], indexing="ij")
    k, m, end = k.ravel(), m.ravel(), end.ravel()
    R, I = grids.R[k], grids.I[m]
    c1 = np.where(end == 1, I, 0.0)
    c2 = R * (I - c1)
    N = econ.theta.size
    V = np.empty((N, k.size))
    x1 = np.empty((N, k.size))
    for j, r in enumerate(grids.R):  # demands are linear in I: one call per exchange
        on = k == j
        d1, d2 = demands(econ, 1.0, r)
        x1[:, on] = d1[:, None] * I[on][None, :]
        V[:, on] = econ.utility(d1[:, None] * I[on][None, :], d2[:, None] * I[on][None, :])
    return k, R, I, c1, c2, V, x1


@dataclass
class SP3Result:
    econ: LiquidityEconomy
    grids: LotteryGrids
    x: np.ndarray  # (N, nb) lotteries per reported type
    welfare: float
    R: float
    liquidity: float
    exchange_mass: np.ndarray  # (n_R,)
    market_dual: np.ndarray  # (n_R,) value of good 1 delivered to exchange k's market
    ic_dual: np.ndarray  # (N, N) multipliers of the truth-telling rows
    lp: dict
    ce3_welfare: float
    certificate: object = None

    def to_dataset(self):
        """The lotteries on (type, exchange R, income I, split), the exchanges' masses and
        market duals, the truth-telling multipliers, and the headline numbers."""
        import xarray as xr

        N, nR, nI = self.econ.theta.size, self.grids.R.size, self.grids.I.size
        d = self.to_dict()
        return xr.Dataset(
            {
                "lottery": (("type", "R", "I", "split"), self.x.reshape(N, nR, nI, 2),
                            {"long_name": "probability of the bundle for the reported type (split: c1 = 0 or c1 = I)"}),
                "mass": ("R", self.exchange_mass, {"long_name": "population mass in the exchange"}),
                "market_dual": ("R", self.market_dual,
                                {"long_name": "value of good 1 delivered to the exchange's private market",
                                 "units": "resources at t=0"}),
                "ic_dual": (("type", "report"), self.ic_dual, {"long_name": "multiplier of truth-telling (30)"}),
                "R_mean": ((), self.R, {"long_name": "mass-weighted private-market rate"}),
                "liquidity": ((), self.liquidity, {"long_name": "short asset, sum F E[c1] (eq. 19)"}),
                "welfare": ((), self.welfare),
                "welfare_gain": ((), d["welfare_gain"], {"long_name": "SP3 - CE3"}),
            },
            coords={"type": self.econ.theta, "report": self.econ.theta, "R": self.grids.R, "I": self.grids.I,
                    "split": ["c1=0", "c1=I"], "prob": ("type", self.econ.prob)},
            attrs={"economy": self.econ.name, "family": self.econ.family, "gamma": self.econ.gamma,
                   "R_hat": self.econ.R_hat, "e": self.econ.e, "concept": "SP3",
                   "certificate_passed": int(bool(self.certificate is not None and self.certificate.passed)),
                   "source": "Farhi-Golosov-Tsyvinski (2007) eqs. 28-30 as a lottery LP"},
        )

    def to_dict(self) -> dict:
        return {"R": self.R, "R_over_R_hat": self.R / self.econ.R_hat, "liquidity": self.liquidity,
                "short_share": self.liquidity / self.econ.e, "welfare": self.welfare,
                "welfare_gain": self.welfare - self.ce3_welfare,
                "exchanges": [{"R": float(r), "mass": float(mm), "market_dual": float(d)}
                              for r, mm, d in zip(self.grids.R, self.exchange_mass, self.market_dual) if mm > 1e-9],
                "binding_ic": [[int(a), int(b)] for a, b in zip(*np.nonzero(self.ic_dual > 1e-9))]}


def solve_sp3(econ: LiquidityEconomy, grids: LotteryGrids | None = None, incentives: bool = True,
              exchanges: str = "segregated") -> SP3Result:
    """SP3 on the grids (module docstring).

    ``exchanges="segregated"``: every R of the grid is an exchange, and the lottery may
    send types to different ones (Kilenthong–Townsend: rights to trade at R are assigned
    and enforced). ``"single"``: one private market for everybody, as in FGT -- the best
    single rate, found by solving the LP with each grid rate alone and then Brent's
    method on R between the best one's neighbours. ``incentives=False`` drops the
    truth-telling rows (segregated, that is SP1: each type in its own exchange).
    """
    grids = grids or LotteryGrids.around(econ)
    if exchanges == "single":
        return _best_single(econ, grids, incentives)
    if exchanges != "segregated":
        from ...errors import SpecError

        raise SpecError("exchanges", f"unknown exchange structure {exchanges!r}; use 'segregated' or 'single'")
    return _solve(econ, grids, incentives)


def _best_single(econ, grids, incentives):
    from scipy.optimize import minimize_scalar

    def at(r):
        return _solve(econ, LotteryGrids(R=np.array([r]), I=grids.I), incentives)

    vals = [at(r).welfare for r in grids.R]
    k = int(np.argmax(vals))
    lo, hi = grids.R[max(k - 1, 0)], grids.R[min(k + 1, grids.R.size - 1)]
    res = minimize_scalar(lambda r: -at(r).welfare, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    best = at(res.x) if -res.fun >= vals[k] else at(grids.R[k])
    best.lp["single_rate_lps"] = len(vals) + res.nfev
    return best


def _solve(econ, grids, incentives):
    k, R, I, c1, c2, V, x1 = _bundles(econ, grids)
    N, nb, F = econ.theta.size, k.size, econ.prob
    b = LPBuilder()
    cols = [b.add_cols(f"x[{t}]", F[t] * V[t]) for t in range(N)]
    r_lot = b.add_rows("lottery", coords={"type": np.arange(N)}, lb=1.0, ub=1.0)
    r_res = b.add_rows("resources", lb=-np.inf, ub=econ.e)
    r_mkt = b.add_rows("market", coords={"R": grids.R})
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s] if incentives else []
    r_ic = b.add_rows("ic", size=max(len(pairs), 0), lb=0.0, ub=np.inf) if pairs else None
    cost = c1 + c2 / econ.R_hat
    for t in range(N):
        cc = cols[t].all()
        b.add_terms(r_lot.start + t, cc, 1.0)
        b.add_terms(r_res.start, cc, F[t] * cost)
        b.add_terms(r_mkt.start + k, cc, F[t] * (x1[t] - c1))
    for p, (t, s) in enumerate(pairs):  # type t truthful vs reporting s and re-trading
        b.add_terms(r_ic.start + p, cols[t].all(), V[t])
        b.add_terms(r_ic.start + p, cols[s].all(), -V[t])
    lp = b.build()
    sol = solve(lp)
    cert = _certify(econ, lp, sol, pairs, V, x1, c1, cost, k, grids.R.size)
    x = sol.x.reshape(N, nb)
    mass = np.bincount(k, weights=(F @ x), minlength=grids.R.size)
    y_res = -sol.row_dual[r_res.start]  # value of a unit of resources (>= 0), engine sign: d obj / d bound
    ic = np.zeros((N, N))
    for p, (t, s) in enumerate(pairs):
        ic[t, s] = -sol.row_dual[r_ic.start + p]
    return SP3Result(
        econ=econ, grids=grids, x=x, welfare=float(sol.objective),
        R=float(mass @ grids.R / mass.sum()), liquidity=float(F @ (x @ c1)), exchange_mass=mass,
        market_dual=sol.row_dual[r_mkt.slice] / (y_res if y_res > 0 else 1.0), ic_dual=ic,
        lp={**lp.stats, "build_s": lp.build_s, "solve_s": sol.solve_s}, ce3_welfare=ce3(econ).welfare,
        certificate=cert)


#: Residuals recomputed from the lotteries; HiGHS's feasibility tolerance is 1e-7 on
#: this O(1)-scaled LP, so 1e-7 means feasible and anything near 1e-5 is a defect.
RESIDUAL_TOL = 1e-7


def _certify(econ, lp, sol, pairs, V, x1, c1, cost, k, n_R):
    """LP optimality (primal/dual feasibility, complementary slackness, duality gap,
    recomputed from the matrix) and the economics recomputed from the lotteries:
    lotteries sum to one, resources, every exchange's private market, truth-telling."""
    from ...certificate import Certificate, lp_checks

    cert = Certificate()
    lp_checks(cert, lp, sol.x, sol.row_dual)
    x = sol.x.reshape(econ.theta.size, -1)
    for name, (res, note) in economic_residuals(econ, x, pairs, V, x1, c1, cost, k, n_R).items():
        cert.add(name, res, RESIDUAL_TOL, note)
    return cert


def economic_residuals(econ, x, pairs, V, x1, c1, cost, k, n_R) -> dict:
    """{check: (residual, note)} recomputed from lotteries x (N, nb), independent of the LP."""
    F = econ.prob
    x = np.maximum(x, 0.0)
    excess = np.bincount(k, weights=F @ (x * (x1 - c1[None, :])), minlength=n_R)
    worst = max((float(x[s_] @ V[t] - x[t] @ V[t]) for t, s_ in pairs), default=0.0)
    return {
        "lotteries": (float(np.abs(x.sum(1) - 1).max()), "each reported type's lottery sums to 1"),
        "resources": (max(float(F @ (x @ cost)) - econ.e, 0.0) / econ.e, "FGT eq. 29"),
        "private_markets": (float(np.abs(excess).max()), "good 1 at t=1 clears in every exchange"),
        "truth_telling": (max(worst, 0.0),
                          "max over (theta, theta') of the gain from reporting theta' and re-trading (FGT eq. 30)"),
    }


def solve_sp2(econ: LiquidityEconomy, c_grid: np.ndarray | None = None) -> float:
    """SP2 (FGT eq. 7): types private, no hidden trades -- a lottery LP over consumption
    bundles (c1, c2) on ``c_grid`` x ``c_grid`` per reported type, with truth-telling
    rows on the bundles themselves (a deviator consumes what it is given). Returns the
    optimal welfare; SP1 >= SP2 >= SP3 >= CE3 (fewer informational constraints each)."""
    if c_grid is None:
        c_grid = econ.e * np.linspace(0.0, 2.0 * max(1.0, econ.R_hat), 81)
    c1, c2 = (a.ravel() for a in np.meshgrid(c_grid, c_grid, indexing="ij"))
    V = econ.utility(c1[None, :], c2[None, :])
    ok = np.all(np.isfinite(V), axis=0)  # bundles with zero consumption where it is valued: drop
    c1, c2, V = c1[ok], c2[ok], V[:, ok]
    N, F = econ.theta.size, econ.prob
    b = LPBuilder()
    cols = [b.add_cols(f"x[{t}]", F[t] * V[t]) for t in range(N)]
    r_lot = b.add_rows("lottery", coords={"type": np.arange(N)}, lb=1.0, ub=1.0)
    r_res = b.add_rows("resources", lb=-np.inf, ub=econ.e)
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s]
    r_ic = b.add_rows("ic", size=len(pairs), lb=0.0, ub=np.inf)
    for t in range(N):
        b.add_terms(r_lot.start + t, cols[t].all(), 1.0)
        b.add_terms(r_res.start, cols[t].all(), F[t] * (c1 + c2 / econ.R_hat))
    for p, (t, s) in enumerate(pairs):
        b.add_terms(r_ic.start + p, cols[t].all(), V[t])
        b.add_terms(r_ic.start + p, cols[s].all(), -V[t])
    return float(solve(b.build()).objective)
