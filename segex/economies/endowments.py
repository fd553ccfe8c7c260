"""What Kilenthong–Townsend's economies share: two dates, S states at t = 1, two goods, H
types with population shares and endowments ``endowment[h]`` of shape (1 + S, 2) -- row 0
is t = 0, row 1 + s is state s; column 0 good 1 (the numeraire), column 1 good 2."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError


class TwoDateEndowments:
    """Shapes and aggregates of an economy with attributes ``share`` (H,), ``prob`` (S,)
    and ``endowment`` (H, 1 + S, 2)."""

    share: np.ndarray
    prob: np.ndarray
    endowment: np.ndarray

    @property
    def H(self) -> int:
        return self.share.size

    @property
    def S(self) -> int:
        return self.prob.size

    @property
    def e0(self) -> np.ndarray:
        """(H, 2) t = 0 endowments."""
        return self.endowment[:, 0, :]

    @property
    def e1(self) -> np.ndarray:
        """(H, S, 2) t = 1 endowments by state."""
        return self.endowment[:, 1:, :]

    @property
    def aggregate(self) -> np.ndarray:
        """(1 + S, 2) per-capita aggregate endowment sum_h alpha^h e^h."""
        return np.einsum("h,htl->tl", self.share, self.endowment)


#: Tolerance of "sums to one" checks: loose enough for decimal TOML input such as 1/3 written
#: as 0.3333333333, tight enough to catch a typo.
SUM_TOL = 1e-8


def sums_to_one(x: np.ndarray, field: str, what: str) -> None:
    """A SpecError naming ``field`` unless the entries of ``x`` (``what``: "population shares",
    "state probabilities") sum to one within :data:`SUM_TOL`."""
    if abs(x.sum() - 1.0) > SUM_TOL:
        raise SpecError(field, f"{what} sum to {x.sum():.12g}, off by {x.sum() - 1:+.3g}; make them sum to 1")


def vector(x, name) -> np.ndarray:
    """A flat float vector, or a SpecError naming the field."""
    try:
        v = np.atleast_1d(np.asarray(x, dtype=float))
    except (TypeError, ValueError) as exc:
        raise SpecError(name, f"must be a list of numbers ({exc})") from None
    if v.ndim != 1:
        raise SpecError(name, f"must be a flat list of numbers, got shape {v.shape}")
    return v
