"""Solver backends. Each turns an engine :class:`~segex.engine.LP` into an
:class:`~segex.engine.LPSolution` in the engine's sign conventions, or raises
:class:`~segex.errors.SolveError` naming the status. Solvers are imported lazily."""

from __future__ import annotations


def solve(lp, backend: str = "highs", **options):
    """Solve ``lp`` with the named backend (``"highs"`` default, ``"cvxpy"`` cross-check)."""
    if backend == "highs":
        from .highs import solve_highs

        return solve_highs(lp, **options)
    if backend == "cvxpy":
        from .cvxpy_backend import solve_cvxpy

        return solve_cvxpy(lp, **options)
    from ..errors import SpecError

    raise SpecError("solve.backend", f"unknown backend {backend!r}; use 'highs' or 'cvxpy'")
