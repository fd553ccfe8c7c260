"""Primitives of Kilenthong–Townsend's exogenous incomplete-markets economy (KT 2.2).

Two periods t = 0, 1; S states at t = 1 with probabilities ``prob`` (pi_s); two goods in
every date and state, good 1 the numeraire; no storage. J securities bought at t = 0 pay
good 1 only: security j pays ``payoffs[j, s]`` (D_js) units of good 1 in state s. H types
with population shares ``share`` (alpha^h), endowments ``endowment[h]`` of shape (1 + S, 2)
(row 0 is t = 0, row 1 + s is state s; column 0 good 1, column 1 good 2) and their own CRRA
coefficient ``gamma[h]``:

    u^h(c1, c2) = c1**(1 - g_h) / (1 - g_h) + c2**(1 - g_h) / (1 - g_h)   (log at g_h = 1),
    U^h = u^h(c10, c20) + beta sum_s pi_s u^h(c1s, c2s)                       (eq. 27).

Each type is homothetic, but types with different g_h are not *identically* homothetic:
at spot price p a type spends the share 1 / (1 + p**(1 - 1/g_h)) of its wealth on good 1,
so the spot price that clears state s depends on how wealth is distributed, hence on the
securities held -- the pecuniary externality of KT Section 2.2 (Geanakoplos–Polemarchakis).

Spot trade in state s (eqs. 30, 34): with pre-trade wealth W = e1s + sum_j D_js theta_j +
p_s e2s (good-1 units), the type consumes ``c1 = W / (1 + p**(1 - 1/g))``,
``c2 = c1 p**(-1/g)`` (:class:`segex.utility.CRRA`), and its excess demand for good 1 --
the right to trade Delta^h_s(p) it must hold in an exchange at p (eq. 34) -- is
``Delta = c1 - e1s - sum_j D_js theta_j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import SpecError
from ..endowments import TwoDateEndowments, sums_to_one, vector
from ...utility import CRRA


@dataclass(frozen=True)
class IncompleteMarketsEconomy(TwoDateEndowments):
    """KT 2.2's economy. Construct with :meth:`create` to validate.

    Attributes
    ----------
    share : (H,) population shares alpha^h, summing to one.
    gamma : (H,) each type's CRRA coefficient, > 0.
    endowment : (H, 1 + S, 2) endowments, all positive.
    prob : (S,) state probabilities pi_s, summing to one.
    payoffs : (J, S) payoff matrix D in good 1.
    beta : discount factor in (0, 1].
    name : a label for reports.
    """

    share: np.ndarray
    gamma: np.ndarray
    endowment: np.ndarray
    prob: np.ndarray
    payoffs: np.ndarray
    beta: float = 1.0
    name: str = "incomplete_markets"
    utilities: tuple = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "utilities", tuple(CRRA(float(g)) for g in self.gamma))

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, share, gamma, endowment, prob=(1.0,), payoffs=((1.0,),), beta=1.0, name="incomplete_markets"):
        """Validate and build; every failure is a :class:`SpecError` naming the field."""
        prob = vector(prob, "prob")
        S = prob.size
        if S < 1:
            raise SpecError("prob", "give at least one state probability, e.g. prob = [0.5, 0.5]")
        share = vector(share, "types[*].share")
        H = share.size
        if H < 1:
            raise SpecError("types", "define at least one [[types]] table")
        gamma = vector(gamma, "types[*].gamma")
        if gamma.size != H:
            raise SpecError("types[*].gamma", f"give one CRRA coefficient per type ({H}), got {gamma.size}")
        endowment = np.asarray(endowment, dtype=float)
        if endowment.shape != (H, 1 + S, 2):
            raise SpecError("types[*].endowment", f"needs {1 + S} rows (t=0 then each of the {S} states) of "
                                                  f"2 goods per type, got shape {endowment.shape[1:]}")
        D = np.asarray(payoffs, dtype=float)
        if D.ndim != 2 or D.shape[1] != S or D.shape[0] < 1:
            raise SpecError("payoffs", f"give one row per security with one payoff per state ({S}), e.g. "
                                       f"payoffs = [{[1.0] * S}]; got shape {D.shape}")
        if not np.all(np.isfinite(D)):
            raise SpecError("payoffs", f"payoffs must be finite numbers, got {D.tolist()}")
        if np.any(np.abs(D).sum(axis=1) == 0):
            j = int(np.nonzero(np.abs(D).sum(axis=1) == 0)[0][0])
            raise SpecError(f"payoffs[{j}]", "a security that pays nothing in every state cannot be priced; drop it")
        _check_payoffs(D)
        for h in range(H):
            if not np.isfinite(share[h]) or share[h] <= 0:
                raise SpecError(f"types[{h}].share", f"population shares must be positive, got {share[h]}")
            if not np.isfinite(gamma[h]) or gamma[h] <= 0:
                raise SpecError(f"types[{h}].gamma", f"the CRRA coefficient must be positive, got {gamma[h]}")
            e = endowment[h]
            if not np.all(np.isfinite(e)) or np.any(e <= 0):
                raise SpecError(f"types[{h}].endowment",
                                f"every endowment must be positive and finite, got {e.tolist()}")
        sums_to_one(share, "types[*].share", "population shares")
        if np.any(~np.isfinite(prob)) or np.any(prob <= 0):
            raise SpecError("prob", f"state probabilities must be positive, got {prob.tolist()}")
        sums_to_one(prob, "prob", "state probabilities")
        if not (np.isfinite(beta) and 0 < beta <= 1):
            raise SpecError("beta", f"the discount factor must lie in (0, 1], got {beta}")
        return cls(share=share, gamma=gamma, endowment=endowment, prob=prob, payoffs=D, beta=float(beta), name=name)

    # ------------------------------------------------------------------ shapes and aggregates
    @property
    def J(self) -> int:
        return self.payoffs.shape[0]

    @property
    def complete(self) -> bool:
        """rank D = S: every state-contingent claim on good 1 can be built (footnote 21)."""
        return int(np.linalg.matrix_rank(self.payoffs)) == self.S


    # ------------------------------------------------------------------ spot markets (eqs. 30, 34)
    def wealth(self, h, s, theta, p):
        """Pre-trade wealth in good-1 units in state s: e1s + D_s . theta + p e2s.

        ``theta`` (..., J) security holdings, ``p`` spot price(s) of good 2; broadcast."""
        theta = np.asarray(theta, dtype=float)
        e = self.e1[h, s]
        return e[0] + theta @ self.payoffs[:, s] + np.asarray(p, dtype=float) * e[1]

    def spot(self, h, s, theta, p):
        """Type h's state-s spot optimum at price p: (c1, c2, Delta, v) with Delta = tau_1s*
        the right to trade of eq. (34) and v = u^h(c1, c2); where wealth is not positive the
        bundle is unaffordable (c = nan, v = -inf)."""
        W = self.wealth(h, s, theta, p)
        u = self.utilities[h]
        ok = W > 0
        c1, c2 = u.demand(np.where(ok, W, 1.0), p)
        c1, c2 = np.where(ok, c1, np.nan), np.where(ok, c2, np.nan)
        pre = self.e1[h, s, 0] + np.asarray(theta, dtype=float) @ self.payoffs[:, s]
        with np.errstate(invalid="ignore"):
            v = np.where(ok, u.u(np.where(ok, c1, 1.0), np.where(ok, c2, 1.0)), -np.inf)
        return c1, c2, c1 - pre, v

    def spot_clearing_price(self, wealth_weights, tol=1e-14):
        """A spot price of good 2 that clears good 1 given each type's pre-trade holdings
        (any date or state: only the holdings matter).

        ``wealth_weights``: (H, 2) per-capita holdings alpha^h (good 1 incl. security payoffs,
        good 2) of each type. Excess demand for good 1,
        ``sum_h (a1_h + p a2_h) / (1 + p**(1 - 1/g_h)) - a1_h``, is continuous, negative as
        p -> 0 and positive as p -> inf when both goods are held, so a root exists; with some
        g_h > 1 it can have several (several spot equilibria). Returned: the root Brent's
        method finds in log p inside the first bracket met by doubling [e^-1, e] outwards --
        the one nearest p = 1 in that sense."""
        from scipy.optimize import brentq

        a = np.asarray(wealth_weights, dtype=float)

        def excess(logp):
            p = np.exp(logp)
            return float(sum((a[h, 0] + p * a[h, 1]) / (1.0 + p ** (1.0 - 1.0 / self.gamma[h])) - a[h, 0]
                             for h in range(self.H)))

        lo, hi = -1.0, 1.0
        while excess(lo) > 0:
            lo *= 2
        while excess(hi) < 0:
            hi *= 2
        return float(np.exp(brentq(excess, lo, hi, xtol=tol, rtol=4 * np.finfo(float).eps)))

    def spot_excess(self, holdings, p):
        """Aggregate excess demand for good 1 at spot price(s) p and its derivative in log p.

        ``holdings`` (..., H, 2): each type's per-capita-weighted pre-trade holdings
        alpha^h (good 1 incl. security payoffs, good 2); ``p`` broadcast against (...).
        Demand for good 1 is ``kappa_h(p) (a1 + p a2)``, ``kappa_h = 1 / (1 + p**(1 - 1/g_h))``."""
        a = np.asarray(holdings, dtype=float)
        p = np.asarray(p, dtype=float)[..., None]
        r = p ** (1.0 - 1.0 / self.gamma)
        kappa = 1.0 / (1.0 + r)
        W = a[..., 0] + p * a[..., 1]
        excess = (kappa * W - a[..., 0]).sum(-1)
        # d/dlog p: kappa' p W + kappa p a2, kappa' p = -(1 - 1/g) r kappa^2
        slope = (-(1.0 - 1.0 / self.gamma) * r * kappa ** 2 * W + kappa * p * a[..., 1]).sum(-1)
        return excess, slope

    def spot_clearing_prices(self, holdings, start, tol=1e-12, iters=60):
        """Vectorized :meth:`spot_clearing_price` by damped Newton steps in log p from
        ``start`` (the root on the branch through a known price: continuation along a family
        of allocations). Returns prices; NaN where the excess demand is not below ``tol``
        times the gross value held, sum_h |a1| + p |a2| (rounding in that sum is ~1e-16 per
        term, so 1e-12 flags an unconverged Newton, not rounding)."""
        a = np.asarray(holdings, dtype=float)
        logp = np.log(np.broadcast_to(np.asarray(start, dtype=float), a.shape[:-2])).copy()
        for _ in range(iters):
            f, df = self.spot_excess(a, np.exp(logp))
            step = np.where(df != 0, -f / np.where(df != 0, df, 1.0), 0.0)
            logp = logp + np.clip(step, -0.5, 0.5)
        p = np.exp(logp)
        f, _ = self.spot_excess(a, p)
        gross = (np.abs(a[..., 0]) + p[..., None] * np.abs(a[..., 1])).sum(-1)
        return np.where(np.abs(f) <= tol * gross, p, np.nan)

    def lifetime_utility(self, h, c0, c1):
        """U^h = u^h(c10, c20) + beta sum_s pi_s u^h(c1s, c2s); c0 (..., 2), c1 (..., S, 2)."""
        u = self.utilities[h]
        c0, c1 = np.asarray(c0, dtype=float), np.asarray(c1, dtype=float)
        return u.u(c0[..., 0], c0[..., 1]) + self.beta * np.sum(self.prob * u.u(c1[..., 0], c1[..., 1]), axis=-1)



def _check_payoffs(D: np.ndarray) -> None:
    """Reject rank-deficient D (redundant securities), naming the redundant rows: portfolios
    would be indeterminate."""
    J, S = D.shape
    if np.linalg.matrix_rank(D) == J:
        return
    redundant, kept = [], []
    for j in range(J):
        trial = kept + [j]
        if np.linalg.matrix_rank(D[trial]) == len(trial):
            kept = trial
        else:
            redundant.append(j)
    names = ", ".join(f"payoffs[{j}]" for j in redundant)
    more = f" (there are {J} securities but only {S} states)" if J > S else ""
    raise SpecError("payoffs", f"the payoff matrix has rank {np.linalg.matrix_rank(D)} < {J} securities{more}: "
                               f"{names} {'is' if len(redundant) == 1 else 'are'} redundant (a linear combination "
                               f"of the securities before {'it' if len(redundant) == 1 else 'them'}), so portfolios "
                               "are indeterminate; drop the redundant rows")
