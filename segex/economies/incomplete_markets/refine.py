"""``--tol`` for KT 2.2's segregated exchanges: refine the grids onto the equilibrium's
support until the allocation stops moving (the loop is :func:`segex.markets.refine.refine`).

On fixed grids Definition 5's equilibrium is the grid economy's, and grid economies have
many: an exchange's prices are pinned only to an interval by the portfolios a type may
deviate to, and the Negishi search balances budgets by mixing neighbouring clearing
exchanges, so the allocation sits up to a family spacing from the continuum one and the
active fees are off by the difference of the types' marginal rates across that spacing
(in complete markets, where the continuum fees are zero, |P_Delta| falls with the
spacing: 0.047, 0.003, 0.001 measured). Each step therefore

* re-centres the clearing family (:func:`.grids.clearing_family`) on the types' mean
  portfolios with a radius of two old spacings, or the active members' spread or twice
  the holdings' last move if larger (:func:`regrid_support`; a member on the family's edge
  active: twice the radius, and that step gives no verdict) -- while the optimum stays
  inside, the family's spacing falls by (n - 1) / 4 a step;
* zooms each t = 0 consumption grid onto the points the lotteries use and one neighbour
  either side (:func:`segex.markets.refine.zoom`), so p0's kink interval shrinks with it;
* keeps the product grid of spot prices and portfolios (the deviations to other spot
  prices the certificate's consumer check covers), and starts the next Negishi search at
  the last weights (a handful of warm-started LPs a step).

It stops when the accuracy (:func:`accuracy`) -- the largest of the allocation's move
since the last step (each type's expected c0, c1 and theta, in goods), the family's
spacing and the relative spacing of the t = 0 grids at the support -- is at most ``tol``:
a grid coarser than tol could hide a move, so the spacings count too.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from ...errors import SolveError
from ...markets.refine import extension_bounds, refine, zoom
from .grids import MarketGrids, clearing_family
from .model import IncompleteMarketsEconomy

#: t = 0 grid points spanning each run of used points (one neighbour either side added):
#: the local spacing falls about fivefold a step.
N_ZOOM_C = 21
#: Most refinement steps before giving up (the family's spacing falls at least 2x a step).
MAX_STEPS = 30
#: A grid point or exchange is in the support when a lottery puts this much probability
#: on it (HiGHS's feasibility tolerance is 1e-9; less is solver noise, not support).
USED = 1e-9


def refine_n(econ: IncompleteMarketsEconomy) -> int:
    """Family points per free dimension during refinement: about 100 members in all (21
    for one free holding, 11 for two), and at least 5 -- re-centring with one old spacing
    shrinks the family only from 5 points on."""
    dims = max((econ.H - 1) * econ.J, 1)
    return max(5, min(21, int(round(100 ** (1.0 / dims))) | 1))


def solve_to_tolerance(econ: IncompleteMarketsEconomy, tol: float, grid_specs=None, weights=None,
                       backend: str = "highs", progress: bool = False):
    """Definition 5's equilibrium (or the Pareto program at ``weights``) refined until its
    accuracy (module docstring) is at most ``tol``. The first step solves the ``[grid]``
    file's grids. Returns the last step's :class:`.segregated.SegregatedResult` with
    ``lp["refinement"]`` = {tol, accuracy, converged, steps: [{step, rows, cols,
    family_spacing, p0, theta, lps, build_s, solve_s, certified, change}]} (``lp``'s
    build_s, solve_s and lps are the whole path's) and a ``refinement.accuracy`` check in
    its certificate. A file that turns the family off (``grid.family.n = 0``) keeps it off."""
    from .segregated import initial_grids, solve_on

    grids, start = initial_grids(econ, grid_specs)
    last = [None]  # the last step's result
    w0 = [None if weights is not None else start]
    n = refine_n(econ) if grids.family_n else 0
    failed = []

    def solve_at(g):
        try:
            res = solve_on(econ, g, weights, backend, w0[0])
        except SolveError as err:
            if last[0] is None or err.status == "time_limit":
                raise
            failed.append(err.message)
            return None
        if weights is None:
            w0[0] = res.weights
        return res

    def regrid(res, g):
        moved = 0.0 if last[0] is None else float(np.abs(holdings(res) - holdings(last[0])).max())
        last[0] = res
        return regrid_support(res, g, n, moved)

    report = (lambda row: print(_line(row), file=sys.stderr, flush=True)) if progress else None
    res, steps, acc = refine(solve_at, regrid, grids, tol, accuracy, record=record, max_steps=MAX_STEPS,
                             progress=report)
    if len(steps) == 1:  # one step gives no move to measure: its spacings are all we know
        acc = steps[0]["change"] = float(grid_spacing(res))
    for key in ("build_s", "solve_s", "lps"):  # the whole path's, not the last step's
        res.lp[key] = sum(st[key] for st in steps)
    res.lp["refinement"] = {"tol": tol, "accuracy": acc, "converged": bool(acc <= tol), "steps": steps}
    why = f"; step {len(steps)} failed ({failed[0]}), the last solved step is reported" if failed else ""
    res.certificate.add("refinement.accuracy", acc, tol,
                        f"after {len(steps)} steps: the allocation's last move and the family and t=0 grid "
                        f"spacings at the support (--tol){why}")
    return res


def regrid_support(res, g: MarketGrids, n: int, moved: float = 0.0) -> tuple[MarketGrids, bool]:
    """The next step's grids (module docstring); ``moved``: how far the types' holdings
    moved over the last step (the weights move the optimum too, so the family must reach
    that far). Returns (grids, whether a member on the family's edge was active: the family
    then doubles its radius around the new centre)."""
    econ = res.econ
    center = np.array([d["theta"] for d in res.type_stats()])
    mass = res.masses().sum(axis=0)
    fam = np.nonzero(mass[g.n_product:] > USED)[0]
    on_edge = bool(n and (fam.size == 0 or g.family_edge[fam].any()))
    if not n:  # no family: only the t = 0 grids are refined
        radius = g.family_radius
    elif on_edge:
        radius = 2 * g.family_radius
    else:
        spread = float(np.abs(g.family_theta[fam][:, :-1] - center[None, :-1]).max())
        radius = min(g.family_radius, max(spread, 2 * g.family_spacing, 2 * moved))
    fp, ft, fe = clearing_family(econ, center, g.exchanges[int(np.argmax(mass))], radius, n)
    c0 = tuple(zoom_used(res, g, good) for good in range(2))
    new = replace(g, c0=c0, family_p=fp, family_theta=ft, family_edge=fe, family_radius=radius, family_n=n)
    return new, on_edge


def used_points(res, good: int) -> np.ndarray:
    """(n,) whether any type's t = 0 lottery over ``good`` uses each grid point."""
    name = ("c10", "c20")[good]
    used = np.zeros(res.grids.c0[good].size, bool)
    for h in range(res.econ.H):
        used |= res.x[res.program.blocks[h, name].slice] > USED
    return used


def zoom_used(res, g: MarketGrids, good: int) -> np.ndarray:
    """The t = 0 grid of ``good`` zoomed onto its used points and one neighbour either side."""
    used = used_points(res, good)
    near = used.copy()
    near[1:] |= used[:-1]
    near[:-1] |= used[1:]
    grid = g.c0[good]
    return zoom(grid, near, N_ZOOM_C, extension_bounds(grid))[0]


def grid_spacing(res) -> float:
    """The family's spacing and the largest relative gap of a t = 0 grid next to a used point."""
    out = res.grids.family_spacing if res.grids.family_p.shape[0] else 0.0
    for good in range(2):
        grid, used = res.grids.c0[good], used_points(res, good)
        gaps = np.diff(grid) / grid[:-1]
        near = np.zeros(gaps.size, bool)
        near |= used[:-1]
        near |= used[1:]
        out = max(out, float(gaps[near].max()) if near.any() else 0.0)
    return out


def allocation(res) -> np.ndarray:
    """Each type's expected c0, c1 and theta, flattened."""
    return np.concatenate([np.concatenate([d["c0"], d["c1"].ravel(), d["theta"]]) for d in res.type_stats()])


def holdings(res) -> np.ndarray:
    """(H, J) each type's expected portfolio."""
    return np.array([d["theta"] for d in res.type_stats()])


def accuracy(prev, res) -> float:
    """The largest of the allocation's move from ``prev`` and ``res``'s grid spacings."""
    return max(float(np.abs(allocation(res) - allocation(prev)).max()), grid_spacing(res))


def record(res) -> dict:
    """One row of the refinement path."""
    return {"rows": res.lp["rows"], "cols": res.lp["cols"], "family_spacing": float(res.grids.family_spacing),
            "p0": res.prices()["p0"], "theta": [d["theta"].tolist() for d in res.type_stats()],
            "lps": res.lp["lps"], "build_s": res.lp["build_s"], "solve_s": res.lp["solve_s"], "certified": bool(res.certificate.passed)}


def _line(row: dict) -> str:
    theta = "; ".join(" ".join(f"{t:.6g}" for t in th) for th in row["theta"])
    return (f"refine {row['step']}: LP {row['rows']}x{row['cols']}, family spacing {row['family_spacing']:.3g}, "
            f"p0 {row['p0']:.8g}, theta {theta}, {row['lps']} LPs {row['solve_s']:.1f}s, change {row['change']:.3g}")
