"""segex: constrained-efficient allocations and competitive equilibria with segregated
exchanges, computed as sparse lottery linear programs (Prescott–Townsend).

The command line's twin (:mod:`segex.api`)::

    spec = segex.load("grids/kt_env1.toml")   # the economy and its [solve] options
    res = segex.solve(spec)                   # {concept: result}, printed as status lines
    res.save("env1.nc")                       # as segex solve --out
    tree = segex.open("env1.nc")              # the saved result as an xarray.DataTree

``segex.open`` is left out of ``__all__`` so that ``from segex import *`` does not hide
the built-in ``open``.
"""

from .api import Results, load, open, solve  # noqa: A004 -- segex.open, not the built-in
from .economies.collateral import (
    CollateralEconomy,
    CollateralGrids,
    solve_externality,
    solve_segregated,
)
from .economies.liquidity import LiquidityEconomy, LotteryGrids, solve_concept
from .errors import SegexError, SolveError, SpecError
from .version import __version__

__all__ = [
    "CollateralEconomy",
    "CollateralGrids",
    "LiquidityEconomy",
    "LotteryGrids",
    "Results",
    "SegexError",
    "SolveError",
    "SpecError",
    "load",
    "solve",
    "solve_concept",
    "solve_externality",
    "solve_segregated",
]
