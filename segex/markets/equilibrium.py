"""The competitive equilibrium with segregated exchanges of any :class:`PlannerLP`: the
Pareto program at given weights, or Negishi weights at which every type's budget balances
(the equilibrium without transfers; KT Theorem 3 proves existence this way).

:class:`PlannerOracle` is what :func:`segex.negishi.negishi` needs: an LP solve per weight
vector (warm-started HiGHS re-solves: only the objective changes), budget residuals at the
read-back prices, and the two face LPs that close a jump of the budget map:

* the **primal face LP** (:func:`balance_on_face`) mixes the columns optimal at the point's
  prices (reduced cost ~ 0) so that every budget balances at those prices;
* the **dual face LP** (:func:`rebalance_prices`) keeps the allocation and moves the prices
  within the optimal dual face -- a primal-degenerate lottery LP has many optimal duals
  and the one the solver returns can jump while the allocation does not -- to prices at
  which the allocation's budgets balance.

With ``least_trade`` a last stage of the primal face LP keeps the budget slacks at their
optimum and minimises the columns' trade volume (``PlannerLP.col_trade``): among the
equilibria on the face, the one with no trade that is not needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import negishi as ng
from ..backends import solve
from ..engine.lp import LP, LPSolution
from ..errors import SolveError
from .planner import PlannerLP

#: Relative reduced cost (of max |c|) within which a column counts as optimal at a point.
FACE_EPS = 1e-9
#: a bundle's reduced cost may be this far below zero (relative to max |c|) at a supporting
#: price system: HiGHS's dual feasibility tolerance
DUAL_SLACK = 1e-9


@dataclass
class Solved:
    """An LP solve at one point of the search: the solution, the read-back bundle prices."""

    sol: LPSolution
    bundle_price: np.ndarray


class PlannerOracle:
    """The Negishi oracle of a :class:`PlannerLP` (see :class:`segex.negishi.NegishiSearch`).

    With HiGHS one session is kept, so every LP after the first is a warm-started dual
    simplex re-solve; a warm start HiGHS cannot finish is repeated cold (tests check the
    two agree). ``pricer(y, weights) -> (A, c)``, when given, lists bundles outside the LP
    that the dual face LP must keep priced out (column generation)."""

    def __init__(self, planner: PlannerLP, backend: str = "highs", solver_opts=None, pricer=None):
        self.planner, self.backend = planner, backend
        self.solver_opts = dict(solver_opts or {})
        self._pricer = pricer
        self.H, self.alpha = planner.H, planner.share
        self.session = None
        self.lp_solves = 0

    def _session(self):
        from ..backends.highs import HighsSession

        return HighsSession(self.planner.lp, **self.solver_opts)

    def evaluate(self, weights) -> ng.NegishiPoint:
        pl = self.planner
        pl.set_weights(weights)
        self.lp_solves += 1
        if self.backend != "highs":
            return self.point(weights, solve(pl.lp, backend=self.backend))
        if self.session is None:
            self.session = self._session()
        self.session.set_cost(pl.lp.c)
        try:
            sol = self.session.run()
        except SolveError as err:
            if err.status not in ("unknown", "solve_error"):
                raise
            self.session = self._session()  # numerical trouble from the inherited basis: cold
            self.session.set_cost(pl.lp.c)
            sol = self.session.run()
        return self.point(weights, sol)

    def point(self, weights, sol: LPSolution) -> ng.NegishiPoint:
        """The search's view of a solution: transfers and wealth at its prices."""
        spend, wealth, P = self.planner.expenditures(sol.x, sol.row_dual)
        return ng.NegishiPoint(weights=np.asarray(weights, float), transfer=spend - wealth, wealth=wealth,
                               state=Solved(sol, P))

    def pricer(self):
        return self._pricer

    def balance(self, pt, support=(), penalize=None, keep_allocation=False):
        """Mix on the primal optimal face at the point's prices; if budgets still do not
        balance, move the prices within the dual optimal face (module docstring). With
        ``keep_allocation`` only the prices move. Returns (x, point with the prices used)."""
        if keep_allocation:
            x = pt.state.sol.x
        else:
            x = balance_on_face(self.planner, pt, self.backend, penalize=penalize, least_trade=False)
        pen = np.ones(self.H, bool) if penalize is None else np.asarray(penalize, bool)
        r = self.residual(x, pt)
        if np.abs(r[pen]).max() <= 1e-12:
            return x, pt
        pt2 = rebalance_prices(self, x, pt, pen)
        if pt2 is not None and np.abs(self.residual(x, pt2)[pen]).max() < np.abs(r[pen]).max():
            return x, pt2
        return x, pt

    def residual(self, x, pt) -> np.ndarray:
        """(H,) budget residuals T^h / wealth^h of x at the point's prices."""
        spend, wealth, _ = self.planner.expenditures(x, pt.state.sol.row_dual)
        return (spend - wealth) / wealth

    def utilities(self, x) -> np.ndarray:
        return self.planner.utilities(x)


def reraise_limit(err: SolveError) -> None:
    """A run stopped by the user's time limit is an error, never a fallback."""
    if err.status == "time_limit":
        raise err


def balance_on_face(planner: PlannerLP, pt: ng.NegishiPoint, backend: str, penalize=None,
                    least_trade: bool = True) -> np.ndarray:
    """Primal face LP at the point's prices (module docstring): among the planner's optimal
    solutions there (columns with reduced cost ~ 0, every vertex optimal at the point), one
    whose budgets balance. Columns optimal only at other weights never enter: they would
    balance budgets with an allocation the planner would not choose here. Returns x."""
    st, lp = pt.state, planner.lp
    eps = FACE_EPS * max(1.0, np.abs(lp.c).max())
    keep = np.nonzero((st.sol.col_dual >= -eps) | (st.sol.x > 0))[0]
    face = ng.face_lp(lp, keep, planner.col_type, st.bundle_price, pt.wealth, penalize)
    try:
        fs = solve(face, backend=backend)
    except SolveError as exc:
        # The face holds the point's own solution, so it is feasible to the solver's
        # tolerance; presolve has been seen to call such a face infeasible. Retry without
        # presolve; failing that, the point's own (unbalanced) solution is the answer.
        if exc.status != "infeasible" or backend != "highs":
            raise
        try:
            fs = solve(face, backend=backend, presolve="off")
        except SolveError as err:
            reraise_limit(err)
            return st.sol.x.copy()
    xf = fs.x
    if least_trade and planner.col_trade is not None:
        n = keep.size
        face.col_ub = np.concatenate([face.col_ub[:n], xf[n:] + 1e-12 * (1 + pt.wealth.max())])
        face.c = np.concatenate([-planner.col_trade[keep], np.zeros(xf.size - n)])
        try:
            xf = solve(face, backend=backend).x
        except SolveError as err:
            reraise_limit(err)  # otherwise keep the balancing solution
    x = np.zeros(lp.A.shape[1])
    x[keep] = xf[: keep.size]
    return x


def supporting_duals(planner: PlannerLP, x, y0, extra, z_cost, backend: str, pricer=None, rounds: int = 12,
                     held_as_y0: bool = False):
    """Optimal duals complementary to x that also satisfy ``extra`` rows: the dual face LP
    both price selections below solve. Variables (y, z): y the m row duals, z the
    selection's own variables (``z >= 0``, cost ``z_cost``, maximised). Rows: dual
    feasibility ``A_j'y >= c_j`` (equality where x_j > 0) generated lazily from the
    near-binding columns -- and, with ``pricer(y, weights) -> (A, c)``, from bundles outside
    the LP, so the prices admit no profitable bundle anywhere -- then ``extra`` = (E over
    (y, z), lower, upper). With HiGHS one session: each round adds the violated rows and
    re-solves warm. ``held_as_y0``: a held bundle is priced at its utility to the accuracy
    y0 prices it, not exactly (y0 is then always in the face). Returns y, or None if the LP
    fails or the rows keep growing."""
    lp = planner.lp
    m, q = lp.A.shape[0], z_cost.size
    c = lp.c
    scale = max(1.0, np.abs(c).max())
    eq = x > 1e-12
    # tolerances the solver's own duals y0 meet (so the face is never empty by rounding): a
    # bundle not held is priced out to the dual feasibility tolerance, a held one priced at
    # its utility as exactly as y0 prices it -- its reduced cost times its probability enters
    # the type's budget, and a tolerance relative to the largest utility can exceed one of wealth
    rc0 = c - lp.A.T @ y0
    feas = DUAL_SLACK * scale
    feas_eq = max(1e-12 * scale, float(np.abs(rc0[eq]).max()) if eq.any() else 0.0) if held_as_y0 else 0.0
    active = eq | (rc0 >= -1e-3 * scale)

    def rows(At, cr, held):
        """Dual feasibility rows ``At y >= cr`` (within feas), equalities where held (within feas_eq)."""
        return (sp.hstack([At, sp.csr_matrix((At.shape[0], q))]).tocsr(), np.where(held, cr - feas_eq, cr - feas),
                np.where(held, cr + feas_eq, np.inf))

    cols = np.nonzero(active)[0]
    A0, lo0, hi0 = rows(lp.A[:, cols].T, c[cols], eq[cols])
    E, e_lo, e_hi = extra
    face = _FaceLP(LP(c=np.concatenate([np.zeros(m), z_cost]), A=sp.vstack([A0, E]).tocsc(),
                      col_lb=np.concatenate([np.full(m, -np.inf), np.zeros(q)]), col_ub=np.full(m + q, np.inf),
                      row_lb=np.concatenate([lo0, e_lo]), row_ub=np.concatenate([hi0, e_hi]),
                      col_blocks={}, row_blocks={}), backend)
    for _ in range(rounds):
        y = face.solve()
        if y is None:
            return None
        y = y[:m]
        new = np.nonzero((c - lp.A.T @ y > feas) & ~active)[0]
        active[new] = True
        if new.size:
            face.add_rows(*rows(lp.A[:, new].T, c[new], eq[new]))
        grew = bool(new.size)
        if pricer is not None:
            Ap, cp = pricer(y, planner.weights)
            if Ap is not None and Ap.shape[1]:
                bad = np.nonzero(cp - Ap.T @ y > feas)[0]
                if bad.size:
                    face.add_rows(*rows(Ap[:, bad].T, cp[bad], np.zeros(bad.size, bool)))
                    grew = True
        if not grew:
            return y
    return None


class _FaceLP:
    """A face LP solved round after round with rows added: with HiGHS one session (each
    round warm from the last basis, no presolve: a face holds only to tolerances and
    presolve has been seen to call a feasible one infeasible); other backends re-solve."""

    def __init__(self, lp: LP, backend: str):
        self.lp, self.backend, self.session = lp, backend, None

    def add_rows(self, A, lb, ub) -> None:
        if self.session is not None:
            self.session.add_rows(A, lb, ub)  # also extends self.lp
            return
        self.lp.A = sp.vstack([self.lp.A, A]).tocsc()
        self.lp.row_lb, self.lp.row_ub = np.concatenate([self.lp.row_lb, lb]), np.concatenate([self.lp.row_ub, ub])

    def solve(self):
        """The solution's x, or None if the solver fails cold too (a time limit is re-raised)."""
        if self.backend != "highs":
            try:
                return solve(self.lp, backend=self.backend).x
            except SolveError as err:
                reraise_limit(err)
                return None
        from ..backends.highs import HighsSession

        for cold in (self.session is None, True):  # a warm run in numerical trouble: once more cold
            if cold:
                self.session = HighsSession(self.lp, presolve="off", solver="simplex", diagnose=False)
            try:
                return self.session.run().x
            except SolveError as err:
                reraise_limit(err)
                if cold:
                    return None
        return None


def _at_duals(oracle: PlannerOracle, x, pt, y, tag: str) -> ng.NegishiPoint:
    c = oracle.planner.lp.c
    sol = LPSolution(status="optimal", objective=float(c @ x), x=x, row_dual=y,
                     col_dual=c - oracle.planner.lp.A.T @ y, solve_s=0.0, backend=oracle.backend + tag)
    return oracle.point(pt.weights, sol)


def rebalance_prices(oracle: PlannerOracle, x, pt, penalize, rounds: int = 12):
    """Dual face LP (:func:`supporting_duals`): optimal duals complementary to x at which x's
    budgets ``B y = rhs`` (:meth:`PlannerLP.budget_rows`) balance, up to slacks weighted for
    the types in ``penalize`` in units of each type's wealth (the objective). Returns a
    NegishiPoint with the new prices, or None."""
    planner, H = oracle.planner, oracle.planner.H
    y0 = pt.state.sol.row_dual
    Bm, rhs = planner.budget_rows(x)
    wscale = planner.share * planner.wealth(y0) * planner.unit(y0)
    pen = np.asarray(penalize, float)
    extra = (sp.hstack([Bm, -sp.identity(H), sp.identity(H)]).tocsr(), rhs, rhs)
    y = supporting_duals(planner, x, y0, extra, np.concatenate([-pen / wscale, -pen / wscale]), oracle.backend,
                         oracle.pricer(), rounds)
    return None if y is None else _at_duals(oracle, x, pt, y, "+dual-face")


def least_fee_prices(oracle: PlannerOracle, x, pt, rows: np.ndarray, hold=(), rounds: int = 20, pricer=None):
    """Among the price systems supporting x (:func:`supporting_duals`) with the duals of
    the ``hold`` rows held at the point's and every type's transfer T^h between the
    point's and zero,
    the one with the least sum of |y_r| over the ``rows`` (the rights to trade) that x
    trades in; then, those held, the least over the others (inactive exchanges, whose
    fees only keep types out).

    Lottery LPs are degenerate: an exchange's fee is one point of an interval and the
    solver may return any point of it. This selection is reproducible and reports zero
    fees wherever zero fees support the allocation, otherwise the smallest that do; an
    inactive exchange's deterrent fees never buy an active one's a larger fee.
    ``pricer(y, weights) -> (A, c)``: bundles outside the LP (column generation) that the
    selected prices must keep priced out too (:func:`supporting_duals`).
    Returns a NegishiPoint, or the point itself when an LP fails (its prices support x)."""
    planner = oracle.planner
    m = planner.lp.A.shape[0]
    rows = np.asarray(rows, int)
    y0 = pt.state.sol.row_dual
    held = np.unique(np.asarray(hold, int))
    B, rhs = planner.budget_rows(x)
    # every transfer between the point's and zero (budgets balanced), the held prices kept
    tb = B @ y0
    fixed, lo, hi = sp.vstack([B, _picker(held, m)]).tocsr(), np.minimum(tb, rhs), np.maximum(tb, rhs)
    lo, hi = np.concatenate([lo, y0[held]]), np.concatenate([hi, y0[held]])
    traded = np.asarray(abs(planner.lp.A[rows]) @ (x > 1e-12)).ravel() > 0
    y = y0
    for stage in (rows[traded], rows[~traded]):
        if not stage.size:
            continue
        y = _least_abs(oracle, x, y, stage, (fixed, lo, hi), rounds, pricer)
        if y is None:
            return pt
        # held to the dual feasibility tolerance (exact, the next LP can be inconsistent by rounding)
        tol = DUAL_SLACK * max(1.0, np.abs(planner.lp.c).max())
        fixed = sp.vstack([fixed, _picker(stage, m)]).tocsr()
        lo, hi = np.concatenate([lo, y[stage] - tol]), np.concatenate([hi, y[stage] + tol])
    return _at_duals(oracle, x, pt, y, "+least-fee")


def _picker(rows, m: int) -> sp.csr_matrix:
    """The rows of the identity (m x m) that pick ``rows`` of a dual vector."""
    return sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), m))


def _least_abs(oracle: PlannerOracle, x, y0, rows, held, rounds, pricer=None):
    """Supporting duals with ``lo <= F y <= hi`` (``held`` = (F, lo, hi)) and the least
    sum |y_r| over ``rows``."""
    planner = oracle.planner
    m, k = planner.lp.A.shape[0], rows.size
    fixed, lo, hi = held
    pick = _picker(rows, m)
    # |y_r| <= u_r as  y_r - u_r <= 0  and  -y_r - u_r <= 0
    E = sp.vstack([sp.hstack([fixed, sp.csr_matrix((fixed.shape[0], k))]), sp.hstack([pick, -sp.identity(k)]),
                   sp.hstack([-pick, -sp.identity(k)])]).tocsr()
    extra = (E, np.concatenate([lo, np.full(2 * k, -np.inf)]), np.concatenate([hi, np.zeros(2 * k)]))
    return supporting_duals(planner, x, y0, extra, -np.ones(k) / planner.unit(y0), oracle.backend, pricer, rounds,
                            held_as_y0=True)


@dataclass
class Equilibrium:
    """What :func:`solve_planner` returns: the final point (weights, prices), the
    allocation, whether it is an equilibrium search, the search's trace and timings."""

    point: ng.NegishiPoint
    x: np.ndarray
    equilibrium: bool
    trace: list
    lp_solves: int
    solve_s: float

    @property
    def y(self) -> np.ndarray:
        return self.point.state.sol.row_dual

    @property
    def weights(self) -> np.ndarray:
        return self.point.weights


def solve_planner(planner: PlannerLP, weights=None, backend: str = "highs", solver_opts=None, progress=None,
                  weights0=None, fee_rows=None, hold_rows=(), accept_start=False, pricer=None) -> Equilibrium:
    """The Pareto program at ``weights`` (then ``x`` is the LP's vertex and transfers are
    reported), or with ``weights=None`` the Negishi weights at which every budget balances
    -- the equilibrium without transfers -- finished by the face LPs and the least-trade
    selection (which may not undo the balance). ``fee_rows``: rows whose prices are
    reported as fees, chosen least in absolute value among the supporting prices
    (:func:`least_fee_prices`) with the ``hold_rows``' prices kept. ``accept_start``: the
    search first tests whether ``weights0`` is an equilibrium (:func:`segex.negishi.negishi`).
    ``pricer(y, weights) -> (A, c)``: bundles outside the LP (column generation) that the
    reported fees keep priced out (:func:`least_fee_prices`; the search itself prices the
    LP's bundles only: the caller prices the rest at its answer)."""
    t0 = time.perf_counter()
    oracle = PlannerOracle(planner, backend, solver_opts)
    if weights is not None:
        pt = oracle.evaluate(np.asarray(weights, float))
        eq = Equilibrium(pt, pt.state.sol.x, False, [], oracle.lp_solves, 0.0)
    else:
        sol, trace = ng.negishi(oracle, progress=progress, weights0=weights0, accept_start=accept_start)
        pt, x = sol.point, sol.x
        xb = balance_on_face(planner, pt, backend)
        if np.abs(oracle.residual(xb, pt)).max() <= np.abs(sol.residual).max() + 1e-12:
            x = xb
        eq = Equilibrium(pt, x, True, trace.rows(), oracle.lp_solves, 0.0)
    planner.set_weights(eq.weights)
    if fee_rows is not None and len(fee_rows):  # the face LPs may have moved x: prices supporting it
        eq.point = least_fee_prices(oracle, eq.x, eq.point, np.asarray(fee_rows), hold_rows, pricer=pricer)
    eq.solve_s = time.perf_counter() - t0
    return eq
