"""Closed-form branches of PV's symmetric family: two mirror types e^1 = (e_0, e_H, e_L),
e^2 = (e_0, e_L, e_H), equal shares, pi = (1/2, 1/2), promise (A, A) (:attr:`.model.
DefaultReservesEconomy.mirror`); the paper's baseline is e_0 = e_H = 1, e_L = 0, A = 1.

By symmetry theta = phi and K_1 = K_2 = K. Each type delivers d in its good state and
nothing in its bad one, so A K theta = d/2 and (derivation §2)

    x_0 = e_0 - sigma,  x_g = e_H + sigma - d/2,  x_b = e_L + sigma + d/2,
    mu_0 = 1/x_0,  mu_g = 1/(2 x_g),  mu_b = 1/(2 x_b)      (weighted multipliers).

Branches (storage free, or bound at sigma = rho), each solved on its own equations and kept
when its inequalities hold:

* **autarky** -- no trade; storage solves mu_0 = mu_g + mu_b (PV Prop 1: baseline
  4 sigma^2 + sigma - 1 = 0). Valid on the verge: not (mu_g < lambda/2 and lambda < mu_b - mu_g).
* **P**, partial delivery in the good state (PV Props 2, 8): x_g = 1/lambda, so
  d = 2(e_H + sigma - 1/lambda), x_b = e_H + e_L + 2 sigma - 1/lambda; the seller's ask
  q mu_0 = A lambda and the buyer's bid q mu_0 = A K (mu_g + mu_b) give
  K = 2 lambda x_b / (lambda x_b + 1); phi = d/(2AK), q = A lambda (e_0 - sigma). Free storage:
  1/(e_0 - sigma) = lambda/2 + 1/(2 x_b). Valid iff d > 0 and K <= 1/2 (x_b <= 1/(3 lambda)).
* **F**, full delivery in the good state (PV Props 1, 5, 6): K = 1/2, d = A phi, and seller =
  buyer gives lambda = mu_b - mu_g; q = A (mu_g + lambda/2)/mu_0. Free storage: mu_0 = mu_g + mu_b.
  Valid iff d > 0 and x_g >= 1/lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

#: Root-finding accuracy (absolute, on O(1) unknowns).
XTOL = 1e-15
#: A bid-ask gap (utils) this small is no trade: on a threshold itself P and F reach d = 0 and
#: the branch that holds is autarky.
GAP = 1e-13


@dataclass(frozen=True)
class Branch:
    """One branch's solution: ``name`` ("autarky", "P", "F"), ``storage`` ("free", "bound"),
    storage sigma, good-state delivery d, bonds phi (= theta), rate K, price q, consumption
    (x_0, x_g, x_b), welfare w and ``valid`` (its inequalities hold)."""

    name: str
    storage: str
    sigma: float
    d: float
    phi: float
    K: float
    q: float
    x0: float
    xg: float
    xb: float
    w: float
    valid: bool

    @property
    def regime(self) -> str:
        return {"autarky": "autarky", "P": "partial", "F": "full"}[self.name]


def _welfare(x0, xg, xb, lam, A, phi, d) -> float:
    return float(np.log(x0) + 0.5 * np.log(xg) + 0.5 * np.log(xb) - lam * (A * phi - d / 2))


def _root(f, a, b) -> float | None:
    """A root of f on [a, b] when f changes sign there, else None."""
    fa, fb = f(a), f(b)
    if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0:
        return None
    return brentq(f, a, b, xtol=XTOL, rtol=4 * np.finfo(float).eps)


def autarky(e0, eH, eL, A, lam, rho) -> Branch:
    sigma = autarky_storage(e0, eH, eL, rho)
    xg, xb = eH + sigma, eL + sigma
    mug, mub = 1 / (2 * xg), 1 / (2 * xb)
    trade = mug < lam / 2 - GAP and lam < mub - mug - GAP  # strict, as the verge test (thresholds.GAP_TOL)
    ask = A * (min(lam / 2, mug) + min(lam / 2, mub)) * (e0 - sigma)
    return Branch("autarky", "bound" if sigma == rho else "free", sigma, 0.0, 0.0, 0.5 if mug < lam / 2 else 0.0,
                  ask, e0 - sigma, xg, xb, _welfare(e0 - sigma, xg, xb, lam, A, 0, 0), not trade)


def autarky_storage(e0, eH, eL, rho) -> float:
    """Root of 1/(e_0 - sigma) = 1/(2(e_H + sigma)) + 1/(2(e_L + sigma)), or rho if above it."""
    def foc(s):
        return 1 / (e0 - s) - 0.5 / (eH + s) - 0.5 / (eL + s)

    lo = rho if eL + rho > 0 else 1e-300
    if foc(lo) >= 0:
        return rho
    return brentq(foc, lo, e0 * (1 - 1e-15), xtol=XTOL, rtol=4 * np.finfo(float).eps)


def partial(e0, eH, eL, A, lam, rho) -> Branch | None:
    """Branch P (module docstring), storage free if that solves it above rho, else bound."""
    def xb_of(s):
        return eH + eL + 2 * s - 1 / lam

    def storage(s):  # mu_0 - mu_g - mu_b on P
        return 1 / (e0 - s) - lam / 2 - 1 / (2 * xb_of(s))

    lo = max(rho, 1 / lam - eH, (1 / lam - eH - eL) / 2) + 1e-14
    if lo >= e0:
        return None
    s_free = _root(storage, lo, e0 * (1 - 1e-15))
    if s_free is not None and s_free > rho:
        sigma, kind = s_free, "free"
    else:
        sigma, kind = rho, "bound"
    xb = xb_of(sigma)
    d = 2 * (eH + sigma - 1 / lam)
    if xb <= 0 or d <= 0:
        return None
    K = 2 * lam * xb / (lam * xb + 1)
    phi = d / (2 * A * K)
    x0 = e0 - sigma
    eta_ok = kind == "free" or storage(sigma) >= -1e-13
    valid = d > 0 and 3 * lam * xb <= 1 + 1e-13 and eta_ok
    return Branch("P", kind, sigma, d, phi, K, A * lam * x0, x0, 1 / lam, xb,
                  _welfare(x0, 1 / lam, xb, lam, A, phi, d), bool(valid))


def full(e0, eH, eL, A, lam, rho) -> Branch | None:
    """Branch F (module docstring), storage free if that solves it above rho, else bound."""
    def d_of(s):  # lambda = mu_b - mu_g, decreasing in d
        f = lambda d: 1 / (2 * (eL + s + d / 2)) - 1 / (2 * (eH + s - d / 2)) - lam  # noqa: E731
        hi = 2 * (eH + s) * (1 - 1e-15)
        return _root(f, 0.0, hi) if eL + s > 0 else _root(f, 1e-300, hi)

    def storage(s):  # free storage: mu_b = (mu_0 + lambda)/2, mu_g = (mu_0 - lambda)/2 fix x_g + x_b
        mu0 = 1 / (e0 - s)
        return 2 * mu0 / (mu0 * mu0 - lam * lam) - (eH + eL + 2 * s)

    lo = max(rho, e0 - 1 / lam) + 1e-12  # mu_0 > lambda
    s_free = _root(storage, lo, e0 * (1 - 1e-15)) if lo < e0 else None
    if s_free is not None and s_free > rho:
        sigma, kind = s_free, "free"
    else:
        sigma, kind = rho, "bound"
    d = d_of(sigma)
    if d is None or d <= 0:
        return None
    xg, xb, x0 = eH + sigma - d / 2, eL + sigma + d / 2, e0 - sigma
    mug, mub = 1 / (2 * xg), 1 / (2 * xb)
    q = A * (mug + lam / 2) * x0
    eta_ok = kind == "free" or 1 / x0 - mug - mub >= -1e-13
    valid = xg * lam >= 1 - 1e-13 and eta_ok
    return Branch("F", kind, sigma, d, d / A, 0.5, q, x0, xg, xb, _welfare(x0, xg, xb, lam, A, d / A, d), bool(valid))


def branches(econ) -> list[Branch]:
    """Every branch of the mirror economy ``econ`` that solves its equations (valid or not)."""
    e0, eH, eL, A = econ.mirror
    lam, rho = econ.penalty, econ.reserve
    out = [autarky(e0, eH, eL, A, lam, rho)]
    if lam > 0:
        out += [b for b in (partial(e0, eH, eL, A, lam, rho), full(e0, eH, eL, A, lam, rho)) if b is not None]
    return out


def equilibrium(econ) -> Branch:
    """The valid branch (P and F coincide on their common boundary K = 1/2; then P)."""
    valid = [b for b in branches(econ) if b.valid]
    if not valid:
        raise ValueError(f"no valid branch at lambda = {econ.penalty}, rho = {econ.reserve}")
    return valid[0] if len(valid) == 1 else next(b for b in valid if b.name != "autarky")


def as_point(econ, b: Branch) -> np.ndarray:
    """The branch as the unknowns z of :mod:`.exact` (type 0's good state is the state with e_H)."""
    from .system import pack

    theta = 0.0 if b.name == "autarky" else b.phi  # symmetric: both states have the same K
    return pack(econ, np.full(2, b.sigma), np.full(2, theta), np.ones(2), b.phi, b.q, np.full(2, b.K))


__all__ = ["Branch", "autarky", "autarky_storage", "partial", "full", "branches", "equilibrium", "as_point"]
