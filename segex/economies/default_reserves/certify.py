"""The certificate of an exact equilibrium of PV's economy: its branch's equations and
inequalities, clearing, the on-the-verge rule, and every type's best response at the
equilibrium prices found by an independent optimisation.

Checks (each a residual against its tolerance, :mod:`segex.certificate`):

* ``storage_foc``, ``buyer_foc``, ``seller_foc``: max |min(a, b)| over the complementarity pairs
  of :func:`.exact.pairs` (the binding side's equation and the other side's sign at once);
* ``delivery_incentive``: D_s = clip(y_s - 1/lambda, 0, A_s phi) (u'(x_s) = lambda at a partial
  delivery);
* ``bond_clearing`` sum_h n_h (theta - phi) = 0; ``pool_consistency`` K_s sum_h n_h A_s phi =
  sum_h n_h D_s (PV §2.2); ``goods_t0`` and ``goods_states`` (resources, per capita);
* ``verge`` (no trade only): the highest bid at K^v minus the lowest ask is <= 0 (PV §3);
* ``best_response_type{h}``: the utility gain type h finds over its equilibrium choice when its
  own problem (PV §2.1.1) is re-solved at (q, K) by cvxpy (Clarabel, an interior-point method on
  the exponential cone -- nothing shared with the equilibrium solver), the optimiser's point
  re-evaluated exactly; relative to 1 + |U|.
"""

from __future__ import annotations

import numpy as np

from ...certificate import Certificate
from . import agent
from .system import KKT_TOL, pack, pairs, unpack

#: The best response is re-solved by Clarabel (interior point, relative accuracy ~1e-8); its
#: point is re-evaluated exactly, so a gain above 1e-7 (relative to 1 + |U|) is a real one.
BR_TOL = 1e-7


def certify(eq) -> Certificate:
    econ = eq.economy
    cert = Certificate()
    p = unpack(econ, _z(eq))
    names = ("storage_foc", "buyer_foc", "seller_foc") if eq.market else ("storage_foc",)
    for name, (a, b) in zip(names, pairs(econ, p)):
        cert.add(name, float(np.abs(np.minimum(a, b)).max()), KKT_TOL, "complementarity: min(variable, margin)")
    y = agent.resources(econ, eq.sigma, eq.theta, eq.K)
    cert.add("delivery_incentive", float(np.abs(eq.D - agent.delivery(econ, y, eq.phi)).max()), KKT_TOL,
             "D_s = clip(y_s - 1/lambda, 0, A_s phi)")
    n = econ.share
    cert.add("bond_clearing", abs(float(n @ (eq.theta - eq.phi))), KKT_TOL)
    cert.add("goods_t0", abs(float(n @ (eq.x[:, 0] + eq.sigma) - n @ econ.e0)), KKT_TOL)
    cert.add("goods_states", float(np.abs(n @ eq.x[:, 1:] - n @ (econ.es + eq.sigma[:, None])).max()), KKT_TOL,
             "the pool passes deliveries to buyers")
    if not eq.market:
        pass
    elif eq.trades:
        pool = eq.K * econ.promise * (n @ eq.phi) - n @ eq.D
        cert.add("pool_consistency", float(np.abs(pool).max()), KKT_TOL, "K_s sum n A_s phi = sum n D_s")
    else:
        cert.add("verge", max(0.0, eq.bid - eq.ask), KKT_TOL,
                 f"no trade on the verge: highest bid {eq.bid:.10g} <= lowest ask {eq.ask:.10g} at K^v")
    for h, gain in enumerate(best_response_gains(eq)):
        cert.add(f"best_response_type{h}", gain, BR_TOL, "utility gain of an independent re-solve at (q, K)")
    return cert


def _z(eq) -> np.ndarray:
    econ = eq.economy
    V = float(econ.share @ eq.phi)
    share = eq.phi / V if V > 0 else agent.verge(econ, eq.sigma)[3]
    return pack(econ, eq.sigma, eq.theta, share, V, eq.q, eq.K)


def best_response(econ, h: int, q: float, K, market: bool = True) -> tuple[float, tuple]:
    """Type h's problem at prices (q, K) solved by cvxpy: ``(U, (sigma, theta, phi))``, U
    re-evaluated exactly at the optimiser's point with the optimal deliveries. ``market``
    False: no bond (theta = phi = 0)."""
    import cvxpy as cp

    A, pi, lam = econ.promise, econ.prob, econ.penalty
    sig, th, ph = cp.Variable(), cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    D = cp.Variable(econ.S, nonneg=True)
    x0 = econ.e0[h] - sig - q * (th - ph)
    xs = econ.es[h] + sig + cp.multiply(A * np.asarray(K), th) - D
    objective = cp.log(x0) + pi @ cp.log(xs) - lam * (pi @ (A * ph - D))
    closed = [] if market else [th == 0, ph == 0]
    prob = cp.Problem(cp.Maximize(objective), [sig >= econ.reserve, D <= A * ph] + closed)
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.SolverError:
        return -np.inf, (np.nan, np.nan, np.nan)
    if sig.value is None:
        return -np.inf, (np.nan, np.nan, np.nan)
    choice = (max(float(sig.value), econ.reserve), max(float(th.value), 0.0), max(float(ph.value), 0.0))
    return evaluate(econ, h, q, K, *choice), choice


def evaluate(econ, h: int, q: float, K, sigma: float, theta: float, phi: float) -> float:
    """Type h's utility at (sigma, theta, phi) with its optimal deliveries; -inf if infeasible."""
    x0 = econ.e0[h] - sigma - q * (theta - phi)
    y = econ.es[h] + sigma + econ.promise * np.asarray(K) * theta
    D = np.clip(y - agent.inverse_penalty(econ.penalty), 0.0, econ.promise * phi)
    x = y - D
    if x0 <= 0 or np.any(x <= 0):
        return -np.inf
    return float(np.log(x0) + econ.prob @ np.log(x) - econ.penalty * (econ.prob @ (econ.promise * phi - D)))


def best_response_gains(eq) -> np.ndarray:
    """(H,) relative utility gain of each type's independent best response over its
    equilibrium choice (<= 0 up to the re-solve's accuracy at an equilibrium)."""
    econ = eq.economy
    gains = np.empty(econ.H)
    for h in range(econ.H):  # one small convex program per type
        U_br, _ = best_response(econ, h, eq.q, eq.K, eq.market)
        U = eq.w[h]
        gains[h] = max(0.0, U_br - U) / (1.0 + abs(U))
    return gains


__all__ = ["certify", "best_response", "best_response_gains", "evaluate"]
