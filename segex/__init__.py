"""segex: constrained-efficient allocations and competitive equilibria with segregated
exchanges, computed as sparse lottery linear programs (Prescott–Townsend)."""

from .economies.collateral import (
    CollateralEconomy,
    CollateralGrids,
    solve_externality,
    solve_segregated,
)
from .economies.liquidity import LiquidityEconomy, LotteryGrids, solve_concept
from .errors import SegexError, SolveError, SpecError

__all__ = [
    "CollateralEconomy",
    "CollateralGrids",
    "LiquidityEconomy",
    "LotteryGrids",
    "SegexError",
    "SolveError",
    "SpecError",
    "solve_concept",
    "solve_externality",
    "solve_segregated",
]
__version__ = "0.1.0"
