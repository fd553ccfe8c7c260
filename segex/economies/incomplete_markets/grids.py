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

from dataclasses import dataclass, fields

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
class ClearingFamily:
    """Exchanges that clear by construction (:func:`clearing_family`), in patches: member k
    has spot prices ``p[k]`` (S,), portfolios ``theta[k]`` (H, J) and composition
    ``composition[k]`` (H,) -- the shares of the exchange's traders by type, whose
    portfolios sum to zero and whose spot trades clear at p. Each member remembers its
    patch: ``radius[k]`` = (holdings, log composition) half-widths, ``n[k]`` = (points per
    holding, points per composition ratio), and whether it lies on the patch's boundary in
    holdings (``edge_theta``) or in composition (``edge_composition``)."""

    p: np.ndarray
    theta: np.ndarray
    composition: np.ndarray
    radius: np.ndarray  # (k, 2)
    n: np.ndarray  # (k, 2)
    edge_theta: np.ndarray
    edge_composition: np.ndarray
    level: np.ndarray  # (k,) refinement step that made its patch (0: the grid file's)

    @classmethod
    def empty(cls, H: int, J: int, S: int) -> "ClearingFamily":
        return cls(np.zeros((0, S)), np.zeros((0, H, J)), np.zeros((0, H)), np.zeros((0, 2)),
                   np.zeros((0, 2), int), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int))

    def __len__(self) -> int:
        return self.p.shape[0]

    @property
    def edge(self) -> np.ndarray:
        """(k,) on its patch's boundary in holdings or composition."""
        return self.edge_theta | self.edge_composition

    @property
    def spacing(self) -> np.ndarray:
        """(k, 2) the distance between neighbouring members of each member's patch, in
        holdings and in log composition (0 where the patch has one point on that axis)."""
        steps = np.maximum(self.n - 1, 1)
        return np.where(self.n >= 2, 2 * self.radius / steps, 0.0)

    def take(self, keep) -> "ClearingFamily":
        return ClearingFamily(*(getattr(self, f.name)[keep] for f in fields(self)))

    @classmethod
    def join(cls, patches: list) -> "ClearingFamily":
        """The patches' members, each exchange once (where patches overlap, the first
        patch's member is kept: give the finest patches first)."""
        fam = cls(*(np.concatenate([getattr(q, f.name) for q in patches]) for f in fields(cls)))
        key = np.round(np.hstack([fam.theta.reshape(len(fam), -1), np.log(fam.composition)]), 12)
        _, first = np.unique(key, axis=0, return_index=True)
        return fam.take(np.sort(first))


@dataclass(frozen=True)
class MarketGrids:
    """``c0``: (good-1 grid, good-2 grid) at t = 0; ``p``: one spot-price grid per state;
    ``theta``: one holdings grid per security; ``family``: the clearing family
    (:class:`ClearingFamily`), exchanges after the product's."""

    c0: tuple
    p: tuple
    theta: tuple
    family: ClearingFamily = None

    def __post_init__(self):
        if self.family is None:  # no family (its type axis then has length 0)
            object.__setattr__(self, "family", ClearingFamily.empty(0, len(self.theta), len(self.p)))

    @property
    def family_p(self) -> np.ndarray:
        """(k, S) the clearing family's spot prices."""
        return self.family.p

    @property
    def family_theta(self) -> np.ndarray:
        """(k, H, J) the clearing family's portfolios."""
        return self.family.theta

    @property
    def n_product(self) -> int:
        """Exchanges of the price grid's product (the family's come after them)."""
        return int(np.prod([p.size for p in self.p]))

    @property
    def exchanges(self) -> np.ndarray:
        """(n_exchanges, S) every spot-price vector: the states' grids' product (C order),
        then the clearing family's distinct ones not already in it (:meth:`family_exchange`)."""
        return np.vstack([_product(self.p), self._family_prices()[0]])

    @property
    def family_exchange(self) -> np.ndarray:
        """(k,) the exchange of each family member. An exchange is its spot prices
        (Definition 5): members with the same prices -- with identical homothetic
        preferences every member at one composition, and the population's composition at
        the no-trade prices, which the product grid holds too -- are one exchange, whose
        securities and rights clear over all its traders together."""
        return self._family_prices()[1]

    def _family_prices(self) -> tuple[np.ndarray, np.ndarray]:
        """The family's price vectors that are not product-grid points, each once
        (first-seen order), and each member's exchange index."""
        P = self.family.p
        if not P.shape[0]:
            return P, np.zeros(0, int)
        prod = _product(self.p)
        key = np.round(np.vstack([prod, P]), 12)
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        # every distinct price vector's exchange: its product index if it has one, else
        # the product's size plus its rank among the new ones in first-seen order
        new = np.nonzero(first >= prod.shape[0])[0]
        new = new[np.argsort(first[new])]
        index = first.copy()
        index[new] = prod.shape[0] + np.arange(new.size)
        return np.vstack([prod, P])[first[new]], index[inverse[prod.shape[0]:]]

    @property
    def holdings(self) -> np.ndarray:
        """(n_holdings, J) every security portfolio, C order over the securities' grids."""
        return _product(self.theta)

    @classmethod
    def build(cls, econ: IncompleteMarketsEconomy, c=None, p=None, theta=None, family=None,
              insert=None) -> "MarketGrids":
        """Grids from TOML specs (None: defaults around the endowments), holding the no-trade
        points and, with ``insert`` = {"c0": (H, 2), "p": (S,), "theta": (H, J)}, those (the
        exchange p in the product grid only when there is no family); the clearing family around ``insert["theta"]`` (else no trade) and the population's
        composition, ``family`` = {radius, n, composition_radius, composition_n}
        (:func:`family_spec`, :func:`clearing_family`)."""
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
        fam = family_spec(family, econ)
        # the inserted exchange is the family's centre when there is a family: inserted in the
        # product grid too, it would tie with the centre, and there its fees are not pinned
        has_family = fam["n"] > 0 and econ.H >= 2
        pins = np.zeros(0) if has_family else np.asarray(insert.get("p", np.zeros(0)))
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
        center = np.asarray(insert.get("theta", np.zeros((econ.H, econ.J))), float)
        start = np.asarray(insert.get("p", p_aut), float)
        members = clearing_family(econ, center, start, (fam["radius"], fam["composition_radius"]),
                                  (fam["n"], fam["composition_n"]))
        return cls(c0=c0, p=pg, theta=tg, family=members)


def family_spec(spec, econ: IncompleteMarketsEconomy) -> dict:
    """``grid.family`` = {radius, n, composition_radius, composition_n}: the half-width of
    the holdings' deviations around the centre (default half the holdings range) and points
    per holding (n = 0 turns the family off), and the half-width of the composition's
    deviations from the population's, in log ratios of the types' shares (default 1: each
    type's share relative to the last type's from 1/e to e times the population's) and
    points per ratio (default 5 with two types, 3 with more; 1: the population's only).
    Default n: 41 for one free holding, fewer as (H-1) J grows so the family stays below
    about 2,000 exchanges."""
    d_theta, d_comp = (econ.H - 1) * econ.J, econ.H - 1
    spec = dict(spec or {})
    unknown = set(spec) - {"radius", "n", "composition_radius", "composition_n"}
    if unknown:
        raise SpecError(f"grid.family.{sorted(unknown)[0]}", "unknown key; use radius, n, composition_radius "
                                                              "and composition_n")
    comp_n = spec.get("composition_n", 5 if d_comp == 1 else 3)
    _family_count("grid.family.composition_n", comp_n, 1)
    n_default = 0 if d_theta == 0 else _odd_at_most((2000 / comp_n ** d_comp) ** (1.0 / d_theta))
    n = spec.get("n", min(n_default, 41))
    _family_count("grid.family.n", n, 0)
    out = {"n": n, "composition_n": comp_n}
    for key, default, unit in (("radius", 0.5 * theta_bound(econ), "holdings"),
                               ("composition_radius", 1.0, "log share ratios")):
        r = spec.get(key, default)
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not np.isfinite(r) or r <= 0:
            raise SpecError(f"grid.family.{key}", f"must be a positive number ({unit}), got {r!r}")
        out[key] = float(r)
    return out


def _odd_at_most(x: float) -> int:
    """The largest odd integer <= x, at least 3 (a family with a centre and both sides)."""
    n = int(np.floor(x + 1e-9))
    return max(3, n if n % 2 else n - 1)


def _family_count(name: str, n, least: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < least or n == 1 and least == 0:
        allowed = "0 (no family) or an integer >= 2" if least == 0 else "an integer >= 1"
        raise SpecError(name, f"must be {allowed}, got {n!r}")


def clearing_family(econ: IncompleteMarketsEconomy, center: np.ndarray, start: np.ndarray, radius, n,
                    log_ratio: np.ndarray | None = None) -> ClearingFamily:
    """One patch of exchanges that clear with their traders in them: compositions z with
    log(z_h / z_H) = log(alpha_h / alpha_H) + log_ratio_h + u_h (h < H), portfolios
    ``theta^h = center^h + d^h`` (h < H) and theta^H with sum_h z_h theta^h = 0, the
    deviations d on ``n[0]`` points per holding over [-radius[0], radius[0]] and u on
    ``n[1]`` points per ratio over [-radius[1], radius[1]] (one point: u = 0); for each the
    spot prices p_s(theta, z) clearing every state (KT's p_s = p_s(theta, e), found by
    Newton from ``start`` -- the branch through the centre).

    A product grid of price vectors almost never holds p(theta, z) exactly, and mixing
    neighbouring grid bundles to clear an exchange costs more than the first-order gain of
    correcting the externality, so the LP is given the exact ones: one bundle per type per
    member. The compositions matter: an equilibrium may split a type across exchanges of
    different compositions, each clearing at its own prices, which exchanges clearing at the
    population's composition alone cannot represent (refined answers then depend on the
    product grid). Members whose prices do not solve, or where a type's wealth is not
    positive, are dropped."""
    H, J, S = econ.H, econ.J, econ.S
    (r_t, r_c), (n_t, n_c) = radius, n
    if n_t == 0 or H < 2:
        return ClearingFamily.empty(H, J, S)
    d, edge_t = _offsets(r_t, n_t, (H - 1) * J)
    u, edge_c = _offsets(r_c, n_c, H - 1)
    k_t, k_c = d.shape[0], u.shape[0]
    d, edge_t = np.tile(d, (k_c, 1)).reshape(-1, H - 1, J), np.tile(edge_t, k_c)
    u, edge_c = np.repeat(u, k_t, axis=0), np.repeat(edge_c, k_t)
    base = np.zeros(H - 1) if log_ratio is None else np.asarray(log_ratio, float)
    z = np.tile(econ.share, (u.shape[0], 1))
    z[:, :-1] *= np.exp(base + u)
    z /= z.sum(axis=1, keepdims=True)
    theta = np.empty((d.shape[0], H, J))
    theta[:, :-1] = center[None, :-1] + d
    theta[:, -1] = -np.einsum("kh,khj->kj", z[:, :-1], theta[:, :-1]) / z[:, -1:]
    P = np.empty((theta.shape[0], S))
    for s in range(S):
        hold = np.stack([econ.e1[None, :, s, 0] + theta @ econ.payoffs[:, s],
                         np.broadcast_to(econ.e1[None, :, s, 1], theta.shape[:2])], axis=-1) * z[:, :, None]
        P[:, s] = econ.spot_clearing_prices(hold, start[s])
        ok = (hold[..., 0] + P[:, s, None] * hold[..., 1] > 0).all(axis=1)
        P[~ok, s] = np.nan
    keep = np.all(np.isfinite(P), axis=1)
    k = theta.shape[0]
    fam = ClearingFamily(P, theta, z, np.tile([float(r_t), float(r_c)], (k, 1)), np.tile([n_t, n_c], (k, 1)),
                         edge_t, edge_c, np.zeros(k, int))
    return fam.take(keep)


def log_ratios(econ: IncompleteMarketsEconomy, composition: np.ndarray) -> np.ndarray:
    """(..., H-1) log(z_h / z_H) - log(alpha_h / alpha_H): a composition's departure from the
    population's (:func:`clearing_family`'s ``log_ratio``)."""
    z, a = np.asarray(composition, float), econ.share
    return np.log(z[..., :-1] / z[..., -1:]) - np.log(a[:-1] / a[-1])


def _offsets(radius: float, n: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(n^dims, dims) offsets on ``n`` points per axis over [-radius, radius] (one point: 0),
    and whether each lies on the boundary (never, with one point)."""
    axis_ = np.linspace(-radius, radius, n) if n > 1 else np.zeros(1)
    d = _product([axis_] * dims)
    edge = (np.abs(d) >= radius).any(axis=1) if n > 1 else np.zeros(d.shape[0], bool)
    return d, edge


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
