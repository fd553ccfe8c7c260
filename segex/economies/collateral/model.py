"""Primitives of the Kilenthong–Townsend collateral economy (KT 2.1).

Two periods t = 0, 1; S states at t = 1 with probabilities ``prob``; two goods, good 1
perishable and the numeraire at every date and state, good 2 storable one-for-``R[s]``
and usable as collateral. H types with population shares ``share`` (alpha^h) and
endowments ``endowment[h]`` of shape (1 + S, 2): row 0 is t = 0, row 1 + s is state s,
column 0 is good 1 and column 1 is good 2. Common CRRA utility over the two goods and
discount factor ``beta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import SpecError
from ..endowments import TwoDateEndowments, sums_to_one, vector
from ...utility import CRRA


@dataclass(frozen=True)
class CollateralEconomy(TwoDateEndowments):
    """A collateral economy (KT 2.1). Construct with :meth:`create` to validate.

    Attributes
    ----------
    share : (H,) population shares alpha^h, summing to one.
    endowment : (H, 1 + S, 2) endowments e^h_{l t}.
    prob : (S,) state probabilities pi_s, summing to one.
    R : (S,) storage return of good 2 into state s.
    beta : discount factor in (0, 1].
    gamma : CRRA coefficient (> 0); gamma = 2 is KT's u = -1/c1 - 1/c2.
    name : a label for reports.
    """

    share: np.ndarray
    endowment: np.ndarray
    prob: np.ndarray
    R: np.ndarray
    beta: float = 1.0
    gamma: float = 2.0
    name: str = "collateral"
    utility: CRRA = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "utility", CRRA(self.gamma))

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, share, endowment, prob=(1.0,), R=None, beta=1.0, gamma=2.0, name="collateral"):
        """Validate and build; every failure is a :class:`SpecError` naming the field."""
        prob = vector(prob, "prob")
        S = prob.size
        if S < 1:
            raise SpecError("prob", "give at least one state probability, e.g. prob = [1.0]")
        R = np.ones(S) if R is None else vector(R, "R")
        share = vector(share, "types[*].share")
        H = share.size
        if H < 1:
            raise SpecError("types", "define at least one [[types]] table")
        endowment = np.asarray(endowment, dtype=float)
        if endowment.shape != (H, 1 + S, 2):
            for h in range(H):
                e = np.asarray(endowment[h], dtype=float) if h < len(endowment) else None
                if e is None or e.shape != (1 + S, 2):
                    got = "missing" if e is None else f"shape {e.shape}"
                    raise SpecError(
                        f"types[{h}].endowment",
                        f"needs {1 + S} rows (t=0 then each of the {S} states) of 2 goods, got {got}; "
                        f"for example endowment = {[[1, 1]] * (1 + S)}",
                    )
        for h in range(H):
            e = endowment[h]
            if not np.all(np.isfinite(e)) or np.any(e <= 0):
                raise SpecError(f"types[{h}].endowment", f"every endowment must be positive and finite, got {e.tolist()}")
            if not np.isfinite(share[h]) or share[h] <= 0:
                raise SpecError(f"types[{h}].share", f"population shares must be positive, got {share[h]}")
        sums_to_one(share, "types[*].share", "population shares")
        if np.any(~np.isfinite(prob)) or np.any(prob <= 0):
            raise SpecError("prob", f"state probabilities must be positive, got {prob.tolist()}")
        sums_to_one(prob, "prob", "state probabilities")
        if R.size != S:
            raise SpecError("R", f"give one storage return per state ({S}), got {R.size}")
        if np.any(~np.isfinite(R)) or np.any(R < 0):
            raise SpecError("R", f"storage returns must be finite and non-negative, got {R.tolist()}")
        if not (np.isfinite(beta) and 0 < beta <= 1):
            raise SpecError("beta", f"the discount factor must lie in (0, 1], got {beta}")
        if not (np.isfinite(gamma) and gamma > 0):
            raise SpecError("gamma", f"the CRRA coefficient must be positive, got {gamma}")
        return cls(share=share, endowment=endowment, prob=prob, R=R, beta=float(beta), gamma=float(gamma), name=name)

    # ------------------------------------------------------------------ shapes and aggregates

    def fundamental(self, K):
        """Market fundamental z_s = E_1s / (R_s K + E_2s) (KT eq. 10), shape (S,)."""
        E = self.aggregate[1:]
        return E[:, 0] / (self.R * K + E[:, 1])

    def discrepancy(self, h, s, k, z):
        """Delta^h_s(z) = z (e^h_2s + R_s k) - e^h_1s (KT eq. 11), broadcast over k and z."""
        e = self.e1[h, s]
        return z * (e[1] + self.R[s] * k) - e[0]

    def lifetime_utility(self, c0, c1):
        """U = u(c10, c20) + beta sum_s pi_s u(c1s, c2s); c0 (..., 2), c1 (..., S, 2)."""
        u = self.utility
        return u.u(c0[..., 0], c0[..., 1]) + self.beta * np.sum(self.prob * u.u(c1[..., 0], c1[..., 1]), axis=-1)

