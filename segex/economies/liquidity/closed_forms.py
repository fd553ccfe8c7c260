r"""FGT's closed forms, rebuilt from the appendix (Section 9.7-9.8), with the
disagreements with the printed text stated.

Log utility (Proposition 4, proof in 9.7). Write u = theta_1 log x1 + theta_2 log x2,
s = theta_1 + theta_2, a = E[theta_1 / s], b = E[theta_2 / s] (a + b = 1) and
w = R / R-hat. Demands are x1 = I theta_1/s, x2 = I R theta_2/s, so
V = s log I + theta_2 log R + const and feasibility gives I = e / (a + w b). The first
order conditions (62)-(63) give eq. (64)

.. math:: w^* = \frac{E[\theta_2]\,a}{E[\theta_1]\,b},

and the liquidity requirement (65) :math:`i^* = E[x_1] = e\,a/(a + w^* b)`; CE3 is
w = 1, I = e, i = e a. Welfare relative to CE3 (Corollary 1, re-derived):

.. math:: \Delta = E[\theta_2]\log w^* - E[s]\,\log(a + w^* b).

Here the expectation a + w* b = E[(theta_1 + w* theta_2)/s] sits *inside* the second log:
every type's income I is the same number, set by the aggregate budget. The printed
Corollary 1 (as extracted) integrates per-type logs, int log(...) dF -- the expectation
outside the log, which is what REFERENCE.md flags; the derived form equals SP3 - CE3
computed numerically (:mod:`.reduced`, tests/test_liquidity.py). Weights per family: discount (1, theta),
liquidity (1/theta, 1), valuation-neutral (1 - theta, theta), which gives rho* = 1.

Diamond-Dybvig (Proposition 5, proof in 9.8), type 0 with probability pi. The regulated
optimum equals SP1: :math:`u'(I) = \rho\hat R\,u'(R I)` (70; FGT have rho = 1, DD's
patient discount rho enters the same way) with :math:`I = e/(\pi + (1-\pi)R/\hat R)` (71,
from feasibility (69)). For CRRA gamma this is :math:`R^* = (\rho\hat R)^{1/\gamma}` -- log
utility and rho = 1 give R* = R-hat, as the paper says, and then SP1 = CE3: the welfare
gain is **zero**. The liquidity floor is the short-asset holding
:math:`i^* = \pi I^* = \pi e/(\pi + (1-\pi)R^*/\hat R)`;
as extracted, eq. (39) reads e / (pi + (1 - pi) R/R-hat) = I*, the impatient type's
consumption, not the aggregate short asset (the extraction loses Greek letters, so a pi
in the numerator could have been lost too; the code and tests use pi I*, derived).
"""

from __future__ import annotations

import numpy as np

from .model import LiquidityEconomy


def log_weights(econ: LiquidityEconomy) -> tuple[np.ndarray, np.ndarray]:
    """(theta_1, theta_2) of u = theta_1 log x1 + theta_2 log x2 (requires gamma = 1)."""
    if econ.gamma != 1.0 or econ.family == "diamond_dybvig":
        raise ValueError("Proposition 4 is for log utility and the separable families")
    return econ.weights()


def _ab(econ):
    t1, t2 = log_weights(econ)
    s = t1 + t2
    return t1, t2, s, float(econ.prob @ (t1 / s)), float(econ.prob @ (t2 / s))


def log_wedge(econ: LiquidityEconomy) -> float:
    """w* = R* / R-hat, FGT eq. (64)."""
    t1, t2, _, a, b = _ab(econ)
    return float(econ.prob @ t2) * a / (float(econ.prob @ t1) * b)


def log_liquidity(econ: LiquidityEconomy) -> float:
    """i* = E[x1] at the optimum, FGT eq. (65)."""
    _, _, _, a, b = _ab(econ)
    return econ.e * a / (a + log_wedge(econ) * b)


def log_welfare_gain(econ: LiquidityEconomy) -> float:
    """SP3 - CE3 in ex-ante utility (Corollary 1, re-derived; module docstring)."""
    t1, t2, s, a, b = _ab(econ)
    w = log_wedge(econ)
    return float(econ.prob @ t2) * np.log(w) - float(econ.prob @ s) * np.log(a + w * b)


def dd_rate(econ: LiquidityEconomy) -> float:
    """R* of the Diamond-Dybvig case: (rho R-hat)^(1/gamma) (eqs. 70-72 with CRRA)."""
    return (econ.rho * econ.R_hat) ** (1.0 / econ.gamma)


def dd_floor(econ: LiquidityEconomy) -> float:
    """The liquidity floor pi I* (the aggregate short asset; eq. 39 as corrected)."""
    pi = econ.prob[econ.theta == 0.0][0]
    return pi * econ.e / (pi + (1 - pi) * dd_rate(econ) / econ.R_hat)
