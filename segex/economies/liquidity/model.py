r"""Primitives of the Farhi–Golosov–Tsyvinski economy (FGT Section 3).

Three dates. At t = 0 every agent deposits its endowment e; a short asset returns 1 per
period, a long asset (invested at t = 0) returns :math:`\hat R` at t = 2. At t = 1 each
agent draws a private type :math:`\theta` from a finite set with probabilities F, and
values consumption (c1, c2) by :math:`u(c_1, c_2; \theta)`. Feasibility (FGT eq. 2):
:math:`\sum_\theta F(\theta)\,[c_1(\theta) + c_2(\theta)/\hat R] \le e`.

Preference families (FGT Examples 1-4; the text lost its Greek letters, so each is
rebuilt from how the paper uses it), with :math:`\hat u` CRRA of coefficient gamma
(log when gamma = 1):

* ``discount`` (Example 1): :math:`\hat u(c_1) + \theta \hat u(c_2)`;
* ``liquidity`` (Example 2): :math:`\hat u(c_1)/\theta + \hat u(c_2)`;
* ``valuation_neutral`` (Example 3, eq. 1):
  :math:`D(\theta)^{-\gamma}\,[(1-\theta)\hat u(c_1) + \theta \hat u(c_2)]` with
  :math:`D(\theta) = (1-\theta)^{1/\gamma} + \theta^{1/\gamma}\hat R^{1/\gamma - 1}`.
  Derivation: at the rate :math:`\hat R` a type with income I has marginal value of
  income :math:`D(\theta)^\gamma I^{-\gamma}`; the factor makes it the same for every
  type, which is what "valuation neutral" means (no type is worth more income to the
  planner, so no incentive constraint binds). With log utility D = 1 and
  u = (1-theta) log c1 + theta log c2, as the paper prints;
* ``diamond_dybvig`` (Example 4): types {0, 1},
  :math:`(1-\theta)\hat u(c_1) + \theta\rho\,\hat u(c_1 + c_2)`, with
  :math:`\rho\hat R > 1`. FGT set rho = 1; rho < 1 is Diamond and Dybvig's (1983)
  patient discount (their assumption 1 >= rho > 1/R-hat), the economy of
  Kilenthong–Townsend Section 3.

For the first three, :math:`u = a_1(\theta)\hat u(c_1) + a_2(\theta)\hat u(c_2)`
(:meth:`LiquidityEconomy.weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpecError
from ..endowments import sums_to_one

FAMILIES = ("discount", "liquidity", "valuation_neutral", "diamond_dybvig")


@dataclass(frozen=True)
class LiquidityEconomy:
    """An FGT economy; build with :meth:`create` to validate.

    theta : (N,) the types; prob : (N,) F, summing to one; family : one of FAMILIES;
    gamma : CRRA of u-hat (1 = log); R_hat : the long asset's return; e : endowment.
    """

    theta: np.ndarray
    prob: np.ndarray
    family: str
    gamma: float = 1.0
    R_hat: float = 1.5
    e: float = 1.0
    name: str = "FGT economy"
    rho: float = 1.0  # Diamond-Dybvig patient discount (only that family)

    @classmethod
    def create(cls, theta, prob, family, gamma=1.0, R_hat=1.5, e=1.0, name=None, rho=1.0):
        """Validate and build; every failure is a :class:`SpecError` naming the field."""
        theta = np.atleast_1d(np.asarray(theta, float))
        prob = np.atleast_1d(np.asarray(prob, float))
        if family not in FAMILIES:
            raise SpecError("family", f"unknown preference family {family!r}; use one of {', '.join(FAMILIES)}")
        if theta.ndim != 1 or theta.size < 1 or prob.shape != theta.shape:
            raise SpecError("prob", f"give one probability per type: {theta.size} types, {prob.size} probabilities")
        if not np.all(np.isfinite(theta)):
            raise SpecError("theta", f"preference shocks must be finite numbers, got {theta.tolist()}")
        if not np.all(np.isfinite(prob)) or np.any(prob <= 0):
            raise SpecError("prob", f"probabilities must be positive, got {prob.tolist()}")
        sums_to_one(prob, "prob", "probabilities")
        if not (np.isfinite(gamma) and gamma > 0):
            raise SpecError("gamma", f"the CRRA coefficient must be positive and finite, got {gamma}")
        if not (np.isfinite(R_hat) and R_hat > 0):
            raise SpecError("R_hat", f"the long asset's return must be positive and finite, got {R_hat}")
        if not (np.isfinite(e) and e > 0):
            raise SpecError("e", f"the endowment must be positive and finite, got {e}")
        if family == "diamond_dybvig":
            if not set(theta.tolist()) <= {0.0, 1.0} or theta.size != 2 or theta[0] == theta[1]:
                raise SpecError("theta", "Diamond-Dybvig types are theta = [0, 1] (impatient, patient)")
            if not (np.isfinite(rho) and 0 < rho <= 1):
                raise SpecError("rho", f"the patient discount must lie in (0, 1], got {rho}")
            if rho * R_hat <= 1:
                raise SpecError("rho" if rho != 1 else "R_hat",
                                f"Diamond-Dybvig needs rho * R_hat > 1 (patient agents wait; FGT Example 4, "
                                f"DD 1983), got rho = {rho}, R_hat = {R_hat}")
        elif rho != 1.0:
            raise SpecError("rho", f"rho is the Diamond-Dybvig patient discount; drop it for {family} shocks")
        elif family == "valuation_neutral":
            if np.any((theta <= 0) | (theta >= 1)):
                raise SpecError("theta", f"valuation-neutral types lie in (0, 1), got {theta.tolist()}")
        elif np.any(theta <= 0):
            raise SpecError("theta", f"{family} shocks must be positive, got {theta.tolist()}")
        if np.unique(theta).size != theta.size:
            raise SpecError("theta", f"types must be distinct, got {theta.tolist()}; merge equal types and add "
                                     "their probabilities")
        order = np.argsort(theta)
        return cls(theta=theta[order], prob=prob[order], family=family, gamma=float(gamma), R_hat=float(R_hat),
                   e=float(e), name=name or f"FGT {family} shocks", rho=float(rho))

    # ------------------------------------------------------------------ utility
    def u_hat(self, c):
        """CRRA u-hat, elementwise (log when gamma = 1); -inf at c <= 0."""
        c = np.asarray(c, float)
        g = self.gamma
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(c) if g == 1.0 else c ** (1.0 - g) / (1.0 - g)
        return np.where(c > 0, out, -np.inf)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(a1, a2) per type: u = a1 u-hat(c1) + a2 u-hat(c2) (not for Diamond-Dybvig)."""
        th, g = self.theta, self.gamma
        if self.family == "discount":
            return np.ones_like(th), th
        if self.family == "liquidity":
            return 1.0 / th, np.ones_like(th)
        if self.family == "valuation_neutral":
            D = (1 - th) ** (1 / g) + th ** (1 / g) * self.R_hat ** (1 / g - 1)
            return D ** (-g) * (1 - th), D ** (-g) * th
        raise ValueError("Diamond-Dybvig preferences are not additively separable over (c1, c2)")

    def utility(self, c1, c2):
        """u(c1, c2; theta), broadcasting with the types along the first axis: (N,) arrays
        give each type's own bundle; (N, n) arrays type t's utility of its row of n bundles;
        (1, n) arrays every type's utility of the same n bundles, as an (N, n) array."""
        c1, c2 = np.asarray(c1, float), np.asarray(c2, float)
        th = self.theta.reshape((-1,) + (1,) * (max(c1.ndim, c2.ndim) - 1))
        if self.family == "diamond_dybvig":  # theta is 0 or 1: each type values one of the two
            return np.where(th == 1.0, self.rho * self.u_hat(c1 + c2), self.u_hat(c1))
        a1, a2 = (w.reshape(th.shape) for w in self.weights())
        with np.errstate(invalid="ignore"):  # 0 * -inf where a type does not value a good
            return a1 * self.u_hat(c1) + a2 * self.u_hat(c2)

    def welfare(self, c1, c2) -> float:
        """Ex-ante expected utility, the objective of SP1, SP2, SP3 (FGT eq. 7, 28)."""
        return float(self.prob @ self.utility(c1, c2))

    def cost(self, c1, c2) -> float:
        """Resources used at t = 0: sum F (c1 + c2 / R_hat) (FGT eq. 2)."""
        return float(self.prob @ (np.asarray(c1, float) + np.asarray(c2, float) / self.R_hat))
