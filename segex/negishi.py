"""Negishi's method on a lottery LP: Pareto weights at which no type needs a transfer.

For Pareto weights lambda the planner's LP gives an allocation and shadow prices;
pricing each type's lottery at those prices gives its *lump-sum transfer*
``T^h = expenditure - wealth`` (Negishi 1960; KT Theorem 3 proves existence this way).
A competitive equilibrium without transfers is a lambda with T = 0.

On a finite grid the optimal LP vertex, hence T, jumps as lambda moves, while the
(unique) duals move continuously. At a breakpoint lambda* several vertices are
optimal at the *same* prices, and any mixture of them is optimal too. So once the
weights are at (numerically: within 1e-12 of) a breakpoint, the **face LP** picks,
among the planner's optimal solutions at the fixed prices, one whose budgets balance
exactly: restrict to columns with zero reduced cost (up to ``eps``), keep every
constraint, add one budget row per type with slacks, minimise the slacks. A zero
optimum is an exact equilibrium at those prices; the certificate reports the
remaining budget residual and each type's optimality gap in its own budget problem.

The search itself: two types -- bracket and bisect the log weight ratio, on which
T^2 is monotone; more types -- damped multiplicative (tatonnement-like) updates of
log weights, with the step halved whenever the residual stops falling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .engine.lp import LP


@dataclass
class NegishiPoint:
    """One evaluation of the planner at weights ``weights``."""

    weights: np.ndarray
    transfer: np.ndarray  # T^h = expenditure - wealth (numeraire), before the face LP
    wealth: np.ndarray
    state: object = None  # economy-specific solved state (solution, prices)

    @property
    def residual(self) -> float:
        return float(np.max(np.abs(self.transfer) / self.wealth))


@dataclass
class NegishiTrace:
    points: list = field(default_factory=list)

    def rows(self):
        return [(p.weights.tolist(), p.residual) for p in self.points]


def face_lp(lp: LP, keep, col_type, prices, wealth) -> LP:
    """The face LP at fixed prices (see module docstring).

    ``keep``: indices of the planner's (near-)optimal columns -- reduced cost >= -eps,
    plus the supports of the bracketing solutions. Then per type two slacks. Rows:
    the original rows plus ``sum_j P_j x_j - s+ + s- = w^h``. Objective: maximise
    ``-sum_h (s+_h + s-_h) / w^h``.
    """
    H = wealth.size
    A = lp.A[:, keep]
    n = keep.size
    budget = sp.csr_matrix((prices[keep], (col_type[keep], np.arange(n))), shape=(H, n))
    slack = sp.hstack([-sp.identity(H), sp.identity(H)])
    top = sp.hstack([A, sp.csr_matrix((A.shape[0], 2 * H))])
    bottom = sp.hstack([budget, slack])
    M = sp.vstack([top, bottom]).tocsc()
    c = np.concatenate([np.zeros(n), -1.0 / wealth, -1.0 / wealth])
    face = LP(
        c=c,
        A=M,
        col_lb=np.zeros(n + 2 * H),
        col_ub=np.concatenate([lp.col_ub[keep], np.full(2 * H, np.inf)]),
        row_lb=np.concatenate([lp.row_lb, wealth]),
        row_ub=np.concatenate([lp.row_ub, wealth]),
        col_blocks={},
        row_blocks={},
    )
    return face


def bisect_two_types(evaluate, lo=None, hi=None, tol=1e-11, max_iter=200, progress=None, gamma=1.0):
    """Find the log weight ratio t = log(lambda2/lambda1) where T^2 changes sign.

    ``evaluate(weights) -> NegishiPoint``. T^2 is nondecreasing in t (more weight,
    more consumption, more expenditure). Regula falsi with the Illinois modification
    (superlinear where T^2 is smooth), falling back to bisection when a step does
    not halve the bracket. Returns (point_lo, point_hi, trace) with
    T^2(lo) <= 0 <= T^2(hi) and hi - lo <= tol, or an exact zero.
    """
    trace = NegishiTrace()

    def ev(t):
        w = np.array([1.0, np.exp(t)])
        pt = evaluate(2 * w / w.sum())
        pt.t = t
        trace.points.append(pt)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(residual=f"{pt.residual:.2e}")
        return pt

    if lo is None or hi is None:
        # one planner solve at equal weights, then a Newton-like guess: with CRRA,
        # consumption scales like lambda**(1/gamma), so d(T/w)/dt is about 1/(2 gamma)
        p0 = ev(0.0)
        r = p0.transfer / p0.wealth
        t1 = float(np.clip(-2.0 * gamma * (r[1] - r[0]) / 2.0, -8, 8))
        lo, hi = sorted((0.0, t1 if abs(t1) > 1e-3 else 0.1))
        plo, phi = (p0, ev(hi)) if lo == 0.0 else (ev(lo), p0)
    else:
        plo, phi = ev(lo), ev(hi)
    step = max(hi - lo, 0.25)
    while plo.transfer[1] > 0:
        hi, phi = lo, plo
        lo -= step
        step *= 2
        plo = ev(lo)
        if step > 2**12:
            raise RuntimeError("Negishi bracket not found: type 2's transfer stays positive")
    while phi.transfer[1] < 0:
        lo, plo = hi, phi
        hi += step
        step *= 2
        phi = ev(hi)
        if step > 2**12:
            raise RuntimeError("Negishi bracket not found: type 2's transfer stays negative")
    flo, fhi = plo.transfer[1], phi.transfer[1]
    side = 0
    for _ in range(max_iter):
        if hi - lo <= tol or flo == 0.0 or fhi == 0.0:
            break
        width = hi - lo
        mid = (lo * fhi - hi * flo) / (fhi - flo) if fhi != flo else 0.5 * (lo + hi)
        if not (lo < mid < hi):
            mid = 0.5 * (lo + hi)
        pm = ev(mid)
        fm = pm.transfer[1]
        if fm <= 0:
            lo, plo, flo = mid, pm, fm
            if side == -1:
                fhi *= 0.5  # Illinois: the stale end loses weight
            side = -1
        else:
            hi, phi, fhi = mid, pm, fm
            if side == 1:
                flo *= 0.5
            side = 1
        if hi - lo > 0.5 * width:
            # no halving: bisect once to keep the bracket shrinking geometrically
            m2 = 0.5 * (lo + hi)
            p2 = ev(m2)
            if p2.transfer[1] <= 0:
                lo, plo, flo = m2, p2, p2.transfer[1]
            else:
                hi, phi, fhi = m2, p2, p2.transfer[1]
            side = 0
    return plo, phi, trace


def tatonnement(evaluate, H, weights0=None, step=1.0, tol=1e-10, max_iter=200, accept=None, progress=None):
    """Damped multiplicative weight updates for H >= 2 types.

    ``log lambda^h -= step * T^h / w^h`` (types that spend more than their wealth lose
    weight); the step halves whenever the residual fails to fall. ``accept(point)``
    may declare success early (e.g. the face LP balanced the budgets exactly).
    Returns (best point, accepted result or None, trace).
    """
    trace = NegishiTrace()
    logw = np.zeros(H) if weights0 is None else np.log(np.asarray(weights0, float))
    best, best_res = None, np.inf
    for _ in range(max_iter):
        w = np.exp(logw - logw.mean())
        pt = evaluate(w)
        trace.points.append(pt)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(residual=f"{pt.residual:.2e}", step=f"{step:.1e}")
        if accept is not None:
            ok = accept(pt)
            if ok is not None:
                return pt, ok, trace
        if pt.residual < best_res:
            best, best_res = pt, pt.residual
        else:
            step *= 0.5
            logw = np.log(best.weights)
            w = best.weights
            pt = best
        if best_res < tol or step < 1e-14:
            break
        logw = np.log(pt.weights) - step * pt.transfer / pt.wealth
    return best, None, trace


def newton_search(evaluate, H, weights0=None, tol=1e-12, max_iter=100, fd_step=1e-7, progress=None):
    """Negishi weights for H >= 2 types by damped Newton on the budget residuals.

    Coordinates: u = log(lambda^h / lambda^1), h = 2..H. Residuals r_h = T^h / w^h,
    h = 2..H (Walras' law makes type 1's redundant). Within one optimal-basis region
    the primal is fixed and the duals are linear in lambda, so r is smooth there and a
    forward-difference Jacobian with a tiny step is exact up to rounding; a full
    Newton step lands on the zero of that region's extension. When the zero lies
    across a region boundary the residual jumps; the step is then halved until it
    falls, so the iterates converge onto the boundary (the breakpoint where the face
    LP mixes the neighbouring vertices). Returns (final point, recent points, trace).
    """
    trace = NegishiTrace()

    def ev(u):
        w = np.exp(np.concatenate([[0.0], u]))
        pt = evaluate(H * w / w.sum())
        pt.u = np.asarray(u, float)
        trace.points.append(pt)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(residual=f"{pt.residual:.2e}")
        return pt

    def r(pt):
        return (pt.transfer / pt.wealth)[1:]

    u = np.zeros(H - 1) if weights0 is None else np.log(np.asarray(weights0[1:], float) / weights0[0])
    cur = ev(u)
    recent = [cur]
    for _ in range(max_iter):
        if cur.residual <= tol:
            break
        J = np.empty((H - 1, H - 1))
        # the primal jumps between nearby vertices, so the slope that matters is the
        # secant across many of them: difference step proportional to the residual
        h = float(np.clip(0.5 * cur.residual, fd_step, 0.1))
        for i in range(H - 1):
            e = np.zeros(H - 1)
            e[i] = h
            pi = ev(cur.u + e)
            J[:, i] = (r(pi) - r(cur)) / h
            recent.append(pi)
        try:
            step = -np.linalg.solve(J, r(cur))
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(J, r(cur), rcond=None)[0]
        step *= min(1.0, 2.0 / max(np.abs(step).max(), 1e-300))  # trust region: |du| <= 2
        improved = False
        while np.abs(step).max() > tol:
            cand = ev(cur.u + step)
            recent.append(cand)
            if cand.residual < cur.residual:
                cur, improved = cand, True
                break
            step *= 0.5
        if not improved:
            break
    return cur, recent[-(3 * H):], trace


def surround_zero(R):
    """A basic convex combination of the columns of R equal to zero: (theta, support) or None.

    R is (m, n), one residual vector per candidate. A basic solution of
    ``R theta = 0, sum theta = 1, theta >= 0`` uses at most m + 1 columns.
    """
    from scipy.optimize import linprog

    m, n = R.shape
    A = np.vstack([R, np.ones((1, n))])
    b = np.concatenate([np.zeros(m), [1.0]])
    res = linprog(np.zeros(n), A_eq=A, b_eq=b, bounds=[(0, None)] * n, method="highs-ds")
    if res.status != 0:
        return None
    theta = res.x
    return theta, np.nonzero(theta > 1e-12)[0]


def tie_weights(U, alpha):
    """Pareto weights at which the allocations with utility vectors U (rows) tie.

    All rows are optimal together only where the weighted welfare is equal:
    ``sum_h lambda^h alpha^h (U_i^h - U_0^h) = 0`` -- linear in lambda. With H rows in
    general position the solution is a ray; returned normalised to sum H, or None if
    it is not strictly positive.
    """
    U = np.atleast_2d(U)
    H = U.shape[1]
    if U.shape[0] == 1:
        return None
    M = (U[1:] - U[0]) * alpha
    _, sv, Vt = np.linalg.svd(M)
    lam = Vt[-1]
    lam = lam * np.sign(lam.sum()) if lam.sum() != 0 else lam
    if not np.all(lam > 0):
        return None
    return H * lam / lam.sum()
