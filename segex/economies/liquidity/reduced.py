r"""The optimal liquidity requirement as FGT's reduced problem (22), and the benchmarks
SP1 and CE3, solved numerically for any preference family and CRRA coefficient.

Why a reduced problem. With hidden types *and* hidden trades at the private-market rate
R, incentive compatibility forces every type's allocation to have the same present value
I at R and to be that type's own demand at (I, R) (FGT Lemma 1 and the proof of Theorem
2): an allocation is a pair (I, R). The planner SP3 -- equivalently the regulator
choosing a liquidity requirement (Theorem 2) -- solves

.. math:: \max_{I,R} \sum_\theta F(\theta) V(I, R; \theta)
          \quad\text{s.t.}\quad \sum_\theta F(\theta)\,[x_1(I,R;\theta) + x_2(I,R;\theta)/\hat R] \le e,

(FGT eqs. 22-23) with x the demands at income I and rate R. With CRRA utility demands are
linear in I, so the constraint gives I(R) and the problem is one-dimensional in R. The
unregulated equilibrium CE3 is the same allocation at R = R-hat (FGT Proposition 2:
arbitrage between intermediaries). The liquidity requirement is the short-asset holding
the allocation implies, :math:`\sum F x_1` (eq. 19): a floor if it exceeds CE3's, a cap
if below.

This module is the numerical reference for the closed forms (:mod:`.closed_forms`) and
for the lottery LPs of SP2 and SP3 (:mod:`.lottery`); it does not use the closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from ...certificate import Certificate
from ...io.labels import label
from ...result import ResultMixin
from .model import LiquidityEconomy


def demands(econ: LiquidityEconomy, I, R) -> tuple[np.ndarray, np.ndarray]:
    """(N,) x1 and x2: each type's optimal (c1, c2) with income I at private rate R,
    x1 + x2 / R = I (FGT eqs. 20-21)."""
    I, R = float(I), float(R)
    if econ.family == "diamond_dybvig":
        # type 0 consumes at t = 1; type 1 values c1 + c2 and so waits iff R >= 1 (proof of Prop. 5)
        patient = econ.theta == 1.0
        x1 = np.where(patient & (R >= 1.0), 0.0, I)
        return x1, (I - x1) * R
    a1, a2 = econ.weights()
    g = econ.gamma
    ratio = (a2 * R / a1) ** (1.0 / g)  # x2 / x1 from a1 x1^-g = lambda, a2 x2^-g = lambda / R
    x1 = I / (1.0 + ratio / R)
    return x1, ratio * x1


@dataclass(repr=False)
class Allocation(ResultMixin):
    """An allocation of the FGT economy, with what a regulator or a user reads off it."""

    name: str
    R: float  # private-market interest rate (gross)
    I: float  # present value of every type's allocation at R (NaN for SP1)
    c1: np.ndarray
    c2: np.ndarray
    welfare: float
    liquidity: float  # short-asset holding sum F c1 (FGT eq. 19)
    R_hat: float
    e: float = 1.0
    ce3_welfare: float = float("nan")  # for the welfare gain; set by :func:`certified`
    certificate: Certificate | None = None
    economy: LiquidityEconomy | None = field(default=None, repr=False)  # type labels; set by :func:`certified`
    lp = None  # closed forms solve no LP
    HEADLINE = ("R", "liquidity", "welfare", "welfare_gain")

    @property
    def wedge(self) -> float:
        """R / R-hat: above one a liquidity cap, below one a floor (FGT Theorem 1)."""
        return self.R / self.R_hat

    def to_dict(self) -> dict:
        return {"R": self.R, "R_hat": self.R_hat, "R_over_R_hat": self.wedge, "I": self.I, "c1": self.c1.tolist(),
                "c2": self.c2.tolist(), "liquidity": self.liquidity, "short_share": self.liquidity / self.e,
                "welfare": self.welfare, "welfare_gain": self.welfare - self.ce3_welfare}

    def to_dataset(self):
        import xarray as xr

        econ = self.economy

        return label(xr.Dataset(
            {"c1": ("type", self.c1, {"long_name": "consumption at t=1"}),
             "c2": ("type", self.c2, {"long_name": "consumption at t=2"}),
             "R": ((), self.R, {"long_name": "private-market rate (NaN: no private market)"}),
             "I": ((), self.I, {"long_name": "present value of each type's allocation at R"}),
             "liquidity": ((), self.liquidity, {"long_name": "short asset, sum F c1 (eq. 19)"}),
             "welfare": ((), self.welfare), "welfare_gain": ((), self.welfare - self.ce3_welfare)},
            coords=type_coords(econ) if econ is not None else None,
            attrs={"concept": self.name, "R_hat": self.R_hat, "e": self.e,
                   "certificate_passed": bool(self.certificate is not None and self.certificate.passed)}),
            **COORDINATES)


#: The liquidity economies' own coordinates (:func:`segex.io.labels.label`).
COORDINATES = {
    "theta": ("preference shock theta of the type", "1"),
    "R": ("gross rate of return of the exchange's private market", "1"),
    "p": ("spot price p = 1/R (KT section 3)", "1"),
    "I": ("present value of the allocation at R", "endowment e at t=0"),
    "split": ("end of the split: c1 = 0 or c1 = I", "1"),
    "c1_grid": ("consumption at t=1 on the grid", "endowment e at t=0"),
    "c2_grid": ("consumption at t=2 on the grid", "endowment e at t=0"),
}


def type_coords(econ: LiquidityEconomy) -> dict:
    """Types numbered from 0 (``type``), their shocks ``theta`` and probabilities ``prob``."""
    n = econ.theta.size
    return {"type": np.arange(n), "theta": ("type", econ.theta), "prob": ("type", econ.prob)}


def at_rate(econ: LiquidityEconomy, R: float, name: str = "") -> Allocation:
    """The incentive-compatible allocation at private rate R, with I from feasibility."""
    x1, x2 = demands(econ, 1.0, R)
    I = econ.e / econ.cost(x1, x2)  # demands are linear in I
    c1, c2 = I * x1, I * x2
    return Allocation(name, float(R), float(I), c1, c2, econ.welfare(c1, c2), float(econ.prob @ c1), econ.R_hat,
                      econ.e)


def ce3(econ: LiquidityEconomy) -> Allocation:
    """CE3, the competitive equilibrium with private markets and no regulation: R = R-hat
    (FGT Proposition 2), no risk sharing beyond equal present values at R-hat."""
    return at_rate(econ, econ.R_hat, "CE3")


#: Search range for R, relative to R-hat, and the optimiser's tolerance on R / R-hat.
R_RANGE = (1e-2, 1e2)
R_TOL = 1e-12


def sp3(econ: LiquidityEconomy, n_scan: int = 401) -> Allocation:
    """SP3 = the optimal liquidity requirement (FGT Theorem 2): max over R of welfare at
    the feasible allocation at rate R. A log-spaced scan of R / R-hat over R_RANGE
    brackets the maximum; Brent's method refines it to R_TOL."""
    lo, hi = np.log(R_RANGE[0]), np.log(R_RANGE[1])
    grid = np.linspace(lo, hi, n_scan)
    vals = np.array([at_rate(econ, econ.R_hat * np.exp(x)).welfare for x in grid])
    k = int(np.argmax(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, n_scan - 1)]
    res = minimize_scalar(lambda x: -at_rate(econ, econ.R_hat * np.exp(x)).welfare, bounds=(a, b), method="bounded",
                          options={"xatol": R_TOL})
    best = res.x if -res.fun >= vals[k] else grid[k]
    out = at_rate(econ, econ.R_hat * np.exp(best), "SP3")
    return out


def sp1(econ: LiquidityEconomy) -> Allocation:
    """SP1, types observable: max welfare subject to feasibility (2) alone."""
    g, Rh, e = econ.gamma, econ.R_hat, econ.e
    if econ.family == "diamond_dybvig":
        # c2(0) = c1(1) = 0 and u'(c1(0)) = rho R_hat u'(c2(1)) (FGT eqs. 35-37, with DD's
        # discount rho): c2 = (rho R_hat)^(1/g) c1
        pi = econ.prob[econ.theta == 0.0][0]
        growth = (econ.rho * Rh) ** (1 / g)
        c1_0 = e / (pi + (1 - pi) * growth / Rh)
        c1 = np.where(econ.theta == 0.0, c1_0, 0.0)
        c2 = np.where(econ.theta == 1.0, growth * c1_0, 0.0)
    else:
        # a1 c1^-g = mu, a2 c2^-g = mu / R_hat, mu from the budget
        a1, a2 = econ.weights()
        c1_unit, c2_unit = a1 ** (1 / g), (a2 * Rh) ** (1 / g)
        scale = e / econ.cost(c1_unit, c2_unit)
        c1, c2 = scale * c1_unit, scale * c2_unit
    return Allocation("SP1", float("nan"), float("nan"), c1, c2, econ.welfare(c1, c2), float(econ.prob @ c1), Rh, e)


# ---------------------------------------------------------------------------------- certificates
#: Closed-form allocations are exact up to floating point and Brent's tolerance R_TOL.
ALLOCATION_TOL = 1e-9


def _marginal_utility(econ: LiquidityEconomy, c1, c2) -> tuple[np.ndarray, np.ndarray]:
    """(du/dc1, du/dc2) per type at its own bundle; for Diamond-Dybvig the derivative
    of the good the type values (the other is NaN: no condition on it)."""
    g = econ.gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        if econ.family == "diamond_dybvig":
            patient = econ.theta == 1.0
            m1 = np.where(patient, np.nan, c1 ** -g)
            m2 = np.where(patient, econ.rho * (c1 + c2) ** -g, np.nan)
            return m1, m2
        a1, a2 = econ.weights()
        return a1 * c1 ** -g, a2 * c2 ** -g


def certify(econ: LiquidityEconomy, alloc: Allocation) -> Certificate:
    """Checks recomputed from the allocation: feasibility (FGT eq. 2); for SP1 the
    planner's first-order conditions (a common multiplier mu on resources: du/dc1 = mu,
    du/dc2 = mu / R-hat, relative residual); for CE3 and any allocation at a rate R,
    each type's first-order condition at R -- du/dc1 = R du/dc2, or for Diamond-Dybvig
    the corners: the impatient consume only at t = 1, the patient wait when R > 1 --
    recomputed from marginal utilities, not from the demand functions that built the
    allocation (consumer optimality, eqs. 20-21), and every type's budget c1 + c2/R = I
    (equal present values: Lemma 1; I = e for CE3, intermediaries' zero profit)."""
    cert = Certificate()
    cert.add("resources", abs(econ.cost(alloc.c1, alloc.c2) - econ.e) / econ.e, ALLOCATION_TOL,
             "sum F (c1 + c2 / R_hat) = e (FGT eq. 2), relative")
    if np.isnan(alloc.R):
        m1, m2 = _marginal_utility(econ, alloc.c1, alloc.c2)
        implied = np.concatenate([m1, m2 * econ.R_hat])
        implied = implied[np.isfinite(implied)]
        cert.add("planner_foc", float(np.ptp(implied) / implied.mean()), ALLOCATION_TOL,
                 "du/dc1 = R_hat du/dc2 = mu for every type, relative spread of mu")
    else:
        cert.add("consumer_optimality", _foc_residual(econ, alloc), ALLOCATION_TOL,
                 "each type's first-order condition at R (FGT eqs. 20-21), relative")
        pv = alloc.c1 + alloc.c2 / alloc.R
        cert.add("equal_present_value", float(np.abs(pv - alloc.I).max() / econ.e), ALLOCATION_TOL,
                 "c1 + c2 / R = I for every type (no type gains by another's report, Lemma 1)")
    return cert


def _foc_residual(econ: LiquidityEconomy, alloc: Allocation) -> float:
    if econ.family == "diamond_dybvig":
        impatient = econ.theta == 0.0
        wrong = np.where(impatient, alloc.c2, alloc.c1 if alloc.R > 1 else 0.0)
        return float(np.abs(wrong).max() / econ.e)
    m1, m2 = _marginal_utility(econ, alloc.c1, alloc.c2)
    return float(np.abs(m1 - alloc.R * m2).max() / np.abs(m1).max())


def certified(econ: LiquidityEconomy, alloc: Allocation) -> Allocation:
    """The allocation with its certificate and CE3's welfare attached."""
    alloc.certificate = certify(econ, alloc)
    alloc.ce3_welfare = ce3(econ).welfare
    alloc.economy = econ
    return alloc
