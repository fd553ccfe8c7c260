"""Choice grids of KT 2.2's lottery LP (Definition 5): t = 0 consumption of each good,
the exchanges' spot prices in each state (an exchange is a vector p = (p_1, ..., p_S), so
the exchanges are the product of the per-state grids), and each security's holdings (the
product over securities).

Every grid holds the no-trade point: each type's t = 0 endowment, theta = 0 and, in each
state, the spot price that clears the endowments alone (autarky), so the no-trade
allocation is feasible in the LP. ``insert`` adds the points of an allocation (such as
Definition 4's exact equilibrium), so the LP can reproduce it and its welfare is a lower
bound the LP must beat or match.

Grid specs (TOML ``[grid]``): ``c`` (one table for both goods or an array of two), ``p``
(one table for every state or one per state; bounds relative to nothing -- absolute
prices), ``theta`` (one table for every security or one per security).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpecError
from ...gridspec import axis
from ...io.validate import consumption_grid
from .model import IncompleteMarketsEconomy

#: Default points per axis: t = 0 consumption (geometric; its columns are cheap, and its
#: spacing, 0.4% here, bounds how far p0 can sit from the types' marginal rates), spot prices
#: (geometric), holdings.
N_C, N_P, N_THETA = 801, 11, 21


@dataclass(frozen=True)
class MarketGrids:
    """``c0``: (good-1 grid, good-2 grid) at t = 0; ``p``: one spot-price grid per state;
    ``theta``: one holdings grid per security; ``family_p`` (k, S) and ``family_theta``
    (k, H, J): the clearing family (:func:`clearing_family`), exchanges after the product's."""

    c0: tuple
    p: tuple
    theta: tuple
    family_p: np.ndarray = None
    family_theta: np.ndarray = None
    family_edge: np.ndarray = None  # (k,) members on the boundary of the deviation grid
    family_radius: float = 0.0  # half-width of the family's deviations (holdings)
    family_n: int = 0  # the family's points per free dimension (0: no family)

    def __post_init__(self):
        if self.family_p is None:
            object.__setattr__(self, "family_p", np.zeros((0, len(self.p))))
            object.__setattr__(self, "family_theta", np.zeros((0, 0, len(self.theta))))
        if self.family_edge is None:
            object.__setattr__(self, "family_edge", np.zeros(self.family_p.shape[0], bool))

    @property
    def n_product(self) -> int:
        """Exchanges of the price grid's product (the family's come after them)."""
        return int(np.prod([p.size for p in self.p]))

    @property
    def exchanges(self) -> np.ndarray:
        """(n_exchanges, S) every spot-price vector: the states' grids' product (C order),
        then the clearing family."""
        return np.vstack([_product(self.p), self.family_p])

    @property
    def holdings(self) -> np.ndarray:
        """(n_holdings, J) every security portfolio, C order over the securities' grids."""
        return _product(self.theta)

    @classmethod
    def build(cls, econ: IncompleteMarketsEconomy, c=None, p=None, theta=None, family=None,
              insert=None) -> "MarketGrids":
        """Grids from TOML specs (None: defaults around the endowments), holding the no-trade
        points and, with ``insert`` = {"c0": (H, 2), "p": (S,), "theta": (H, J)}, those; the
        clearing family around ``insert["theta"]`` (else no trade), ``family`` =
        {radius, n} (:func:`clearing_family`)."""
        insert = insert or {}
        e0 = econ.e0
        c_specs = _per(c, 2, "grid.c", "good")
        c0 = tuple(
            axis(c_specs[g], "grid.c" + (f"[{g}]" if isinstance(c, list) else ""), 0.25 * e0[:, g].min(),
                 2.0 * e0[:, g].max(), N_C, geometric=True, must_hold=e0[:, g], what="every type's t=0 endowment",
                 insert=np.concatenate([e0[:, g], np.asarray(insert.get("c0", np.zeros((0, 2))))[:, g]]))
            for g in range(2))
        for g in range(2):
            consumption_grid(c0[g], "grid.c" + (f"[{g}]" if isinstance(c, list) else ""), econ.gamma, c_specs[g],
                             example_min=0.25 * e0[:, g].min())
        p_aut = autarky_prices(econ)
        p_specs = _per(p, econ.S, "grid.p", "state")
        pins = np.asarray(insert.get("p", np.zeros(0)))
        pg = tuple(
            axis(p_specs[s], "grid.p" + (f"[{s}]" if isinstance(p, list) else ""), p_aut[s] / 2, 2 * p_aut[s], N_P,
                 geometric=True, must_hold=np.array([p_aut[s]]), what=f"the no-trade spot price of state {s + 1}",
                 insert=np.concatenate([[p_aut[s]], pins[s:s + 1]]))
            for s in range(econ.S))
        _positive(pg, "grid.p", "spot prices", "state")
        M = theta_bound(econ)
        t_specs = _per(theta, econ.J, "grid.theta", "security")
        tins = np.asarray(insert.get("theta", np.zeros((0, econ.J))))
        tg = tuple(
            axis(t_specs[j], "grid.theta" + (f"[{j}]" if isinstance(theta, list) else ""), -M, M, N_THETA,
                 must_hold=np.zeros(1), what="no trade, theta = 0", insert=np.concatenate([[0.0], tins[:, j]]))
            for j in range(econ.J))
        fam = family_spec(family, econ)
        center = np.asarray(insert.get("theta", np.zeros((econ.H, econ.J))), float)
        start = np.asarray(insert.get("p", p_aut), float)
        fp, ft, fe = clearing_family(econ, center, start, fam["radius"], fam["n"])
        return cls(c0=c0, p=pg, theta=tg, family_p=fp, family_theta=ft, family_edge=fe,
                   family_radius=fam["radius"], family_n=fam["n"])

    @property
    def family_spacing(self) -> float:
        """Distance between neighbouring family members in each free holding (inf: none)."""
        return 2 * self.family_radius / (self.family_n - 1) if self.family_n >= 2 else np.inf


def family_spec(spec, econ: IncompleteMarketsEconomy) -> dict:
    """``grid.family`` = {radius, n}: the half-width of the deviations around the centre
    (default half the holdings range) and points per free dimension (default 41 for one
    free dimension, fewer as (H-1) J grows so the family stays near 2,000 exchanges; n = 0
    turns the family off)."""
    dims = (econ.H - 1) * econ.J
    n_default = 0 if dims == 0 else max(3, int(round(2000 ** (1.0 / dims))) | 1)
    spec = dict(spec or {})
    unknown = set(spec) - {"radius", "n"}
    if unknown:
        raise SpecError(f"grid.family.{sorted(unknown)[0]}", "unknown key; use radius and n")
    radius, n = spec.get("radius", 0.5 * theta_bound(econ)), spec.get("n", min(n_default, 41))
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not np.isfinite(radius) or radius <= 0:
        raise SpecError("grid.family.radius", f"must be a positive number (holdings), got {radius!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n == 1:
        raise SpecError("grid.family.n", f"must be 0 (no family) or an integer >= 2, got {n!r}")
    return {"radius": float(radius), "n": n}


def clearing_family(econ: IncompleteMarketsEconomy, center: np.ndarray, start: np.ndarray, radius: float,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exchanges that clear with every type in them: allocations of securities
    ``theta^h = center^h + d^h`` (h < H) and ``theta^H`` such that sum_h alpha^h theta^h = 0,
    with deviations d on a grid of ``n`` points per dimension over [-radius, radius], and
    for each the spot prices p_s(theta) clearing every state (KT's p_s = p_s(theta, e),
    found by Newton from ``start`` -- the branch through the centre). A product grid of
    price vectors almost never holds p(theta) exactly, and mixing neighbouring grid
    bundles to clear an exchange costs more than the first-order gain of correcting the
    externality, so the LP is given the exact ones: one bundle per type per member.
    Members whose prices do not solve, or where a type's wealth is not positive, are
    dropped. Returns (family_p (k, S), family_theta (k, H, J), on the grid's boundary (k,))."""
    H, J, S = econ.H, econ.J, econ.S
    if n == 0 or H < 2:
        return np.zeros((0, S)), np.zeros((0, H, J)), np.zeros(0, bool)
    axis_ = np.linspace(-radius, radius, n)
    d = _product([axis_] * ((H - 1) * J)).reshape(-1, H - 1, J)
    edge = (np.abs(d) >= radius).reshape(d.shape[0], -1).any(axis=1)
    theta = np.empty((d.shape[0], H, J))
    theta[:, :-1] = center[None, :-1] + d
    a = econ.share
    theta[:, -1] = -np.einsum("h,khj->kj", a[:-1], theta[:, :-1]) / a[-1]
    P = np.empty((theta.shape[0], S))
    for s in range(S):
        hold = np.stack([econ.e1[None, :, s, 0] + theta @ econ.payoffs[:, s],
                         np.broadcast_to(econ.e1[None, :, s, 1], theta.shape[:2])], axis=-1) * a[None, :, None]
        P[:, s] = econ.spot_clearing_prices(hold, start[s])
        ok = (hold[..., 0] + P[:, s, None] * hold[..., 1] > 0).all(axis=1)
        P[~ok, s] = np.nan
    keep = np.all(np.isfinite(P), axis=1)
    return P[keep], theta[keep], edge[keep]


def autarky_prices(econ: IncompleteMarketsEconomy) -> np.ndarray:
    """(S,) the spot price clearing each state's endowments with no securities traded."""
    return np.array([econ.spot_clearing_price(econ.share[:, None] * econ.e1[:, s, :]) for s in range(econ.S)])


def theta_bound(econ: IncompleteMarketsEconomy) -> float:
    """Default holdings range [-M, M]: half the largest good-1 endowment at t = 1 over the
    largest payoff, a position a type can honour in most states."""
    return 0.5 * float(econ.e1[:, :, 0].max()) / float(np.abs(econ.payoffs).max())


def _positive(grids, name: str, what: str, per: str) -> None:
    """Every grid of ``grids`` (one per good, state...) starts above zero."""
    for i, grid in enumerate(grids):
        if grid[0] <= 0:
            raise SpecError(name, f"{what} must be positive, got a grid from {grid[0]:.6g} for {per} {i + 1}; "
                                  "set min > 0")


def _per(spec, n: int, name: str, what: str) -> list:
    """One spec for all ``n`` (None or a table) or an array of ``n`` tables."""
    if isinstance(spec, list) and spec and all(isinstance(s, (dict, list)) for s in spec):
        if len(spec) != n:
            raise SpecError(name, f"give one table for every {what} or an array of {n} tables (one per {what}), "
                                  f"got {len(spec)}")
        return spec
    return [spec] * n


def _product(grids) -> np.ndarray:
    mesh = np.meshgrid(*grids, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
