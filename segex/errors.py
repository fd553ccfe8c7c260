"""The one exception family segex raises for bad input and failed solves.

Every message names the offending field (a TOML path such as ``types[2].endowment``)
and says what to change. The CLI turns these into a one-line message and exit code 2.
"""

from __future__ import annotations


class SegexError(Exception):
    """Base class of every error segex raises on purpose."""


class SpecError(SegexError, ValueError):
    """The economy or grid specification is malformed or outside its domain.

    Parameters
    ----------
    field : str
        Path of the offending field, e.g. ``types[1].endowment``.
    message : str
        What is wrong and what to change.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SolveError(SegexError, RuntimeError):
    """The LP solver did not return an optimal solution (infeasible, unbounded, limit)."""

    def __init__(self, status: str, message: str):
        self.status = status
        self.message = message
        super().__init__(f"solver status {status}: {message}")
