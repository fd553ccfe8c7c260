r"""The continuum equilibrium on the support an LP found: Program 2 without grids.

Why. A lottery LP stops short of continuum accuracy at about 1e-4 in prices (measured
in :mod:`.refine`): it spreads smooth choices over nearby grid points at no visible
cost, and its equilibrium is not unique. The LP is excellent at the *combinatorial*
part -- how many exchanges each state has, where they roughly sit, which types use
them -- and that is all this module takes from it. The rest is solved as the smooth
problem it is.

The planner's program at fixed fundamentals. Fix per state s the J_s active
exchanges with fundamentals z_j and spot prices p_j = p(z_j) (KT eq. 10). Give type h
per exchange j of state s (s = s(j)) the *mass-weighted* variables: the mass pi_hj
of its state-s lottery at j, the storage K_hj = pi k and securities A_hj = pi a it
brings there, and its wealth there
:math:`W_{hj} = \pi e^h_{1s} + p_j(\pi e^h_{2s} + R_s K) + A` (eq. 12, times pi).
Type h's expected state utility at j is the perspective :math:`\pi\, v(W/\pi, p_j)`
of the indirect utility v (utility of the spot-market demand), which is concave in
(pi, W) (Boyd & Vandenberghe 2004, 3.2.6) -- so at fixed z and Pareto weights
lambda, Program 2 (Appendix A) with continuous c0, k and securities is the convex
program

.. math::
    \max \sum_h \lambda^h\alpha^h\Big[u(c^h_{10}) + u(c^h_{20})
         + \beta\sum_s \pi_s \sum_{j\in s}\pi_{hj}\, v(W_{hj}/\pi_{hj}, p_j)\Big]   (50)

subject to :math:`\sum_h\alpha^h c^h_{10} = E_{10}` (51),
:math:`\sum_h\alpha^h (c^h_{20} + k^h) = E_{20}` (52),
:math:`\sum_{j\in s}\pi_{hj} = 1` (47, the state-s lottery),
:math:`\sum_{j\in s} K_{hj} = k^h` (the k-marginal),
:math:`p_j R_s K_{hj} + A_{hj} \ge 0` (13, collateral),
:math:`\sum_h \alpha^h A_{hj} = 0` (53) and
:math:`\sum_h\alpha^h[z_j(\pi_{hj} e^h_{2s} + R_s K_{hj}) - \pi_{hj} e^h_{1s}] = 0` (55).
Only the mean storage a type brings to an exchange matters: a lottery over k within
an exchange with securities that equalise wealth across it gives the same
consumption, and each of its points satisfies (13) exactly when the mean does
(wealth and (13) are linear in (k, a)). So one k^h per type loses nothing.

The equilibrium. Prices are the duals normalised by good 1 at t = 0, as in the LP
(:mod:`.program2`): p0 = y(52)/y(51), Q_j = y(53)/y(51), P_Delta_j = y(55)/y(51),
with y = dPhi/d(resource) (all rows written "use = resource"). The competitive
equilibrium with segregated exchanges is the planner's optimum at Negishi weights
(KT Theorems 2-3) where, in addition, no exchange's fundamental can move to raise
welfare. With the LP's support fixed -- which exchanges exist, who may use them,
which constraints bind (:class:`Planner` finds and repairs these) -- it is the root
in (x, mu, z, log lambda) of

* Program 2's KKT conditions, grad f(x; z, lambda) = M(z)' mu and M(z) x = b, with
  the binding inequalities among the rows;
* dL/dz_j = 0, the planner's choice of each exchange's fundamental; by the envelope
  theorem :math:`\sum_h \lambda\alpha\beta\pi_s\, v_W\,(\pi e_2 + R K - \pi c_2)\,p'(z_j)
  - y_{55,j}\sum_h\alpha(\pi e_2 + R K) + \sum_h \nu_{13,hj} R K\, p'(z_j)`
  (Roy's identity gives :math:`\partial v/\partial p = -v_W c_2`). A single equation
  system in all unknowns, because fundamentals are linked: in KT Env 2 both states'
  rights rows pin z_s = E_1s/(E_2s + R K) through the same K, so no z can move alone;
* T^h = 0 for h = 2..H, each type's expenditure at the prices minus its wealth
  (59); Walras's law gives type 1's,

solved by Newton's method (:func:`equilibrium`) from the LP's point (measured: 3-5
iterations, under 0.2 s, on KT Environments 1-3). The grid LP's non-unique equilibria
and lottery spread (:mod:`.refine`) do not arise: the answer is a point, to ~1e-15.

Where the LP's support cannot be made a KKT point (an active set that does not
close, a type that gains by entering an exchange at every valid price), the solve
raises :class:`~segex.errors.SolveError` saying so; accuracy mode then refines the
grid and tries again, and falls back to the LP's polish.

What certifies it (:func:`.continuum_result.certify_continuum`): clearing of every
row recomputed from the values; the KKT residual; the exchanges' first-order
conditions and the budgets; the entry check (no type gains by entering an exchange
of the support it does not use); for every type, its own budget problem at the
prices -- a separate conic program -- whose best utility must equal the type's
allocated utility (the equilibrium certificate); and the support: Program 2 on the
LP's grid *plus* the continuum exchanges, at the continuum's weights, must not beat
the continuum's welfare, i.e. no exchange outside the support is worth opening (up
to the grid's resolution in z).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import SolveError
from .exchanges import clusters, mean_z
from .model import CollateralEconomy

#: Conic solver and its tolerances: Clarabel's interior point to 1e-10 (absolute and
#: relative gap, feasibility), two orders below the outputs' target of 1e-8.
SOLVER = "CLARABEL"
SOLVER_OPTS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 200}
#: Newton stops when every equation's residual (numeraire units) is below ROOT_TOL
#: and its last step moved no determinate output by more than STEP_TOL (one more
#: iteration after the residual is met: the step then measures the error).
ROOT_TOL = 1e-12
STEP_TOL = 1e-12
#: Central-difference step of the equilibrium system's Jacobian: the residual is closed
#: form (accurate to ~1e-15), so entries are good to ~1e-9 -- ample for Newton, whose
#: fixed point does not depend on the Jacobian.
FD_STEP = 1e-6
#: Newton on the equilibrium system has failed if its residual stays above this.
NOT_CONVERGED = 1e-9
#: Repairs of the LP-suggested active set before the continuum solve gives up.
MAX_REPAIRS = 12
#: Newton steps go at most this fraction of the way to the domain's boundary.
FRACTION = 0.9
#: Newton's least-squares steps ignore directions whose singular value is below RCOND
#: times the largest: the system is singular along the indeterminate split of storage
#: within an exchange, and finite differences make that "nearly" singular -- a plain
#: solve would take huge steps along it.
RCOND = 1e-9
#: A type with less mass than this at an exchange in the conic solution does not use it
#: (interior-point masses of unused exchanges come out at 1e-8 to 1e-6); if Newton
#: then stalls, masses below STALL_MASS are also taken as unused.
MASS_TOL = 1e-5
STALL_MASS = 1e-3
#: Mass with which a type that gains by entering an exchange starts there.
ENTRY_MASS = 1e-2
#: A storage or collateral slack below this (relative to the largest endowment) in
#: the conic solution is taken as zero: the conic solver's errors are about 1e-5.
ACTIVE_TOL = 1e-6
#: Newton on the KKT conditions stops below this residual, and a point whose residual
#: stays above KKT_OK is rejected (the active set was wrong or Newton stalled).
NEWTON_TOL = 1e-13
KKT_OK = 1e-9
#: In the conic solution an inequality is active where its multiplier (numeraire
#: units) exceeds this.
DUAL_TOL = 1e-5
#: Multipliers of active inequalities may have the wrong sign by this much (noise).
SIGN_TOL = 1e-9


@dataclass
class Point:
    """Program 2's solution at one (z, lambda); prices in numeraire units."""

    z: np.ndarray  # (J,)
    weights: np.ndarray  # (H,)
    value: float
    c0: np.ndarray  # (H, 2)
    k: np.ndarray  # (H,)
    pi: np.ndarray  # (H, J) masses
    K: np.ndarray  # (H, J) mass-weighted storage
    A: np.ndarray  # (H, J) mass-weighted securities
    y1: float  # dPhi/dE10 (welfare units)
    p0: float
    Q: np.ndarray  # (J,)
    P_delta: np.ndarray  # (J,)
    nu: np.ndarray  # (H, J) collateral multipliers / y1 (numeraire per unit of (13))
    gradient: np.ndarray  # (J,) dPhi/dz_j / y1
    transfer: np.ndarray  # (H,) expenditure - wealth
    wealth: np.ndarray  # (H,)
    x: np.ndarray = field(repr=False, default=None)  # the variable vector (Planner layout)
    active: dict = field(repr=False, default=None)  # the active set Newton used
    residual: dict = field(default_factory=dict)  # clearing and KKT residuals
    mu: np.ndarray = field(repr=False, default=None)  # multipliers of the rows M x = b (welfare units)
    fam: dict = field(repr=False, default=None)  # row slices of each constraint family in mu


class Planner:
    """Program 2 at fixed exchanges (z) and Pareto weights (lambda): found by a conic
    solver, finished by Newton's method on its KKT conditions.

    The conic solve (cvxpy and Clarabel; compiled once with z and lambda as
    parameters, cvxpy's DPP) finds the active set: which types use which exchange,
    which hold no storage there, whose collateral constraint (13) binds. Interior
    point methods stop with errors of about 1e-5 in c0 and the duals on KT Env 1,
    even at tolerances of 1e-10: the optimum is not unique (storage can be shifted
    between the types of an exchange against securities at no cost) and the solver's
    end-game is ill conditioned. The constraints are linear at fixed z, so on the
    active set the KKT conditions are ``grad f(x) = M' mu, M x = b``, which Newton's
    method (least-squares steps: the KKT matrix is singular along the indeterminate
    face) solves to machine precision in a few steps. Signs of the multipliers of the
    active inequalities and slack of the inactive ones are then checked; if they fail
    the conic active set was wrong and the solve says so.

    Variables, in order: c (H, 2), k (H,), pi, K, A (H, J each). ``state``: (J,) the
    state (0-based) of each exchange.
    """

    def __init__(self, econ: CollateralEconomy, state):
        self.econ = econ
        self.state = np.asarray(state, int)
        H, J, S = econ.H, self.state.size, econ.S
        self.H, self.J = H, J
        if np.any(np.bincount(self.state, minlength=S) == 0):
            raise ValueError("every state needs at least one exchange")
        e1 = econ.e1[:, self.state, :]  # (H, J, 2)
        self.E1, self.E2 = e1[..., 0], e1[..., 1]
        self.RJ = np.broadcast_to(econ.R[self.state], (H, J))
        self.member = np.eye(S)[self.state]  # (J, S)
        self.n = 3 * H + 3 * H * J
        self._conic_model()

    # ---------------------------------------------------------------- layout
    def c_idx(self, l):
        return 2 * np.arange(self.H) + l

    @property
    def k_idx(self):
        return 2 * self.H + np.arange(self.H)

    def block(self, name):
        """Indices (H, J) of pi, K or A."""
        off = 3 * self.H + {"pi": 0, "K": 1, "A": 2}[name] * self.H * self.J
        return off + np.arange(self.H * self.J).reshape(self.H, self.J)

    def unpack(self, x):
        H = self.H
        return (x[:2 * H].reshape(H, 2), x[self.k_idx], x[self.block("pi")], x[self.block("K")], x[self.block("A")])

    def pack(self, c, k, pi, K, A):
        return np.concatenate([np.ravel(c), k, np.ravel(pi), np.ravel(K), np.ravel(A)])

    # ---------------------------------------------------------------- the conic model
    def _conic_model(self):
        import cvxpy as cp

        econ, H, J, S = self.econ, self.H, self.J, self.econ.S
        g = econ.gamma
        a, E = econ.share, econ.aggregate
        # parameters: spot prices and fundamentals broadcast over types (DPP needs
        # parameter-times-variable products, not products of parameters)
        self.P = cp.Parameter((H, J), nonneg=True, name="p")
        self.Z = cp.Parameter((H, J), nonneg=True, name="z")
        self.w_state = cp.Parameter((H, J), nonneg=True, name="state_weight")  # lambda alpha beta pi_s kappa_j
        self.w_lin = cp.Parameter((H, J), name="state_linear")  # log utility's -pi log p term
        self.w0 = cp.Parameter(H, nonneg=True, name="t0_weight")  # lambda alpha
        self.c = cp.Variable((H, 2), pos=True, name="c0")
        self.k = cp.Variable(H, nonneg=True, name="k")
        self.pi = cp.Variable((H, J), nonneg=True, name="pi")
        self.K = cp.Variable((H, J), name="K")
        self.A = cp.Variable((H, J), name="A")
        self.t = cp.Variable((H, J), name="t")  # hypograph/epigraph of the perspective
        W = (cp.multiply(self.pi, self.E1) + cp.multiply(self.P, cp.multiply(self.pi, self.E2) + cp.multiply(self.RJ, self.K))
             + self.A)
        cons, state_util = self._perspective(W, g)
        t0_util = cp.sum(cp.multiply(self.w0, u_expr(self.c[:, 0], g) + u_expr(self.c[:, 1], g)))
        self.rows = {
            "good1": a @ self.c[:, 0] == E[0, 0],  # (51)
            "good2": a @ (self.c[:, 1] + self.k) == E[0, 1],  # (52)
            "lottery": self.pi @ self.member == 1.0,  # (47)
            "storage": self.K @ self.member == cp.reshape(self.k, (H, 1), order="C") @ np.ones((1, S)),
            "collateral": cp.multiply(self.P, cp.multiply(self.RJ, self.K)) + self.A >= 0,  # (13)
            "K_bound": self.K >= 0,
            "sec": a @ self.A == 0,  # (53)
            "rights": a @ (cp.multiply(self.Z, cp.multiply(self.pi, self.E2) + cp.multiply(self.RJ, self.K))
                           - cp.multiply(self.pi, self.E1)) == 0,  # (55)
        }
        self.problem = cp.Problem(cp.Maximize(t0_util + state_util), list(self.rows.values()) + cons)

    def _perspective(self, W, g):
        """Constraints and objective term for sum w_state * pi v(W/pi) (see module docstring).

        v(W, p) = kappa(p) W^(1-g)/(1-g) with kappa = (1 + p^(1-1/g))^g; for g = 1,
        v = 2 log W - log 4 - log p."""
        import cvxpy as cp

        if g == 1.0:  # t <= -pi log(pi / W), kept as a constraint so the problem stays DPP
            cons = [self.t + cp.rel_entr(self.pi, W) <= 0]
            return cons, cp.sum(cp.multiply(self.w_state, self.t)) + cp.sum(cp.multiply(self.w_lin, self.pi))
        if g > 1.0:  # t >= pi^g W^(1-g)  <=>  t^(1/g) W^(1-1/g) >= pi
            cons = [cp.PowCone3D(cp.vec(self.t, order="C"), cp.vec(W, order="C"), cp.vec(self.pi, order="C"), 1.0 / g)]
            return cons, -cp.sum(cp.multiply(self.w_state, self.t))
        # g < 1: t <= pi^g W^(1-g)
        cons = [cp.PowCone3D(cp.vec(self.pi, order="C"), cp.vec(W, order="C"), cp.vec(self.t, order="C"), g)]
        return cons, cp.sum(cp.multiply(self.w_state, self.t))

    def _conic(self, z, lam):
        """The conic solve at (z, lambda): the variable vector and the active set."""
        import cvxpy as cp

        econ, H, J = self.econ, self.H, self.J
        g = econ.gamma
        p = econ.utility.spot_price(z)
        self.P.value = np.broadcast_to(p, (H, J)).copy()
        self.Z.value = np.broadcast_to(z, (H, J)).copy()
        base = np.outer(lam * econ.share, econ.beta * econ.prob[self.state])
        if g == 1.0:
            self.w_state.value = 2.0 * base
            self.w_lin.value = base * (-np.log(4.0) - np.log(p))
        else:
            self.w_state.value = base * (1.0 + p ** (1.0 - 1.0 / g)) ** g / abs(1.0 - g)
            self.w_lin.value = np.zeros((H, J))
        self.w0.value = lam * econ.share
        try:
            self.problem.solve(solver=SOLVER, **SOLVER_OPTS)
        except cp.error.SolverError as exc:
            raise SolveError("solver_error", f"the continuum program at z = {z.tolist()} failed: {exc}") from None
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise SolveError(self.problem.status, f"the continuum program at z = {z.tolist()} is {self.problem.status}")
        pi = np.maximum(self.pi.value, 0.0)
        K = np.maximum(self.K.value, 0.0)
        x = self.pack(self.c.value, self.k.value, pi, K, self.A.value)
        # the active set by strict complementarity: an inequality is active where its
        # multiplier is clearly positive (the conic solver's primal slacks of 1e-8 to
        # 1e-6 cannot tell a binding constraint from a nearly binding one; its duals
        # are either O(1) or O(1e-8))
        y1 = abs(float(self.rows["good1"].dual_value))
        off = pi < MASS_TOL
        nu = np.asarray(self.rows["collateral"].dual_value, float) / y1
        kb = np.asarray(self.rows["K_bound"].dual_value, float) / y1
        active = {"off": off, "no_storage": (~off) & (kb > DUAL_TOL), "collateral": (~off) & (nu > DUAL_TOL)}
        return x, active

    # ---------------------------------------------------------------- KKT Newton
    def _objective(self, x, z, lam, on):
        """f(x), its gradient and Hessian (dense; block diagonal) -- eq. (50)."""
        econ = self.econ
        g, u = econ.gamma, econ.utility
        c, _, pi, K, A = self.unpack(x)
        grad, hess = np.zeros(self.n), np.zeros((self.n, self.n))
        w0 = lam * econ.share
        for l in range(2):
            i = self.c_idx(l)
            grad[i] = w0 * c[:, l] ** (-g)
            hess[i, i] = -g * w0 * c[:, l] ** (-g - 1.0)
        f = float(w0 @ (u.u1(c[:, 0]) + u.u1(c[:, 1])))
        p = u.spot_price(z)
        a_pi, a_K = self.E1 + p * self.E2, p * self.RJ
        W = a_pi * pi + a_K * K + A
        omega = np.outer(w0, econ.beta * econ.prob[self.state])
        w = np.where(on, W / np.where(on, pi, 1.0), 1.0)
        if g == 1.0:
            v, v1, v2 = 2.0 * np.log(w) - np.log(4.0) - np.log(p), 2.0 / w, -2.0 / w**2
        else:
            kappa = (1.0 + p ** (1.0 - 1.0 / g)) ** g
            v, v1, v2 = kappa * w ** (1.0 - g) / (1.0 - g), kappa * w ** (-g), -g * kappa * w ** (-g - 1.0)
        f += float(np.sum(np.where(on, omega * pi * v, 0.0)))
        f_pi, f_W = v - w * v1, v1  # derivatives of the perspective pi v(W/pi)
        piv = np.where(on, pi, 1.0)
        h_pp, h_pW, h_WW = w**2 * v2 / piv, -w * v2 / piv, v2 / piv
        ip, iK, iA = self.block("pi"), self.block("K"), self.block("A")
        for (h, j) in zip(*np.nonzero(on)):
            idx = np.array([ip[h, j], iK[h, j], iA[h, j]])
            jac = np.array([[1.0, 0.0, 0.0], [a_pi[h, j], a_K[h, j], 1.0]])  # (pi, W) from (pi, K, A)
            grad[idx] += omega[h, j] * jac.T @ np.array([f_pi[h, j], f_W[h, j]])
            loc = np.array([[h_pp[h, j], h_pW[h, j]], [h_pW[h, j], h_WW[h, j]]])
            hess[np.ix_(idx, idx)] += omega[h, j] * jac.T @ loc @ jac
        return f, grad, hess

    def _constraints(self, z, active):
        """Rows M x = b: Program 2's equalities, then the active inequalities; and the
        slices of each family in the row order."""
        econ, H, J, S = self.econ, self.H, self.J, self.econ.S
        a, E = econ.share, econ.aggregate
        p = econ.utility.spot_price(z)
        ip, iK, iA = self.block("pi"), self.block("K"), self.block("A")
        rows, rhs, fam = [], [], {}

        def add(name, coef_list, b):
            start = len(rows)
            for coefs, bb in zip(coef_list, b):
                r = np.zeros(self.n)
                for idx, val in coefs:
                    np.add.at(r, idx, val)
                rows.append(r)
                rhs.append(bb)
            fam[name] = slice(start, len(rows))

        add("good1", [[(self.c_idx(0), a)]], [E[0, 0]])  # (51)
        add("good2", [[(self.c_idx(1), a), (self.k_idx, a)]], [E[0, 1]])  # (52)
        inS = [np.nonzero(self.state == s)[0] for s in range(S)]
        add("lottery", [[(ip[h, inS[s]], 1.0)] for h in range(H) for s in range(S)], [1.0] * (H * S))  # (47)
        add("storage", [[(iK[h, inS[s]], 1.0), (np.array([self.k_idx[h]]), -1.0)] for h in range(H) for s in range(S)],
            [0.0] * (H * S))
        add("sec", [[(iA[:, j], a)] for j in range(J)], [0.0] * J)  # (53)
        add("rights", [[(ip[:, j], a * (z[j] * self.E2[:, j] - self.E1[:, j])), (iK[:, j], a * z[j] * self.RJ[:, j])]
                       for j in range(J)], [0.0] * J)  # (55)
        off = list(zip(*np.nonzero(active["off"])))
        add("off", [[(np.array([blk[h, j]]), 1.0)] for (h, j) in off for blk in (ip, iK, iA)], [0.0] * (3 * len(off)))
        nos = list(zip(*np.nonzero(active["no_storage"])))
        add("no_storage", [[(np.array([iK[h, j]]), 1.0)] for (h, j) in nos], [0.0] * len(nos))
        col = list(zip(*np.nonzero(active["collateral"])))
        add("collateral", [[(np.array([iK[h, j]]), p[j] * self.RJ[h, j]), (np.array([iA[h, j]]), 1.0)] for (h, j) in col],
            [0.0] * len(col))  # (13) binding
        return np.array(rows), np.array(rhs), fam

    def _newton(self, x, active, z, lam, max_iter=60):
        """Newton's method on grad f = M' mu, M x = b from x; returns (x, mu, rows, residual)."""
        M, b, fam = self._constraints(z, active)
        on = ~active["off"]
        m = M.shape[0]
        _, grad, _ = self._objective(x, z, lam, on)
        mu = np.linalg.lstsq(M.T, grad, rcond=None)[0]
        res = np.inf
        for _ in range(max_iter):
            _, grad, hess = self._objective(x, z, lam, on)
            r = np.concatenate([grad - M.T @ mu, M @ x - b])
            res = float(np.abs(r).max())
            if not np.isfinite(res):
                res = np.inf
                break
            if res < NEWTON_TOL:
                break
            kkt = np.block([[hess, -M.T], [M, np.zeros((m, m))]])
            step = np.linalg.lstsq(kkt, -r, rcond=RCOND)[0]
            # fraction to the boundary: c, mass and wealth stay positive (all are linear in x)
            t = min(1.0, FRACTION * self._step_to_boundary(x, step[:self.n], z, on))
            if not (t > 0 and self._in_domain(x + t * step[:self.n], z, on)):
                break
            x, mu = x + t * step[:self.n], mu + t * step[self.n:]
        return x, mu, fam, res

    def _domain_values(self, x, z, on):
        """c, and pi and wealth W where the type uses the exchange: what must stay positive."""
        c, _, pi, K, A = self.unpack(x)
        p = self.econ.utility.spot_price(z)
        W = (self.E1 + p * self.E2) * pi + p * self.RJ * K + A
        return np.concatenate([np.ravel(c), pi[on], W[on]])

    def _step_to_boundary(self, x, dx, z, on) -> float:
        """Largest t with every domain value of x + t dx positive (they are linear in x)."""
        v = self._domain_values(x, z, on)
        dv = self._domain_values(x + dx, z, on) - v
        down = dv < 0
        return float(np.min(-v[down] / dv[down], initial=np.inf))

    def _in_domain(self, x, z, on):
        c, _, pi, K, A = self.unpack(x)
        W = (self.E1 + self.econ.utility.spot_price(z) * self.E2) * pi + self.econ.utility.spot_price(z) * self.RJ * K + A
        return bool(np.all(c > 0) and np.all(pi[on] > 0) and np.all(W[on] > 0))

    # ---------------------------------------------------------------- one evaluation
    def solve(self, z, weights) -> Point:
        """Program 2 at (z, lambda): a conic solve for the active set, then Newton on the
        KKT conditions, repairing the active set where its checks fail."""
        z = np.asarray(z, float)
        lam = np.asarray(weights, float)
        x, active = self._conic(z, lam)
        for _ in range(MAX_REPAIRS + 1):
            pt = self.kkt_point(x, active, z, lam)
            bad = self.violations(pt)
            if not bad:
                return pt
            new = self.repaired(active, bad)
            x, active = self.reseeded(pt.x if pt.residual["kkt"] <= KKT_OK else x, active, new), new
        raise SolveError("active_set", f"the KKT conditions of Program 2 at z = {z.tolist()} fail on the active set "
                                       f"the conic solver found, after {MAX_REPAIRS} repairs ({sorted(bad)})")

    def kkt_point(self, x, active, z, lam) -> Point:
        """Newton on the KKT conditions from x on ``active``, at fixed (z, lambda)."""
        x, mu, fam, res = self._newton(np.array(x, float), active, z, lam)
        return self.point(x, mu, fam, active, z, lam, res)

    def point(self, x, mu, fam, active, z, lam, kkt=0.0) -> Point:
        """Read prices, transfers and the envelope gradient from a KKT point (x, mu)."""
        econ = self.econ
        c0, k, pi, K, A = self.unpack(x)
        y1 = float(mu[fam["good1"]][0])
        if not y1 > 0:
            raise SolveError("dual_error", f"the shadow value of good 1 at t=0 is {y1:.3g}, not positive")
        p0 = float(mu[fam["good2"]][0]) / y1
        Q, Pd = mu[fam["sec"]] / y1, mu[fam["rights"]] / y1
        nu = np.zeros((self.H, self.J))
        nu[active["collateral"]] = -mu[fam["collateral"]]
        e0 = econ.e0
        wealth = e0[:, 0] + p0 * e0[:, 1]
        grad = self.dL_dz(x, mu, fam, active, z, lam) / y1
        value = self._objective(x, z, lam, ~active["off"])[0]
        pt = Point(z=z, weights=lam, value=value, c0=c0, k=k, pi=pi, K=K, A=A, y1=y1, p0=p0, Q=Q, P_delta=Pd,
                    nu=nu / y1, gradient=grad, transfer=self._transfer(x, mu, fam, z), wealth=wealth, x=x,
                    active=active, mu=mu, fam=fam)
        pt.residual = {**self._clearing(pt), "kkt": kkt}
        return pt

    def _transfer(self, x, mu, fam, z):
        """(H,) expenditure at the prices (57) minus wealth e10 + p0 e20 (numeraire)."""
        c0, k, pi, K, A = self.unpack(x)
        y1 = mu[fam["good1"]][0]
        p0, Q, Pd = mu[fam["good2"]][0] / y1, mu[fam["sec"]] / y1, mu[fam["rights"]] / y1
        Delta = z * (pi * self.E2 + self.RJ * K) - pi * self.E1  # (55) per type, mass weighted
        e0 = self.econ.e0
        spend = c0[:, 0] + p0 * (c0[:, 1] + k) + (A * Q).sum(1) + (Delta * Pd).sum(1)
        return spend - (e0[:, 0] + p0 * e0[:, 1])

    def violations(self, pt: Point, equilibrium: bool = False) -> dict:
        """Where the active set is wrong: (h, j) masks of multipliers with the wrong sign
        and of inactive inequalities violated; empty when the point is a KKT point."""
        act, scale = pt.active, 1.0 + np.abs(self.econ.endowment).max()
        on = ~act["off"]
        if pt.residual.get("kkt", 0.0) > KKT_OK:
            # Newton stalled (against pi > 0): signs mean nothing yet; masses near zero are zero
            small = on & (pt.pi < STALL_MASS)
            return {"kkt": np.ones((self.H, self.J), bool), **({"mass": small} if small.any() else {})}
        self._choose_multipliers(pt, equilibrium)
        bound = np.zeros((self.H, self.J))
        bound[act["no_storage"]] = pt.mu[pt.fam["no_storage"]] / pt.y1  # dPhi/d(lower bound on K) <= 0
        slack = self.econ.utility.spot_price(pt.z) * self.RJ * pt.K + pt.A
        out = {
            "collateral_multiplier": act["collateral"] & (pt.nu < -SIGN_TOL),
            "storage_multiplier": act["no_storage"] & (bound > SIGN_TOL),
            "collateral_slack": on & ~act["collateral"] & (slack < -ACTIVE_TOL * scale),
            "storage": on & ~act["no_storage"] & (pt.K < -ACTIVE_TOL * scale),
            "mass": on & (pt.pi <= 0),
            "entry": self.entry_value(pt) > SIGN_TOL,
        }
        return {k: v for k, v in out.items() if v.any()}

    def _choose_multipliers(self, pt: Point, equilibrium: bool = False) -> None:
        """Pick, among the multipliers of the optimal face, ones with the right signs at
        which no type gains by entering an exchange it does not use; keep them (and
        re-read the prices) if they exist.

        Multipliers are not unique where rows are dependent on the active set: an
        exchange nobody uses has empty rows (53), (55); an exchange where everybody's
        securities are pinned at zero (no storage, (13) binding) makes (53) a sum of
        the others. There the program itself leaves Q_j and P_Delta_j open, and Newton's
        least-squares multipliers are one arbitrary choice -- with them a type can seem
        to gain by entering where, at other equally valid prices, it would not (KT: an
        inactive exchange is priced so that nobody wants to trade there). The valid
        multipliers are mu0 + N t with N a basis of the null space of M' and signs
        mu <= 0 on active inequalities; this minimises the largest entry gain (and sign
        violation) over t by SLSQP. With ``equilibrium``, only directions that
        leave the equilibrium conditions (budgets, dL/dz) unchanged are used: prices the
        equilibrium was solved at must stay an equilibrium.
        """
        from scipy.linalg import null_space
        from scipy.optimize import minimize

        fam = pt.fam
        ineq = np.r_[np.arange(fam["collateral"].start, fam["collateral"].stop),
                     np.arange(fam["no_storage"].start, fam["no_storage"].stop)]
        off = pt.active["off"]
        sign_ok = ineq.size == 0 or np.all(pt.mu[ineq] <= SIGN_TOL * pt.y1)
        if sign_ok and (not off.any() or self._entry(pt, pt.mu)[off].max() <= SIGN_TOL):
            return
        M, _, _ = self._constraints(pt.z, pt.active)
        N = null_space(M.T, rcond=1e-10)
        if N.shape[1] and equilibrium:
            eps = 1e-6 * np.abs(pt.mu).max()

            def conditions(mu):
                return np.concatenate([self.dL_dz(pt.x, mu, fam, pt.active, pt.z, pt.weights),
                                       self._transfer(pt.x, mu, fam, pt.z)])

            base = conditions(pt.mu)
            G = np.column_stack([(conditions(pt.mu + eps * N[:, i]) - base) / eps for i in range(N.shape[1])])
            N = N @ null_space(G, rcond=1e-8)
        if N.shape[1] == 0:
            return
        scale = np.abs(pt.mu).max()
        d = N.shape[1]

        def mu_of(v):
            return pt.mu + N @ (scale * v[:d])

        # minimise s over (t, s): every entry gain <= s, no storage arbitrage at an
        # exchange a type does not use (the gain is +inf there), signs of the active
        # inequalities' multipliers; smooth constraints, so SLSQP
        cons = [{"type": "ineq", "fun": lambda v: -mu_of(v)[ineq] / pt.y1}] if ineq.size else []
        if off.any():
            cons += [{"type": "ineq", "fun": lambda v: v[d] - self._entry(pt, mu_of(v), parts=True)[0][off]},
                     {"type": "ineq", "fun": lambda v: -self._entry(pt, mu_of(v), parts=True)[1][off]}]
        v0 = np.zeros(d + 1)
        if off.any():
            v0[d] = max(float(np.max(self._entry(pt, pt.mu, parts=True)[0][off])), 0.0)
        with np.errstate(all="ignore"):
            best = minimize(lambda v: v[d], v0, method="SLSQP", constraints=cons,
                            options={"maxiter": 200, "ftol": 1e-14})
        v = best.x

        def ok(v):
            return v[d] <= SIGN_TOL and all(np.all(c["fun"](v) >= -SIGN_TOL) for c in cons)

        if not ok(v):  # SLSQP can stall where a price near zero makes gains explode: Nelder-Mead
            def worst(t):
                mu = mu_of(t)
                sign = max(float(mu[ineq].max(initial=-np.inf)) / pt.y1, 0.0) if ineq.size else 0.0
                if not off.any():
                    return 1e3 * sign
                val, slope = self._entry(pt, mu, parts=True)
                return max(float(val[off].max()), 0.0) + 1e3 * (sign + max(float(slope[off].max()), 0.0))

            simplex = np.vstack([np.zeros(d), 0.5 * np.eye(d)])
            nm = minimize(worst, np.zeros(d), method="Nelder-Mead",
                          options={"initial_simplex": simplex, "xatol": 1e-13, "fatol": 1e-15, "maxiter": 2000 * d})
            v = np.concatenate([nm.x, [max(nm.fun, 0.0)]])
        if ok(v):
            new = self.point(pt.x, mu_of(v), fam, pt.active, pt.z, pt.weights, pt.residual.get("kkt", 0.0))
            pt.__dict__.update(new.__dict__)

    def entry_value(self, pt: Point) -> np.ndarray:
        """(H, J) the most a unit of type h's state-s mass could add to the Lagrangian
        at exchange j, where it has none (-inf where it has mass): the continuum's
        pricing check, in numeraire units (see :meth:`_entry`)."""
        out = np.full((self.H, self.J), -np.inf)
        off = pt.active["off"]
        if off.any():
            out[off] = self._entry(pt, pt.mu)[off]
        return out

    def _entry(self, pt: Point, mu, parts: bool = False):
        """(H, J) gain of a unit of mass entering exchange j at the multipliers mu
        (Q_j = mu_sec / y1, P_Delta_j = mu_rights / y1).

        Per unit of mass with storage k and securities a the Lagrangian gains
        omega v(W) - mu_lottery - mu_storage k - y1 Q alpha a - y1 P_Delta alpha (z (e2 + R k) - e1),
        W = e1 + p (e2 + R k) + a, subject to (13) a >= -p R k, i.e. W >= e1 + p e2.
        It is linear in k at fixed W -- a positive slope is a profitable deviation
        without bound (+inf; with ``parts`` the finite value at k = 0 and the slope are
        returned separately, for optimisers) -- and concave in W, with maximiser
        W* = max(e1 + p e2, v'^-1(y1 Q alpha / omega)). Numeraire units.
        """
        econ, g = self.econ, self.econ.gamma
        H, S, fam = self.H, econ.S, pt.fam
        y1 = mu[fam["good1"]][0]
        lot = mu[fam["lottery"]].reshape(H, S)[:, self.state] / y1
        sto = mu[fam["storage"]].reshape(H, S)[:, self.state] / y1
        Q, Pd = (mu[fam["sec"]] / y1)[None, :], (mu[fam["rights"]] / y1)[None, :]
        a = econ.share[:, None]
        p, z = econ.utility.spot_price(pt.z)[None, :], pt.z[None, :]
        omega = np.outer(pt.weights * econ.share, econ.beta * econ.prob[self.state]) / y1
        slope_k = -sto + a * (Q * p - Pd * z) * self.RJ  # d/dk at fixed W (a = W - e1 - p e2 - p R k)
        floor = self.E1 + p * self.E2
        D = 1.0 + p ** (1.0 - 1.0 / g)
        # v'(W) = (W / D)^-g  =>  v'(W) = q  <=>  W = D q^(-1/g)
        q = np.maximum(a * Q / omega, 1e-300)
        with np.errstate(over="ignore", invalid="ignore"):  # Q -> 0: unbounded gain, +inf
            Wst = np.maximum(floor, D * q ** (-1.0 / g))
            c1, c2 = econ.utility.demand(Wst, p)
            val = omega * econ.utility.u(c1, c2) - lot - a * Q * (Wst - floor) - a * Pd * (z * self.E2 - self.E1)
        val = np.where(np.isnan(val), np.inf, val)
        if parts:
            return val, slope_k
        return np.where(slope_k > SIGN_TOL, np.inf, val)  # storage arbitrage (zero in equilibrium)

    #: Repair order: one family of violations is flipped per repair, primal
    #: feasibility first (flipping every family at once oscillates on wide economies:
    #: a storage bound made active changes the multipliers the next family is judged by).
    REPAIRS = (("mass", "off", True), ("storage", "no_storage", True), ("collateral_slack", "collateral", True),
               ("collateral_multiplier", "collateral", False), ("storage_multiplier", "no_storage", False),
               ("entry", "off", False))

    def repaired(self, active: dict, bad: dict) -> dict:
        """The active set with the first family of violations in ``bad`` (in REPAIRS
        order) flipped."""
        act = {k: v.copy() for k, v in active.items()}
        for name, key, on in self.REPAIRS:
            if name in bad:
                act[key] = act[key] | bad[name] if on else act[key] & ~bad[name]
                if name == "entry":  # the entry check's best entry stores nothing (slope in k <= 0)
                    act["no_storage"] |= bad[name]
                break
        act["collateral"] &= ~act["off"]
        act["no_storage"] &= ~act["off"]
        return act

    def reseeded(self, x, old: dict, new: dict) -> np.ndarray:
        """A start for Newton on the ``new`` active set from a point on ``old``: a type
        that enters an exchange starts there with mass ENTRY_MASS (taken pro rata from
        its other exchanges of the state), no storage and no securities -- Newton
        cannot start from the boundary pi = 0; a type that leaves has its entries zeroed."""
        c, k, pi, K, A = (np.array(v, float) for v in self.unpack(np.asarray(x, float)))
        enter, leave = old["off"] & ~new["off"], ~old["off"] & new["off"]
        pi[leave] = K[leave] = A[leave] = 0.0
        for h, j in zip(*np.nonzero(enter)):
            same = self.state == self.state[j]
            pi[h, same] *= 1.0 - ENTRY_MASS
            pi[h, j], K[h, j], A[h, j] = ENTRY_MASS, 0.0, 0.0
        return self.pack(c, k, pi, K, A)

    def dL_dz(self, x, mu, fam, active, z, lam):
        """(J,) partial derivative of the Lagrangian f - mu'(M(z) x - b) in z_j (welfare
        units): the planner's first-order condition for the exchange's fundamental."""
        econ, g = self.econ, self.econ.gamma
        _, _, pi, K, A = self.unpack(x)
        p, dp = econ.utility.spot_price(z), g * z ** (g - 1.0)
        on = ~active["off"]
        W = pi * self.E1 + p * (pi * self.E2 + self.RJ * K) + A
        w = np.where(on, W / np.where(on, pi, 1.0), 1.0)
        c1, c2 = econ.utility.demand(w, p)
        omega = np.outer(lam * econ.share, econ.beta * econ.prob[self.state])
        # d/dp of pi v(W/pi, p) at fixed (pi, K, A): v_W (pi e2 + R K) + pi v_p, v_p = -v_W c2 (Roy)
        d_obj = np.where(on, omega * econ.utility.marginal(c1) * (pi * self.E2 + self.RJ * K - pi * c2), 0.0).sum(0)
        mu_c = np.zeros((self.H, self.J))
        mu_c[active["collateral"]] = mu[fam["collateral"]]
        d_coll = -(mu_c * self.RJ * K).sum(0)  # rows p R K + A = 0
        d_rights = -mu[fam["rights"]] * (econ.share @ (pi * self.E2 + self.RJ * K))  # rows (55)
        return (d_obj + d_coll) * dp + d_rights

    def _clearing(self, pt: Point) -> dict:
        """Residuals of every row family, recomputed from the values."""
        econ, a, E = self.econ, self.econ.share, self.econ.aggregate
        member = self.member
        Delta = pt.z * (pt.pi * self.E2 + self.RJ * pt.K) - pt.pi * self.E1
        return {
            "good1": abs(a @ pt.c0[:, 0] - E[0, 0]),
            "good2": abs(a @ (pt.c0[:, 1] + pt.k) - E[0, 1]),
            "lottery": float(np.abs(pt.pi @ member - 1.0).max()),
            "storage": float(np.abs(pt.K @ member - pt.k[:, None]).max()),
            "collateral": float(np.maximum(-(econ.utility.spot_price(pt.z) * self.RJ * pt.K + pt.A), 0.0).max()),
            "securities": float(np.abs(a @ pt.A).max()),
            "rights": float(np.abs(a @ Delta).max()),
        }


def u_expr(c, g):
    """u(c) of one good as a cvxpy expression (CRRA g)."""
    import cvxpy as cp

    if g == 1.0:
        return cp.log(c)
    if g > 1.0:
        return -cp.power(c, 1.0 - g) / (g - 1.0)
    return cp.power(c, 1.0 - g) / (1.0 - g)


# -------------------------------------------------------------------- the equilibrium
def _weights(eta: np.ndarray) -> np.ndarray:
    """Pareto weights from log weights relative to type 1, normalised to sum H (as the LP's)."""
    w = np.exp(np.concatenate([[0.0], eta]))
    return w.size * w / w.sum()


def equilibrium(econ: CollateralEconomy, z0, state, weights0, tol: float = ROOT_TOL, max_iter: int = 40,
                fixed_weights: bool = False):
    """The continuum equilibrium near (z0, weights0) with exchange j in state ``state[j]``
    (module docstring). Returns (planner, point, path).

    Starts from the program at (z0, weights0) (conic solve, then KKT Newton), then
    solves the whole equilibrium system by Newton's method (:func:`_joint_newton`).
    If the root violates its active set (a multiplier of the wrong sign, an inactive
    constraint violated, a type that would gain by entering an exchange) the active
    set is repaired and Newton restarts, at most MAX_REPAIRS times. An exchange that
    every type leaves is dropped (its prices are then not defined) and the solve
    restarts without it. The path lists per Newton iteration the largest residual,
    step and seconds. With ``fixed_weights`` the weights stay at ``weights0`` and the
    budgets are dropped: the planner's optimum (Program 2 with optimal exchanges) at
    those Pareto weights.
    """
    z, state, w = np.asarray(z0, float), np.asarray(state, int), np.asarray(weights0, float)
    path = []
    while True:
        planner = Planner(econ, state)
        pt = planner.solve(z, w)
        active = pt.active
        for _ in range(MAX_REPAIRS + 1):
            pt, rows = _joint_newton(planner, pt, active, tol, max_iter, fixed_weights)
            path += rows
            if rows[-1]["residual"] > NOT_CONVERGED:
                raise SolveError("not_converged", f"Newton on the equilibrium conditions stopped at residual "
                                                  f"{rows[-1]['residual']:.1e} after {len(rows) - 1} iterations; the "
                                                  "start (the LP's support and weights) is too far from a root")
            bad = planner.violations(pt, equilibrium=not fixed_weights)
            if not bad:
                return planner, pt, path
            new = planner.repaired(active, bad)
            empty = new["off"].all(axis=0)
            if empty.any():
                break
            x = planner.reseeded(pt.x, active, new)
            active = new
            pt = planner.kkt_point(x, active, pt.z, pt.weights)
        else:
            raise SolveError("active_set", f"the continuum equilibrium violates {sorted(bad)} after {MAX_REPAIRS} "
                                           "repairs of the active set the LP suggested; refine the grid around the "
                                           "active exchanges")
        keep = ~empty
        if not np.all(np.bincount(state[keep], minlength=econ.S) > 0):
            raise SolveError("active_set", "every type left every exchange of a state; the LP's support is not the "
                                           "continuum's")
        z, state, w = _consistent(econ, pt.z[keep], state[keep], econ.share @ pt.k), state[keep], pt.weights


def _consistent(econ, z, state, K):
    """z with every single-exchange state's fundamental set to E_1s / (E_2s + R_s K)
    (KT eq. 10): there every type trades, and the rights row (55) pins it."""
    z = np.array(z, float)
    count = np.bincount(state, minlength=econ.S)
    for s in np.nonzero(count == 1)[0]:
        z[state == s] = econ.fundamental(K)[s]
    return z


def _joint_newton(planner: Planner, pt: Point, active: dict, tol: float, max_iter: int,
                  fixed_weights: bool = False):
    """Newton's method on the equilibrium system in u = (x, mu, z, log lambda_2..H):

    * grad_x f(x; z, lambda) - M(z)' mu = 0       (stationarity of Program 2)
    * M(z) x - b = 0                             (its rows, with the active inequalities)
    * dL/dz_j = 0                                (the planner's choice of each exchange)
    * T^h(x, mu, z) = 0, h = 2..H                (budgets (59); Walras gives type 1's)

    The Jacobian is by central differences (step FD_STEP; the residual is closed form,
    accurate to ~1e-15, so entries are good to ~1e-9), and each step is a least-squares
    solve: the system is singular along the indeterminate directions (storage shifted
    between the types of an exchange against securities), where every solution gives
    the same determinate outputs. Steps are halved to stay in the domain (c, mass and
    wealth positive) and to lower the largest residual. With ``fixed_weights``,
    lambda stays and the budget equations are dropped (the planner's problem).
    """
    J, n = planner.J, planner.n
    fam = pt.fam
    m = pt.mu.size
    w = pt.weights

    def split(u):
        return u[:n], u[n:n + m], u[n + m:n + m + J], u[n + m + J:]

    def weights_of(eta):
        return w if fixed_weights else _weights(eta)

    def residual(u):
        x, mu, z, eta = split(u)
        lam = weights_of(eta)
        M, b, _ = planner._constraints(z, active)
        _, grad, _ = planner._objective(x, z, lam, ~active["off"])
        return np.concatenate([grad - M.T @ mu, M @ x - b, planner.dL_dz(x, mu, fam, active, z, lam),
                               [] if fixed_weights else planner._transfer(x, mu, fam, z)[1:]])

    def outputs(u):
        """The determinate outputs at u: p0, aggregate K, c0, z, P_Delta (for accuracy)."""
        x, mu, z, _ = split(u)
        y1 = mu[fam["good1"]][0]
        c0, k = planner.unpack(x)[:2]
        return np.concatenate([[mu[fam["good2"]][0] / y1, planner.econ.share @ k], np.ravel(c0), z,
                               mu[fam["rights"]] / y1])

    def admissible(u):
        x, _, z, _ = split(u)
        return bool(np.all(z > 0) and planner._in_domain(x, z, ~active["off"]))

    u = np.concatenate([pt.x, pt.mu, pt.z, [] if fixed_weights else np.log(w[1:] / w[0])])
    r = residual(u)
    path = [{"iteration": 0, "residual": float(np.abs(r).max()), "step": 0.0, "outputs": outputs(u)}]
    for it in range(1, max_iter + 1):
        if np.abs(r).max() < tol and (it > 1 and newton_accuracy(path) < STEP_TOL):
            break
        t0 = time.perf_counter()
        jac = np.empty((r.size, u.size))
        for i in range(u.size):
            e = np.zeros(u.size)
            e[i] = FD_STEP
            jac[:, i] = (residual(u + e) - residual(u - e)) / (2 * FD_STEP)
        step = -np.linalg.lstsq(jac, r, rcond=RCOND)[0]
        t, found = 1.0, False
        while t > 1e-10:
            un = u + t * step
            if admissible(un):
                rn = residual(un)
                if np.abs(rn).max() < np.abs(r).max() or (t < 1e-6 and np.all(np.isfinite(rn))):
                    found = True
                    break
            t /= 2
        if not found:
            break
        u, r = un, rn
        path.append({"iteration": it, "residual": float(np.abs(r).max()), "step": float(np.abs(t * step).max()),
                     "outputs": outputs(u),
                     "seconds": time.perf_counter() - t0})
    x, mu, z, eta = split(u)
    return planner.point(x, mu, fam, active, z, weights_of(eta), kkt=float(np.abs(r[:n + m]).max())), path


def newton_accuracy(path: list) -> float:
    """The largest change of a determinate output (p0, K, c0, z, P_Delta) in Newton's
    last step: near the root Newton converges quadratically, so the error of the
    final iterate is far below its last step; with no step, the final residual."""
    if len(path) < 2 or path[-1]["iteration"] == 0:
        return float(path[-1]["residual"])
    return float(np.abs(path[-1]["outputs"] - path[-2]["outputs"]).max())


def start_from_lp(res) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z0, state, weights0) for :func:`equilibrium` from a grid equilibrium ``res``.

    Each cluster of active grid exchanges (:func:`.exchanges.clusters`: a grid mixes
    the points around one continuum exchange) becomes one exchange. Where a state has
    a single exchange every type trades there, so its rights row (55) pins
    z_s = E_1s / (E_2s + R_s K) (KT eq. 10) with K the LP's aggregate storage: the
    mass-weighted mean of grid points need not satisfy it when states share K.
    Elsewhere the start is the cluster's mass-weighted mean.
    """
    econ = res.econ
    groups = clusters(res)
    K = res.to_dict()["K"]
    z0, state = [], []
    for s, grp in enumerate(groups):
        for g in grp:
            z0.append(mean_z(res, s, g))
            state.append(s)
    state = np.array(state)
    return _consistent(econ, z0, state, K), state, np.asarray(res.weights, float)
