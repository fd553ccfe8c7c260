"""Primitives of Peiris and Vardoulakis's economy with default and reserve requirements
(PV §2, "Reserve Requirements and Default").

One good; dates t = 0 and t = 1, with S states at t = 1 of probabilities ``prob`` (pi_s).
H types of population shares ``share`` (n_h) and endowments ``endowment[h] = (e_0, e_1, ...,
e_S)``, log utility. A storage technology turns one unit at t = 0 into one unit in every
state. One bond promises ``promise[s]`` (A_s) units in state s per unit sold; deliveries
are pooled, so a buyer receives A_s K_s per unit, K_s the pool's delivery rate (PV §2.2).
A seller who delivers D_s < A_s phi pays ``penalty`` (lambda) utils per unit not delivered,
weighted by pi_s; every agent must store at least ``reserve`` (rho), the reserve requirement
(PV §4; rho = 0: none). Agent h's problem (PV §2.1.1, with A_s and rho added)::

    max  ln x_0 + sum_s pi_s ln x_s - lambda sum_s pi_s (A_s phi - D_s)
    s.t. x_0 + sigma + q (theta - phi) = e_0,      x_s + D_s = e_s + sigma + A_s K_s theta,
         0 <= D_s <= A_s phi,  sigma >= rho,  theta >= 0,  phi >= 0.

The paper's baseline is two mirror types e^1 = (1, 1, 0), e^2 = (1, 0, 1), equal shares and
probabilities, A = (1, 1); :attr:`DefaultReservesEconomy.mirror` recognises the family
e^1 = (e_0, e_H, e_L), e^2 = (e_0, e_L, e_H) whose branches have closed forms
(:mod:`.mirror`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpecError
from ..endowments import sums_to_one, vector


@dataclass(frozen=True)
class DefaultReservesEconomy:
    """PV's economy (module docstring). Build with :meth:`create` to validate.

    Attributes
    ----------
    share : (H,) population shares n_h, summing to one.
    endowment : (H, 1 + S) endowments: t = 0, then each state.
    prob : (S,) state probabilities pi_s.
    promise : (S,) the bond's promise A_s per unit.
    penalty : lambda >= 0, utils per unit of promise not delivered (weighted by pi_s).
    reserve : rho >= 0, the storage every agent must hold.
    name : a label for reports.
    """

    share: np.ndarray
    endowment: np.ndarray
    prob: np.ndarray
    promise: np.ndarray
    penalty: float
    reserve: float = 0.0
    name: str = "default_reserves"

    @classmethod
    def create(cls, share, endowment, prob=(0.5, 0.5), promise=(1.0, 1.0), penalty=0.75, reserve=0.0,
               name="default_reserves"):
        """Validate and build; every failure is a :class:`SpecError` naming the field."""
        prob = vector(prob, "prob")
        S = prob.size
        if S < 1:
            raise SpecError("prob", "give at least one state probability, e.g. prob = [0.5, 0.5]")
        if not np.all(np.isfinite(prob)) or np.any(prob <= 0):
            raise SpecError("prob", f"state probabilities must be positive, got {prob.tolist()}")
        sums_to_one(prob, "prob", "state probabilities")
        promise = vector(promise, "promise")
        if promise.size != S:
            raise SpecError("promise", f"give one promise per state ({S}, as prob), got {promise.size}; "
                                       f"e.g. promise = {[1.0] * S}")
        if np.any(promise < 0) or not np.any(promise > 0):
            raise SpecError("promise", f"must be >= 0 with at least one positive entry, got {promise.tolist()}")
        share = vector(share, "types[*].share")
        H = share.size
        if H < 1:
            raise SpecError("types", "define at least one [[types]] table")
        if not np.all(np.isfinite(share)) or np.any(share <= 0):
            h = int(np.flatnonzero(~(share > 0))[0])
            raise SpecError(f"types[{h}].share", f"population shares must be positive, got {share[h]}")
        sums_to_one(share, "types[*].share", "population shares")
        endowment = np.asarray(endowment, dtype=float)
        if endowment.shape != (H, 1 + S):
            raise SpecError("types[*].endowment", f"give each type {1 + S} numbers (t = 0, then each state)")
        if np.any(endowment < 0):
            h = int(np.argwhere(endowment < 0)[0, 0])
            raise SpecError(f"types[{h}].endowment", f"must be >= 0, got {endowment[h].tolist()}")
        for name_, x in (("penalty", penalty), ("reserve", reserve)):
            if not np.isfinite(x) or x < 0:
                raise SpecError(name_, f"must be a number >= 0, got {x}"
                                + ("; lambda is the utility cost per unit not delivered" if name_ == "penalty"
                                   else "; rho is the storage every agent must hold (0: no requirement)"))
        short = endowment[:, 0] <= reserve
        if np.any(short):
            h = int(np.flatnonzero(short)[0])
            raise SpecError(f"types[{h}].endowment",
                            f"t = 0 endowment {endowment[h, 0]:g} cannot support the reserve {reserve:g}: the "
                            f"requirement would leave nothing to consume at t = 0; lower reserve below "
                            f"{endowment[:, 0].min():g} or raise the endowment")
        return cls(share=share, endowment=endowment, prob=prob, promise=promise, penalty=float(penalty),
                   reserve=float(reserve), name=name)

    # ------------------------------------------------------------------ shapes
    @property
    def H(self) -> int:
        return self.share.size

    @property
    def S(self) -> int:
        return self.prob.size

    @property
    def e0(self) -> np.ndarray:
        """(H,) t = 0 endowments."""
        return self.endowment[:, 0]

    @property
    def es(self) -> np.ndarray:
        """(H, S) state endowments."""
        return self.endowment[:, 1:]

    def with_(self, **changes) -> "DefaultReservesEconomy":
        """A copy with some primitives changed (``penalty``, ``reserve``, ...), validated."""
        fields = dict(share=self.share, endowment=self.endowment, prob=self.prob, promise=self.promise,
                      penalty=self.penalty, reserve=self.reserve, name=self.name)
        fields.update(changes)
        return type(self).create(**fields)

    # ------------------------------------------------------------------ the mirror family
    @property
    def mirror(self) -> tuple[float, float, float, float] | None:
        """``(e_0, e_H, e_L, A)`` when the economy is PV's symmetric family (two types of
        equal shares, two equally likely states, e^1 = (e_0, e_H, e_L), e^2 = (e_0, e_L, e_H),
        promise (A, A)), whose branches have closed forms (:mod:`.mirror`); else None."""
        if self.H != 2 or self.S != 2:
            return None
        e = self.endowment
        same = (np.allclose(self.share, 0.5, rtol=0, atol=1e-12) and np.allclose(self.prob, 0.5, rtol=0, atol=1e-12)
                and self.promise[0] == self.promise[1] and e[0, 0] == e[1, 0]
                and e[0, 1] == e[1, 2] and e[0, 2] == e[1, 1])
        if not same:
            return None
        eH, eL = (e[0, 1], e[0, 2]) if e[0, 1] >= e[0, 2] else (e[0, 2], e[0, 1])
        return float(e[0, 0]), float(eH), float(eL), float(self.promise[0])


def baseline(penalty=0.75, reserve=0.0) -> DefaultReservesEconomy:
    """PV's baseline (§2.3): e^1 = (1, 1, 0), e^2 = (1, 0, 1), equal shares, pi = (1/2, 1/2),
    a bond promising one unit in each state."""
    return DefaultReservesEconomy.create(share=[0.5, 0.5], endowment=[[1, 1, 0], [1, 0, 1]], prob=[0.5, 0.5],
                                         promise=[1.0, 1.0], penalty=penalty, reserve=reserve, name="PV baseline")


__all__ = ["DefaultReservesEconomy", "baseline"]
