"""Farhi–Golosov–Tsyvinski (2007), "A Theory of Liquidity and Regulation of Financial
Intermediation": hidden types and hidden trades. This sub-package holds the economy
(:mod:`.model`), the reduced problem of the optimal liquidity requirement and the
benchmarks SP1 and CE3 solved numerically (:mod:`.reduced`), and the paper's closed
forms rebuilt from its appendix (:mod:`.closed_forms`)."""

from .model import FAMILIES, LiquidityEconomy

__all__ = ["FAMILIES", "LiquidityEconomy"]
