"""Competitive equilibrium with exogenous incomplete markets (KT Definition 4), solved exactly.

This is the equilibrium *with* the pecuniary externality ("externality" in the tool): each
type takes the spot prices ``p_s`` as given although they depend on the distribution of
security holdings, ``p_s = p_s(theta, e)`` (KT 2.2, Geanakoplos-Polemarchakis).

Definition 4 (eqs. 27-33)
-------------------------
Good 1 is the numeraire at t = 0 and in every state. Prices: ``p0`` (good 2 at t = 0),
``Q_j`` (security j, t = 0 good 1), ``p_s`` (good 2 in state s). Type h solves (28)

    max  u(c10, c20) + beta sum_s pi_s u(e1s + D_s . theta + tau1s, e2s + tau2s)
    s.t. c10 + p0 c20 + Q . theta <= e10 + p0 e20                        (29)
         tau1s + p_s tau2s = 0                 for every s                (30)

and markets clear: goods at t = 0 (31), securities ``sum_h alpha^h theta^h = 0`` (32), spot
trades ``sum_h alpha^h tau^h_ls = 0`` (33). Spot trade is the type's spot optimum (34): with
pre-trade wealth ``W_s = e1s + D_s . theta + p_s e2s`` it consumes
``c1s = W_s / (1 + p_s**(1 - 1/g))``, ``c2s = c1s p_s**(-1/g)`` (:meth:`IncompleteMarketsEconomy.spot`).

First-order conditions (mu^h the multiplier of (29), the marginal utility of t = 0 good 1)::

    u'(c10) = mu,    u'(c20) = mu p0,                                     t = 0
    u'(c2s) = u'(c1s) p_s,                                                spot (34)
    mu Q_j = beta sum_s pi_s D_js u'(c1s)                                 securities

the last by the envelope theorem on the spot problem, ``dv/dW = u'(c1s)``. The problem is
strictly concave in ``theta`` when ``D`` has full row rank J, so these FOCs characterise it.

Reduction and method
--------------------
Unknowns of Definition 4: ``p0``, ``Q`` (J), ``p`` (S), each type's ``c0`` (2) and ``theta`` (J).
Given prices, each type's demand is exact: its t = 0 bundle is the CRRA demand for the
wealth left after securities, and ``theta^h`` solves the J security FOCs, a strictly concave
maximisation solved by damped Newton from the last demand (or ``theta = 0``, always feasible:
endowments are positive) to machine precision (:func:`_demand`). What remains are the
market-clearing equations in the prices, 1 + S + J of them for 1 + S + J unknowns:

* t = 0 goods (31) -- determine ``p0``;
* state-s spot clearing (33) -- determines ``p_s``;
* securities (32) -- determine ``Q``.

(The residual of each goods market is the mean of the scaled excess demands for goods 1 and
2: by Walras' law one good suffices, but each alone has a spurious zero at a zero or infinite
price.) The securities are first replaced by synthetic ones with orthonormal payoff rows
(``D' = U T``, QR; portfolios ``phi = T theta``, prices ``Q = T' Qb``), which leaves the
equilibrium unchanged and makes the solve indifferent to nearly collinear payoffs. Prices are
parameterised so that every iterate is a price system at which demand exists: ``log p0``,
``log p_s`` and, for the securities, ``y`` in R^J with

    Q(y) = sum_s r_s exp(D_s . y) D_s       (D_s the s-th column of D, r_s > 0),

the gradient of a strictly convex function, hence a bijection of R^J onto the open cone
``{D lambda : lambda > 0}`` of arbitrage-free security prices (Stiemke's lemma); at any
other ``Q`` some portfolio is an arbitrage and demand does not exist. ``r`` is the
population-weighted mean autarky state-price vector, so ``y = 0`` is autarky's pricing.

The clearing system's Jacobian is exact (implicit differentiation of each type's FOCs). It is
solved by damped Newton (Armijo on ``|R|^2``, steps capped) from autarky (``theta = 0``,
``p0`` and ``p_s`` clearing endowments, :meth:`IncompleteMarketsEconomy.spot_clearing_price`).
If that fails (from autarky the iterates can run to extreme prices), a homotopy in the
endowments is followed from an economy in which autarky is exactly an equilibrium (type h
endowed with the same amount ``k^h`` of every good at every date and state, so
``p0 = p_s = 1``, ``Q = D beta pi`` and ``theta = 0``) to the actual endowments, Newton at each
step, halving the step on failure; as a last resort ``scipy.optimize.root`` (hybr, lm) runs
from autarky. Anything not solved to 1e-12 raises :class:`SolveError` ``no_convergence``
saying what was reached -- never a silently wrong answer; so does a solution whose
certificate fails (in practice: a type with low gamma whose optimal consumption in some state
is so close to zero, < ~1e-8 of its mean, that rounding in its wealth spoils its FOCs; the
message names the type, good and state). Incomplete-markets economies can
have several equilibria; the one reached from autarky (or along the homotopy) is returned,
and ``solve_info`` says which route was taken.

Securities with ``rank D < J`` (redundant, including ``J > S``) make portfolios indeterminate;
:meth:`IncompleteMarketsEconomy.create` rejects them, naming the securities spanned by earlier ones.
``J = S`` with ``D`` invertible is the complete-markets case (KT footnote 21): the equilibrium
is then Pareto efficient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ...certificate import Certificate
from ...errors import SolveError, SpecError
from ...io.labels import label
from ...result import ResultMixin
from .model import IncompleteMarketsEconomy

__all__ = ["IncompleteMarketsEquilibrium", "solve_externality", "supporting_weights"]

#: Every Definition-4 condition is checked to this relative tolerance. Why 1e-10: the prices
#: solve a Newton-type system (damped Newton with the exact Jacobian) to <= 1e-12 -- in practice
#: ~1e-16 -- on clearing equations scaled to O(1), and every type's demand at those prices
#: solves its own FOCs by Newton to machine precision, so every residual of Definition 4 (a
#: smooth, well-scaled function of those quantities, each divided by the gross size of its
#: terms) sits at rounding level, ~1e-15; 1e-10 leaves room for conditioning and still flags
#: any real defect.
TOL = 1e-10
#: The independent re-solve of each consumer's problem may not beat the equilibrium utility by
#: more than this, relative to the utility scale max(|U^h|, mu^h m0^h) (m0 = t = 0 wealth).
CONSUMER_TOL = 1e-9
#: Target for the scaled clearing residuals of the price solve.
SOLVE_TOL = 1e-12
#: Target for each type's relative security-FOC residual at the solution's prices (its Newton
#: reaches ~1e-16 unless some consumption is so close to zero that rounding in wealth dominates).
DEMAND_TOL = 1e-12


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class IncompleteMarketsEquilibrium(ResultMixin):
    """Competitive equilibrium with exogenous incomplete markets (KT Definition 4).

    Prices are in units of good 1: at t = 0 for ``p0`` and ``Q``, in state s for ``spot``.

    Attributes
    ----------
    economy : IncompleteMarketsEconomy
    p0 : float
        Price of good 2 at t = 0.
    Q : (J,) security prices.
    spot : (S,) spot prices p_s of good 2 in state s.
    c0 : (H, 2) t = 0 consumption.
    c1 : (H, S, 2) t = 1 consumption after spot trade.
    theta : (H, J) security holdings.
    tau : (H, S, 2) spot trades ``tau_ls`` (eq. 30).
    utility : (H,) lifetime utility U^h (eq. 27).
    mu : (H,) multiplier of budget (29) = u'(c10^h); ``1/mu^h`` is proportional to the Pareto
        weight supporting the allocation (:func:`supporting_weights`).
    welfare : float
        ``sum_h alpha^h U^h``.
    certificate : Certificate
        Every condition of Definition 4 and an independent re-solve of each type's problem.
    solve_info : dict
        How the prices were found: ``start`` (autarky or homotopy), ``method``, ``residual``
        (largest scaled clearing residual), ``homotopy_steps``, ``demand_foc`` (largest relative
        security-FOC residual of the types' demands).
    """

    economy: IncompleteMarketsEconomy
    p0: float
    Q: np.ndarray
    spot: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    theta: np.ndarray
    tau: np.ndarray
    utility: np.ndarray
    mu: np.ndarray
    welfare: float
    certificate: Certificate = field(default_factory=Certificate)
    solve_info: dict = field(default_factory=dict)
    lp: dict | None = None  # no LP: the registry's Result protocol
    CONCEPT = "externality"

    # ------------------------------------------------------------------ checks
    def residuals(self) -> dict:
        """Relative violation of every condition of Definition 4 (all ~ 1e-15 at a solution).

        Each residual is divided by the gross size of the terms in its equation, so the checks
        do not depend on units. Keys: ``foc_t0`` (u'(c20) = mu p0), ``foc_spot``
        (u'(c2s) = u'(c1s) p_s, the spot optimum (34)), ``foc_securities``
        (mu Q_j = beta sum_s pi_s D_js u'(c1s)), ``budget_t0`` (29) with equality,
        ``spot_budget`` (30), ``spot_optimum`` (consumption = the model's spot demand),
        ``goods_t0`` (31), ``securities`` (32), ``spot_clearing`` (33), both goods.
        """
        e = self.economy
        a, D = e.share, e.payoffs
        E = e.aggregate
        out = {}
        mu = np.array([e.utilities[h].marginal(self.c0[h, 0]) for h in range(e.H)])
        mu2 = np.array([e.utilities[h].marginal(self.c0[h, 1]) for h in range(e.H)])
        out["foc_mu"] = float(np.abs(mu - self.mu).max() / self.mu.min())
        out["foc_t0"] = float(np.abs(mu2 / mu - self.p0).max() / self.p0)
        m1 = np.stack([e.utilities[h].marginal(self.c1[h, :, 0]) for h in range(e.H)])  # (H, S)
        m2 = np.stack([e.utilities[h].marginal(self.c1[h, :, 1]) for h in range(e.H)])
        out["foc_spot"] = float(np.abs(m2 / m1 / self.spot[None, :] - 1.0).max())
        terms = e.beta * e.prob[None, None, :] * D[None, :, :] * m1[:, None, :]  # (H, J, S)
        rhs = terms.sum(axis=2)
        gross = np.abs(terms).sum(axis=2) + self.mu[:, None] * np.abs(self.Q)[None, :]
        out["foc_securities"] = float((np.abs(self.mu[:, None] * self.Q[None, :] - rhs) / gross).max())
        m0 = e.e0[:, 0] + self.p0 * e.e0[:, 1]
        spend = self.c0[:, 0] + self.p0 * self.c0[:, 1] + self.theta @ self.Q
        out["budget_t0"] = float((np.abs(spend - m0) / (m0 + np.abs(self.theta) @ np.abs(self.Q))).max())
        pre1 = e.e1[..., 0] + self.theta @ D  # (H, S) pre-trade good 1
        W = pre1 + self.spot[None, :] * e.e1[..., 1]
        gross_s = np.abs(self.tau[..., 0]) + self.spot[None, :] * np.abs(self.tau[..., 1]) + np.abs(W)
        out["spot_budget"] = float((np.abs(self.tau[..., 0] + self.spot[None, :] * self.tau[..., 1]) / gross_s).max())
        dev = 0.0
        for h in range(e.H):
            for s in range(e.S):
                c1, c2, delta, _ = e.spot(h, s, self.theta[h], self.spot[s])
                dev = max(dev, abs(c1 - self.c1[h, s, 0]) / self.c1[h, s, 0],
                          abs(c2 - self.c1[h, s, 1]) / self.c1[h, s, 1],
                          abs(delta - self.tau[h, s, 0]) / (abs(self.tau[h, s, 0]) + abs(W[h, s])))
        out["spot_optimum"] = float(dev)
        out["goods_t0"] = float((np.abs(a @ self.c0 - E[0]) / E[0]).max())
        scale_j = _security_scale(e)
        out["securities"] = float((np.abs(a @ self.theta) / np.maximum(a @ np.abs(self.theta), scale_j)).max())
        out["spot_clearing"] = float((np.abs(np.einsum("h,hsl->sl", a, self.tau))
                                      / np.maximum(np.einsum("h,hsl->sl", a, np.abs(self.tau)), E[1:])).max())
        return out

    def consumer_check(self) -> np.ndarray:
        """(H,) relative utility gain an independent optimiser finds over the equilibrium.

        Each type's problem (28)-(30) at the equilibrium prices is re-solved by a different
        method from a different start: Nelder-Mead, then BFGS, over ``(log c20, theta)`` with
        ``c10`` from budget (29) and the spot optimum (34) from the model's ``spot()``, started
        at the endowment (``theta = 0``). The gain ``(U_alt - U^h) / max(|U^h|, mu^h m0^h)``
        must be <= 1e-9: positive values mean the equilibrium bundle is not optimal.
        """
        return _consumer_check(self)[0]

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict:
        """JSON-able summary: ``p0``, ``Q``, ``spot``, ``types`` (``c0``, ``c1``, ``theta``,
        ``utility`` each) and ``welfare``."""
        e = self.economy
        types = [{
            "c0": [float(v) for v in self.c0[h]],
            "c1": [[float(v) for v in self.c1[h, s]] for s in range(e.S)],
            "theta": [float(v) for v in self.theta[h]],
            "utility": float(self.utility[h]),
        } for h in range(e.H)]
        return {
            "p0": float(self.p0),
            "Q": [float(v) for v in self.Q],
            "spot": [float(v) for v in self.spot],
            "types": types,
            "welfare": float(self.welfare),
        }

    def to_dataset(self) -> xr.Dataset:
        """The equilibrium as an :class:`xarray.Dataset` (dims ``type``, ``state``, ``good``,
        ``security``)."""
        e = self.economy
        coords = {"type": np.arange(e.H), "state": np.arange(1, e.S + 1), "good": [1, 2],
                  "security": np.arange(1, e.J + 1)}
        g10 = "good 1 at t=0"

        def var(data, dims, units, desc):
            return xr.Variable(dims, np.asarray(data), attrs={"units": units, "description": desc})

        ds = xr.Dataset(
            {
                "p0": var(self.p0, (), f"{g10} per good 2 at t=0", "price of good 2 at t=0"),
                "Q": var(self.Q, ("security",), f"{g10} per unit of security", "security prices Q_j"),
                "spot": var(self.spot, ("state",), "good 1 per good 2 in state s", "spot prices p_s"),
                "payoffs": var(e.payoffs, ("security", "state"), "good 1 in state s per unit of security",
                               "payoff matrix D_js"),
                "c0": var(self.c0, ("type", "good"), "goods at t=0", "t=0 consumption c_l0^h"),
                "c1": var(self.c1, ("type", "state", "good"), "goods in state s",
                          "t=1 consumption c_ls^h after spot trade"),
                "theta": var(self.theta, ("type", "security"), "units of security", "security holdings theta_j^h"),
                "tau": var(self.tau, ("type", "state", "good"), "goods in state s", "spot trades tau_ls^h (eq. 30)"),
                "utility": var(self.utility, ("type",), "utils", "lifetime utility U^h (eq. 27)"),
                "mu": var(self.mu, ("type",), f"utils per {g10}", "multiplier of budget (29) = u'(c_10^h)"),
                "weights": var(supporting_weights(self), ("type",), "dimensionless (sum = H)",
                               "Pareto weights lambda^h proportional to 1/mu^h"),
                "welfare": var(self.welfare, (), "utils", "sum_h alpha^h U^h"),
            },
            coords=coords,
        )
        ds.attrs = {
            "description": "Kilenthong-Townsend competitive equilibrium with exogenous incomplete markets "
                           "(Definition 4, the pecuniary externality), solved exactly",
            "economy": e.name,
            "numeraire": "good 1 (at t=0 for p0 and Q, in state s for spot)",
            "beta": e.beta,
            "gamma": e.gamma,
            "share": e.share,
            "prob": e.prob,
            "certificate_passed": bool(self.certificate.passed),
        }
        return label(ds)


def supporting_weights(eq: IncompleteMarketsEquilibrium) -> np.ndarray:
    """(H,) Pareto weights ``lambda^h proportional to 1/mu^h``, normalised to sum to H.

    With the planner's objective ``sum_h alpha^h lambda^h U^h`` and resource constraints per
    capita, the planner's FOC for good 1 at t = 0 is ``lambda^h u'^h(c10) = shadow price``,
    so ``lambda^h = 1/mu^h`` up to scale supports the t = 0 allocation; with complete markets
    (footnote 21) these weights support the whole allocation.
    """
    lam = 1.0 / np.asarray(eq.mu, dtype=float)
    return lam * lam.size / lam.sum()


# ---------------------------------------------------------------------------- helpers
def _security_scale(econ) -> np.ndarray:
    """(J,) units of security j whose payoff is the size of the largest aggregate good-1 endowment."""
    return econ.aggregate[1:, 0].max() / np.abs(econ.payoffs).max(axis=1)


class _Economy:
    """The arrays the solver needs, with endowments replaceable (homotopy)."""

    def __init__(self, econ: IncompleteMarketsEconomy, endowment=None):
        self.econ = econ
        self.H, self.S, self.J = econ.H, econ.S, econ.J
        self.a = econ.share
        self.g = np.asarray(econ.gamma, float)
        # Solve in synthetic securities with orthonormal payoff rows: D' = U T (QR), B = U'.
        # Portfolio phi = T theta pays B' phi = D' theta and costs Qb . phi = Q . theta with
        # Q = T' Qb, so the equilibrium is the same; but B is perfectly conditioned however
        # nearly collinear the rows of D are (offsetting positions in near-duplicate securities).
        U, T = np.linalg.qr(econ.payoffs.T)
        self.D = U.T
        self.T = T
        self.beta = econ.beta
        self.pi = econ.prob
        end = econ.endowment if endowment is None else np.asarray(endowment, float)
        self.e0 = end[:, 0, :]
        self.e1 = end[:, 1:, :]
        self.E = np.einsum("h,htl->tl", self.a, end)
        self.sec_scale = self.E[1:, 0].max() / np.abs(self.D).max(axis=1)

    def K(self, p, h):
        """1 + p**(1 - 1/g): wealth per unit of good-1 consumption at price p."""
        return 1.0 + np.asarray(p, float) ** (1.0 - 1.0 / self.g[h])


def _autarky_prices(m: _Economy):
    """(p0, p, r): prices clearing endowments, and the share-weighted autarky state prices r_s.

    The clearing prices come from :meth:`IncompleteMarketsEconomy.spot_clearing_price`, which
    clears good 1 for any per-capita holdings, so it serves t = 0 and the homotopy's
    endowments as well."""
    econ = m.econ
    a = m.a[:, None]
    p0 = econ.spot_clearing_price(a * m.e0)
    p = np.array([econ.spot_clearing_price(a * m.e1[:, s]) for s in range(m.S)])
    r = np.zeros(m.S)
    for h in range(m.H):
        c10 = (m.e0[h, 0] + p0 * m.e0[h, 1]) / m.K(p0, h)
        c1s = (m.e1[h, :, 0] + p * m.e1[h, :, 1]) / m.K(p, h)
        r += m.a[h] * m.beta * m.pi * (c1s / c10) ** (-m.g[h])
    return p0, p, r


def _Q_of_y(y, r, D):
    """Q(y) = sum_s r_s exp(D_s . y) D_s: onto the arbitrage-free cone (module docstring)."""
    return D @ (r * np.exp(D.T @ y))


def _demand(m: _Economy, h, p0, Q, p, theta0=None, maxiter=200):
    """Type h's optimal portfolio at prices (p0, Q, p): damped Newton on its concave problem.

    Objective (28) after substituting the t = 0 and spot demands, as a function of theta:
    ``F = v(m0 - Q.theta, p0) + beta sum_s pi_s v(w_s + D_s.theta, p_s)`` with ``v`` the CRRA
    indirect utility, ``v = K(p) c1**(1-g) / (1-g)`` (``2 log c1 - log p`` at g = 1) where
    ``c1 = W / K(p)``; gradient ``-u'(c10) Q + beta sum_s pi_s u'(c1s) D_s`` (envelope
    theorem), Hessian ``v'' Q Q' + beta sum_s pi_s v''_s D_s D_s'``, ``v'' = -g c1**(-g-1) / K``.
    Steps stop at 99% of the way to the boundary (some consumption reaching zero) and are
    backtracked to an Armijo increase. Returns (theta, relative FOC residual).
    """
    g, D, bp = m.g[h], m.D, m.beta * m.pi
    m0 = m.e0[h, 0] + p0 * m.e0[h, 1]
    w = m.e1[h, :, 0] + p * m.e1[h, :, 1]
    K0, Ks = m.K(p0, h), m.K(p, h)
    theta = np.zeros(m.J) if theta0 is None else np.array(theta0, float)
    log = g == 1.0

    def F(c10, c1s):
        if log:
            return 2.0 * np.log(c10) + float(bp @ (2.0 * np.log(c1s)))
        return (K0 * c10 ** (1 - g) + float(bp @ (Ks * c1s ** (1 - g)))) / (1 - g)

    c10, c1s = (m0 - Q @ theta) / K0, (w + theta @ D) / Ks
    if c10 <= 0 or np.any(c1s <= 0):
        theta = np.zeros(m.J)
        c10, c1s = (m0 - Q @ theta) / K0, (w + theta @ D) / Ks
    f = F(c10, c1s)
    best = (np.inf, theta)
    polish = since = 0
    for _ in range(maxiter):
        mu = c10 ** (-g)
        ms = c1s ** (-g)
        grad = -mu * Q + D @ (bp * ms)
        gross = mu * np.abs(Q) + np.abs(D) @ (bp * ms)
        rel = float(np.max(np.abs(grad) / gross))
        if rel < best[0]:
            best, since = (rel, theta), 0
        else:
            since += 1
            if since > 8:  # stalled (rounding at extreme prices): keep the best
                break
        if rel < 4e-16:
            break
        if rel < 1e-13:  # at rounding level: a few more Newton steps, keep the best
            polish += 1
            if polish > 3:
                break
        Hs = -(g * mu / c10 / K0) * np.outer(Q, Q) - (D * (bp * g * ms / c1s / Ks)) @ D.T
        try:
            d = np.linalg.solve(Hs, -grad)
        except np.linalg.LinAlgError:
            d = grad / gross
        slope = float(grad @ d)  # > 0: ascent direction
        if not np.isfinite(slope) or slope <= 0:
            d = grad / gross ** 2
            slope = float(grad @ d)
        # rates of change of consumption along d; fraction to the boundary
        r0, rs = -(Q @ d) / K0, (d @ D) / Ks
        tmax = np.inf
        if r0 < 0:
            tmax = -c10 / r0
        neg = rs < 0
        if np.any(neg):
            tmax = min(tmax, float(np.min(-c1s[neg] / rs[neg])))
        t = min(1.0, 0.99 * tmax)
        near = rel < 1e-6  # quadratic region: take full steps, F cannot resolve the gain
        while t > 1e-20:
            c10n, c1sn = c10 + t * r0, c1s + t * rs
            if c10n > 0 and np.all(c1sn > 0):
                if near:
                    break
                fn = F(c10n, c1sn)
                if fn >= f + 1e-4 * t * slope:
                    break
            t *= 0.5
        else:
            break
        step = t * d
        theta = theta + step
        c10, c1s = (m0 - Q @ theta) / K0, (w + theta @ D) / Ks  # recomputed, not accumulated
        f = F(c10, c1s)
    else:
        mu, ms = c10 ** (-g), c1s ** (-g)
        rel = float(np.max(np.abs(-mu * Q + D @ (bp * ms)) / (mu * np.abs(Q) + np.abs(D) @ (bp * ms))))
        if rel < best[0]:
            best = (rel, theta)
    return best[1], best[0]


class _Clearing:
    """Residuals of (31)-(33) in x = (log p0, log p (S), y (J)) with every type's exact demand,
    and their Jacobian by implicit differentiation of the demands' FOCs."""

    def __init__(self, m: _Economy, r):
        self.m = m
        self.r = r
        self.theta = np.zeros((m.H, m.J))  # warm starts for the Newton demands
        self.worst_foc = 0.0
        self._cache = (None, None, None)

    def prices(self, x):
        m = self.m
        p0 = float(np.exp(x[0]))
        p = np.exp(x[1:1 + m.S])
        Q = _Q_of_y(x[1 + m.S:], self.r, m.D)
        return p0, Q, p

    def __call__(self, x):
        return self.evaluate(x)[0]

    def jacobian(self, x):
        return self.evaluate(x)[1]

    def evaluate(self, x):
        """(residual, Jacobian) at x; cached for the last x."""
        x = np.array(x, float)
        if self._cache[0] is not None and np.array_equal(self._cache[0], x):
            return self._cache[1], self._cache[2]
        m = self.m
        S, J, n = m.S, m.J, x.size
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            p0, Q, p = self.prices(x)
            if not (np.isfinite(p0) and np.all(np.isfinite(p)) and np.all(np.isfinite(Q)) and p0 > 0
                    and np.all(p > 0) and np.all(p < np.inf)):
                return np.full(n, 1e6), np.eye(n)
            lam = self.r * np.exp(m.D.T @ x[1 + S:])  # state prices behind Q
            Jq = (m.D * lam) @ m.D.T  # dQ/dy, symmetric positive definite
            ex0 = np.zeros(2)  # t = 0 excess demands of goods 1, 2
            ex = np.zeros((S, 2))  # spot excess demands
            dex0 = np.zeros((2, n))
            dex = np.zeros((S, 2, n))
            dsec = np.zeros((J, n))
            th_all = np.zeros((m.H, J))
            worst = 0.0
            for h in range(m.H):
                g, a = m.g[h], m.a[h]
                th, rel = _demand(m, h, p0, Q, p, self.theta[h])
                worst = max(worst, rel)
                th_all[h] = th
                K0, Ks = m.K(p0, h), m.K(p, h)
                c10 = (m.e0[h, 0] + p0 * m.e0[h, 1] - Q @ th) / K0
                pre1 = m.e1[h, :, 0] + th @ m.D
                c1s = (pre1 + p * m.e1[h, :, 1]) / Ks
                r0, rs = p0 ** (-1.0 / g), p ** (-1.0 / g)
                ex0 += a * (np.array([c10, c10 * r0]) - m.e0[h])
                ex[:, 0] += a * (c1s - pre1)
                ex[:, 1] += a * (c1s * rs - m.e1[h, :, 1])
                # partial derivatives of c10 and c1s in (x, theta) at fixed theta / fixed x
                dc10_x = np.zeros(n)
                dc10_x[0] = (p0 * m.e0[h, 1] - c10 * (1 - 1 / g) * p0 ** (1 - 1 / g)) / K0
                dc10_x[1 + S:] = -(Jq @ th) / K0
                dc10_th = -Q / K0
                dc1s_l = (p * m.e1[h, :, 1] - c1s * (1 - 1 / g) * p ** (1 - 1 / g)) / Ks  # d/d log p_s
                # FOC G = -u'(c10) Q + sum_s beta pi_s u'(c1s) D_s; u'' = -g c**(-g-1)
                bp = m.beta * m.pi
                u0, u0p = c10 ** (-g), -g * c10 ** (-g - 1)
                usp = -g * c1s ** (-g - 1)
                G_th = -u0p * np.outer(Q, dc10_th) + (m.D * (bp * usp / Ks)) @ m.D.T
                G_x = np.zeros((J, n))
                G_x += -np.outer(Q, u0p * dc10_x)
                G_x[:, 1 + S:] += -u0 * Jq
                G_x[:, 1:1 + S] += m.D * (bp * usp * dc1s_l)
                try:
                    dth = -np.linalg.solve(G_th, G_x)  # (J, n)
                except np.linalg.LinAlgError:  # degenerate demand (extreme prices): no derivative
                    dth = np.full((J, n), np.nan)
                # total derivatives
                C10 = dc10_x + dc10_th @ dth
                C20 = r0 * C10
                C20[0] += -c10 * r0 / g
                dex0[0] += a * C10
                dex0[1] += a * C20
                dpre1 = m.D.T @ dth  # (S, n)
                C1s = dpre1 / Ks[:, None]
                C1s[np.arange(S), 1 + np.arange(S)] += dc1s_l
                C2s = rs[:, None] * C1s
                C2s[np.arange(S), 1 + np.arange(S)] += -c1s * rs / g
                dex[:, 0] += a * (C1s - dpre1)
                dex[:, 1] += a * C2s
                dsec += a * dth
            self.worst_foc = worst
            if np.all(np.isfinite(th_all)):
                self.theta = th_all
            # Each market's residual is the mean of the scaled excess demands for goods 1 and 2.
            # By Walras' law (budgets hold exactly) either good alone would do, but each alone
            # has a spurious zero at infinity (good 1's excess vanishes as the price of good 2
            # -> 0 when gamma > 1, good 2's as it -> infinity); since ex1 = -p ex2 (given
            # securities clear) the mean is zero only where both are.
            out = np.concatenate([[0.5 * (ex0[0] / m.E[0, 0] - ex0[1] / m.E[0, 1])],
                                  0.5 * (ex[:, 0] / m.E[1:, 0] - ex[:, 1] / m.E[1:, 1]),
                                  (m.a @ th_all) / m.sec_scale])
            jac = np.vstack([0.5 * (dex0[0] / m.E[0, 0] - dex0[1] / m.E[0, 1]),
                             0.5 * (dex[:, 0] / m.E[1:, 0, None] - dex[:, 1] / m.E[1:, 1, None]),
                             dsec / m.sec_scale[:, None]])
        if not (np.all(np.isfinite(out)) and np.all(np.isfinite(jac))):
            out, jac = np.where(np.isfinite(out), out, 1e6), np.where(np.isfinite(jac), jac, 0.0)
        self._cache = (x.copy(), out, jac)
        return out, jac


def _newton(cl: _Clearing, x, maxiter=50, max_step=2.0):
    """Damped Newton on the clearing system with the analytic Jacobian: the step is capped at
    ``max_step`` in every coordinate (log prices, y) and backtracked until 0.5 |R|^2 falls
    (Armijo). Returns (x, max|R|)."""
    x = np.array(x, float)
    R, J = cl.evaluate(x)
    phi = 0.5 * float(R @ R)
    for _ in range(maxiter):
        if np.abs(R).max() < 1e-3 * SOLVE_TOL:
            break
        try:
            dx = np.linalg.solve(J, -R)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(J, -R, rcond=None)[0]
        if not np.all(np.isfinite(dx)):
            break
        big = np.abs(dx).max()
        if big > max_step:
            dx *= max_step / big
        t = 1.0
        while t > 1e-12:
            xn = x + t * dx
            Rn, Jn = cl.evaluate(xn)
            phin = 0.5 * float(Rn @ Rn)
            if phin <= (1.0 - 1e-4 * t) * phi or (phin < phi and np.abs(Rn).max() < 1e-10):
                break
            t *= 0.5
        else:
            break
        x, R, J, phi = xn, Rn, Jn, phin
    return x, float(np.abs(R).max())


def _root(m: _Economy, r, x0, clearing=None, fallback=True, maxiter=50):
    """Solve the clearing system from x0: damped Newton, then (``fallback``) scipy's hybr and
    lm with the analytic Jacobian. Returns (x, max|R|, method, clearing)."""
    from scipy import optimize

    cl = clearing if clearing is not None else _Clearing(m, r)
    try:
        x, res = _newton(cl, x0, maxiter=maxiter)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError, OverflowError):
        x, res = np.array(x0, float), np.inf
    best = (res, x, "newton")
    if fallback and not res < SOLVE_TOL:
        for method, opts in (("hybr", {"xtol": 1e-14, "maxfev": 100 * (x0.size + 1)}),
                             ("lm", {"xtol": 1e-15, "ftol": 1e-15, "maxiter": 50 * (x0.size + 1)})):
            try:
                sol = optimize.root(cl, x0, method=method, jac=cl.jacobian, options=opts)
                xs, rs = _newton(cl, sol.x, maxiter=20)  # polish
            except (ValueError, np.linalg.LinAlgError, FloatingPointError, OverflowError):
                continue
            if rs < best[0]:
                best = (rs, xs, method)
            if best[0] < SOLVE_TOL:
                break
    res, x = best[0], best[1]
    cl(x)  # leave the warm starts and FOC residual at x
    # a clearing solution is only accepted with every type's demand solved too
    res = max(res, cl.worst_foc * SOLVE_TOL / DEMAND_TOL)
    return np.array(x, float), float(res), best[2], cl


def _homotopy(econ: IncompleteMarketsEconomy, m_final: _Economy):
    """Follow the equilibrium from endowments at which autarky is an equilibrium to the real ones.

    Start: type h holds ``k^h`` of every good at every date and state (``k^h`` its share of the
    total endowment), so everyone's marginal rates of substitution coincide at the endowment:
    ``p0 = p_s = 1``, state prices ``beta pi_s`` and ``theta = 0`` solve Definition 4. The
    endowments move linearly to the real ones; each step is solved by Newton from the last
    solution, with the step halved on failure. Returns (x, r, steps, clearing at t = 1)."""
    e = econ.endowment
    tot = e.sum(axis=(1, 2))
    agg = np.einsum("h,htl->tl", econ.share, e)
    k = tot / agg.sum()  # sum_h alpha^h k^h = 1
    start = k[:, None, None] * np.full_like(e, agg.mean())
    m = _Economy(econ, start)
    p0, p, r = _autarky_prices(m)  # p0 = p = 1, r = beta pi
    x = np.concatenate([[np.log(p0)], np.log(p), np.zeros(econ.J)])
    theta = np.zeros((econ.H, econ.J))
    t, dt, steps = 0.0, 0.25, 0
    while t < 1.0:
        tn = min(1.0, t + dt)
        m = m_final if tn == 1.0 else _Economy(econ, (1 - tn) * start + tn * e)
        cl = _Clearing(m, r)
        cl.theta = theta.copy()
        xn, res, _, cl = _root(m, r, x, cl, fallback=False)
        steps += 1
        if res < SOLVE_TOL:
            t, x, theta = tn, xn, cl.theta.copy()
            dt = min(0.5, dt * 2.0)
        else:
            dt *= 0.5
            if dt < 1e-4 or steps > 200:
                raise SolveError("no_convergence",
                                 f"the endowment homotopy stalled at t = {t:.4g} of 1 (at t = {tn:.4g} it reached "
                                 f"{_reached(cl, xn)}; the equilibrium path may fold back, or a demand come "
                                 "too close to zero consumption)")
    return x, r, steps, cl


# ---------------------------------------------------------------------------- equilibrium
def solve_externality(econ: IncompleteMarketsEconomy) -> IncompleteMarketsEquilibrium:
    """Competitive equilibrium with exogenous incomplete markets (KT Definition 4), exactly.

    Solves (28)-(33): every type's first-order conditions (t = 0, spot (34), securities by the
    envelope theorem), budgets (29)-(30) with equality, and clearing of goods at t = 0 (31),
    securities (32) and spot markets (33) -- see the module docstring for the reduction to
    1 + S + J clearing equations in the prices and the method.

    Parameters
    ----------
    econ : IncompleteMarketsEconomy
        Any H, S and J <= S with ``rank D = J`` (``J = S`` is complete markets), per-type CRRA.

    Returns
    -------
    IncompleteMarketsEquilibrium
        Prices (good 1 numeraire at t = 0 and in each state), allocation, multipliers, welfare
        and a certificate of every condition.

    Raises
    ------
    SpecError
        ``payoffs`` of rank < J (redundant securities, or J > S).
    SolveError
        ``no_convergence`` if the clearing system and the demands are not solved to 1e-12 from
        autarky, along the endowment homotopy, nor by hybr/lm; or if the solution's certificate
        fails. The message says what each route reached and which consumption is nearest zero.
    """
    m = _Economy(econ)
    p0, p, r = _autarky_prices(m)
    x0 = np.concatenate([[np.log(p0)], np.log(p), np.zeros(econ.J)])
    x, res, method, cl = _root(m, r, x0, fallback=False, maxiter=25)
    info = {"start": "autarky", "method": method, "residual": float(np.abs(cl(x)).max()), "homotopy_steps": 0}
    if not res < SOLVE_TOL:
        tried = [f"Newton from autarky reached {_reached(cl, x)}"]
        best = (res, x, cl)
        try:
            x, r, steps, cl = _homotopy(econ, m)
            info = {"start": "homotopy", "method": "newton", "residual": float(np.abs(cl(x)).max()),
                    "homotopy_steps": steps}
        except SolveError as exc:
            tried.append(exc.message)
            x, res, method, cl = _root(m, r, x0, fallback=True)
            info = {"start": "autarky", "method": method, "residual": float(np.abs(cl(x)).max()),
                    "homotopy_steps": 0}
            if res < best[0]:
                best = (res, x, cl)
            if not res < SOLVE_TOL:
                tried.append(f"hybr and lm from autarky reached {_reached(cl, x)}")
                raise SolveError("no_convergence", "; ".join(tried) + _diagnose(econ, m, best[2], best[1])) from None
    info["demand_foc"] = cl.worst_foc
    eq = _assemble(econ, *_back(m, cl, x), info)
    if not eq.certificate.passed:  # never hand back an equilibrium that fails its own conditions
        raise SolveError("no_convergence", f"prices clear to {info['residual']:.1e} but the certificate "
                                           f"{eq.certificate}; {_near_zero(eq)}")
    return eq


def _back(m: _Economy, cl: _Clearing, x):
    """(p0, Q, p, theta) in the economy's own securities: theta = T^-1 phi, Q = T' Qb."""
    p0, Qb, p = cl.prices(x)
    return p0, m.T.T @ Qb, p, np.linalg.solve(m.T, cl.theta.T).T


def _reached(cl: _Clearing, x) -> str:
    return (f"a scaled clearing residual {np.abs(cl(x)).max():.1e} with demand FOCs solved to "
            f"{cl.worst_foc:.1e} (targets {SOLVE_TOL:.0e}, {DEMAND_TOL:.0e})")


def _diagnose(econ, m, cl, x) -> str:
    """'; closest to zero: ...' at the best point reached, or '' if it cannot be assembled."""
    try:
        eq = _assemble(econ, *_back(m, cl, x), {}, certify=False)
    except (SolveError, ValueError, np.linalg.LinAlgError, FloatingPointError):
        return ""
    return "; at the best point " + _near_zero(eq)


def _near_zero(eq: IncompleteMarketsEquilibrium) -> str:
    """Diagnosis of an uncertifiable solution: the consumption closest to zero, relative to the
    type's mean consumption (double precision cannot place an optimum much closer to zero than
    rounding in the wealth it is computed from, ~1e-16 of that wealth)."""
    e = eq.economy
    best = (np.inf, "")
    for h in range(e.H):
        allc = np.concatenate([eq.c0[h][None], eq.c1[h]])  # (1 + S, 2)
        rel = allc / allc.mean()
        t, l = np.unravel_index(np.argmin(rel), rel.shape)
        if rel[t, l] < best[0]:
            where = "at t = 0" if t == 0 else f"in state {t}"
            best = (rel[t, l], f"type {h} (gamma {e.gamma[h]:.3g}) consumes {allc[t, l]:.3g} of good {l + 1} "
                               f"{where}, {rel[t, l]:.1e} of its mean consumption")
    return (f"closest to zero: {best[1]}; an optimum this near zero consumption is not resolvable in double "
            "precision (a low gamma allows near-corner demands)" if best[0] < 1e-6 else
            f"closest to zero: {best[1]}")


def equilibrium_at(econ: IncompleteMarketsEconomy, p0, Q, spot, theta) -> IncompleteMarketsEquilibrium:
    """The allocation that prices (p0, Q, spot) and holdings theta (H, J) imply -- every type's
    t = 0 demand and spot optimum -- with Definition 4's certificate recomputed: used by
    ``segex check`` on a saved equilibrium."""
    return _assemble(econ, float(p0), np.asarray(Q, float), np.asarray(spot, float), np.asarray(theta, float),
                     {"start": "saved", "method": "recheck"})


def _assemble(econ, p0, Q, p, theta, info, certify=True) -> IncompleteMarketsEquilibrium:
    H, S = econ.H, econ.S
    c0 = np.zeros((H, 2))
    c1 = np.zeros((H, S, 2))
    tau = np.zeros((H, S, 2))
    for h in range(H):
        u = econ.utilities[h]
        m0 = econ.e0[h, 0] + p0 * econ.e0[h, 1] - Q @ theta[h]
        c0[h] = np.array(u.demand(m0, p0), float)
        for s in range(S):
            c1s, c2s, delta, _ = econ.spot(h, s, theta[h], p[s])
            c1[h, s] = (c1s, c2s)
            tau[h, s] = (delta, c2s - econ.e1[h, s, 1])
    if not (np.all(np.isfinite(c0)) and np.all(np.isfinite(c1)) and np.all(c0 > 0) and np.all(c1 > 0)):
        raise SolveError("no_convergence", "the prices found leave some type with non-positive wealth")
    mu = np.array([econ.utilities[h].marginal(c0[h, 0]) for h in range(H)], float)
    utility = np.array([econ.lifetime_utility(h, c0[h], c1[h]) for h in range(H)], float)
    eq = IncompleteMarketsEquilibrium(economy=econ, p0=float(p0), Q=np.asarray(Q, float), spot=np.asarray(p, float),
                                      c0=c0, c1=c1, theta=theta, tau=tau, utility=utility, mu=mu,
                                      welfare=float(econ.share @ utility), solve_info=info)
    if certify:
        eq.certificate = _certificate(eq)
    return eq


def _certificate(eq: IncompleteMarketsEquilibrium) -> Certificate:
    cert = Certificate()
    notes = {
        "foc_mu": "mu^h = u'(c10^h) (t = 0 FOC for good 1)",
        "foc_t0": "u'(c20) = mu p0, relative to p0",
        "foc_spot": "spot optimum (34): u'(c2s) / u'(c1s) = p_s, relative",
        "foc_securities": "mu Q_j = beta sum_s pi_s D_js u'(c1s), relative to the gross terms",
        "budget_t0": "budget (29) with equality, relative to wealth",
        "spot_budget": "spot budget (30), relative to state wealth",
        "spot_optimum": "consumption = model.spot() demand at (theta, p_s)",
        "goods_t0": "clearing (31) of goods 1 and 2 at t = 0, relative to the aggregate endowment",
        "securities": "clearing (32), relative to gross positions or the aggregate good-1 scale",
        "spot_clearing": "clearing (33) of goods 1 and 2 in every state, relative to the aggregate",
    }
    for name, r in eq.residuals().items():
        cert.add(name, r, TOL, notes.get(name, ""))
    gain, alt = _consumer_check(eq)
    worst = int(np.argmax(gain))
    cert.add("consumer_problem", float(max(0.0, gain.max())), CONSUMER_TOL,
             "each type's (28)-(30) re-solved at equilibrium prices by Nelder-Mead + BFGS from the endowment; "
             f"relative gains of the re-solve over U^h in [{gain.min():+.1e}, {gain.max():+.1e}] "
             f"(type {worst}: U = {eq.utility[worst]:.12g}, re-solve {alt[worst]:.12g})")
    return cert


def _consumer_check(eq: IncompleteMarketsEquilibrium):
    """((H,) relative gains, (H,) re-solved utilities): see :meth:`IncompleteMarketsEquilibrium.consumer_check`."""
    from scipy import optimize

    with np.errstate(all="ignore"):
        return _consumer_resolve(eq, optimize)


def _consumer_resolve(eq, optimize):
    e = eq.economy
    gains = np.zeros(e.H)
    alts = np.zeros(e.H)
    for h in range(e.H):
        m0 = e.e0[h, 0] + eq.p0 * e.e0[h, 1]
        u = e.utilities[h]

        def negU(z, h=h, m0=m0, u=u):
            c20 = np.exp(z[0])
            th = z[1:]
            c10 = m0 - eq.p0 * c20 - eq.Q @ th  # budget (29) with equality
            if not np.isfinite(c20) or c10 <= 0:
                return 1e300
            val = float(u.u(c10, c20))
            for s in range(e.S):
                _, _, _, v = e.spot(h, s, th, eq.spot[s])  # spot optimum (30), (34)
                if not np.isfinite(v):
                    return 1e300
                val += e.beta * e.prob[s] * float(v)
            return -val

        z0 = np.concatenate([[np.log(e.e0[h, 1])], np.zeros(e.J)])
        nm = optimize.minimize(negU, z0, method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-15 * abs(eq.utility[h]) + 1e-300,
                                        "maxfev": 600 * (e.J + 1)})
        best = nm.fun
        try:
            bf = optimize.minimize(negU, nm.x, method="BFGS", options={"gtol": 1e-14, "maxiter": 500})
            if np.isfinite(bf.fun) and bf.fun < best:
                best = bf.fun
        except (ValueError, FloatingPointError):
            pass
        alts[h] = -best
        scale = max(abs(eq.utility[h]), eq.mu[h] * m0)
        gains[h] = (alts[h] - eq.utility[h]) / scale
    return gains, alts
