"""One agent of PV's economy at given prices: its delivery rule, consumption, utility and
marginal values (PV §2.1.1 with the promise A_s and the reserve rho; :mod:`.model`).

Everything is vectorised over types (rows) and states (columns). Multipliers are
probability-weighted, mu_s = pi_s u'(x_s) = pi_s / x_s, as in the paper's first-order
conditions ("min[lambda/2, mu_s]" with pi_s = 1/2); the paper's printed autarky "mu_1 = 0.72,
mu_2 = 2.56" are the *unweighted* marginal utilities 1/x_s = mu_s / pi_s.

First-order conditions of agent h at prices (q, K) (derivation in docs/default_reserves.md):

* storage:   mu_0 - sum_s mu_s + eta = 0, eta >= 0, eta (sigma - rho) = 0;
* delivery:  D_s = 0 if mu_s > lambda pi_s, D_s = A_s phi if mu_s < lambda pi_s, and
  u'(x_s) = lambda (log: x_s = 1/lambda) in between -- so D_s = clip(y_s - 1/lambda, 0, A_s phi)
  with y_s = e_s + sigma + A_s K_s theta the resources before delivery;
* selling:   q mu_0 <= sum_s A_s min(lambda pi_s, mu_s), = if phi > 0 (the seller's ask, PV §3);
* buying:    q mu_0 >= sum_s A_s K_s mu_s, = if theta > 0 (the buyer's bid).
"""

from __future__ import annotations

import numpy as np


def inverse_penalty(penalty: float) -> float:
    """1/lambda, the consumption at which delivering one more unit costs what defaulting on
    it does (infinite at lambda = 0: nobody delivers)."""
    return np.inf if penalty == 0 else 1.0 / penalty


def resources(econ, sigma, theta, K) -> np.ndarray:
    """(H, S) y_s = e_s + sigma + A_s K_s theta: state resources before delivery."""
    return econ.es + np.asarray(sigma)[:, None] + (econ.promise * K)[None, :] * np.asarray(theta)[:, None]


def delivery(econ, y, phi) -> np.ndarray:
    """(H, S) the delivery each seller chooses, D_s = clip(y_s - 1/lambda, 0, A_s phi)."""
    return np.clip(y - inverse_penalty(econ.penalty), 0.0, econ.promise[None, :] * np.asarray(phi)[:, None])


def utility(econ, x0, x, phi, D) -> np.ndarray:
    """(H,) U = ln x_0 + sum_s pi_s ln x_s - lambda sum_s pi_s (A_s phi - D_s)."""
    shortfall = econ.promise[None, :] * np.asarray(phi)[:, None] - D
    return np.log(x0) + np.log(x) @ econ.prob - econ.penalty * (shortfall @ econ.prob)


def margins(econ, mu0, mu, q, K):
    """Each type's marginal values at consumption multipliers ``mu0`` (H,) and ``mu`` (H, S):
    ``storage`` = mu_0 - sum_s mu_s (= -eta; <= 0, = 0 where storage exceeds the reserve),
    ``bid`` = sum_s A_s K_s mu_s / mu_0 and ``ask`` = sum_s A_s min(lambda pi_s, mu_s) / mu_0,
    both in t = 0 goods per bond (PV §3)."""
    A = econ.promise
    storage = mu0 - mu.sum(axis=1)
    pay = (A * K)[None, :]
    bid = np.where(pay > 0, mu * pay, 0.0).sum(axis=1) / mu0
    ask = (np.minimum(econ.penalty * econ.prob[None, :], mu) * A[None, :]).sum(axis=1) / mu0
    return storage, bid, ask


def autarky_storage(econ, reserve: float | None = None) -> np.ndarray:
    """(H,) each type's storage with no bond: the root of 1/(e_0 - sigma) = sum_s pi_s/(e_s + sigma)
    (PV Prop 1; baseline 4 sigma^2 + sigma - 1 = 0), or the reserve where that root is below it."""
    from scipy.optimize import brentq

    rho = econ.reserve if reserve is None else reserve
    out = np.empty(econ.H)
    for h in range(econ.H):  # one scalar root per type: H is small, no grid here
        e0, es = econ.e0[h], econ.es[h]

        def foc(s, e0=e0, es=es):
            with np.errstate(divide="ignore"):
                return 1.0 / (e0 - s) - float(econ.prob @ (1.0 / (es + s)))

        if foc(rho) >= 0:
            out[h] = rho
            continue
        a = rho if np.isfinite(foc(rho)) else rho + 1e-300  # an empty state: ln 0 at sigma = 0
        while not np.isfinite(foc(a)):
            a = a * 1e3 + 1e-300
        out[h] = brentq(foc, a, e0 * (1 - 1e-15), xtol=1e-16, rtol=1e-15)
    return out


def verge(econ, sigma):
    """The on-the-verge test of a no-trade allocation with storage ``sigma`` (PV §3): the
    lowest-ask sellers would deliver A_s where mu_s <= lambda pi_s and nothing where mu_s >
    lambda pi_s, which fixes the delivery rate K^v a buyer expects (their share-weighted
    average when several types tie); no trade is an equilibrium iff no buyer bids more at K^v
    than the lowest ask.

    Returns ``(K_v, bid, ask, sellers)``: K^v (S,), the highest bid, the lowest ask (t = 0
    goods per bond) and the sellers' shares s^h of a marginal unit (sum_h n_h s^h = 1)."""
    x0 = econ.e0 - sigma
    x = econ.es + np.asarray(sigma)[:, None]
    with np.errstate(divide="ignore"):
        mu = econ.prob[None, :] / x
    mu0 = 1.0 / x0
    _, _, asks = margins(econ, mu0, mu, 0.0, np.zeros(econ.S))
    low = asks <= asks.min() * (1 + 1e-12) + 1e-15
    sellers = low / (econ.share @ low)
    K_v = (econ.share * sellers) @ (mu <= econ.penalty * econ.prob[None, :]).astype(float)
    _, bids, _ = margins(econ, mu0, mu, 0.0, K_v)
    return K_v, float(bids.max()), float(asks.min()), sellers
