"""Refinement onto the support: instead of a finer uniform grid, zoom every grid axis onto
the points the lotteries use, and re-solve, until the answer stops moving.

A lottery LP's grid error is O(spacing^2) in welfare for lotteries over a concave value,
and the optimum only uses points near the continuum optimum, so a few zoomed LPs of the
same size reach accuracies a uniform grid would need millions of columns for.
:func:`zoom` regrids one axis; :func:`refine` runs the loop for any economy.
"""

from __future__ import annotations

import numpy as np


def extension_bounds(g: np.ndarray) -> tuple[float, float, float]:
    """How far refinement may extend a grid whose support reaches its edge: to half its
    lowest point and twice its highest for a positive axis (a support still on the edge
    then fails the certificate's edge.<grid> check instead of running off), by the
    grid's span for an axis with negative points; and the least step of an extension, a
    quarter of the starting grid's span (zoomed grids are narrow: extending a narrow grid
    by its own span would creep towards an optimum outside it and stall)."""
    lo, hi = float(g[0]), float(g[-1])
    span = hi - lo
    low = lo / 2 if lo >= 0 else lo - span
    high = 2 * hi if hi > 0 else hi + span
    return low, high, span / 4


def zoom(g: np.ndarray, active: np.ndarray, n: int, bounds: tuple[float, float, float]) -> tuple[np.ndarray, bool]:
    """The active points of the sorted grid g, and ``n`` new points spanning each run of
    them out to its neighbours; a run on the grid's edge reaches further by the grid's span
    or the least extension ``bounds[2]``, whichever is larger, within ``bounds[:2]``.
    Keeping the active points keeps the last solution feasible, so welfare never falls from
    one step to the next. Returns the new grid and whether it reaches beyond g."""
    idx = np.nonzero(active)[0]
    if idx.size == 0:
        return g, False
    runs = np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1)
    span = max(g[-1] - g[0], bounds[2])
    pieces, extended = [g[idx]], False
    for run in runs:
        lo = g[run[0] - 1] if run[0] > 0 else max(g[0] - span, bounds[0])
        hi = g[run[-1] + 1] if run[-1] < g.size - 1 else min(g[-1] + span, bounds[1])
        extended = extended or lo < g[0] or hi > g[-1]
        pieces.append(np.linspace(lo, hi, n))
    return np.unique(np.concatenate(pieces)), extended


def refine(solve_at, regrid, grids, tol: float, change, record=None, max_steps: int = 12, progress=None):
    """Solve on ``grids``, regrid onto the support, repeat until ``change(previous, new)``
    falls below ``tol`` or ``max_steps`` LPs ran. ``regrid(result, grids) -> (grids,
    extended)``: after an extension past an edge the grid is coarse where it is new, so
    that step gives no verdict. ``record(result) -> dict``: what each step reports besides
    its number and change. ``solve_at`` returns None when a step cannot be solved (after
    the first): the loop stops with the last result and an infinite change. Returns (last result, steps: [{step, **record, change}], the
    last change)."""
    steps, prev, res, last, extended = [], None, None, np.inf, False
    for step in range(max_steps):
        res = solve_at(grids)
        if res is None:  # this step could not be solved: the last one stands, unconverged
            return prev, steps, np.inf
        if prev is not None:
            last = np.inf if extended else float(change(prev, res))
        steps.append({"step": step, **(record(res) if record else {}), "change": last})
        if progress:
            progress(steps[-1])
        if last < tol:
            break
        prev, (grids, extended) = res, regrid(res, grids)
    return res, steps, last
