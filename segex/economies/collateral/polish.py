r"""Continuum-exact exchanges: polishing where the active exchanges sit.

Why grids alone stop short. Near the optimal fundamental z* of an active exchange the
planner's welfare is flat to second order, :math:`W(z) \approx W^* - \tfrac{c}{2}(z-z^*)^2`.
An LP solved to a tolerance of 1e-9 cannot tell apart exchanges within
:math:`\sqrt{2\cdot 10^{-9}/c}` of z*. Measured on KT Env 1 (c ~ 15 at fixed weights):
refining z below a step of 1e-5 leaves the active exchanges wandering over a 3e-5
window, and p0, K and the fee moving by 1e-4 from one refinement to the next. Prices
are first derivatives, so they inherit the error in z; a tighter LP tolerance would
only buy its square root.

Why not the envelope theorem. Program 2's coefficients depend smoothly on an
exchange's z, so :math:`\partial W/\partial z_j = x^\top\partial_{z_j}c - y^\top(\partial_{z_j}A)x`
(engine convention y = dW/db). It matches finite differences to 3 digits at a
single exchange and fixed weights, but inside the equilibrium its value moves with
the choice among the degenerate LP's optimal duals (y of the rights and securities
rows at the exchange; measured noise 1e-4 to 1 on KT Env 1), so Newton on it does
not settle.

What works: the welfare value is unique even where duals are not. :func:`polish`
puts each active cluster of exchanges at one point zeta (clearing other grid points
from around it), fits a quadratic plus cubic terms to W(zeta; lambda) at fixed
Negishi weights lambda from LP solves at zeta + delta * (design points), moves zeta
to the fit's maximiser, re-solves the equilibrium there (new lambda), and repeats.
The cubic terms remove the O(delta^2) bias of a quadratic fit, so delta can stay at
2e-3, where LP noise (1e-9) / (delta * curvature) is about 1e-7 in z. The
equilibrium is the Pareto optimum at the Negishi weights (KT Theorems 2-3), where W
is maximal in z: so the alternation's fixed point is the equilibrium with the
exchanges at continuum-optimal z. Every equilibrium along the way is a certified
grid equilibrium on its own grid. Measured on KT Env 1: zeta settles within 1e-6
in 3-5 steps (about 1 s each).
"""

from __future__ import annotations

import time

import numpy as np

from ...progress import Bar
from .exchanges import carried_columns, change, clusters, grids_at, mean_z, summary
from .segregated import SegregatedResult, solve_segregated

#: Smallest half-width of the fit's design (z units): below it LP noise (1e-9
#: relative) divided by delta * curvature dominates the maximiser's error.
MIN_DELTA = 2e-3
#: An exchange that moves less than this (z units) in a step has converged.
STILL = 1e-9


def _split(flat, sizes):
    return np.split(np.asarray(flat, float), np.cumsum(sizes)[:-1])


def _zmaps(prev, grids, src, dst):
    """Old exchange index -> new index: the members ``src[s][c]`` of cluster c (at
    first the grid's active exchanges, later the previous zeta) map to its new zeta
    ``dst[s][c]``; grid points kept map to themselves; the rest are dropped (-1)."""
    out = []
    for s in range(prev.econ.S):
        zo, zn = prev.grids.z[s], grids.z[s]
        m = np.full(zo.size, -1)
        pos = np.minimum(np.searchsorted(zn, zo), zn.size - 1)
        hit = np.isclose(zn[pos], zo, rtol=0, atol=1e-13)
        m[hit] = pos[hit]
        for members, j in zip(src[s], dst[s]):
            m[np.asarray(members, int)] = j
        out.append(m)
    return out


def _solve_at(econ, base, zeta, sizes, prev, src, **kw):
    """Solve with the active exchanges at ``zeta``, warm from ``prev``'s bundles."""
    grids, where = grids_at(econ, base, _split(zeta, sizes))
    cols = carried_columns(prev, grids, zmaps=_zmaps(prev, grids, src, where))
    return solve_segregated(econ, grids, method="colgen", columns0=cols, **kw), grids, where


def argmax_cubic(f, z0: np.ndarray, delta: float):
    """Maximiser of f near z0 from a least-squares fit of a quadratic plus pure cubic
    terms to f at z0 + delta * d for d in {0, +-e_i, +-2 e_i, e_i + e_j}.

    The cubic terms remove the O(delta^2 f^(3) / f^(2)) bias a quadratic fit leaves in
    the vertex, so delta can stay large enough that LP noise / (delta f^(2)) is small.
    Returns (maximiser -- the best design point if the fit is not concave --,
    gradient at z0, Hessian at z0), the last two in f's units per unit z.
    """
    n = z0.size
    E = np.eye(n)
    D = np.array([np.zeros(n)] + [m * E[i] for i in range(n) for m in (-2, -1, 1, 2)]
                 + [E[i] + E[j] for i in range(n) for j in range(i + 1, n)])
    vals = np.array([f(z0 + delta * d) for d in D])
    iu = np.triu_indices(n)
    X = np.column_stack([np.ones(len(D)), D, np.array([np.outer(d, d)[iu] for d in D]), D**3])
    coef = np.linalg.lstsq(X, vals - vals[0], rcond=None)[0]
    b = coef[1:1 + n]
    Q = np.zeros((n, n))
    Q[iu] = coef[1 + n:1 + n + iu[0].size]
    Hm = Q + Q.T  # f ~ b'd + d'Q d + sum c_i d_i^3 with Q upper triangular: Hessian Q + Q'
    c3 = coef[1 + n + iu[0].size:]
    grad, hess = b / delta, Hm / delta**2
    if np.any(np.linalg.eigvalsh(Hm) >= 0):  # not concave here: go to the best design point
        return z0 + delta * D[np.argmax(vals)], grad, hess
    d = -np.linalg.solve(Hm, b)
    for _ in range(20):  # Newton on b + H d + 3 c d^2 = 0 from the quadratic vertex
        step = np.linalg.solve(Hm + np.diag(6 * c3 * d), b + Hm @ d + 3 * c3 * d**2)
        d = d - step
        if np.max(np.abs(step)) < 1e-14:
            break
    return z0 + delta * d, grad, hess


def polish(res: SegregatedResult, tol: float = 1e-7, max_outer: int = 6, delta: float = MIN_DELTA,
           progress: bool = False, **solve_kw) -> SegregatedResult:
    """Move every active exchange to the planner's optimum in z at the Negishi weights,
    alternating with the equilibrium at the moved exchanges (module docstring).

    ``tol``: stop when the determinate outputs (:func:`.exchanges.summary`) changed by
    less than this in each of the last two steps, or no exchange moved by more than
    STILL. Returns the last equilibrium (certified on its
    own grid) with ``polish_path``: per step the exchanges, their move, the fit's
    half-width, fitted welfare gradient and curvature, weights, p0, K, P_Delta, the
    change of the determinate outputs, LP size and seconds.
    """
    econ = res.econ
    groups = clusters(res)
    sizes = [len(g) for g in groups]
    zeta = np.concatenate([[mean_z(res, s, grp) for grp in groups[s]] for s in range(econ.S)])
    prev, base, src = res, res.grids, groups
    path = []
    last = summary(res)
    with Bar(f"polish (at most {max_outer} steps)", unit="step", enabled=progress) as bar:
        for it in range(max_outer):
            t0 = time.perf_counter()
            w, d = prev.weights, delta
            # clear the fit's whole span of other grid points, so every design point's
            # exchange is alone in its neighbourhood
            base = grids_at(econ, base, _split(zeta, sizes), clear=3 * d)[0]

            def welfare(z, prev=prev, base=base, src=src, w=w):
                return _solve_at(econ, base, z, sizes, prev, src, weights=w, equilibrium=False,
                                 **solve_kw)[0].objective

            vertex, grad, hess = argmax_cubic(welfare, zeta, d)
            moved = float(np.max(np.abs(vertex - zeta)))
            vertex = np.clip(vertex, zeta - 2 * d, zeta + 2 * d)  # trust region: the fit's own span
            cur, grids, where = _solve_at(econ, base, vertex, sizes, prev, src, weights0=w, **solve_kw)
            sm = summary(cur)
            delta_out, where_out = change(sm, last)
            last = sm
            path.append({"iteration": it, "zeta": vertex.tolist(), "moved": moved, "delta": d,
                         "p0": float(sm["p0"][0]), "K": float(sm["K"][0]),
                         "P_Delta": [float(sm[f"P_Delta[{s}]"][0]) for s in range(econ.S)],
                         "change": delta_out, "largest_change_in": where_out,
                         "gradient": grad.tolist(), "curvature": np.diag(hess).tolist(),
                         "weights": cur.weights.tolist(),
                         "rows": cur.lp["rows"], "cols": cur.lp["cols"], "objective": cur.objective,
                         "seconds": time.perf_counter() - t0, "certified": bool(cur.certificate.passed)})
            bar.write(f"polish {it}: zeta {np.array2string(vertex, precision=10)} moved {moved:.1e} "
                      f"(fit half-width {d:.0e}), {time.perf_counter() - t0:.2f} s")
            bar.update(moved=f"{moved:.1e}")
            prev, base, zeta = cur, grids, vertex
            src = [[[j] for j in wh] for wh in where]
            settled = len(path) >= 2 and max(r["change"] for r in path[-2:]) < tol
            if settled or moved <= STILL:
                break
    prev.polish_path = path
    prev.progress = progress  # the fee intervals' bar, as for the other steps
    return prev
