"""PV's equilibrium conditions as one square complementarity system (:mod:`.exact` has the
derivation): the unknowns z = (sigma, theta, s, V, q, K, delta), everything they imply
(:class:`Point`), the complementarity pairs and the Fischer-Burmeister residual."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import agent

#: Equilibrium conditions hold to rounding (~1e-15 on these O(1) numbers); 1e-10 leaves room for
#: conditioning near a threshold and still flags any real defect.
KKT_TOL = 1e-10
#: A solve is accepted when its largest residual is below this, after polishing: solutions polish
#: to ~1e-15; a near-solution stuck at ~1e-12 beside the no-trade limit (tiny V, singular Jacobian,
#: seen within 1e-6 of a threshold) is not one.
ACCEPT = 4e-15
#: A volume below this is no trade: the solve is replaced by the no-trade point on the verge,
#: which must then solve the system itself (trade that small moves welfare by < 1e-12).
VANISHING = 1e-7
#: Below this a quantity (volume, a position, a delivery) counts as zero in the regime labels:
#: the solution's own rounding is ~1e-15.
ZERO = 1e-11
#: Below this consumption 1/x is continued linearly (keeps the residual finite off the domain).
X_FLOOR = 1e-7


@dataclass
class Point:
    """Everything at one value of the unknowns (module docstring)."""

    sigma: np.ndarray
    theta: np.ndarray
    share: np.ndarray  # s^h, each seller's share of the volume
    V: float
    q: float
    K: np.ndarray
    phi: np.ndarray
    D_rate: np.ndarray  # (H, S) D_s^h / V (its limit at V = 0)
    D: np.ndarray
    x0: np.ndarray
    x: np.ndarray


def unpack(econ, z) -> Point:
    H, S = econ.H, econ.S
    sigma, theta, share = z[:H], z[H:2 * H], z[2 * H:3 * H]
    V, q, K = float(z[3 * H]), float(z[3 * H + 1]), z[3 * H + 2:3 * H + 2 + S]
    D_rate = z[3 * H + 2 + S:].reshape(H, S)
    phi = V * share
    y = agent.resources(econ, sigma, theta, K)
    D = V * D_rate
    x0 = econ.e0 - sigma - q * (theta - phi)
    return Point(sigma, theta, share, V, q, K, phi, D_rate, D, x0, y - D)


def delivery_rate(econ, sigma, theta, share, V, K) -> np.ndarray:
    """(H, S) D_s^h / V from the delivery rule D = clip(y - 1/lambda, 0, A phi), and its limit
    A_s s^h [y_s > 1/lambda] at V = 0 (the marginal sellers' delivery: the verge rule)."""
    y = agent.resources(econ, sigma, theta, K)
    A = econ.promise[None, :] * np.asarray(share)[:, None]
    surplus = y - agent.inverse_penalty(econ.penalty)
    return np.clip(surplus / V, 0.0, A) if V > 0 else np.where(surplus > 0, A, 0.0)


def pack(econ, sigma, theta, share, V, q, K, delta=None) -> np.ndarray:
    """z from its parts; the delivery rates ``delta`` = D/V follow the delivery rule if not given."""
    if delta is None:
        delta = delivery_rate(econ, sigma, theta, share, V, K)
    return np.concatenate([sigma, theta, share, [V, q], K, np.ravel(delta)])


def _inv(x):
    """1/x, continued linearly below :data:`X_FLOOR` (so the residual is finite and points
    back into the domain)."""
    xf = np.maximum(x, X_FLOOR)
    return np.where(x >= X_FLOOR, 1.0 / xf, 2.0 / X_FLOOR - x / X_FLOOR**2)


def _fb(a, b):
    """Fischer-Burmeister: zero iff a >= 0, b >= 0, ab = 0."""
    return a + b - np.sqrt(a * a + b * b)


def pairs(econ, p: Point):
    """The three complementarity pairs ``(variable, margin)`` of every type, margins in utils
    per t = 0 good (storage) or per bond (buyer, seller)."""
    mu0 = _inv(p.x0)
    mu = econ.prob[None, :] * _inv(p.x)
    storage, bid, ask = agent.margins(econ, mu0, mu, p.q, p.K)
    return ((p.sigma - econ.reserve, storage), (p.theta, (p.q - bid) * mu0), (p.share, (ask - p.q) * mu0))


def residual(econ, z) -> np.ndarray:
    """The square system: three Fischer-Burmeister pairs per type, sum n s = 1, bond clearing,
    the pool's rate per state, and each seller's delivery rate as the mid-point condition
    delta = clip(delta + lambda x_s - 1, 0, A_s s): delta = 0 where x_s < 1/lambda, A_s s where
    x_s > 1/lambda, anything between at x_s = 1/lambda (a partial delivery)."""
    p = unpack(econ, z)
    comp = [_fb(a, b) for a, b in pairs(econ, p)]
    n, A = econ.share, econ.promise
    pool = np.where(A > 0, A * p.K - n @ p.D_rate, p.K)  # K_s is free where nothing is promised
    cap = A[None, :] * p.share[:, None]
    rule = p.D_rate - np.clip(p.D_rate + econ.penalty * p.x - 1.0, 0.0, cap)
    return np.concatenate(comp + [[n @ p.share - 1.0, n @ p.theta - p.V], pool, rule.ravel()])


def verge_point(econ) -> np.ndarray:
    """z of the no-trade allocation on the verge: autarky storage, V = 0, the lowest-ask sellers'
    shares, q = the lowest ask, K = K^v."""
    sigma = agent.autarky_storage(econ)
    K_v, _, ask, sellers = agent.verge(econ, sigma)
    return pack(econ, sigma, np.zeros(econ.H), sellers, 0.0, ask, K_v)


def bounds(econ) -> tuple[np.ndarray, np.ndarray]:
    H, S = econ.H, econ.S
    lo = pack(econ, np.full(H, econ.reserve), np.zeros(H), np.zeros(H), 0.0, 0.0, np.zeros(S), np.zeros((H, S)))
    hi = pack(econ, econ.e0, np.full(H, np.inf), np.full(H, np.inf), np.inf, np.inf, np.ones(S),
              np.full((H, S), np.inf))
    return lo, hi



__all__ = ["Point", "unpack", "pack", "delivery_rate", "pairs", "residual", "bounds", "verge_point"]
