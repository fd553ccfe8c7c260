"""segex: constrained-efficient allocations and competitive equilibria with segregated
exchanges, computed as sparse lottery linear programs (Prescott–Townsend)."""

from .errors import SegexError, SolveError, SpecError

__all__ = ["SegexError", "SolveError", "SpecError"]
__version__ = "0.1.0"
