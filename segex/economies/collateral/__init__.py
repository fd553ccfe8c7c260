"""Kilenthong–Townsend collateral economy: Definition 1 (with the externality) and
Program 2 (segregated exchanges, Appendix A) with its competitive equilibrium."""

from .externality import ExternalityResult, solve_externality
from .grids import CollateralGrids
from .model import CollateralEconomy
from .segregated import SegregatedResult, solve_segregated

__all__ = [
    "CollateralEconomy",
    "CollateralGrids",
    "ExternalityResult",
    "SegregatedResult",
    "solve_externality",
    "solve_segregated",
]
