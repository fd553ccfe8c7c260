"""The thresholds of PV's Propositions 1-12, to machine precision, for any economy.

**Where trade starts and ends.** No trade is an equilibrium exactly when it passes the
on-the-verge test (PV §3, :func:`.agent.verge`), and at autarky the storage, hence every
multiplier, does not depend on lambda. So the penalties at which the bond trades are the set
{lambda : G(lambda) > 0}, G = highest bid at K^v - lowest ask, with

    ask_h(lambda) = sum_s A_s min(lambda pi_s, mu_s^h) / mu_0^h,
    K^v_s(lambda) = sum over the lowest-ask sellers of n_h s^h [mu_s^h <= lambda pi_s],
    bid_b(lambda) = sum_s A_s K^v_s mu_s^b / mu_0^b,

piecewise linear in lambda with its pieces bounded by the autarky marginal utilities
u'(x_s^h) = mu_s^h / pi_s and the crossings of the ask lines. The ends of every interval are
found by bisection on the sign of G to 1e-15 (:func:`trade_intervals`). In the baseline
(derivation §3): trade starts at lambda_s = 1/x_1 = (7 - sqrt 17)/4 (the good-state marginal
utility, so a seller delivers there) and ends at lambda_e = mu_2 - mu_1 = (3 sqrt 17 - 5)/8
(the bid-ask gap (mu_b - mu_g - lambda)/(2 mu_0) closes). With a requirement rho binding at
autarky the same test at storage max(rho, sigma_a) gives the trade region in (lambda, rho); its
lowest lambda is ``trade_starts_with_reserves`` (baseline 2/3 at rho = 1/2, where
rho > 1/lambda - 1 meets rho < (sqrt(1 + 2/lambda) - 1)/2).

**Where delivery becomes full** (partial -> full on the GED path): bisection on the regime,
of the closed-form branches in PV's mirror family (:mod:`.mirror`), of
:func:`.exact.solve_equilibrium` in general. In the mirror family branch P reaches K = 1/2 at
lambda = 7/(3(e_H + e_L + 2 e_0)) (baseline 7/9, PV Prop 2), the closed form the certificate
compares with.

The values the paper prints (REFERENCE.md) are kept beside ours for its baseline only; where
they disagree the solver's number stands and the docs say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate
from ...result import ResultMixin
from . import agent, mirror

#: G above this is trade: bid and ask are O(1) sums equal to rounding (~1e-16) when a bond
#: is a perfect substitute for storage.
GAP_TOL = 1e-13
#: Bisection stops at this relative width of the bracket.
BISECT_REL = 1e-15
#: The paper's printed thresholds (REFERENCE.md), for its baseline.
PRINTED = {"trade_starts": 0.72, "full_delivery": 7 / 9, "trade_ends": 0.92, "trade_starts_with_reserves": 0.66}
PRINTED_MU = (0.72, 2.56)


# ---------------------------------------------------------------------------- the verge gap
def verge_gap(econ, sigma, lam) -> np.ndarray:
    """G(lambda) = highest bid at K^v - lowest ask at autarky storage ``sigma`` (H,), for an
    array of penalties ``lam`` (vectorised :func:`.agent.verge`)."""
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    A, pi, n = econ.promise, econ.prob, econ.share
    x0 = econ.e0 - sigma
    with np.errstate(divide="ignore"):
        mu = pi[None, :] / (econ.es + np.asarray(sigma)[:, None])  # (H, S)
    mu0 = 1.0 / x0
    cap = lam[:, None, None] * pi[None, None, :]  # (L, 1, S)
    ask = (np.minimum(cap, mu[None]) * A).sum(axis=2) / mu0  # (L, H)
    low = ask <= ask.min(axis=1, keepdims=True) * (1 + 1e-12) + 1e-15
    sellers = low / (low @ n)[:, None]
    delivers = (mu[None] <= cap).astype(float)  # (L, H, S)
    K_v = np.einsum("h,lh,lhs->ls", n, sellers, delivers)
    pay = K_v[:, None, :] * A  # (L, 1, S)
    bid = np.where(pay > 0, mu[None] * pay, 0.0).sum(axis=2) / mu0
    return bid.max(axis=1) - ask.min(axis=1)


def trade_intervals(econ, reserve: float = 0.0) -> list[tuple[float, float]]:
    """The open intervals of lambda in which no trade fails the verge test at autarky storage
    with requirement ``reserve`` (module docstring); an interval's right end is ``inf`` when
    trade never stops."""
    sigma = agent.autarky_storage(econ, reserve)
    with np.errstate(divide="ignore"):
        mu_un = 1.0 / (econ.es + sigma[:, None])  # u'(x_s^h): where deliveries switch
    kinks = np.unique(mu_un[np.isfinite(mu_un)])
    top = 4 * kinks.max() if kinks.size else 10.0
    grid = np.unique(np.concatenate([np.geomspace(1e-6, top, 4000), kinks, kinks * (1 - 1e-12), kinks * (1 + 1e-12)]))
    trade = verge_gap(econ, sigma, grid) > GAP_TOL
    out = []
    edges = np.flatnonzero(np.diff(trade.astype(int)))
    start = None if not trade[0] else grid[0]
    for i in edges:
        b = _boundary(econ, sigma, grid[i], grid[i + 1])
        if trade[i + 1]:
            start = b
        else:
            out.append((start, b))
            start = None
    if start is not None:
        out.append((start, np.inf))
    return out


def _boundary(econ, sigma, a, b) -> float:
    """Bisection on the sign of G between a and b (one side trades, the other does not)."""
    ta = verge_gap(econ, sigma, a)[0] > 0  # the sign itself: GAP_TOL would shift the end by ~tol/slope
    while b - a > BISECT_REL * b:
        m = 0.5 * (a + b)
        if (verge_gap(econ, sigma, m)[0] > 0) == ta:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def reserve_interval(econ, lam: float, n: int = 2000) -> list[tuple[float, float]]:
    """The requirements rho in [0, min e_0) at which the bond trades at penalty ``lam``
    (PV's Lemma with the upper bound it omits; §6.1 at lambda = 0.7: (3/7, 0.4819805061))."""
    rhos = np.linspace(0.0, econ.e0.min(), n + 1)[:-1]
    one = econ.with_(penalty=lam, reserve=0.0)
    trade = np.array([verge_gap(one, agent.autarky_storage(one, r), lam)[0] > GAP_TOL for r in rhos])
    out, start = [], (0.0 if trade[0] else None)
    for i in np.flatnonzero(np.diff(trade.astype(int))):
        a, b = rhos[i], rhos[i + 1]
        ta = trade[i]
        while b - a > BISECT_REL * max(b, 1e-300):
            m = 0.5 * (a + b)
            if (verge_gap(one, agent.autarky_storage(one, m), lam)[0] > 0) == ta:
                a = m
            else:
                b = m
        if trade[i + 1]:
            start = 0.5 * (a + b)
        else:
            out.append((start, 0.5 * (a + b)))
            start = None
    if start is not None:
        out.append((start, float(econ.e0.min())))
    return out


def trade_starts_with_reserves(econ, n: int = 400) -> tuple[float | None, float | None]:
    """``(lambda, rho)``: the lowest penalty at which some requirement makes the bond trade
    (an infimum: trade needs strict inequalities), and the requirement at which it is reached."""
    from scipy.optimize import minimize_scalar

    rhos = np.linspace(0.0, econ.e0.min(), n + 1)[:-1]

    def lowest(r):
        iv = trade_intervals(econ, r)
        return iv[0][0] if iv else np.nan

    lows = np.array([lowest(r) for r in rhos])
    if np.all(np.isnan(lows)):
        return None, None
    i = int(np.nanargmin(lows))
    nxt = [j for j in (i - 1, i + 1) if 0 <= j < n and np.isnan(lows[j])]
    if nxt:  # the infimum sits where trade stops being possible: bisect that edge
        a, b = rhos[i], rhos[nxt[0]]
        while abs(b - a) > BISECT_REL * max(abs(b), 1e-300):
            m = 0.5 * (a + b)
            if np.isnan(lowest(m)):
                b = m
            else:
                a = m
        return float(lowest(a)), float(a)
    lo, hi = rhos[max(i - 1, 0)], rhos[min(i + 1, n - 1)]
    res = minimize_scalar(lowest, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    return float(res.fun), float(res.x)


def full_delivery(econ, interval) -> float | None:
    """The penalty where the GED's delivery turns from partial to full inside the trade
    ``interval`` (module docstring); None if the regime does not change there."""
    from .exact import solve_equilibrium

    if econ.mirror is not None:  # the closed-form branches: bisection on P -> F
        return _bisect_regime(lambda m: mirror.equilibrium(econ.with_(penalty=m, reserve=0.0)).name == "P",
                              interval)
    lo, hi = interval[0], min(interval[1], 10 * interval[0])
    grid = np.linspace(lo, hi, 14)[1:-1]
    solved = [solve_equilibrium(econ.with_(penalty=l, reserve=0.0)) for l in grid]
    for a, b, ea, eb in zip(grid[:-1], grid[1:], solved[:-1], solved[1:]):
        if ea.regime == "partial" and eb.regime == "full":
            warm = [ea.solve_info["z"], eb.solve_info["z"]]
            while b - a > 1e-12 * b:
                m = 0.5 * (a + b)
                eq = solve_equilibrium(econ.with_(penalty=m, reserve=0.0), starts=warm)
                a, b = (m, b) if eq.regime == "partial" else (a, m)
                warm = [eq.solve_info["z"]] + warm[:1]
            return 0.5 * (a + b)
    return None


def _bisect_regime(partial, interval, n: int = 200) -> float | None:
    """The lambda in ``interval`` where ``partial(lambda)`` turns from True to False (a grid of
    ``n`` points brackets it, bisection to 1e-15 relative), or None."""
    lo, hi = interval[0], min(interval[1], 10 * interval[0])
    grid = np.linspace(lo, hi, n)[1:-1]
    flags = [partial(m) for m in grid]
    for a, b, fa, fb in zip(grid[:-1], grid[1:], flags[:-1], flags[1:]):
        if fa and not fb:
            while b - a > BISECT_REL * b:
                m = 0.5 * (a + b)
                a, b = (m, b) if partial(m) else (a, m)
            return 0.5 * (a + b)
    return None


# ---------------------------------------------------------------------------- the concept
@dataclass(repr=False)
class Thresholds(ResultMixin):
    """Every threshold in lambda (module docstring), with the equation each solves, the
    closed form in PV's baseline, and the paper's printed value there."""

    economy: object
    trade_starts: float | None
    full_delivery: float | None
    trade_ends: float | None
    trade_starts_with_reserves: float | None
    reserve_at_start: float | None
    intervals: list
    reserve_for_trade: list
    autarky_mu: np.ndarray
    details: dict
    certificate: Certificate = field(default_factory=Certificate)
    lp: dict | None = None
    CONCEPT = "thresholds"
    HEADLINE = ("trade_starts", "full_delivery", "trade_ends", "trade_starts_with_reserves")

    def to_dict(self) -> dict:
        return {
            "trade_starts": _num(self.trade_starts),
            "full_delivery": _num(self.full_delivery),
            "trade_ends": _num(self.trade_ends),
            "trade_starts_with_reserves": _num(self.trade_starts_with_reserves),
            "reserve_at_trade_start": _num(self.reserve_at_start),
            "trade_intervals": [[_num(a), _num(b)] for a, b in self.intervals],
            "reserve_for_trade": [[_num(a), _num(b)] for a, b in self.reserve_for_trade],
            "autarky_mu": self.autarky_mu.tolist(),
            "details": self.details,
        }

    def to_dataset(self):
        import xarray as xr

        from ...io.labels import label

        keys = ("trade_starts", "full_delivery", "trade_ends", "trade_starts_with_reserves")
        ds = xr.Dataset(
            {"value": ("threshold", [np.nan if getattr(self, k) is None else getattr(self, k) for k in keys],
                       {"units": "utils per unit not delivered", "description": "penalty lambda at the threshold"}),
             "autarky_mu": (("type", "state"), self.autarky_mu,
                            {"units": "utils per good", "description": "unweighted autarky marginal utility 1/x_s"})},
            coords={"threshold": list(keys), "type": np.arange(self.economy.H),
                    "state": np.arange(1, self.economy.S + 1)})
        ds.attrs = {"description": "Peiris-Vardoulakis thresholds", "economy": self.economy.name,
                    "equations": str({k: v.get("equation", "") for k, v in self.details.items()}),
                    "certificate_passed": bool(self.certificate.passed)}
        return label(ds, threshold=("threshold name", "1"))


def _num(x):
    return None if x is None or not np.isfinite(x) else float(x)


def solve_thresholds(econ) -> Thresholds:
    """Every threshold of the economy ``econ`` (its own penalty and reserve matter only for
    ``reserve_for_trade``, the requirements that make the bond trade at its penalty)."""
    base = econ.with_(reserve=0.0)
    sigma = agent.autarky_storage(base)
    mu = 1.0 / (base.es + sigma[:, None])
    intervals = trade_intervals(base)
    first = intervals[0] if intervals else (None, None)
    full = full_delivery(base, first) if intervals else None
    lam_r, rho_r = trade_starts_with_reserves(base)
    t = Thresholds(economy=econ, trade_starts=first[0], full_delivery=full, trade_ends=first[1],
                   trade_starts_with_reserves=lam_r, reserve_at_start=rho_r, intervals=intervals,
                   reserve_for_trade=reserve_interval(econ, econ.penalty), autarky_mu=mu, details={})
    t.details = _details(t)
    t.certificate = _certificate(t)
    return t


EQUATIONS = {
    "trade_starts": "lowest lambda with G(lambda) > 0 at autarky (verge: a seller delivers where u'(x_s) < lambda)",
    "full_delivery": "branch P reaches K = 1/2: lambda = 7/(3(e_H + e_L + 2 e_0)) (mirror family); "
                     "else the GED's regime changes partial -> full",
    "trade_ends": "highest lambda with G(lambda) > 0 at autarky (bid - ask = (mu_b - mu_g - lambda)/(2 mu_0) "
                  "in the mirror family)",
    "trade_starts_with_reserves": "inf over rho of the lowest lambda with G > 0 at storage max(rho, sigma_a): "
                                  "rho > 1/lambda - e_H meets 1/(2(e_L + rho)) - 1/(2(e_H + rho)) > lambda",
}
CLOSED_FORMS = {  # PV's baseline e = (1, 1, 0), (1, 0, 1), A = 1
    "trade_starts": ("(7 - sqrt(17))/4", (7 - np.sqrt(17)) / 4),
    "full_delivery": ("7/9", 7 / 9),
    "trade_ends": ("(3 sqrt(17) - 5)/8", (3 * np.sqrt(17) - 5) / 8),
    "trade_starts_with_reserves": ("2/3 (rho = 1/2)", 2 / 3),
}


def _is_baseline(econ) -> bool:
    return econ.mirror == (1.0, 1.0, 0.0, 1.0)


def _details(t: Thresholds) -> dict:
    out = {}
    for key, eq in EQUATIONS.items():
        d = {"value": _num(getattr(t, key)), "equation": eq}
        if _is_baseline(t.economy):
            d["closed_form"], d["closed_form_value"] = CLOSED_FORMS[key]
            d["paper"] = PRINTED[key]
        out[key] = d
    if _is_baseline(t.economy):
        out["autarky_mu"] = {"value": [float(t.autarky_mu[0, 0]), float(t.autarky_mu[0, 1])],
                             "closed_form": ["(7 - sqrt(17))/4", "(1 + sqrt(17))/2"], "paper": list(PRINTED_MU),
                             "equation": "1/x_s at autarky storage sigma_a = (sqrt(17) - 1)/8 (4 sigma^2 + sigma - 1 = 0)"}
    return out


def _certificate(t: Thresholds) -> Certificate:
    """Each threshold against its closed form where one exists (baseline), and the sign of G
    just inside and outside every trade interval."""
    cert = Certificate()
    if _is_baseline(t.economy):
        for key, (_, value) in CLOSED_FORMS.items():
            got = getattr(t, key)
            cert.add(f"{key}_closed_form", np.inf if got is None else abs(got - value), 1e-12,
                     "bisection to 1e-15 relative; a limit approached along strict inequalities")
    base = t.economy.with_(reserve=0.0)
    sigma = agent.autarky_storage(base)
    for i, (a, b) in enumerate(t.intervals):
        inside = verge_gap(base, sigma, [a * (1 + 1e-9), (b if np.isfinite(b) else 2 * a) * (1 - 1e-9)])
        outside = verge_gap(base, sigma, [a * (1 - 1e-9)] + ([b * (1 + 1e-9)] if np.isfinite(b) else []))
        cert.add(f"interval{i}_sides", float(max(0.0, -inside.min(), outside.max())), GAP_TOL,
                 "G > 0 just inside the interval, <= 0 just outside")
    return cert


__all__ = ["Thresholds", "solve_thresholds", "trade_intervals", "reserve_interval", "verge_gap",
           "trade_starts_with_reserves", "full_delivery"]
