"""Ask for an accuracy instead of a grid: refine the exchanges, then solve the
continuum equilibrium on the support the LP found (or, without it, polish).

Column generation (:mod:`.colgen`) makes securities a and t = 0 consumption
continuous. The k grid carries no approximation error: with a continuous, a lottery
over the two k points around any k, with securities that equalise state wealth
across them, gives the same consumption as k itself (wealth is linear in k and a,
utility concave in wealth). What remains is z, the exchanges' fundamentals, which
index rows and enter nonlinearly (spot price p(z), rights row (55)).
:func:`solve_to_tolerance` therefore

1. solves the equilibrium by column generation on a coarse grid (11 points of k
   and z, 21 of c, 3 of a: they only seed column generation);
2. takes the LP's support -- how many exchanges each state has, roughly where, who
   uses them -- and solves the equilibrium conditions without grids on it
   (:mod:`.continuum`, :mod:`.continuum_result`): Newton's method on Program 2's KKT
   conditions, the exchanges' first-order conditions and the budgets, to ~1e-15. If
   that solve certifies -- including each type's own budget problem and an LP check
   that no exchange outside the support is worth opening -- it is the answer;
3. otherwise refines the z grid of every state around its active exchanges
   (:func:`refine_axis`): around a support point *inside* a patch of uniform local
   step h, points at step h/SPLIT out to +-h; at the *edge* of its patch (the optimum
   moves toward coarser grid), the patch first grows at step h, so the window
   re-centres on the moving optimum. Each step is warm-started from the last (Negishi
   weights, the master's bundles carried to the new grid), and step 2 is tried again;
4. if no support certifies, once the local step is below 2 * polish.MIN_DELTA, moves
   the active exchanges to the planner's optimum in z (:mod:`.polish`).

It reports the path (phase, LP size, objective, p0, K, z and P_Delta of the active
exchanges, the change of the determinate outputs from the previous step and where
it was largest, time; for the continuum phase its Newton iterations, or why it did
not certify), ``accuracy`` and ``converged`` (accuracy < tol and the final answer
certified). With the continuum phase, ``accuracy`` is the largest change of a
determinate output in Newton's last step (quadratic convergence: the error is far
smaller); with the LP alone, the largest change of any determinate output over the
last two steps; never less than the doubles' resolution of the outputs
(:func:`resolution`), so a tol below it fails ``refinement.accuracy``. The determinate
outputs are p0, aggregate storage K, each type's consumption and utility, and per state
the active exchange's z and fee P_Delta; individual storage, securities and fees paid
are indeterminate within an exchange and are not compared.

Why the LP alone stops short (KT Env 1, measured): on uniform z grids of step 0.04,
0.01 and 0.0025 the largest error in z, p0 and K is 1.6e-2, 1.7e-3 and 1.7e-3 --
the LP mixes the two grid exchanges around z*, which is not one exchange at z*. With
the exchange held at z* itself, p0, K and consumption still move by about 1e-4 (the
fee by up to 1e-3) between refinements, for two reasons:

* a lottery LP solved to a reduced-cost tolerance eps may spread a smooth choice (t = 0
  consumption, securities) over points up to sqrt(2 eps / u'') apart at no visible
  cost -- 3e-4 in type 1's c10 at eps = 1e-9 -- and prices read from its duals
  inherit the spread;
* the grid equilibrium is not unique: two certified equilibria (Negishi end-games
  mixing different vertices) differ by 2e-4 in type 1's c10, 3e-4 in p0 and 1e-3 in
  P_Delta, with 11 or 41 k points alike -- the duals are degenerate, and budgets can
  balance at different splits of storage, which is indeterminate within an exchange.
  In KT Env 2 this makes the two mirror-image states' fees 0.113 and 0.135; the
  continuum equilibrium's are both 0.12312.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import SolveError
from ...progress import Bar
from . import continuum_result
from . import polish as pl
from .exchanges import carried_columns, change, summary
from .grids import CollateralGrids
from .model import CollateralEconomy
from .segregated import ACTIVE_MASS, SegregatedResult, solve_segregated

#: Around a support point inside its patch the local step h becomes h/SPLIT, out to
#: +-h; at the patch's edge the patch grows by EXTEND points at step h.
SPLIT = 4
EXTEND = 4


def refine_axis(grid: np.ndarray, support, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """One refinement of a sorted grid around the points ``support`` (indices).

    Returns a sorted grid that contains ``grid``. ``lo``/``hi`` clip added points (the
    admissible range of the axis); the grid's own ends are the default.
    """
    g = np.asarray(grid, float)
    lo = g[0] if lo is None else lo
    hi = g[-1] if hi is None else hi
    new = []
    for i in np.unique(np.asarray(support, int)):
        left = g[i] - g[i - 1] if i > 0 else np.inf
        right = g[i + 1] - g[i] if i + 1 < g.size else np.inf
        h = min(left, right)
        if not np.isfinite(h):
            continue
        if np.isclose(left, right, rtol=1e-6) or not (np.isfinite(left) and np.isfinite(right)):
            new.append(g[i] + h / SPLIT * np.arange(-SPLIT, SPLIT + 1))  # inside: step h/SPLIT out to +-h
        else:
            side = 1.0 if right > left else -1.0  # at the edge: extend toward the coarse side
            new.append(g[i] + side * h * np.arange(1, EXTEND + 1))

    if not new:
        return g
    pts = np.concatenate(new)
    pts = pts[(pts >= lo - 1e-12) & (pts <= hi + 1e-12)]
    out = np.union1d(g, pts)
    scale = max(1.0, np.abs(out).max())
    keep = np.concatenate([[True], np.diff(out) > 1e-12 * scale])
    return out[keep]


def support(res: SegregatedResult):
    """Indices of k with mass for some type; per state, the active exchanges."""
    econ = res.econ
    stats = res.type_stats()
    k_sup = np.unique(np.concatenate([np.nonzero(d["x_k"] > ACTIVE_MASS)[0] for d in stats]))
    z_sup = []
    for s in range(econ.S):
        mass = sum(econ.share[h] * stats[h]["share"][s] for h in range(econ.H))
        z_sup.append(np.nonzero(mass > ACTIVE_MASS)[0])
    return k_sup, z_sup


def refined_grids(res: SegregatedResult) -> CollateralGrids:
    """The next grids: k and every state's z refined around the solution's support."""
    g = res.grids
    _, z_sup = support(res)
    return CollateralGrids(c0=g.c0, k=g.k, z=tuple(refine_axis(g.z[s], z_sup[s]) for s in range(res.econ.S)), a=g.a)


@dataclass
class RefinementPath:
    """One row per refinement step: grid and LP sizes, objective, change, time."""

    steps: list = field(default_factory=list)

    def rows(self):
        return self.steps


def solve_to_tolerance(
    econ: CollateralEconomy,
    tol: float = 1e-6,
    grids: CollateralGrids | None = None,
    max_steps: int = 12,
    polish: bool = True,
    progress: bool = False,
    continuum: bool = True,
    **solve_kw,
):
    """Equilibrium with segregated exchanges whose determinate outputs are accurate to
    ``tol`` (absolute), or as close as the method allows (module docstring).

    Phase "refine" solves the LP and refines z around the active exchanges; after
    each LP, phase "continuum" (with ``continuum=True``) solves the equilibrium
    without grids on the LP's support and returns it if it certifies (a
    :class:`.continuum_result.ContinuumResult`). Without a certified continuum answer,
    once the local z step is below 2 * polish.MIN_DELTA (or the outputs have settled
    to ``tol``), phase "polish" (:mod:`.polish`) moves the active exchanges to the
    planner's optimum in z (a :class:`.segregated.SegregatedResult`). The result
    carries ``refinement_path``, ``accuracy`` and ``converged`` (accuracy < tol and
    certified); the path lists per step the phase, grid and LP sizes, objective, p0,
    K, z and P_Delta of the active exchanges, the change and where it was largest,
    seconds, and whether the step's answer was certified.
    """
    grids = starting_grids(econ, grids or CollateralGrids.build(econ))
    # the continuum solves k as a continuum: a k the grid file fixed (k = [0], no
    # storage) is honoured by the LP and polish phases only
    continuum = continuum and grids.k.size > 1
    path = RefinementPath()
    prev = prev_z = res = None
    w0 = cols0 = None
    L = 0.0  # sensitivity of the outputs to the active exchanges' z
    with Bar(f"refine (at most {max_steps} steps)", unit="step", enabled=progress) as bar:
        for step in range(max_steps):
            t0 = time.perf_counter()
            res = solve_segregated(econ, grids, method="colgen", weights0=w0, columns0=cols0, progress=progress,
                                   **solve_kw)
            cur = summary(res)
            zbar = np.array([cur[f"z[{s}]"][0] for s in range(econ.S)])
            delta, where = change(cur, prev) if prev is not None else (float("inf"), "")
            if prev is not None:
                dz = float(np.max(np.abs(zbar - prev_z)))
                if dz > 0:
                    L = max(L, delta / dz)
            h = local_step(res)
            estimate = L * h if L > 0 else float("inf")
            path.steps.append(_row("refine", step, res, cur, delta, where, time.perf_counter() - t0,
                                   n_z=[int(z.size) for z in grids.z], z_step=h))
            bar.write(f"refine {step}: z {[z.size for z in grids.z]} points, LP {res.lp['rows']}x{res.lp['cols']}, "
                      f"z step {h:.1e}, change {delta:.1e} {where}")
            bar.update(change=f"{delta:.1e}")
            if continuum:
                cont = _try_continuum(res, cur, path, bar)
                if cont is not None:
                    return _finish(cont, tol, path, accuracy=cont.accuracy)
            if (delta < tol and estimate < tol) or (polish and h <= 2 * pl.MIN_DELTA):
                break
            prev, prev_z, w0 = cur, zbar, res.weights
            nxt = refined_grids(res)
            cols0 = carried_columns(res, nxt)
            grids = nxt
    if polish:
        res = pl.polish(res, tol=max(tol, 1e-9), progress=progress, **solve_kw)
        for r in res.polish_path:
            path.steps.append({"phase": "polish", "step": len(path.steps), "n_z": None, "rows": r["rows"],
                               "cols": r["cols"], "objective": r["objective"], "p0": r["p0"], "K": r["K"],
                               "z": r["zeta"], "P_Delta": r["P_Delta"], "z_step": r["delta"],
                               "change": r["change"], "largest_change_in": r["largest_change_in"],
                               "seconds": r["seconds"], "certified": r["certified"]})
    tail = [row["change"] for row in path.steps if row["phase"] != "continuum"][-2:]
    return _finish(res, tol, path, accuracy=float(max(tail)) if len(tail) == 2 else float("inf"))


def _row(phase, step, res, cur, delta, where, seconds, n_z=None, z_step=None, note=None) -> dict:
    """One row of the refinement path."""
    S = res.econ.S
    row = {"phase": phase, "step": step, "n_z": n_z, "rows": res.lp["rows"], "cols": res.lp["cols"],
           "objective": res.objective, "p0": float(cur["p0"][0]), "K": float(cur["K"][0]),
           "z": [float(cur[f"z[{s}]"][0]) for s in range(S)],
           "P_Delta": [float(cur[f"P_Delta[{s}]"][0]) for s in range(S)], "z_step": z_step, "change": delta,
           "largest_change_in": where, "seconds": seconds, "certified": bool(res.certificate.passed)}
    if note:
        row["note"] = note
    return row


def _try_continuum(res, cur, path, bar):
    """The continuum equilibrium on ``res``'s support (:mod:`.continuum_result`) if it
    solves and certifies but for its grid-edge check; else None, with the reason in the
    path."""
    t0 = time.perf_counter()
    try:
        cont = continuum_result.solve_continuum(res)
    except (SolveError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        # not solvable on this support (an active set that does not close, a singular
        # system): the LP path goes on, and the reason is in the path
        why = exc.message if isinstance(exc, SolveError) else f"{type(exc).__name__}: {exc}"
        path.steps.append({"phase": "continuum", "step": len(path.steps), "seconds": time.perf_counter() - t0,
                           "certified": False, "note": f"not solved on this support: {why}"})
        return None
    sm = summary(cont)
    delta, where = change(sm, cur)
    note = None if cont.certificate.passed else "certificate failed: " + ", ".join(cont.certificate.failed())
    row = _row("continuum", len(path.steps), cont, sm, delta, where, time.perf_counter() - t0, note=note)
    row.update({"newton_iterations": len(cont.path), "newton_accuracy": cont.accuracy})
    path.steps.append(row)
    bar.write(f"continuum: {'certified' if cont.certificate.passed else note}, Newton accuracy {cont.accuracy:.1e}, "
              f"differs from the grid by {delta:.1e} ({where})")
    # an exchange at or past an end of grid.z fails only edge.grid.z: the continuum is
    # still the best answer on this support, returned with the check failed (widen grid.z)
    return cont if all(name.startswith("edge.") for name in cont.certificate.failed()) else None


def _finish(res, tol, path, accuracy):
    # a change of 0 (Newton's last step landing on the same doubles) is no accuracy below
    # the doubles' own resolution: a --tol under it fails instead of passing
    res.accuracy = max(accuracy, resolution(res))
    # an accuracy not reached is a failed check (exit 1), never a pass
    res.certificate.add("refinement.accuracy", res.accuracy, tol, "largest change of a determinate output over the "
                        "last step (continuum: Newton's last step) (--tol)")
    res.converged = bool(res.accuracy < tol and res.certificate.passed)
    res.refinement_tol = tol
    res.refinement_path = path.rows()
    return res, path


def resolution(res) -> float:
    """The finest accuracy doubles can state for ``res``'s determinate outputs: machine
    epsilon times the largest of them in absolute value."""
    values = np.abs(np.concatenate([np.ravel(v) for v in summary(res).values()]))
    values = values[np.isfinite(values)]
    return float(np.finfo(float).eps * values.max()) if values.size else 0.0


def starting_grids(econ: CollateralEconomy, grids: CollateralGrids, n: int = 11) -> CollateralGrids:
    """Accuracy mode's start: ``grids``' ranges with ``n`` points for k and z, 21 for
    each c and 3 for a. Column generation makes a and c continuous (their grids only
    seed the master), k carries no error, and z is refined where it matters."""
    return CollateralGrids.build(econ, c=[_span(c, 21) for c in grids.c0], k=_span(grids.k, n),
                                 z=[_span(z, n) for z in grids.z], a=_span(grids.a, 3))


def _span(g: np.ndarray, n: int) -> dict:
    """``n`` points over the range of ``g``; a one-point grid is a restriction the grid
    file chose (``k = { points = [0.0] }``: no storage) and stays that one point."""
    if g.size == 1:
        return {"points": [float(g[0])]}
    return {"min": float(g.min()), "max": float(g.max()), "n": n}


def local_step(res: SegregatedResult) -> float:
    """Largest z step next to an active exchange, over states."""
    _, z_sup = support(res)
    out = 0.0
    for s, idx in enumerate(z_sup):
        z = res.grids.z[s]
        for i in idx:
            out = max(out, min(z[i] - z[i - 1] if i > 0 else np.inf, z[i + 1] - z[i] if i + 1 < z.size else np.inf))
    return out
