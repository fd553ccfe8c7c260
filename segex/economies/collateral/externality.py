"""Competitive collateral equilibrium *with the externality* (KT Definition 1), solved exactly.

No grid: the equilibrium is reduced to one scalar equation in aggregate storage ``K`` nested
around ``S`` security-clearing equations in the claim prices ``q``, and every agent's demand
at given prices is available in closed form.

Reduction (KT 2.1, eqs. 1-10)
-----------------------------
Good 1 is the numeraire at t = 0 and in every state. With spot markets and a complete set of
good-1 securities only the value ``a_s = theta_1s + p_s theta_2s`` of a security position
matters (footnote 7), so we report ``theta_2s = 0``. Write

* ``b_s = p_s R_s`` -- the state-s value of one unit stored at t = 0;
* ``y_s = b_s k + a_s`` -- the net asset value in state s; collateral constraint (1) is
  ``y_s >= 0``;
* ``W_s = e_1s + p_s e_2s + y_s`` -- state-s wealth, spent on the spot market (4), so with
  CRRA the agent consumes ``c_1s = W_s / D(p_s)``, ``c_2s = c_1s p_s**(-1/gamma)`` with
  ``D(p) = 1 + p**(1 - 1/gamma)`` (:class:`segex.utility.CRRA`);
* ``omega_0 = c_10 + p_0 c_20`` -- t = 0 consumption expenditure.

Budget (3) with ``Q_1s = q_s`` then reads::

    omega_0 + (p_0 - sum_s q_s b_s) k + sum_s q_s y_s <= e_10 + p_0 e_20.

Storage is a free choice, so an equilibrium needs ``p_0 >= sum_s q_s b_s`` with equality
when ``K > 0`` (no arbitrage; this *is* FOC (9) once the multipliers are substituted), and
the split of ``K`` across agents is then indeterminate. With identical homothetic utility
the t = 0 good-2 market (6) and the spot markets (8) give ``p_0 = (E_10 / (E_20 - K))**gamma``
and ``p_s = z_s**gamma`` with ``z_s`` from eq. (10). Given ``(p_0, q, p)`` an agent's problem is
concave with a piecewise-linear budget in the scale ``x = nu**(-1/gamma)``, where ``nu`` is
the marginal utility of t = 0 wealth (``= u_10``): the optimum is

    ``y_s = max(0, W*_s - (e_1s + p_s e_2s))``, ``beta pi_s v_W(W*_s, p_s) = nu q_s``,

with ``x`` solved exactly from the budget (see :func:`_agent_demand`). The equilibrium
unknowns are ``K`` and ``q``: ``sum_h alpha^h y^h_s = b_s K`` for every s (securities (7)
after netting storage) and ``p_0(K) = sum_s q_s b_s(K)``. For ``K`` fixed the clearing
equations are solved for ``log q`` (``scipy.optimize.root``, started at the representative
agent's prices); the no-arbitrage gap is then a scalar function of ``K`` solved by
``brentq``. If the gap is already non-negative as ``K -> 0+`` the equilibrium is the
corner ``K = 0``: nobody stores, no security is traded, and ``q_s`` is only bounded below
by the highest marginal rate of substitution across types; we report that lower bound.

Reporting convention for the indeterminate split of K
-----------------------------------------------------
We report the split with the least security trade: ``k^h >= 0``, ``sum_h alpha^h k^h = K``
minimising ``sum_h alpha^h |y^h - b k^h|^2``. Because ``y^h >= 0`` and ``b >= 0`` the
non-negativity constraints are slack and the water-filling multiplier of ``sum alpha k = K``
is zero, so the exact QP solution is the projection ``k^h = b.y^h / |b|^2`` (renormalised to
make ``sum alpha k = K`` hold to rounding). Then ``theta_1s = y_s - b_s k``, ``theta_2s = 0``.
In Environment 1 this gives KT's "solution with no security trading".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import optimize

from ...errors import SolveError
from ...io.labels import label
from ...result import ResultMixin
from .model import CollateralEconomy

__all__ = ["ExternalityResult", "solve_externality"]


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class ExternalityResult(ResultMixin):
    """Competitive collateral equilibrium with the externality (KT Definition 1).

    Prices are in the numeraire, good 1 (at t = 0 for ``p0`` and ``q``; in state s for ``p``).

    Attributes
    ----------
    economy : CollateralEconomy
        The economy solved.
    p0 : float
        Price of good 2 at t = 0 in units of good 1 at t = 0.
    q : ndarray, shape (S,)
        ``Q_1s``: t = 0 price of a claim to one unit of good 1 in state s.
    p : ndarray, shape (S,)
        Spot price of good 2 in state s, ``p_s = p(z_s) = z_s**gamma``.
    z : ndarray, shape (S,)
        Market fundamentals, KT eq. (10).
    K : float
        Aggregate storage ``sum_h alpha^h k^h``.
    k : ndarray, shape (H,)
        Storage / collateral per type (least-security-trade split, see module docstring).
    c0 : ndarray, shape (H, 2)
        t = 0 consumption of goods 1 and 2.
    c1 : ndarray, shape (H, S, 2)
        t = 1 consumption after spot trade.
    theta : ndarray, shape (H, S, 2)
        Security holdings ``[theta_1s, theta_2s]``; ``theta_2s = 0`` by convention (footnote 7).
    utility : ndarray, shape (H,)
        Lifetime utility ``U^h``.
    binding : ndarray of bool, shape (H, S)
        Collateral constraint (1) binds: ``p_s R_s k + theta_1s + p_s theta_2s = 0``.
    multiplier : ndarray, shape (H, S)
        ``gamma^h_cc-s / u^h_10`` of eq. (9), in units of good 1 at t = 0 per unit of good 1
        in state s; equals ``q_s - beta pi_s v_W(W_s, p_s) / u_10 >= 0``.
    storage : bool
        False when storage was ruled out (``grid.k = { points = [0.0] }``, the segregated
        concept's restriction): every ``k^h = 0`` and FOC (9) is not a condition.
    """

    economy: CollateralEconomy
    p0: float
    q: np.ndarray
    p: np.ndarray
    z: np.ndarray
    K: float
    k: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    theta: np.ndarray
    utility: np.ndarray
    binding: np.ndarray
    multiplier: np.ndarray
    storage: bool = True
    lp = None  # an exact solve: no LP
    CONCEPT = "externality"
    HEADLINE = ("p0", "K")

    # ------------------------------------------------------------------ derived
    @property
    def net_assets(self) -> np.ndarray:
        """(H, S) ``y_s = p_s R_s k + theta_1s + p_s theta_2s``, the left side of (1)."""
        e = self.economy
        return (self.p * e.R)[None, :] * self.k[:, None] + self.theta[..., 0] + self.p[None, :] * self.theta[..., 1]

    def residuals(self) -> dict:
        """Largest absolute violation of each equilibrium condition (all ~ 0 at a solution).

        Residuals are in the units of the condition (goods, or good 1 at t = 0); at the
        corner ``K = 0`` the storage FOC (9) is checked as the inequality ``p0 >= RHS``.

        Keys: ``goods_t0`` (5)-(6), ``securities`` (7), ``spot`` (8), ``budget`` (3) with
        equality, ``spot_budget`` (4), ``foc_k`` (9) (not with storage ruled out: k = 0 is
        then imposed, not chosen), ``collateral`` (1) (violation only), ``multiplier_sign``
        and ``complementary_slackness``.
        """
        e = self.economy
        a = e.share
        E = e.aggregate
        b = self.p * e.R
        m0 = e.e0[:, 0] + self.p0 * e.e0[:, 1]
        spend = (self.c0[:, 0] + self.p0 * (self.c0[:, 1] + self.k)
                 + self.theta[..., 0] @ self.q + self.theta[..., 1] @ (self.q * self.p))
        pre = e.e1 + np.stack([self.theta[..., 0], self.theta[..., 1] + e.R * self.k[:, None]], axis=-1)
        tau = self.c1 - pre
        c1agg = np.einsum("h,hsl->sl", a, self.c1)
        u = e.utility
        nu = u.marginal(self.c0[:, 0])
        foc = self.p0 - self._foc_first_sum(nu) - self.multiplier @ b
        if self.K == 0.0:  # corner k^h = 0: (9) holds as p0 >= right-hand side
            foc = np.minimum(foc, 0.0)
        y = self.net_assets
        out = {
            "goods_t0": float(max(abs(a @ self.c0[:, 0] - E[0, 0]), abs(a @ (self.c0[:, 1] + self.k) - E[0, 1]))),
            "securities": float(np.abs(np.einsum("h,hsl->sl", a, self.theta)).max()),
            "spot": float(np.abs(c1agg - np.stack([E[1:, 0], E[1:, 1] + e.R * self.K], axis=-1)).max()),
            "budget": float(np.abs(spend - m0).max()),
            "spot_budget": float(np.abs(tau[..., 0] + self.p * tau[..., 1]).max()),
            "foc_k": float(np.abs(foc).max()),
            "collateral": float(max(0.0, -y.min())),
            "multiplier_sign": float(max(0.0, -self.multiplier.min())),
            "complementary_slackness": float(np.abs(self.multiplier * y).max()),
        }
        if not self.storage:
            del out["foc_k"]
        return out

    @property
    def certificate(self):
        """Every equilibrium condition of Definition 1 as a check. The nonlinear solve
        runs to 1e-12; 1e-9 leaves room for conditioning without hiding a defect."""
        from ...certificate import Certificate

        cert = Certificate()
        for name, r in self.residuals().items():
            cert.add(name, r, 1e-9)
        if self.storage:
            cert.add("restriction.grid.k", 0.0, 0.0, "no grid restricts this exact solve: grid.c, grid.z, grid.a "
                     "and a grid.k range discretise the segregated concept's choices only; a one-point "
                     "grid.k = { points = [0.0] } (no storage) would restrict both")
        else:
            cert.add("restriction.grid.k", float(np.abs(self.k).max()), 0.0,
                     "grid.k = { points = [0.0] }: storage ruled out, as in the segregated concept; max_h |k^h|")
        return cert

    def _foc_first_sum(self, nu) -> np.ndarray:
        """(H,) ``sum_s beta pi_s R_s u^h_2s / u^h_10``, the first sum on the right of (9)."""
        e = self.economy
        u2s = e.utility.marginal(self.c1[..., 1])
        return e.beta * (u2s * e.prob * e.R).sum(axis=1) / nu

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict:
        """JSON-able summary: prices, K and one record per type."""
        types = []
        for h in range(self.economy.H):
            types.append({
                "k": float(self.k[h]),
                "c0": [float(v) for v in self.c0[h]],
                "c1": [[float(v) for v in self.c1[h, s]] for s in range(self.economy.S)],
                "theta": [[float(v) for v in self.theta[h, s]] for s in range(self.economy.S)],
                "utility": float(self.utility[h]),
                "binding": [bool(v) for v in self.binding[h]],
                "multiplier": [float(v) for v in self.multiplier[h]],
            })
        return {
            "p0": float(self.p0),
            "spot": [float(v) for v in self.p],
            "z": [float(v) for v in self.z],
            "q": [float(v) for v in self.q],
            "K": float(self.K),
            "types": types,
        }

    def to_dataset(self) -> xr.Dataset:
        """The equilibrium as an :class:`xarray.Dataset` (dims ``type``, ``state``, ``good``)."""
        e = self.economy
        coords = {"type": np.arange(e.H), "state": np.arange(1, e.S + 1), "good": [1, 2]}
        g1 = "good 1 at t=0"

        def var(data, dims, units, desc):
            return xr.Variable(dims, data, attrs={"units": units, "description": desc})

        ds = xr.Dataset(
            {
                "k": var(self.k, ("type",), "good 2", "storage/collateral k^h carried to t=1 (least-security-trade split)"),
                "c0": var(self.c0, ("type", "good"), "goods", "t=0 consumption c_l0^h"),
                "c1": var(self.c1, ("type", "state", "good"), "goods", "t=1 consumption c_ls^h after spot trade"),
                "theta": var(self.theta, ("type", "state", "good"), "units of good l in state s",
                             "securities theta_ls^h (theta_2s = 0 by convention, KT footnote 7)"),
                "utility": var(self.utility, ("type",), "utils", "lifetime utility U^h"),
                "binding": var(self.binding, ("type", "state"), "1", "collateral constraint (1) binds"),
                "multiplier": var(self.multiplier, ("type", "state"), f"{g1} per good 1 in state s",
                                  "gamma_cc-s^h / u_10^h of KT eq. (9)"),
                "p": var(self.p, ("state",), "good 1 in state s", "spot price of good 2, p(z_s) = z_s**gamma"),
                "q": var(self.q, ("state",), g1, "Q_1s: price of a claim to one unit of good 1 in state s"),
                "z": var(self.z, ("state",), "ratio", "market fundamental z_s, KT eq. (10)"),
                "p0": var(self.p0, (), g1, "price of good 2 at t=0"),
                "K": var(self.K, (), "good 2", "aggregate storage sum_h alpha^h k^h"),
            },
            coords=coords,
        )
        ds.attrs = {
            "description": "Kilenthong-Townsend competitive collateral equilibrium with the externality "
                           "(Definition 1), solved exactly",
            "economy": e.name,
            "numeraire": "good 1 (at t=0 for p0 and q, in state s for p)",
            "gamma": e.gamma,
            "beta": e.beta,
        }
        return label(ds)


# ---------------------------------------------------------------------------- agent demand
def _D(p, gamma):
    """``D(p) = 1 + p**(1 - 1/gamma)``: state wealth per unit of good-1 consumption."""
    return 1.0 + np.asarray(p, dtype=float) ** (1.0 - 1.0 / gamma)


def _agent_demand(econ: CollateralEconomy, p0, q, p, mask=None):
    """Every type's optimal net asset values at prices ``(p0, q, p)``, exactly.

    Solves, for each type, ``max u(c_0) + beta sum_s pi_s v(e_1s + p_s e_2s + y_s, p_s)`` subject
    to ``y_s >= 0`` (collateral (1)) and ``omega_0 + sum_s q_s y_s = e_10 + p_0 e_20`` (budget (3)
    at the no-arbitrage ``p_0 = sum q b``, so storage nets out). With ``x = nu**(-1/gamma)``
    the FOCs give ``omega_0 = D(p_0) x`` and ``y_s = max(0, A_s x - w_s)`` with
    ``A_s = D(p_s) (q_s / (beta pi_s))**(-1/gamma)`` and ``w_s = e_1s + p_s e_2s``, so the budget is
    piecewise linear and increasing in ``x``; the set of states with ``y_s > 0`` is the set of
    kinks ``w_s / A_s`` at which the budget's left side is still below income.

    Parameters
    ----------
    mask : (S,) bool, optional
        States in which trade is allowed; elsewhere ``y_s = 0`` (used for ``R_s = 0`` states
        and for autarky prices).

    Returns
    -------
    y : (H, S) net asset values; x : (H,) scale (``nu = x**(-gamma)``); w : (H, S) endowment wealth.
    """
    g = econ.gamma
    S = econ.S
    mask = np.ones(S, bool) if mask is None else np.asarray(mask, bool)
    w = econ.e1[..., 0] + p * econ.e1[..., 1]  # (H, S)
    m0 = econ.e0[:, 0] + p0 * econ.e0[:, 1]  # (H,)
    D0 = _D(p0, g)
    qm = np.where(mask, q, 1.0)
    A = np.where(mask, _D(p, g) * (qm / (econ.beta * econ.prob)) ** (-1.0 / g), 0.0)  # (S,)
    with np.errstate(divide="ignore"):
        kink = np.where(mask, w / np.where(mask, A, 1.0), 0.0)  # (H, S); x above which y_s > 0
    # left side of the budget evaluated at every kink, (H, S_kink); masked states add nothing
    over = np.where(mask[None, None, :], np.maximum(0.0, A[None, None, :] * kink[:, :, None] - w[:, None, :]), 0.0)
    lhs = D0 * kink + over @ np.where(mask, q, 0.0)
    active = mask[None, :] & (lhs < m0[:, None])
    qa = np.where(active, qm, 0.0)
    x = (m0 + (qa * w).sum(axis=1)) / (D0 + (qa * A).sum(axis=1))
    y = np.where(active, np.maximum(0.0, A * x[:, None] - w), 0.0)
    return y, x, w


def _autarky_mrs(econ, p0, p):
    """(H, S) ``beta pi_s v_W(w_s, p_s) / v_W(m_0, p_0)`` with no securities and no storage."""
    u = econ.utility
    w = econ.e1[..., 0] + p * econ.e1[..., 1]
    m0 = econ.e0[:, 0] + p0 * econ.e0[:, 1]
    nu = u.indirect_marginal(m0, p0)
    return econ.beta * econ.prob * u.indirect_marginal(w, p) / nu[:, None]


# ---------------------------------------------------------------------------- equilibrium
def _prices(econ: CollateralEconomy, K):
    """``(p0, z, p)`` implied by aggregate storage K (goods clearing (5)-(6), (8); eq. (10))."""
    E = econ.aggregate
    z = econ.fundamental(K)
    p = econ.utility.spot_price(z)
    p0 = float((E[0, 0] / (E[0, 1] - K)) ** econ.gamma)
    return p0, z, p


class _Solver:
    """Nested solve: inner ``q(K)`` from security clearing, outer no-arbitrage in ``K``."""

    def __init__(self, econ: CollateralEconomy, tol: float):
        self.econ = econ
        self.tol = tol
        E = econ.aggregate
        self.E = E
        self.act = econ.R > 0  # states where storage pays off; others are never traded
        # representative-agent (no collateral constraint) claim prices: aggregate c_1s = E_1s
        self.q_rep = econ.beta * econ.prob * (E[1:, 0] / E[0, 0]) ** (-econ.gamma)
        self._cache = []  # (K, log q) already solved, for continuation
        self.n_fallback = 0  # diagnostics: Gauss-Seidel fallbacks used

    def clearing(self, logq, K, p0, p):
        econ = self.econ
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            q = np.exp(logq)
            qq = np.full(econ.S, np.inf)
            qq[self.act] = q
            y, _, w = _agent_demand(econ, p0, qq, p, mask=self.act)
        b = (p * econ.R)[self.act]
        scale = b * self.E[0, 1] + self.E[1:, 0][self.act]
        return (econ.share @ y[:, self.act] - b * K) / scale

    def q_of_K(self, K):
        """Claim prices clearing every active state's security market at storage K > 0.

        ``scipy.optimize.root`` on ``log q``, warm-started (continuation) from the solved K
        nearest to this one, then from the autarky-MRS bound (the K -> 0+ limit) and the
        representative-agent prices; a state-by-state Gauss-Seidel sweep of ``brentq`` solves
        (each market's excess demand falls in its own price) is the fallback.
        """
        econ = self.econ
        p0, z, p = _prices(econ, K)
        starts = []
        if self._cache:
            starts.append(min(self._cache, key=lambda c: abs(c[0] - K))[1])
        starts.append(np.log(_autarky_mrs(econ, p0, p).max(axis=0)[self.act]))
        starts.append(np.log(self.q_rep[self.act]))

        def resid(lq):
            r = np.abs(self.clearing(lq, K, p0, p)).max()
            return r if np.isfinite(r) else np.inf

        best = min(((resid(x0), x0) for x0 in starts), key=lambda t: t[0])
        x_gs = best[1]
        for x0 in starts:
            sol = optimize.root(self.clearing, x0, args=(K, p0, p), method="hybr", options={"xtol": 1e-15})
            r = resid(sol.x)
            if r < best[0]:
                best = (r, sol.x)
            if best[0] < 1e-3 * self.tol:
                break
        if best[0] > self.tol:
            self.n_fallback += 1
            lq = self._gauss_seidel(x_gs, K, p0, p)
            r = resid(lq)
            if r < best[0]:
                best = (r, lq)
        if best[0] > self.tol:
            raise SolveError("not_converged",
                             f"security markets did not clear at K={K:.6g} (scaled residual {best[0]:.2e})")
        self._cache.append((K, best[1]))
        return np.exp(best[1]), p0, z, p

    def _gauss_seidel(self, logq, K, p0, p, sweeps=500):
        """Fallback: clear one state at a time (own-price monotone), then polish with hybr."""
        logq = np.array(logq, float)

        def f(t, j):
            lq = logq.copy()
            lq[j] = t
            return self.clearing(lq, K, p0, p)[j]

        for _ in range(sweeps):
            old = logq.copy()
            for j in range(logq.size):
                lo, hi, step = logq[j] - 0.5, logq[j] + 0.5, 1.0
                while f(lo, j) <= 0.0 and step < 1e3:
                    lo, step = lo - step, 2 * step
                step = 1.0
                while f(hi, j) >= 0.0 and step < 1e3:
                    hi, step = hi + step, 2 * step
                if not (f(lo, j) > 0.0 > f(hi, j)):
                    return logq
                logq[j] = optimize.brentq(f, lo, hi, args=(j,), xtol=1e-15, rtol=1e-15)
            if np.abs(logq - old).max() < 1e-9:
                break
        sol = optimize.root(self.clearing, logq, args=(K, p0, p), method="hybr", options={"xtol": 1e-15})
        if np.abs(self.clearing(sol.x, K, p0, p)).max() < np.abs(self.clearing(logq, K, p0, p)).max():
            logq = sol.x
        return logq

    def gap(self, K):
        """log p0(K) - log sum_s q_s(K) p_s(K) R_s: no-arbitrage residual of storage (eq. 9)."""
        q, p0, _, p = self.q_of_K(K)
        return np.log(p0) - np.log(q @ (p * self.econ.R)[self.act])

    def gap0(self):
        """The gap as K -> 0+: q_s tends to the highest autarky marginal rate of substitution."""
        p0, _, p = _prices(self.econ, 0.0)
        qmax = _autarky_mrs(self.econ, p0, p).max(axis=0)
        return np.log(p0) - np.log(qmax[self.act] @ (p * self.econ.R)[self.act])

    def solve_K(self):
        """Aggregate storage: 0 at the corner, else the first root of :meth:`gap` on a scan."""
        if not self.act.any() or self.gap0() >= 0.0:
            return 0.0
        E20 = self.E[0, 1]
        # scan for the first sign change (F(0+) < 0 and F -> +inf as K -> E_20)
        lo = 0.0
        grid = (list(E20 * np.geomspace(1e-3, 0.05, 4)) + list(E20 * np.linspace(0.1, 0.95, 18))
                + [E20 * (1 - 10.0 ** -j) for j in range(2, 9)])
        for K in grid:
            f = self.gap(K)
            if f >= 0.0:
                hi = K
                break
            lo = K
        else:
            raise SolveError("no_bracket", "no-arbitrage gap stayed negative up to K -> E_20")
        if lo == 0.0:
            lo = hi
            while True:
                lo *= 0.5
                if self.gap(lo) < 0.0:
                    break
                hi = lo
                if lo < 1e-300:
                    return 0.0
        return optimize.brentq(self.gap, lo, hi, xtol=1e-16 * max(1.0, E20), rtol=1e-15, maxiter=500)


def solve_externality(econ: CollateralEconomy, tol: float = 1e-12, storage: bool = True) -> ExternalityResult:
    """Competitive collateral equilibrium with the externality (KT Definition 1), exactly.

    Parameters
    ----------
    econ : CollateralEconomy
        Any number of types H and states S, CRRA ``gamma > 0`` (``gamma = 1`` is log),
        discount ``beta`` and storage returns ``R_s >= 0``.
    tol : float
        Tolerance on the (scaled) security-clearing residuals; K is solved to rounding.
    storage : bool
        False rules storage out (``k^h = 0`` for every type), the restriction a grid file's
        ``grid.k = { points = [0.0] }`` puts on the segregated concept: with no collateral,
        (1) and securities clearing (7) leave no security trade, so the equilibrium is the
        corner ``K = 0`` below, whether or not storage would pay.

    Returns
    -------
    ExternalityResult
        Prices ``(p0, q, p)``, fundamentals ``z`` (10), the allocation, multipliers of (1) in
        the normalisation of (9), and utilities.

    Notes
    -----
    Unknowns are ``K`` and ``q``; ``p0 = (E_10/(E_20 - K))**gamma`` and ``p_s = z_s**gamma``
    follow from goods clearing (5), (6), (8) with identical homothetic utility. ``K`` solves the
    no-arbitrage condition ``p_0 = sum_s q_s p_s R_s`` (FOC (9) of every type holding storage)
    given the ``q`` that clears the securities markets (7); at the corner ``K = 0``,
    ``p_0 >= sum_s q_s p_s R_s`` and ``q_s`` is reported at its lower bound (the largest
    autarky MRS across types), as it is in any state with ``R_s = 0``. ``K`` is bracketed by
    scanning the no-arbitrage gap upward from ``K = 0`` (it tends to ``+inf`` as
    ``K -> E_20``), so should the economy have several equilibria the one at the first sign
    change is returned; ``K = 0`` is returned whenever it is an equilibrium.

    Raises
    ------
    SolveError
        If a clearing system cannot be solved to ``tol``.
    """
    solver = _Solver(econ, tol)
    K = float(solver.solve_K()) if storage else 0.0
    S, H = econ.S, econ.H
    act = solver.act
    if K > 0.0:
        qa, p0, z, p = solver.q_of_K(K)
        q = np.full(S, np.inf)
        q[act] = qa
        y, x, w = _agent_demand(econ, p0, q, p, mask=act)
    else:
        p0, z, p = _prices(econ, 0.0)
        q = np.full(S, np.inf)
        y = np.zeros((H, S))
        w = econ.e1[..., 0] + p * econ.e1[..., 1]
        x = (econ.e0[:, 0] + p0 * econ.e0[:, 1]) / _D(p0, econ.gamma)
    u = econ.utility
    nu = x ** (-econ.gamma)  # = u_10 = v_W(omega_0, p0)
    W = w + y
    mrs = econ.beta * econ.prob * u.indirect_marginal(W, p) / nu[:, None]  # (H, S)
    # untraded states (R_s = 0, or every state when K = 0): lowest q supporting y = 0
    traded = act if K > 0.0 else np.zeros(S, bool)
    q = np.where(traded, q, mrs.max(axis=0))
    # least-security-trade split of K (exact QP: projection, multiplier zero since y, b >= 0)
    b = p * econ.R
    if K > 0.0:
        by = y @ b
        k = K * by / (econ.share @ by)
    else:
        k = np.zeros(H)
    theta = np.zeros((H, S, 2))
    theta[..., 0] = y - b[None, :] * k[:, None]
    c0 = np.stack(u.demand(x * _D(p0, econ.gamma), p0), axis=-1)
    c1 = np.stack(u.demand(W, p), axis=-1)
    utility = econ.lifetime_utility(c0, c1)
    binding = y <= 1e-12 * np.maximum(1.0, w)
    # eq. (9) normalisation: gamma_s / u_10 = q_s - beta pi_s v_W(W_s) / u_10 (zero off the constraint);
    # only rounding-level negatives are cleaned, anything larger is left visible
    multiplier = np.where(binding, q[None, :] - mrs, 0.0)
    multiplier = np.where((multiplier < 0.0) & (multiplier > -1e-12 * q[None, :]), 0.0, multiplier)
    return ExternalityResult(economy=econ, p0=p0, q=q, p=np.asarray(p, float), z=np.asarray(z, float), K=K, k=k,
                             c0=c0, c1=c1, theta=theta, utility=utility, binding=binding, multiplier=multiplier,
                             storage=storage)
