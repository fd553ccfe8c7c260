"""Preferences shared by the economies: CRRA utility over two goods and its spot-market algebra.

``u(c1, c2) = c1**(1-g)/(1-g) + c2**(1-g)/(1-g)`` (``log c1 + log c2`` when g = 1).
Kilenthong–Townsend's eq. (26), ``u = -1/c1 - 1/c2``, is the case g = 2.

With identical homothetic utility the spot price of good 2 in units of good 1 is a
function of the market fundamental z = (aggregate good 1) / (aggregate good 2) alone
(KT eq. 10): the marginal rate of substitution at c1/c2 = z is ``p(z) = z**g``.
An agent with state wealth W (good-1 units) facing spot price p consumes
``c1 = W / D(p)``, ``c2 = c1 * p**(-1/g)`` with ``D(p) = 1 + p**(1 - 1/g)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CRRA:
    """Additively separable CRRA utility over two goods, ``gamma > 0``."""

    gamma: float = 2.0

    def u1(self, c):
        """Utility of one good, elementwise; ``-inf`` where c <= 0."""
        c = np.asarray(c, dtype=float)
        g = self.gamma
        with np.errstate(divide="ignore", invalid="ignore"):
            if g == 1.0:
                out = np.log(c)
            else:
                out = c ** (1.0 - g) / (1.0 - g)
        return np.where(c > 0, out, -np.inf)

    def marginal(self, c):
        """u'(c) for one good."""
        return np.asarray(c, dtype=float) ** (-self.gamma)

    def u(self, c1, c2):
        """u(c1, c2) = u1(c1) + u1(c2)."""
        return self.u1(c1) + self.u1(c2)

    def spot_price(self, z):
        """p(z) = z**gamma: price of good 2 in good 1 when aggregate c1/c2 = z (KT eq. 10)."""
        return np.asarray(z, dtype=float) ** self.gamma

    def demand(self, wealth, p):
        """Optimal (c1, c2) for wealth in good-1 units at spot price p of good 2."""
        wealth = np.asarray(wealth, dtype=float)
        p = np.asarray(p, dtype=float)
        c1 = wealth / (1.0 + p ** (1.0 - 1.0 / self.gamma))
        return c1, c1 * p ** (-1.0 / self.gamma)

    def indirect(self, wealth, p):
        """v(W, p) = max u(c1, c2) s.t. c1 + p c2 = W (the agent re-trades on the spot market)."""
        c1, c2 = self.demand(wealth, p)
        return self.u(c1, c2)

    def indirect_marginal(self, wealth, p):
        """dv/dW = u'(c1) at the optimal demand."""
        c1, _ = self.demand(wealth, p)
        return self.marginal(c1)
