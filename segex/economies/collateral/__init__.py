"""Kilenthong–Townsend collateral economy: Definition 1 (with the externality) and
Program 2 (segregated exchanges, Appendix A) with its competitive equilibrium."""

from .grids import CollateralGrids
from .model import CollateralEconomy

__all__ = ["CollateralEconomy", "CollateralGrids"]
