"""``--tol`` for KT 2.2's segregated exchanges: refine the grids onto the equilibrium's
support until the allocation stops moving (the loop is :func:`segex.markets.refine.refine`).

On fixed grids Definition 5's equilibrium is the grid economy's, and grid economies have
many: an exchange's prices are pinned only to an interval by the portfolios a type may
deviate to, and the Negishi search balances budgets by mixing neighbouring clearing
exchanges, so the allocation sits up to a family spacing from the continuum one and the
active fees are off by the difference of the types' marginal rates across that spacing
(in complete markets, where the continuum fees are zero, |P_Delta| falls with the
spacing: 0.047, 0.003, 0.001 measured). Each step therefore

* replaces the clearing family (:func:`.grids.clearing_family`) by a patch around every
  active member, in its portfolios and in its composition (the types' shares in the
  exchange), one old spacing either side (:func:`next_patch`), so the spacing falls (n-1)/2
  times a step; a member on its patch's boundary gets a patch as wide as its own (the
  optimum may lie beyond it: the patch slides). An equilibrium that splits a type across
  exchanges of different compositions is followed exchange by exchange;
* zooms each t = 0 consumption grid onto the points the lotteries use and one neighbour
  either side (:func:`segex.markets.refine.zoom`), so p0's kink interval shrinks with it;
* keeps the product grid of spot prices and portfolios (the deviations to other spot
  prices the certificate's consumer check covers), and starts the next Negishi search at
  the last weights (a handful of warm-started LPs a step).

It stops when the accuracy (:func:`accuracy`) -- the largest of the allocation's move
since the last step (each type's expected c0, c1 and theta, in goods), the spacing of
the family's patches at the active members (holdings, and log composition ratios) and the relative spacing of the t = 0 grids at the support -- is at most ``tol``:
a grid coarser than tol could hide a move, so the spacings count too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import SolveError
from ...markets.refine import extension_bounds, refine, zoom
from ...progress import Bar
from .grids import ClearingFamily, MarketGrids, clearing_family, log_ratios
from .model import IncompleteMarketsEconomy

#: t = 0 grid points spanning each run of used points (one neighbour either side added):
#: the local spacing falls about fivefold a step.
N_ZOOM_C = 21
#: Steps whose patches the family keeps (each a scale (n-1)/2 finer than the last): the
#: Negishi search tries weights whose optimum lies a little off the last support, and a
#: family of the finest scale alone then has nothing between its patches and the coarse
#: cover but mixtures far apart.
LEVELS = 3
#: The finest accuracy an allocation read from HiGHS carries: its feasibility and optimality
#: tolerances are 1e-9 on problems scaled to O(1), and probabilities that close to the
#: tolerance move expected holdings by 10x that.
RESOLUTION = 1e-8
#: Most refinement steps before giving up (the family's spacing falls at least 2x a step).
MAX_STEPS = 30
#: A grid point or exchange is in the support when a lottery puts this much probability
#: on it (HiGHS's feasibility tolerance is 1e-9; less is solver noise, not support).
USED = 1e-9


def refine_n(econ: IncompleteMarketsEconomy) -> int:
    """Patch points per axis during refinement (a patch has n^axes members, axes = (H-1) J
    holdings plus H-1 composition ratios): 9 with two axes, 5 up to four, 3 beyond. A patch
    spans one old spacing either side of its member (half of one with 3 points), so the
    spacing falls (n-1)/2 times a step (twice with 3 points)."""
    d = (econ.H - 1) * (econ.J + 1)
    return 9 if d <= 2 else 5 if d <= 4 else 3


def solve_to_tolerance(econ: IncompleteMarketsEconomy, tol: float, grid_specs=None, weights=None,
                       backend: str = "highs", progress: bool = False, max_steps: int = MAX_STEPS):
    """Definition 5's equilibrium (or the Pareto program at ``weights``) refined until its
    accuracy (module docstring) is at most ``tol``. The first step solves the ``[grid]``
    file's grids. Returns the last step's :class:`.segregated.SegregatedResult` with
    ``lp["refinement"]`` = {tol, accuracy, converged, steps: [{step, rows, cols,
    family_spacing, p0, theta, lps, build_s, solve_s, certified, change}]} (``lp``'s
    build_s, solve_s and lps are the whole path's) and a ``refinement.accuracy`` check in
    its certificate; at most ``max_steps`` steps. A file that turns the family off
    (``grid.family.n = 0``) keeps it off."""
    from .segregated import initial_grids, solve_on

    grids, start = initial_grids(econ, grid_specs)
    last = [None]  # the last step's result
    w0 = [None if weights is not None else start]
    n = refine_n(econ) if len(grids.family) else 0
    failed = []

    def solve_at(g):
        try:
            # only the first step starts at Definition 4's weights (later ones at the last
            # step's, a coarser grid's guess: :func:`segex.negishi.negishi`)
            res = solve_on(econ, g, weights, backend, w0[0], progress, definition4_start=last[0] is None)
        except SolveError as err:
            if last[0] is None or err.status == "time_limit":
                raise
            failed.append(err.message)
            return None
        if weights is None:
            w0[0] = res.weights
        return res

    def regrid(res, g):
        last[0] = res
        return regrid_support(res, g, n, grids)

    if tol < RESOLUTION:  # no grid reaches it: the first step's answer, said so
        max_steps = 1
        failed.append(f"tol {tol:.3g} is below the LP's resolution {RESOLUTION:.0e}; not refined")
    with Bar(f"refine (at most {max_steps} steps)", unit="step", enabled=progress) as bar:
        def report(row):
            bar.write(_line(row))
            bar.update(change=f"{row['change']:.1e}")

        res, steps, acc = refine(solve_at, regrid, grids, tol, accuracy, record=record, max_steps=max_steps,
                                 progress=report)
    if len(steps) == 1:  # one step gives no move to measure: its spacings are all we know
        acc = steps[0]["change"] = float(grid_spacing(res))
    for key in ("build_s", "solve_s", "lps"):  # the whole path's, not the last step's
        res.lp[key] = sum(st[key] for st in steps)
    res.lp["refinement"] = {"tol": tol, "accuracy": acc, "converged": bool(acc <= tol), "steps": steps}
    why = f"; {failed[0]}" if tol < RESOLUTION else (
        f"; step {len(steps)} failed ({failed[0]}), the last solved step is reported" if failed else "")
    res.certificate.add("refinement.accuracy", acc, tol,
                        f"after {len(steps)} steps: the allocation's last move and the family and t=0 grid "
                        f"spacings at the support (--tol){why}")
    return res


def regrid_support(res, g: MarketGrids, n: int, base: MarketGrids) -> tuple[MarketGrids, bool]:
    """The next step's grids (module docstring): ``base`` (the first step's grids, kept as
    a coarse cover: the Negishi search moves the weights, and the optimum at weights it
    tries may lie far from the last support), the patches of the last :data:`LEVELS` - 1
    steps, a patch of the clearing family around every active member (:func:`next_patch`),
    and the t = 0 points zoomed onto their support. When no member of the family is active,
    one patch around the types' mean portfolios as wide as the widest patch, and that step
    gives no verdict. Returns (grids, no verdict)."""
    c0 = tuple(np.union1d(base.c0[good], zoom_used(res, g, good)) for good in range(2))
    fam = g.family
    if not n or not len(fam):  # no family: only the t = 0 grids are refined
        return replace(g, c0=c0), False
    mass = res.masses().sum(axis=0)
    active = np.nonzero(member_mass(res) > USED)[0]
    n_axes = (n, n if (fam.n[:, 1] > 1).any() else 1)  # a file's fixed composition stays fixed
    level = int(fam.level.max()) + 1
    if active.size == 0:
        start = g.exchanges[int(np.argmax(mass))]
        patches, verdict = [clearing_family(res.econ, holdings(res), start, fam.radius.max(axis=0), n_axes)], False
    else:
        patches, verdict = [next_patch(res.econ, fam, k, n_axes) for k in active], True
    patches = [replace(q, level=np.full(len(q), level)) for q in patches]
    patches.sort(key=lambda q: tuple(q.radius[0]) if len(q) else (np.inf, np.inf))  # the join keeps the first copy
    recent = fam.take(fam.level > level - LEVELS)
    return replace(g, c0=c0, family=ClearingFamily.join(patches + [recent, base.family])), not verdict


def next_patch(econ: IncompleteMarketsEconomy, fam: ClearingFamily, k: int, n) -> ClearingFamily:
    """The patch around active member ``k``: on each axis (holdings, composition) one old
    spacing either side (half of one with 3 points). It shrinks even when ``k`` lies on its
    patch's boundary: an LP's lotteries are vertices, so the members it mixes are the
    extreme ones of their patches whether or not the optimum lies beyond, and a support that
    drifts further than the shrinking patches reach is caught by the coarser patches kept
    and the coarse cover. A patch member is on the family's outer boundary only where ``k``
    was (the certificate's edge.grid.family check)."""
    shrink = np.where(np.asarray(n) >= 5, 1.0, 0.5) * fam.spacing[k]
    radius = np.where(shrink > 0, shrink, fam.radius[k])
    patch = clearing_family(econ, fam.theta[k], fam.p[k], radius, n, log_ratios(econ, fam.composition[k]))
    return replace(patch, edge_theta=patch.edge_theta & fam.edge_theta[k],
                   edge_composition=patch.edge_composition & fam.edge_composition[k])


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
    """The spacing of the family's patches around its active members (holdings and log
    composition ratios) and the largest relative gap of a t = 0 grid next to a used point."""
    out = family_spacing(res)
    for good in range(2):
        grid, used = res.grids.c0[good], used_points(res, good)
        gaps = np.diff(grid) / grid[:-1]
        near = np.zeros(gaps.size, bool)
        near |= used[:-1]
        near |= used[1:]
        out = max(out, float(gaps[near].max()) if near.any() else 0.0)
    return out


def member_mass(res) -> np.ndarray:
    """(k,) population mass trading through each member of the clearing family."""
    prog, k = res.program, len(res.grids.family)
    out = np.zeros(k)
    for h, tb in enumerate(prog.bundles):
        fam = tb.member >= 0
        x1 = res.x[prog.blocks[h, "x1"].slice]
        out += np.bincount(tb.member[fam], res.econ.share[h] * x1[fam], minlength=k)
    return out


def family_spacing(res) -> float:
    """The largest spacing of the family's patches around its active members (0: none)."""
    g = res.grids
    active = member_mass(res) > USED
    return float(g.family.spacing[active].max()) if active.any() else 0.0


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
    return {"rows": res.lp["rows"], "cols": res.lp["cols"], "family_spacing": family_spacing(res),
            "p0": res.prices()["p0"], "theta": [d["theta"].tolist() for d in res.type_stats()],
            "lps": res.lp["lps"], "build_s": res.lp["build_s"], "solve_s": res.lp["solve_s"], "certified": bool(res.certificate.passed)}


def _line(row: dict) -> str:
    theta = "; ".join(" ".join(f"{t:.6g}" for t in th) for th in row["theta"])
    return (f"refine {row['step']}: LP {row['rows']}x{row['cols']}, family spacing {row['family_spacing']:.3g}, "
            f"p0 {row['p0']:.8g}, theta {theta}, {row['lps']} LPs {row['solve_s']:.1f}s, change {row['change']:.3g}")
