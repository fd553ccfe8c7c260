"""The lottery-LP engine: labelled blocks, vectorized assembly, solver backends. No economics."""

from .lp import LP, Block, LPBuilder, LPSolution

__all__ = ["LP", "Block", "LPBuilder", "LPSolution"]
