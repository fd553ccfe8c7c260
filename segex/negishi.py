"""Negishi's method on a lottery LP: Pareto weights at which no type needs a transfer.

For Pareto weights lambda the planner's LP gives an allocation and shadow prices;
pricing each type's lottery at those prices gives its *lump-sum transfer*
``T^h = expenditure - wealth`` (Negishi 1960; KT Theorem 3 proves existence this way).
A competitive equilibrium without transfers is a lambda with T = 0.

Why it is not a plain root-finding problem. On a finite grid the optimal LP vertex,
hence T, jumps as lambda moves while the duals move continuously, so T = 0 usually
holds only after *mixing* vertices that are optimal together. By complementary
slackness the budget of type h at prices y is ``lambda^h U^h(x) - d^h(y)``, with d
independent of x: it depends on the allocation only through the utility vector U(x).
The utility vectors of the optimal face at lambda form the subdifferential of the
welfare function W(lambda) = max_x sum_h lambda^h alpha^h U^h(x), so an equilibrium is
a lambda at which the target (d^h / lambda^h)_h lies in that face. Vertices are all
optimal together exactly where their weighted welfare ties, which is *linear* in
lambda (:func:`tie_weights`). Hence the end-game: collect the vertices met on either
side of a jump, choose those whose budget residuals surround zero, move the weights to
where they tie, and let the **face LP** mix them so every budget balances exactly.

The search (:func:`negishi`) nests one-dimensional searches: with the log weights of
types m+2..H fixed, the inner levels balance types 2..m by mixing; type m+1's residual
is then nondecreasing in its own log weight, so a bracket and regula falsi (Illinois)
find the jump, and the tie end-game closes it. Two types need one level. Each LP after
the first is a warm-started re-solve (only the objective changes).

With three or more types two things can defeat one pass (measured on random economies,
11 of 40 at H = 3 before they were handled): an inner level can balance at several
weights, so a bracket's ends may lie on different inner branches (:meth:`NegishiSearch._level`
then searches again along each end's branch), and an equilibrium can sit where the outer
weight is pinned at a breakpoint while the inner one moves (:func:`negishi` then balances
the types in other orders, :class:`PermutedOracle`). The face LP only ever mixes columns
optimal at the final weights, so a returned allocation is optimal whatever the residual.

A starting guess (``weights0``, with ``accept_start``) can be tested first: it is the
equilibrium when some price system supporting its LP vertex balances every budget (the dual
face LP), whatever duals the solver returned (:func:`_balanced_start`). Where equilibria
form a continuum (KT 2.2 with identical CRRA: the fees are lump-sum transfers) the search
then stays on the one it was started on. Not for guesses from a coarser grid: their vertex,
accepted as it stands, is one of the near-ties a finer grid offers, and refinement stalled
on them (measured: KT 2.2's file at tol 1e-4 unconverged after 30 steps, 20 without).
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


def face_lp(lp: LP, keep, col_type, prices, wealth, penalize=None) -> LP:
    """The face LP at fixed prices (see module docstring).

    ``keep``: indices of the planner's (near-)optimal columns -- reduced cost >= -eps,
    plus the supports of the bracketing solutions. Then per type two slacks. Rows:
    the original rows plus ``sum_j P_j x_j - s+ + s- = w^h``. Objective: maximise
    ``-sum_h (s+_h + s-_h) / w^h`` over the types in ``penalize`` (default all).
    """
    H = wealth.size
    pen = np.ones(H) if penalize is None else np.asarray(penalize, float)
    A = lp.A[:, keep]
    n = keep.size
    budget = sp.csr_matrix((prices[keep], (col_type[keep], np.arange(n))), shape=(H, n))
    slack = sp.hstack([-sp.identity(H), sp.identity(H)])
    top = sp.hstack([A, sp.csr_matrix((A.shape[0], 2 * H))])
    bottom = sp.hstack([budget, slack])
    M = sp.vstack([top, bottom]).tocsc()
    c = np.concatenate([np.zeros(n), -pen / wealth, -pen / wealth])
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


def tie_weights(U, alpha, free, fixed_logw):
    """Weights at which the allocations with utility vectors U (rows) tie.

    Vertices are optimal together only where the weighted welfare is equal:
    ``sum_h lambda^h alpha^h (U_i^h - U_0^h) = 0`` -- linear in lambda. ``free`` marks
    the types whose weights move (type 1 always does); the others are held at
    ``lambda^h = lambda^1 exp(fixed_logw[h])``. With one tie equation per free weight
    beyond type 1's the solution is a ray, normalised to sum H; None unless positive.
    """
    U = np.atleast_2d(U)
    H = U.shape[1]
    free = np.asarray(free, bool).copy()
    free[0] = True
    idx = np.nonzero(free)[0]
    # lambda = P mu: free weights are mu[1:], lambda^1 = mu[0] also scales the fixed ones
    P = np.zeros((H, idx.size))
    P[idx, np.arange(idx.size)] = 1.0
    fixed = np.nonzero(~free)[0]
    P[fixed, 0] = np.exp(np.asarray(fixed_logw)[fixed])
    M = ((U[1:] - U[0]) * alpha) @ P
    if M.shape[0] != idx.size - 1:
        return None
    _, _, Vt = np.linalg.svd(M)
    lam = P @ Vt[-1]
    lam = lam * np.sign(lam.sum())
    if not np.all(lam > 0):
        return None
    return H * lam / lam.sum()


@dataclass
class LevelSolution:
    """Weights whose inner budgets balance, the balancing mixture, and the LP vertices
    (supports) it mixes."""

    point: NegishiPoint
    x: np.ndarray
    pool: list
    residual: np.ndarray  # (H,) budget residual T/w of x at the point's prices


#: SEGEX_DEBUG=1 traces the end-game on stderr
_DEBUG = bool(__import__("os").environ.get("SEGEX_DEBUG"))


def _debug(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)
#: budgets balance when every |T^h| / w^h is below this
BUDGET_TOL = 1e-10
#: relative welfare gap within which a pooled vertex counts as a frontier neighbour
NEAR_OPT = 1e-6


class NegishiSearch:
    """Nested Negishi search over an economy-provided oracle.

    The oracle has ``H``, ``alpha`` and: ``evaluate(weights) -> NegishiPoint`` (an LP
    solve), ``balance(point, support, penalize, keep_allocation=False) -> (x, point)``
    (face LPs: mix allocations at the point's prices, and if needed -- or only, with
    ``keep_allocation`` -- move prices within the optimal dual face), ``residual(x, point) -> (H,)`` budgets T/w at the point's prices, and
    ``utilities(x) -> (H,)`` expected utilities.
    """

    def __init__(self, oracle, tol=1e-3, budget_tol=None, progress=None, max_iter=60, max_endgame=25, width=0.25):
        self.o = oracle
        self.width = width  # first bracket half-width in log weight; doubled until it brackets
        self.max_endgame = max_endgame
        self.history = {}
        self.tol = tol
        self.budget_tol = BUDGET_TOL if budget_tol is None else budget_tol
        self.progress = progress
        self.max_iter = max_iter
        self.trace = NegishiTrace()
        self.roots = {}

    # -- helpers ------------------------------------------------------------------
    def _eval(self, u):
        w = np.exp(np.concatenate([[0.0], u]))
        pt = self.o.evaluate(self.o.H * w / w.sum())
        pt.u = np.asarray(u, float).copy()
        self.trace.points.append(pt)
        if self.progress is not None:
            self.progress.update(1)
            self.progress.set_postfix(residual=f"{pt.residual:.2e}")
        return pt

    def _leaf(self, u):
        pt = self._eval(u)
        x = pt.state.sol.x
        return LevelSolution(pt, x, [x], self.o.residual(x, pt))

    # -- search -------------------------------------------------------------------
    def solve(self, u0=None) -> LevelSolution:
        H = self.o.H
        u = np.zeros(H - 1) if u0 is None else np.asarray(u0, float)
        if H == 1:
            return self._leaf(u)
        return self._level(H - 1, u)

    def _level(self, m, u):
        """Balance types 2..m+1 by moving log weights u[0..m-1]; u[m:] stay fixed.

        The inner problem can balance at several weights (inner *branches*: for H = 3,
        type 2's budget can balance at two log weights for the same type-3 weight).
        Each inner solve starts from the last root found, so a bracket's two ends can
        lie on different branches; the residual then jumps between them and no mix of
        the vertices found there balances. When the end-game fails, the search is run
        again from each end along that end's branch (every inner search started from
        that end's roots) and the best answer is kept.
        """
        if m == 0:
            return self._leaf(u)
        best, ends = self._search(m, u, self.roots.get(m, u[m - 1]))
        if m == 1 or _worst(best, m) <= self.budget_tol:
            return best
        for end in ends:
            if _DEBUG:
                _debug(f"branch retry m={m} from u={end.point.u} r={end.residual}")
            start = {k: end.point.u[k - 1] for k in range(1, m)}
            try:
                sol, _ = self._search(m, end.point.u.copy(), end.point.u[m - 1], start)
            except RuntimeError:  # no bracket along this branch: keep what we have
                continue
            if _worst(sol, m) < _worst(best, m):
                best = sol
            if _worst(best, m) <= self.budget_tol:
                break
        return best

    def _search(self, m, u, a, inner_start=None):
        """Bracket type m+1's residual in its log weight from ``a``, regula falsi, then the
        tie end-game. ``inner_start``: every inner search starts from these roots (one
        branch) instead of the last root found. Returns (solution, the bracket's ends)."""
        hist = self.history[m] = []  # this call's inner solutions only

        def g(um):
            v = u.copy()
            v[m - 1] = um
            if inner_start is not None:
                self.roots.update(inner_start)
            sol = self._level(m - 1, v)
            hist.append((um, sol))
            return sol.residual[m], sol

        width = self.width
        fa, sa = g(a)
        if abs(fa) <= self.budget_tol:
            return sa, ()
        b = a - width if fa > 0 else a + width
        fb, sb = g(b)
        while np.sign(fb) == np.sign(fa) and abs(fb) > self.budget_tol:
            width *= 2
            if width > 64:
                raise RuntimeError(f"Negishi search: no weight balances type {m}'s budget")
            a, fa, sa = b, fb, sb
            b = a - width if fa > 0 else a + width
            fb, sb = g(b)
        if abs(fb) <= self.budget_tol:
            self.roots[m] = b
            return sb, ()
        (lo, flo, slo), (hi, fhi, shi) = sorted([(a, fa, sa), (b, fb, sb)], key=lambda t: t[0])
        side = 0
        best = None
        # first a coarse bracket and the tie end-game; if the jump is in the prices
        # (same allocation, another optimal dual) the end-game needs the breakpoint
        # itself, so the bracket is then narrowed to rounding level and tried again
        for tol in (self.tol, 1e-11):
            for _ in range(self.max_iter):
                if hi - lo <= tol:
                    break
                mid = (lo * fhi - hi * flo) / (fhi - flo)
                if not (lo < mid < hi) or side == 2:
                    mid, side = 0.5 * (lo + hi), 0
                fm, sm = g(mid)
                if abs(fm) <= self.budget_tol:
                    self.roots[m] = mid
                    return sm, ()
                if fm < 0:
                    lo, flo, slo = mid, fm, sm
                    fhi = fhi * 0.5 if side == -1 else fhi
                    side = -1 if side != -1 else 2
                else:
                    hi, fhi, shi = mid, fm, sm
                    flo = flo * 0.5 if side == 1 else flo
                    side = 1 if side != 1 else 2
            self.roots[m] = 0.5 * (lo + hi)
            sol = self._endgame(m, u, slo, shi)
            if best is None or _worst(sol, m) < _worst(best, m):
                best = sol
            if _worst(best, m) <= self.budget_tol:
                break
        return best, (shi, slo)

    def _endgame(self, m, u, slo, shi):
        """Tie the vertices around the jump and mix them (see module docstring)."""
        H = self.o.H
        target = np.zeros(H, bool)
        target[1:m + 1] = True
        free = target.copy()
        # vertices of every inner solution met inside (a neighbourhood of) the bracket
        lo_u, hi_u = slo.point.u[m - 1], shi.point.u[m - 1]
        pad = max(hi_u - lo_u, self.tol)
        pool = [xv for um, s in self.history.get(m, []) if lo_u - pad <= um <= hi_u + pad for xv in s.pool]
        pool = pool or (slo.pool + shi.pool)
        best = min((slo, shi), key=lambda s: np.abs(s.residual[target]).max())
        if _DEBUG:
            _debug(f"enter endgame m={m} bracket=[{lo_u:.6g},{hi_u:.6g}] pool={len(pool)} "
                  f"r_lo={slo.residual} r_hi={shi.residual}")
        cur = best.point
        fixed_logw = np.concatenate([[0.0], u])
        for _ in range(self.max_endgame):
            R = np.column_stack([self.o.residual(xv, cur)[target] for xv in pool])
            # prefer vertices nearly optimal at the current weights: those are the
            # neighbours on the welfare frontier, whose tie point is the breakpoint
            welfare = np.array([cur.weights @ (self.o.alpha * self.o.utilities(xv)) for xv in pool])
            near = np.nonzero(welfare >= welfare.max() - NEAR_OPT * (1 + abs(welfare.max())))[0]
            found = surround_zero(R[:, near])
            if found is not None:
                found = (found[0], near[found[1]])
            else:
                found = surround_zero(R)
            if found is None:
                if _DEBUG:
                    _debug(f"  no surround m={m}: R=\n{R}")
                # no allocation mix surrounds zero: try the prices instead, at the
                # middle of the bracket (the dual breakpoint when the bracket is tiny)
                # inner weights (types 2..m) from the bracket's own solutions, not
                # the level's start u: the inner levels moved them
                v = 0.5 * (slo.point.u + shi.point.u)
                mid = self._eval(v)
                if _DEBUG:
                    _debug(f"  mid u={v} lo u={slo.point.u} hi u={shi.point.u}")
                x, pt = self.o.balance(mid, pool, target)
                pt.u = mid.u
                sol = LevelSolution(pt, x, pool + [mid.state.sol.x], self.o.residual(x, pt))
                if _worst(sol, m) < _worst(best, m):
                    best = sol
                break
            _, sup = found
            if sup.size == 1:
                lam = cur.weights
            else:
                U = np.array([self.o.utilities(pool[i]) for i in sup])
                lam = tie_weights(U, self.o.alpha, free, fixed_logw)
                if lam is None:
                    break
            ut = np.log(lam[1:] / lam[0])
            pt = self._eval(ut)
            x, pt = self.o.balance(pt, [pool[i] for i in sup], target)
            pt.u = ut  # a re-priced point (dual face) sits at the same weights
            r = self.o.residual(x, pt)
            if _DEBUG:
                _debug(f"endgame m={m} sup={sup.tolist()} pool={len(pool)} r={r} vertex r={pt.transfer / pt.wealth}")
            sol = LevelSolution(pt, x, [pool[i] for i in sup] + [pt.state.sol.x], r)
            if np.abs(r[target]).max() <= self.budget_tol:
                return sol
            if np.abs(r[target]).max() < np.abs(best.residual[target]).max():
                best = sol
            cur = pt
            pool = pool + [pt.state.sol.x]
        return best


def _worst(sol: LevelSolution, m: int) -> float:
    """Largest budget residual among the types balanced at level m (types 2..m+1)."""
    return float(np.abs(sol.residual[1:m + 1]).max())


#: first bracket half-width (log weight) when the search starts from a guess: a guess
#: from a coarser grid or an earlier round is usually this close
WARM_WIDTH = 1e-3


class PermutedOracle:
    """The oracle with types 2..H relabelled by ``perm`` (type 1, the weight numeraire,
    stays first): the nested search then balances the types in another order.

    Why: the search's levels are one-dimensional, and an equilibrium can sit on a
    segment along which the *outer* type's weight is pinned at a breakpoint while the
    inner one moves (H = 3: type 3's budget balances by mixing at one weight for a whole
    range of type 2's); nested the other way round that segment is an inner root and
    the outer residual is continuous along it.
    """

    def __init__(self, oracle, perm):
        self.o = oracle
        self.perm = np.asarray(perm)
        self.inv = np.argsort(self.perm)
        self.H, self.alpha = oracle.H, np.asarray(oracle.alpha)[self.perm]

    def up(self, pt: NegishiPoint) -> NegishiPoint:
        out = NegishiPoint(pt.weights[self.perm], pt.transfer[self.perm], pt.wealth[self.perm], pt.state)
        if hasattr(pt, "u"):
            out.u = np.log(out.weights[1:] / out.weights[0])
        return out

    def down(self, pt: NegishiPoint) -> NegishiPoint:
        out = NegishiPoint(pt.weights[self.inv], pt.transfer[self.inv], pt.wealth[self.inv], pt.state)
        out.u = np.log(out.weights[1:] / out.weights[0])
        return out

    def evaluate(self, weights):
        return self.up(self.o.evaluate(np.asarray(weights, float)[self.inv]))

    def balance(self, pt, support=(), penalize=None, **kw):
        pen = None if penalize is None else np.asarray(penalize)[self.inv]
        x, p2 = self.o.balance(self.down(pt), support, pen, **kw)
        return x, self.up(p2)

    def residual(self, x, pt):
        return self.o.residual(x, self.down(pt))[self.perm]

    def utilities(self, x):
        return self.o.utilities(x)[self.perm]




def _balanced_start(oracle, weights0, tol=BUDGET_TOL):
    """``weights0`` is the equilibrium if its allocation's budgets balance at *some* price
    system supporting it (the face LPs, :meth:`oracle.balance`): on a degenerate lottery LP
    the transfer at given weights is a set (one per optimal dual), an equilibrium is
    weights at which that set holds zero, and the duals the solver happens to return may
    miss it -- then the search would leave an equilibrium it started on. Returns
    (solution, trace), or the point evaluated at ``weights0`` when it is not one."""
    trace = NegishiTrace()
    pt = oracle.evaluate(np.asarray(weights0, float))
    pt.u = np.log(pt.weights[1:] / pt.weights[0])
    trace.points.append(pt)
    x0 = pt.state.sol.x
    if pt.residual <= tol:
        return LevelSolution(pt, x0, [x0], oracle.residual(x0, pt)), trace
    # the vertex at other prices (mixing allocations too would need the primal face LP, as
    # costly as the search's own first steps, and was measured never to help)
    x, p2 = oracle.balance(pt, [x0], np.ones(oracle.H, bool), keep_allocation=True)
    p2.u = pt.u
    r = oracle.residual(x, p2)
    if np.abs(r).max() <= tol:
        return LevelSolution(p2, x, [x0], r), trace
    return pt


class _FirstSolve:
    """The oracle, with the starting point's LP solve served as the search's first
    evaluation (a second solve at the same weights, warm, can return another optimal
    vertex of a degenerate LP and send the search down another path than a cold start)."""

    def __init__(self, oracle, pt: NegishiPoint):
        self.o, self.pt = oracle, pt
        self.H, self.alpha = oracle.H, oracle.alpha

    def __getattr__(self, name):
        return getattr(self.o, name)

    def evaluate(self, weights):
        pt, self.pt = self.pt, None
        if pt is not None and np.allclose(weights, pt.weights, rtol=1e-12, atol=0.0):
            return pt
        return self.o.evaluate(weights)


def _search_once(oracle, progress, weights0, kw):
    if weights0 is not None:
        kw.setdefault("width", WARM_WIDTH)
    search = NegishiSearch(oracle, progress=progress, **kw)
    u0 = None
    if weights0 is not None:
        w = np.asarray(weights0, float)
        u0 = np.log(w[1:] / w[0])
        search.roots = {m: u0[m - 1] for m in range(1, w.size)}
    return search.solve(u0), search


def negishi(oracle, progress=None, weights0=None, accept_start=False, **kw) -> tuple[LevelSolution, NegishiTrace]:
    """Equilibrium weights, the balancing allocation and the trace (see NegishiSearch).
    ``weights0``: a starting guess (e.g. the previous column-generation round's answer);
    ``accept_start``: first test whether it is an equilibrium (:func:`_balanced_start`).

    With H >= 3, if the budgets do not balance the search is repeated with types 2..H
    balanced in each cyclically shifted order (:class:`PermutedOracle`); the best
    answer is returned in the original labelling.
    """
    if weights0 is not None and accept_start:
        start = _balanced_start(oracle, weights0, kw.get("budget_tol", BUDGET_TOL))
        if isinstance(start, tuple):
            return start
        oracle = _FirstSolve(oracle, start)
    sol, search = _search_once(oracle, progress, weights0, dict(kw))
    trace, H = search.trace, oracle.H
    tol = kw.get("budget_tol", BUDGET_TOL)
    for shift in range(1, H - 1):
        if _worst(sol, H - 1) <= tol:
            break
        perm = np.concatenate([[0], np.roll(np.arange(1, H), -shift)])
        po = PermutedOracle(oracle, perm)
        w0 = None if weights0 is None else np.asarray(weights0, float)[perm]
        try:
            psol, psearch = _search_once(po, progress, w0, dict(kw))
        except RuntimeError:  # no bracket in this order: keep what we have
            continue
        trace.points += [po.down(p) for p in psearch.trace.points]
        if _worst(psol, H - 1) < _worst(sol, H - 1):
            sol = LevelSolution(po.down(psol.point), psol.x, psol.pool, psol.residual[po.inv])
    return sol, trace
