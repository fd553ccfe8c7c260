"""Ask for an accuracy instead of a grid: adaptive refinement of the k and z grids.

Column generation (:mod:`.colgen`) already makes securities and t = 0 consumption
continuous. What remains on grids are the collateral levels k and the exchanges'
fundamentals z, which index rows. Starting from a coarse grid, each step solves the
equilibrium, then halves the step locally around the support of the solution (every
k with positive mass for some type, every active exchange), keeping the rest of the
grid, and re-solves warm-started from the previous Negishi weights. It stops when the
determinate outputs -- prices p0, aggregate storage K, every type's consumption and
utility -- move by less than ``tol`` between two successive refinements.

(Individual storage and securities are not compared: within an exchange their split
between members is indeterminate, see :mod:`.segregated`.)

Status: experimental, not yet behind the CLI. The local refinement only moves the
window one coarse step per iteration, so the outputs creep toward the continuum
value (KT Env 1: p0 1.985 -> 1.990 over 11 steps) rather than converge
geometrically; see issue 4's progress note.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .grids import CollateralGrids
from .model import CollateralEconomy
from .segregated import ACTIVE_MASS, SegregatedResult, solve_segregated


def summary(res: SegregatedResult) -> np.ndarray:
    """The determinate outputs compared between refinements."""
    d = res.to_dict()
    out = [d["p0"], d["K"]]
    for t in d["types"]:
        out += [*t["c0"], *np.ravel(t["c1"]), t["utility"]]
    return np.array(out)


def refine_points(grid: np.ndarray, support: np.ndarray, lo=None, hi=None) -> np.ndarray:
    """Insert midpoints on both sides of every support point (halving the local step)."""
    g = np.asarray(grid, float)
    idx = np.nonzero(np.isin(np.arange(g.size), support))[0]
    left = np.maximum(idx - 1, 0)
    right = np.minimum(idx + 1, g.size - 1)
    new = np.concatenate([0.5 * (g[idx] + g[left]), 0.5 * (g[idx] + g[right])])
    out = np.union1d(g, new)
    keep = np.concatenate([[True], np.diff(out) > 1e-12 * max(1.0, np.abs(out).max())])
    return out[keep]


def refined_grids(res: SegregatedResult) -> CollateralGrids:
    """Grids with the k and z steps halved around the solution's support."""
    econ, g = res.econ, res.grids
    stats = res._type_stats()
    k_support = np.unique(np.concatenate([np.nonzero(d["x_k"] > ACTIVE_MASS)[0] for d in stats]))
    z_new = []
    for s in range(econ.S):
        mass = sum(econ.share[h] * stats[h]["share"][s] for h in range(econ.H))
        z_new.append(refine_points(g.z[s], np.nonzero(mass > ACTIVE_MASS)[0]))
    return CollateralGrids(c0=g.c0, k=refine_points(g.k, k_support), z=tuple(z_new), a=g.a)


@dataclass
class RefinementPath:
    steps: list = field(default_factory=list)

    def rows(self):
        return self.steps


def solve_to_tolerance(
    econ: CollateralEconomy,
    tol: float = 1e-6,
    grids: CollateralGrids | None = None,
    max_steps: int = 30,
    progress: bool = False,
    **solve_kw,
) -> tuple[SegregatedResult, RefinementPath]:
    """Equilibrium with segregated exchanges whose outputs are stable to ``tol`` under
    further refinement of the k and z grids. Returns the finest result and the path
    (grid sizes, LP size, objective, change, time per step)."""
    grids = grids or CollateralGrids.build(econ, k={"n": 11}, z={"n": 11}, a={"n": 3}, c={"n": 21})
    path = RefinementPath()
    prev, res, w0 = None, None, None
    for step in range(max_steps):
        t0 = time.perf_counter()
        res = solve_segregated(econ, grids, method="colgen", weights0=w0, progress=progress, **solve_kw)
        cur = summary(res)
        change = float(np.max(np.abs(cur - prev))) if prev is not None else float("inf")
        path.steps.append({
            "step": step,
            "n_k": int(grids.k.size),
            "n_z": [int(z.size) for z in grids.z],
            "rows": res.lp["rows"],
            "cols": res.lp["cols"],
            "objective": res.objective,
            "change": change,
            "seconds": time.perf_counter() - t0,
            "certified": bool(res.certificate.passed),
        })
        if progress:
            print(f"refinement {step}: k {grids.k.size} pts, z {[z.size for z in grids.z]} pts, "
                  f"LP {res.lp['rows']}x{res.lp['cols']}, change {change:.2e}", file=sys.stderr, flush=True)
        if change < tol:
            break
        prev, w0 = cur, res.weights
        grids = refined_grids(res)
    res.refinement_path = path.rows()
    return res, path
