r"""Kilenthong–Townsend Section 3: the Diamond–Dybvig economy with hidden information and
retrade, and its market-based solution with segregated exchanges.

The economy (Diamond and Dybvig 1983; FGT Example 4): a unit mass of ex-ante identical
agents with endowment e; at t = 1 a share pi learns it is impatient (eta = 0, values
u(c1)), the rest patient (eta = 1, values rho u(c1 + c2)); storage returns 1 per period,
the long asset R-hat at t = 2, with rho R-hat > 1. Shocks are private.

KT's constraints (44)-(46). The truth-telling constraints contain the spot price p of
good 2 in units of good 1 at t = 1:

.. math:: u(c_1(\eta), c_2(\eta), \eta) \ge v(c_1(\eta'), c_2(\eta'), \eta, p)
          \quad (44), \qquad
          v = \max_{\tau_1 + p\tau_2 = 0} u(c_1(\eta') + \tau_1, c_2(\eta') + \tau_2, \eta)
          \quad (45)-(46).

(The extracted text prints "c_l(eta') is consumption under the true shock"; the true
shock's consumption is c_l(eta).) Because p is set by everybody's pre-trade positions, the
constraints carry a pecuniary externality: the unregulated equilibrium with retrade
(``externality``) has p = 1 / R-hat and no insurance beyond equal present values (Jacklin
1987; FGT Proposition 2 -- :func:`.reduced.ce3`). With segregated exchanges
(``segregated``) each exchange is a spot price p; to trade there an agent must hold rights
:math:`\Delta(p)` equal to its excess demand for good 1 at p, priced :math:`P_\Delta(p)`
(KT Section 3, last paragraph). Both are the lottery LP of :mod:`.lottery` with p = 1/R:
the deviation value v of (45) is V(I, R; eta) of the bundle's present value at the
exchange's rate, the ``market[p]`` rows are the rights' clearing and their duals
:math:`P_\Delta(p)`.

Result (FGT Proposition 5, rebuilt with DD's rho in :mod:`.closed_forms`): the segregated
solution reaches the first best SP1 -- the constraints (44) hold at SP1's allocation once
the impatient type's exchange has rate at most :math:`(\rho\hat R)^{1/\gamma}` and the
patient's at least that, so the exchanges make the externality disappear. Tests measure
the gap to SP1.
"""

from __future__ import annotations

import numpy as np

from ...result import ResultMixin
from .model import LiquidityEconomy


def economy(pi: float, gamma: float, R_hat: float, rho: float = 1.0, e: float = 1.0,
            name: str = "KT Section 3: Diamond-Dybvig with retrade") -> LiquidityEconomy:
    """The economy with impatient share ``pi`` (validated by :meth:`LiquidityEconomy.create`)."""
    from ...errors import SpecError

    if not (np.isfinite(pi) and 0 < pi < 1):
        raise SpecError("pi", f"the impatient share must lie in (0, 1), got {pi}")
    return LiquidityEconomy.create([0.0, 1.0], [pi, 1 - pi], "diamond_dybvig", gamma=gamma, R_hat=R_hat, e=e,
                                   name=name, rho=rho)





class KTResult(ResultMixin):
    """A liquidity-economy result reported in KT's symbols: the spot price p = 1/R
    (good 2 in units of good 1 at t = 1) beside R; everything else is the wrapped
    result's (``P_Delta`` and ``Delta`` per exchange are already KT's)."""

    def __init__(self, result):
        self.result = result
        self.certificate = getattr(result, "certificate", None)
        self.lp = getattr(result, "lp", None)

    @property
    def concept_name(self) -> str:
        return self.result.concept_name

    def headline(self) -> dict:
        """The spot price p = 1/R (where R applies) and the wrapped result's headline."""
        inner = self.result.headline()
        R = inner.get("R")
        return {**({"p": 1.0 / R} if R else {}), **inner}

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        R = d.get("R", float("nan"))
        return {"p": 1.0 / R if R == R else float("nan"), **d}

    def to_dataset(self):
        return self.result.to_dataset()
