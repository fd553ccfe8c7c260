r"""PV's economy with pooled default as a lottery LP (Peiris–Vardoulakis §2, §6; derivation
/work/notes/issue15 §1, §6): the constrained planner, and the LP machinery
:mod:`.contracts` shares (exchanges, points, assembly, column generation, refinement).

**Agent points.** A type-h agent holds a lottery over points ``(e, sigma, theta, phi)``:
an exchange ``e = (rho_e, K_e)`` -- a pool with delivery rate ``K_e[s]`` per state and a
reserve ``rho_e`` every member stores (``sigma >= rho_e``, PV §4) -- storage sigma, bonds
bought theta and sold phi. Its state wealth is ``y_s = e_s + sigma + A_s K_{e,s} theta``
and its delivery is what the penalty makes optimal ex post (the incentive constraint,
PV §2.1.1's first-order condition: with log utility ``u'(x_s) = lambda`` at an interior
delivery)::

    D_s = clip(y_s - 1/lambda, 0, A_s phi),   x_s = y_s - D_s,
    G   = sum_s pi_s [ln x_s - lambda (A_s phi - D_s)]           (PV §2.1.1's payoff, t = 1).

t = 0 consumption is a separate lottery (utility is separable): points ``x0``, utility
``ln x0``. Rows (engine convention of :mod:`segex.engine.lp`)::

    resource0            sum_h n_h (E[x0] + E[sigma])          = sum_h n_h e_0^h   (PV §2.2, 2.)
    bond[e]              sum_h n_h E[(theta - phi) 1{e}]       = 0                 (PV §2.2, 4.)
    delivery[e, s]       sum_h n_h E[(D_s - A_s K_{e,s} phi) 1{e}] = 0             (PV §2.2, 5.)
    lottery[h, part]     each lottery (x0, t1) sums to one                         (exact)

``delivery`` makes the pool's delivery rate equal K_e (PV §2.2 condition 5 written
linearly: the pool is indexed by its rate); state resources then hold identically
(``sum n E[A K theta - D] = A K sum n E[theta - phi] = 0``). The objective is
``sum_h w_h n_h (E ln x0 + E G)``.

**The constrained planner** (:func:`solve_planner`) is this LP with one reserve, the
economy's (exchanges ``(econ.reserve, K)``, K on its grid): it chooses storage, bond
positions and pools, and every agent delivers only what the penalty makes optimal. The
planner may run several pools (one per K) and lotteries over them; PV's single pool is
the case where one K holds the trade. Every equilibrium with exchanges whose K is on the
grid (and reserves at least econ.reserve) is feasible here, so the planner's welfare at an
equilibrium's supporting weights is at least the equilibrium's. The default weights are
``w_h = 1`` (the utilitarian ``sum_h n_h U^h``, i.e. Pareto weight = population share);
the equilibrium's weights are :mod:`.contracts`'s.

**Grids.** sigma, theta and phi are grids; for every (sigma, theta, K) the phi that puts
an agent exactly on its incentive constraint in a state (``x_s = 1/lambda`` with full
delivery) is added ("snapped"): the optimum lies on that kink (derivation §6), and without
those points the grid error is first order in the phi step. Column generation prices every
point of every exchange at the LP's duals (numpy over the whole product, no Python loop over
points) and adds the profitable ones; t = 0 consumption is continuous (its best point has
the closed form ``x0* = w_h / y_resource0``). :func:`solve_on_grids` then zooms sigma, theta
and phi onto the support (:func:`segex.markets.refine.zoom`) and prices again, ``refine``
times: the grid error falls by the zoom factor squared per round while the coarse grid
stays in the LP (an answer is optimal against it too).

``[grid]`` keys (:func:`grids_from_specs`; axes are :func:`segex.gridspec.axis` tables
``{min, max, n}`` or ``{points}``):

==========  =====================================================================  ==================
key         what                                                                   default
==========  =====================================================================  ==================
sigma       storage                                                                [rho_min, 0.6 e0_min], 31
theta       bonds bought                                                           [0, 1.2 e0_min], 25
phi         bonds sold                                                             [0, 0.8 e0_min], 21
K           delivery rate per state: one table for every state, or a list of S     [0, 1], 11
            tables (their product), or ``{vectors = [[K_1, ..., K_S], ...]}``
rho         reserve of the exchanges (contracts only; the planner uses econ.reserve) {points = [reserve, ...]}: reserve + 5 steps to 0.5 e0_min
x0          first t = 0 consumption points (then continuous)                       [0.05 e0_min, e0_max], 41
refine      zoom rounds onto the support                                           2
zoom        points per zoomed run                                                  9
snap        add the phi on each state's incentive constraint                       true
==========  =====================================================================  ==================

References
----------
.. [1] U. Peiris and A. Vardoulakis, "Reserve Requirements and Default", 2009, §2, §4-§6.
.. [2] /work/notes/issue15/derivation.md, §1 (the model), §2 (baseline), §6 (LPs, numbers).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate, GridEdge, add_edge_checks, edge_mass
from ...engine.lp import LPBuilder
from ...errors import SpecError
from ...gridspec import axis
from ...io.labels import label
from ...markets.planner import PlannerLP, lottery_rows
from ...markets.refine import zoom
from ...result import ResultMixin
from .agent import autarky_storage
from .model import DefaultReservesEconomy

GRID_KEYS = ("sigma", "theta", "phi", "K", "K_mode", "rho", "x0", "refine", "zoom", "snap")

#: What a user should change when a row family cannot hold (infeasibility diagnosis).
HINTS = {
    "resource0": "t = 0 resources cannot clear: grid.x0 and grid.sigma must allow consuming the endowment",
    "bond": "an exchange's bonds cannot clear: grid.theta and grid.phi must hold 0",
    "delivery": "an exchange's pooled delivery cannot equal its rate K: grid.phi must hold 0",
    "lottery": "a type has no point with positive consumption: widen grid.sigma (or lower rho)",
}

#: Relative reduced cost (of max|c|) above which a point enters: HiGHS's dual tolerance.
PRICE_TOL = 1e-9
#: Points added per type and round besides the best of every exchange.
TOP_PER_ROUND = 200
#: Relative offsets of the t = 0 consumption points added around x0* each round.
X0_PIN = np.array([0.0, -1e-3, 1e-3, -1e-2, 1e-2])
#: A point is held when its probability exceeds this (HiGHS's feasibility tolerance x 100).
HELD = 1e-7
#: Most column-generation rounds per grid.
MAX_ROUNDS = 60


# ------------------------------------------------------------------------------ grids
@dataclass
class Layer:
    """One product of points priced in the exchanges of ``K`` indices ``kidx``: the
    coarse grid (every K) or a zoomed grid (the K the support uses)."""

    kidx: np.ndarray
    sigma: np.ndarray
    theta: np.ndarray
    phi: np.ndarray


@dataclass
class Grids:
    """The exchanges (``rho`` x ``K``) and the point grids (module docstring)."""

    K: np.ndarray  # (nK, S) delivery-rate vectors
    rho: np.ndarray  # (nR,) reserves
    layers: list  # [Layer]: the coarse grid first
    x0: np.ndarray
    snap: bool = True
    refine: int = 2
    zoom: int = 9

    @property
    def coarse(self) -> Layer:
        return self.layers[0]

    @property
    def E(self) -> int:
        return self.rho.size * self.K.shape[0]

    def exchange(self, r, k):
        """Exchange index of reserve index r and rate index k (rho-major)."""
        return np.asarray(r) * self.K.shape[0] + np.asarray(k)

    @property
    def ex_rho(self) -> np.ndarray:
        return np.repeat(self.rho, self.K.shape[0])

    @property
    def ex_K(self) -> np.ndarray:
        return np.tile(self.K, (self.rho.size, 1))


def k_vectors(spec, S: int, mode: str = "product") -> np.ndarray:
    """(nK, S) delivery-rate vectors from ``grid.K`` and ``grid.K_mode`` (module docstring):
    ``"product"`` every combination of the states' rates, ``"equal"`` one rate for every
    state (the first state's axis)."""
    if mode not in ("product", "equal"):
        raise SpecError("grid.K_mode", f"'product' (a rate per state) or 'equal' (one rate), got {mode!r}")
    if isinstance(spec, dict) and "vectors" in spec:
        K = np.atleast_2d(np.asarray(spec["vectors"], float))
        if K.shape[1] != S or np.any(K < 0) or np.any(K > 1) or not np.all(np.isfinite(K)):
            raise SpecError("grid.K.vectors", f"give vectors of {S} delivery rates in [0, 1]")
        return K
    per = spec if isinstance(spec, list) and spec and isinstance(spec[0], dict) else [spec] * S
    if len(per) != S:
        raise SpecError("grid.K", f"give one table for every state or one per state ({S})")
    axes = [axis(p, f"grid.K[{s}]" if len(per) > 1 else "grid.K", 0.0, 1.0, 11) for s, p in enumerate(per)]
    for s, a in enumerate(axes):
        if a[0] < 0 or a[-1] > 1:
            raise SpecError("grid.K", f"delivery rates are in [0, 1]; state {s + 1} has [{a[0]:g}, {a[-1]:g}]")
    if mode == "equal":
        return np.repeat(axes[0][:, None], S, 1)
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, S)


def grids_from_specs(econ: DefaultReservesEconomy, specs: dict | None = None, rho=None) -> Grids:
    """The grids of a ``[grid]`` table (module docstring). ``rho``: the exchanges' reserves
    (overrides ``grid.rho``; the planner passes ``[econ.reserve]``)."""
    specs = dict(specs or {})
    unknown = set(specs) - set(GRID_KEYS)
    if unknown:
        raise SpecError(f"grid.{sorted(unknown)[0]}", f"unknown key; use {', '.join(GRID_KEYS)}")
    e0 = float(econ.e0.min())
    r0 = float(econ.reserve)
    if rho is None:
        rho = axis(specs.get("rho", {"points": np.linspace(r0, max(0.5 * e0, r0 + 1e-3), 6)}), "grid.rho",
                   r0, 0.5 * e0, 6)
    rho = np.unique(np.maximum(np.asarray(rho, float), r0))
    if rho[-1] >= econ.e0.min():
        raise SpecError("grid.rho", f"a reserve {rho[-1]:g} leaves nothing to consume at t = 0 (e0 = {e0:g})")
    sigma = axis(specs.get("sigma"), "grid.sigma", r0, 0.6 * e0, 31,
                 insert=np.concatenate([rho, autarky_storage(econ)]))  # autarky feasible exactly
    if sigma[0] < r0 - 1e-12:
        raise SpecError("grid.sigma", f"storage below the reserve {r0:g} is not allowed; start at {r0:g}")
    theta = axis(specs.get("theta"), "grid.theta", 0.0, 1.2 * e0, 25, insert=[0.0])  # all saving in bonds at q ~ 1/2
    phi = axis(specs.get("phi"), "grid.phi", 0.0, 0.8 * e0, 21, insert=[0.0])
    for name, g in (("theta", theta), ("phi", phi)):
        if g[0] < 0:
            raise SpecError(f"grid.{name}", "bond positions are >= 0; start the grid at 0")
    x0 = axis(specs.get("x0"), "grid.x0", 0.05 * e0, float(econ.e0.max()), 41)
    if x0[0] <= 0:
        raise SpecError("grid.x0", "t = 0 consumption must be > 0")
    K = k_vectors(specs.get("K", {}), econ.S, specs.get("K_mode", "product"))
    refine, nz = specs.get("refine", 2), specs.get("zoom", 9)
    if not isinstance(refine, int) or refine < 0:
        raise SpecError("grid.refine", f"an integer >= 0 (zoom rounds), got {refine!r}")
    if not isinstance(nz, int) or nz < 3:
        raise SpecError("grid.zoom", f"an integer >= 3 (points per zoomed run), got {nz!r}")
    coarse = Layer(np.arange(K.shape[0]), sigma, theta, phi)
    return Grids(K=K, rho=rho, layers=[coarse], x0=x0, snap=bool(specs.get("snap", True)), refine=refine, zoom=nz)


# ------------------------------------------------------------------------------ points
def point_values(econ: DefaultReservesEconomy, h: int, K, sigma, theta, phi):
    """Delivery, consumption and t = 1 utility of type h at points (module docstring),
    broadcast over K (..., S) and sigma, theta, phi (...). Returns (D (..., S), x (..., S),
    G (...)); G is -inf where some x_s <= 0."""
    A, lam = econ.promise, econ.penalty
    thr = 1.0 / lam if lam > 0 else np.inf
    sigma, theta, phi = (np.asarray(v, float)[..., None] for v in (sigma, theta, phi))
    y = econ.es[h] + sigma + A * np.asarray(K, float) * theta
    cap = A * phi
    D = np.clip(y - thr, 0.0, cap)
    x = y - D
    with np.errstate(divide="ignore", invalid="ignore"):
        G = ((np.log(np.where(x > 0, x, 1.0)) - lam * (cap - D)) * econ.prob).sum(-1)
    return D, x, np.where(np.all(x > 0, axis=-1), G, -np.inf)


def layer_points(econ: DefaultReservesEconomy, layer: Layer, K: np.ndarray, snap: bool, h: int):
    """The points of a layer at every K of ``K`` (nK, S): the (sigma, theta, phi) product
    and, with ``snap``, per state the phi on type h's incentive constraint there.
    Returns sigma, theta, phi as (nK, n) arrays."""
    S3 = np.stack(np.meshgrid(layer.sigma, layer.theta, layer.phi, indexing="ij"), -1).reshape(-1, 3)
    nK = K.shape[0]
    sig, th, ph = (np.broadcast_to(S3[:, i], (nK, S3.shape[0])) for i in range(3))
    if not snap or econ.penalty <= 0:
        return sig, th, ph
    S2 = np.stack(np.meshgrid(layer.sigma, layer.theta, indexing="ij"), -1).reshape(-1, 2)
    A = econ.promise
    y = econ.es[h][None, None, :] + S2[None, :, :1] + A * K[:, None, :] * S2[None, :, 1:]  # (nK, n2, S)
    with np.errstate(divide="ignore", invalid="ignore"):
        ps = np.where(A > 0, (y - 1.0 / econ.penalty) / A, -1.0)  # (nK, n2, S)
    lo, hi = layer.phi[0], layer.phi[-1]
    ps = np.where((ps > lo) & (ps <= hi), ps, np.nan)
    ps = ps.transpose(0, 2, 1).reshape(nK, -1)  # (nK, S * n2)
    s2 = np.tile(S2[:, 0], econ.S)
    t2 = np.tile(S2[:, 1], econ.S)
    return (np.concatenate([sig, np.broadcast_to(s2, ps.shape)], 1),
            np.concatenate([th, np.broadcast_to(t2, ps.shape)], 1),
            np.concatenate([ph, ps], 1))


# ------------------------------------------------------------------------------ columns
@dataclass
class Columns:
    """The master's columns: t = 1 points and t = 0 consumption points, per type."""

    h: np.ndarray  # (n,) type
    ex: np.ndarray  # (n,) exchange index
    sigma: np.ndarray
    theta: np.ndarray
    phi: np.ndarray
    D: np.ndarray  # (n, S)
    x: np.ndarray  # (n, S)
    G: np.ndarray  # (n,)
    x0_h: np.ndarray  # (n0,) type of each t = 0 point
    x0: np.ndarray  # (n0,)

    @classmethod
    def empty(cls, S: int) -> "Columns":
        z = np.zeros(0)
        return cls(np.zeros(0, int), np.zeros(0, int), z, z, z, np.zeros((0, S)), np.zeros((0, S)), z,
                   np.zeros(0, int), z)

    def add_points(self, econ, grids: Grids, h, ex, sigma, theta, phi) -> None:
        """Append t = 1 points (values recomputed exactly), skipping ones already held."""
        ex = np.asarray(ex, int)
        h = np.broadcast_to(np.asarray(h, int), ex.shape)
        sigma, theta, phi = (np.asarray(v, float) for v in (sigma, theta, phi))
        D, x, G = values_per_type(econ, grids, h, ex, sigma, theta, phi)
        key_new = np.column_stack([h, ex, sigma, theta, phi])
        key_old = np.column_stack([self.h, self.ex, self.sigma, self.theta, self.phi])
        keys = np.concatenate([key_old, key_new])
        _, first = np.unique(keys, axis=0, return_index=True)
        keep = np.sort(first[first >= key_old.shape[0]]) - key_old.shape[0]
        keep = keep[np.isfinite(G[keep])]
        self.h = np.concatenate([self.h, h[keep]])
        self.ex = np.concatenate([self.ex, ex[keep]])
        self.sigma = np.concatenate([self.sigma, sigma[keep]])
        self.theta = np.concatenate([self.theta, theta[keep]])
        self.phi = np.concatenate([self.phi, phi[keep]])
        self.D = np.concatenate([self.D, D[keep]])
        self.x = np.concatenate([self.x, x[keep]])
        self.G = np.concatenate([self.G, G[keep]])

    def add_x0(self, h, x0) -> None:
        h = np.broadcast_to(np.asarray(h, int), np.shape(x0))
        keys = set(zip(self.x0_h.tolist(), self.x0.tolist()))
        new = [(a, b) for a, b in zip(h.tolist(), np.asarray(x0, float).tolist()) if (a, b) not in keys and b > 0]
        if new:
            a, b = np.array(new).T
            self.x0_h = np.concatenate([self.x0_h, a.astype(int)])
            self.x0 = np.concatenate([self.x0, b])

    @property
    def trade(self) -> np.ndarray:
        return self.theta + self.phi


def values_per_type(econ, grids, h, ex, sigma, theta, phi):
    """(D, x, G) of points of several types (:func:`point_values`, one call per type)."""
    S = econ.S
    D, x, G = np.zeros((h.size, S)), np.zeros((h.size, S)), np.zeros(h.size)
    for t in np.unique(h):
        on = h == t
        D[on], x[on], G[on] = point_values(econ, int(t), grids.ex_K[ex[on]], sigma[on], theta[on], phi[on])
    return D, x, G


def initial_columns(econ: DefaultReservesEconomy, grids: Grids) -> Columns:
    """A feasible start: every type stores on the coarse sigma grid without trading, in the
    exchange of the lowest reserve and the first K; t = 0 consumption on grid.x0."""
    cols = Columns.empty(econ.S)
    sig = grids.coarse.sigma[grids.coarse.sigma >= grids.rho[0] - 1e-12]
    for h in range(econ.H):
        cols.add_points(econ, grids, h, np.zeros(sig.size, int), sig, np.zeros(sig.size), np.zeros(sig.size))
        cols.add_x0(h, grids.x0)
    return cols


# ------------------------------------------------------------------------------ the LP
@dataclass
class Program:
    """The assembled LP (:class:`~segex.markets.planner.PlannerLP`) over ``cols``."""

    econ: DefaultReservesEconomy
    grids: Grids
    cols: Columns
    planner: PlannerLP
    n1: int  # the t = 1 points are columns [0, n1); t = 0 points follow

    @property
    def col_exchange(self) -> np.ndarray:
        """(n,) exchange of each column; -1 for t = 0 points and no-trade points."""
        ex = np.where(self.cols.trade > 0, self.cols.ex, -1)
        return np.concatenate([ex, np.full(self.cols.x0.size, -1)])


def build_program(econ: DefaultReservesEconomy, grids: Grids, cols: Columns, weights=None) -> Program:
    """Assemble the LP of the module docstring over the columns ``cols`` (one sparse build,
    numpy index arithmetic)."""
    H, S, E = econ.H, econ.S, grids.E
    n = econ.share
    w = np.ones(H) if weights is None else np.asarray(weights, float)
    b = LPBuilder()
    r0 = b.add_rows("resource0", lb=float(n @ econ.e0), ub=float(n @ econ.e0), hint=HINTS["resource0"])
    rb = b.add_rows("bond", coords={"exchange": np.arange(E)}, hint=HINTS["bond"])
    rd = b.add_rows("delivery", coords={"exchange": np.arange(E), "state": np.arange(1, S + 1)},
                    hint=HINTS["delivery"])
    rl = b.add_rows("lottery", coords={"type": np.arange(H), "part": ["x0", "t1"]}, lb=1.0, ub=1.0, exact=True,
                    hint=HINTS["lottery"])
    c = cols
    nh = n[c.h]
    pts = b.add_cols("point", w[c.h] * nh * c.G, labels={"type": c.h, "exchange": c.ex})
    j = pts.all()
    b.add_terms(rl.index(c.h, 1), j, 1.0)
    b.add_terms(r0.start, j, nh * c.sigma)
    b.add_terms(rb.index(c.ex), j, nh * (c.theta - c.phi))
    Kx = grids.ex_K[c.ex]
    for s in range(S):  # S row families of one block: the loop is over states, not points
        b.add_terms(rd.index(c.ex, np.full(c.ex.size, s)), j, nh * (c.D[:, s] - econ.promise[s] * Kx[:, s] * c.phi))
    u0 = np.log(c.x0)
    x0b = b.add_cols("x0", w[c.x0_h] * n[c.x0_h] * u0, labels={"type": c.x0_h})
    b.add_terms(rl.index(c.x0_h, 0), x0b.all(), 1.0)
    b.add_terms(r0.start, x0b.all(), n[c.x0_h] * c.x0)
    lp = b.build()
    col_type = np.concatenate([c.h, c.x0_h])
    endowment = np.zeros((H, lp.A.shape[0]))
    endowment[:, r0.start] = econ.e0
    planner = PlannerLP(lp=lp, col_type=col_type, col_util=np.concatenate([c.G, u0]), share=n, numeraire=r0.start,
                        endowment=endowment, lottery_type=lottery_rows(lp, ("lottery",), col_type), weights=w,
                        col_trade=np.concatenate([nh * c.trade, np.zeros(c.x0.size)]))
    return Program(econ, grids, copy.copy(cols), planner, c.h.size)  # a snapshot: the master grows


@dataclass
class Duals:
    """The LP's row duals by family (engine convention: y = d welfare / d bound)."""

    y0: float  # resource0
    bond: np.ndarray  # (E,)
    delivery: np.ndarray  # (E, S)
    lottery: np.ndarray  # (H, 2): x0, t1

    @classmethod
    def of(cls, prog: Program, y: np.ndarray) -> "Duals":
        rb = prog.planner.lp.row_blocks
        E, S, H = prog.grids.E, prog.econ.S, prog.econ.H
        return cls(float(y[rb["resource0"].start]), y[rb["bond"].slice], y[rb["delivery"].slice].reshape(E, S),
                   y[rb["lottery"].slice].reshape(H, 2))


# ------------------------------------------------------------------------------ pricing
@dataclass
class Pricing:
    """One pricing pass: the largest reduced cost (relative to max|c|) and the new points."""

    max_rc: float
    new: list  # per type: (ex, sigma, theta, phi)
    x0: list  # per type: x0 points
    n_new: int


def price(econ: DefaultReservesEconomy, grids: Grids, d: Duals, weights, cscale: float, tol: float = PRICE_TOL,
          top: int = TOP_PER_ROUND) -> Pricing:
    """Reduced cost ``c_j - A_j'y`` of every point of every layer in every exchange at the
    duals ``d`` (vectorized over K and points; a loop over types, layers and reserves):
    the best point of every exchange and the ``top`` best overall enter when above
    ``tol * cscale``. No-trade points are priced in the first K only (K is irrelevant to
    them). t = 0 consumption: x0* = w_h / y0 and points pinned around it."""
    n, A = econ.share, econ.promise
    w = np.asarray(weights, float)
    best, new, x0new, total = -np.inf, [], [], 0
    for h in range(econ.H):
        found = []
        for layer in grids.layers:
            K = grids.K[layer.kidx]
            sig, th, ph = layer_points(econ, layer, K, grids.snap, h)
            D, _, G = point_values(econ, h, K[:, None, :], sig, th, ph)
            ok = np.isfinite(G) & ~np.isnan(ph)
            notrade = (th == 0) & (ph == 0)
            ok &= ~notrade | (layer.kidx[:, None] == 0)
            base = w[h] * n[h] * np.where(ok, G, 0.0) - d.lottery[h, 1]
            for r, rho in enumerate(grids.rho):
                e = grids.exchange(r, layer.kidx)
                pay = d.y0 * sig + d.bond[e][:, None] * (th - ph) \
                    + np.einsum("ks,kps->kp", d.delivery[e], D - A * K[:, None, :] * ph[..., None])
                rc = np.where(ok & (sig >= rho - 1e-12), base - n[h] * pay, -np.inf) / cscale
                kbest = rc.argmax(1)
                rbest = rc[np.arange(rc.shape[0]), kbest]
                best = max(best, float(rbest.max(initial=-np.inf)))
                sel = [(np.nonzero(rbest > tol)[0], kbest[rbest > tol])]
                if top:
                    flat = rc.ravel()
                    t = np.flatnonzero(flat > tol)  # usually few: rank only those
                    if t.size > top:
                        t = t[np.argpartition(flat[t], -top)[-top:]]
                    sel.append(np.unravel_index(t, rc.shape))
                for ki, pi in sel:
                    found.append((e[ki], sig[ki, pi], th[ki, pi], ph[ki, pi]))
        if found:
            new.append(tuple(np.concatenate(v) for v in zip(*found)))
            total += new[-1][0].size
        else:
            new.append(None)
        xs = w[h] / d.y0
        rc0 = (w[h] * n[h] * np.log(xs) - d.lottery[h, 0] - n[h] * d.y0 * xs) / cscale
        best = max(best, float(rc0))
        x0new.append(xs * (1 + X0_PIN))
    return Pricing(best, new, x0new, total)


def add_priced(econ, grids: Grids, cols: Columns, pr: Pricing) -> int:
    """Append a pricing pass's points to the master; returns how many were new."""
    before = cols.h.size + cols.x0.size
    for h, nw in enumerate(pr.new):
        if nw is not None:
            cols.add_points(econ, grids, h, *nw)
        cols.add_x0(h, pr.x0[h])
    return cols.h.size + cols.x0.size - before


def outside_pricer(prog: Program, tol: float = PRICE_TOL):
    """``pricer(y, weights) -> (A, c)`` for the shared dual face LPs
    (:func:`segex.markets.equilibrium.supporting_duals`): the grid points outside the master
    that price in at the duals y (:func:`price`), as columns over the master's rows."""
    econ, grids = prog.econ, prog.grids

    def pricer(y, weights):
        cscale = max(1.0, float(np.abs(prog.planner.lp.c).max()))
        pr = price(econ, grids, Duals.of(prog, y), weights, cscale, tol)
        tmp = Columns.empty(econ.S)
        add_priced(econ, grids, tmp, pr)
        sub = build_program(econ, grids, tmp, weights).planner.lp
        return sub.A, sub.c

    return pricer


# ------------------------------------------------------------------------------ solving
@dataclass
class Master:
    """The master LP after column generation at fixed weights, its solution and path."""

    prog: Program
    sol: object  # LPSolution
    rounds: list = field(default_factory=list)
    build_s: float = 0.0
    solve_s: float = 0.0


def column_generation(econ, grids: Grids, cols: Columns, weights, backend: str = "highs", tol: float = PRICE_TOL,
                      max_rounds: int = MAX_ROUNDS, progress=None) -> Master:
    """Re-solve the master and add every profitable point until none remains (to ``tol``
    of max|c|). HiGHS's status is checked by the backend (a non-optimal solve raises
    :class:`~segex.errors.SolveError`)."""
    from ...backends import solve

    build_s = solve_s = 0.0
    rounds = []
    for it in range(max_rounds):
        t0 = time.perf_counter()
        prog = build_program(econ, grids, cols, weights)
        t1 = time.perf_counter()
        sol = solve(prog.planner.lp, backend=backend)
        t2 = time.perf_counter()
        build_s, solve_s = build_s + t1 - t0, solve_s + t2 - t1
        cscale = max(1.0, float(np.abs(prog.planner.lp.c).max()))
        pr = price(econ, grids, Duals.of(prog, sol.row_dual), prog.planner.weights, cscale, tol)
        added = add_priced(econ, grids, cols, pr) if pr.max_rc > tol else 0
        rounds.append({"round": it, "objective": sol.objective, "cols": prog.planner.lp.A.shape[1],
                       "max_reduced_cost": pr.max_rc, "added": added, "seconds": time.perf_counter() - t0})
        if progress is not None:
            progress(rounds[-1])
        if added == 0:
            break
    return Master(prog, sol, rounds, build_s, solve_s)


def held_points(prog: Program, x: np.ndarray) -> np.ndarray:
    """Indices of the t = 1 points held with probability above :data:`HELD`."""
    return np.nonzero(x[: prog.n1] > HELD)[0]


def zoom_layer(grids: Grids, prog: Program, x: np.ndarray) -> Layer | None:
    """A finer layer around the support: sigma, theta and phi zoomed onto the points held
    (:func:`segex.markets.refine.zoom`, within the coarse grid's range), priced in the K
    the support trades in (and the first K, for no-trade points)."""
    on = held_points(prog, x)
    if on.size == 0:
        return None
    c, last = prog.cols, grids.layers[-1]
    axes = []
    for g, v, lo in ((last.sigma, c.sigma[on], grids.coarse.sigma[0]), (last.theta, c.theta[on], 0.0),
                     (last.phi, c.phi[on], 0.0)):
        idx = np.clip(np.searchsorted(g, v), 0, g.size - 1)
        near = np.unique(np.concatenate([idx, np.clip(idx - 1, 0, g.size - 1)]))
        near = near[np.abs(g[near][:, None] - v[None, :]).min(1) <= np.diff(g).max(initial=0.0) + 1e-12]
        act = np.zeros(g.size, bool)
        act[near] = True
        hi = {0: grids.coarse.sigma[-1], 1: grids.coarse.theta[-1], 2: grids.coarse.phi[-1]}[len(axes)]
        axes.append(zoom(g, act, grids.zoom, (lo, hi, 0.0))[0])
    kidx = np.unique(np.concatenate([[0], prog.cols.ex[on] % grids.K.shape[0]]))
    return Layer(kidx, *axes)


def solve_on_grids(econ, grids: Grids, weights=None, backend: str = "highs", cols: Columns | None = None,
                   progress=None) -> Master:
    """Column generation on the coarse grid, then ``grids.refine`` zoomed layers
    (module docstring); each layer adds to the master, none is dropped."""
    w = np.ones(econ.H) if weights is None else np.asarray(weights, float)
    cols = cols if cols is not None else initial_columns(econ, grids)
    m = column_generation(econ, grids, cols, w, backend, progress=progress)
    rounds, bs, ss = list(m.rounds), m.build_s, m.solve_s
    for _ in range(grids.refine):
        layer = zoom_layer(grids, m.prog, m.sol.x)
        if layer is None:
            break
        grids.layers.append(layer)
        m = column_generation(econ, grids, cols, w, backend, progress=progress)
        rounds += m.rounds
        bs, ss = bs + m.build_s, ss + m.solve_s
    m.rounds, m.build_s, m.solve_s = rounds, bs, ss
    return m


# ------------------------------------------------------------------------------ reading
def support(prog: Program, x: np.ndarray) -> dict:
    """Every t = 1 point the lotteries hold: type, exchange, rho, K, sigma, theta, phi, D,
    x (state consumption), t = 0 consumption (the type's mean) and probability."""
    on = held_points(prog, x)
    c, g = prog.cols, prog.grids
    x0m = np.bincount(c.x0_h, x[prog.n1:] * c.x0, minlength=prog.econ.H)
    return {"type": c.h[on], "exchange": c.ex[on], "rho": g.ex_rho[c.ex[on]], "K": g.ex_K[c.ex[on]],
            "sigma": c.sigma[on], "theta": c.theta[on], "phi": c.phi[on], "D": c.D[on], "x": c.x[on],
            "x0": x0m[c.h[on]], "prob": x[on]}


def edges(prog: Program, x: np.ndarray, y: np.ndarray | None = None, weights=None) -> list:
    """:class:`~segex.certificate.GridEdge` of sigma, theta, phi (the coarse grid's ends;
    sigma's lower end is the reserve, theta's and phi's are 0: natural bounds) and of
    t = 0 consumption (continuous: no edge). With the duals ``y``, each upper end is priced:
    the largest reduced cost of a point one step beyond it (:func:`edge_gain`), so an end a
    degenerate LP uses without needing it -- bonds and storage are perfect substitutes
    when q = K -- is not taken for a binding one."""
    c, g, H = prog.cols, prog.grids.coarse, prog.econ.H
    xp = x[: prog.n1]
    out = []
    for name, vals, grid, low in (("grid.sigma", c.sigma, g.sigma, "sigma >= the reserve"),
                                  ("grid.theta", c.theta, g.theta, "bonds bought >= 0"),
                                  ("grid.phi", c.phi, g.phi, "bonds sold >= 0")):
        mass = np.array([edge_mass(vals[c.h == h], xp[c.h == h], grid[0], grid[-1]) for h in range(H)]).max(0)
        floor = name != "grid.sigma" or grid[0] <= prog.grids.rho.min() + 1e-12
        gain = (None, None)
        if y is not None and mass[1] > 0 and grid.size > 1:
            gain = (None, edge_gain(prog, y, weights, name.split(".")[1], 2 * grid[-1] - grid[-2]))
        out.append(GridEdge(name, float(grid[0]), float(grid[-1]), tuple(mass), bound=(low if floor else None, None),
                            gain=gain))
    return out


def edge_gain(prog: Program, y: np.ndarray, weights, axis_name: str, value: float) -> float:
    """The largest reduced cost (relative to max|c|) of the points whose ``axis_name``
    (sigma, theta or phi) is ``value`` -- one step past the grid -- with the other axes on
    the coarse grid, in every exchange, at the duals ``y``."""
    g = prog.grids
    c = g.coarse
    parts = {"sigma": c.sigma, "theta": c.theta, "phi": c.phi, axis_name: np.array([value])}
    if axis_name == "sigma" and value >= float(prog.econ.e0.min()):
        return 0.0  # no t = 0 consumption left: cannot enter
    outward = copy.copy(g)
    outward.layers = [Layer(c.kidx, parts["sigma"], parts["theta"], parts["phi"])]
    cscale = max(1.0, float(np.abs(prog.planner.lp.c).max()))
    return price(prog.econ, outward, Duals.of(prog, y), weights, cscale, tol=np.inf, top=0).max_rc


def lp_stats(m: Master) -> dict:
    return {**m.prog.planner.lp.stats, "build_s": m.build_s, "solve_s": m.solve_s}


# ------------------------------------------------------------------------------ result
class LotteryWelfare:
    """Welfare of a solved lottery LP (``prog``, ``x``, ``econ``): the planner's and the
    contracts' results alike."""

    @property
    def w(self) -> np.ndarray:
        """(H,) expected utility of each type (PV §2.1.1's payoff)."""
        return self.prog.planner.utilities(self.x)

    @property
    def welfare(self) -> float:
        """``sum_h n_h U^h`` (utilitarian with population shares)."""
        return float(self.econ.share @ self.w)


@dataclass(repr=False)
class PlannerResult(LotteryWelfare, ResultMixin):
    """The constrained planner solved (module docstring): welfare per type, the support
    of the lotteries, the LP's size and times, a certificate."""

    CONCEPT = "planner"

    econ: DefaultReservesEconomy
    prog: Program
    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    lp: dict
    certificate: Certificate = None
    rounds: list = field(default_factory=list)

    @property
    def objective(self) -> float:
        return float(self.prog.planner.lp.c @ self.x)

    def allocation(self) -> list[dict]:
        """One record per held point: type, mass (its probability), exchange (rho, K),
        sigma, theta, phi, D (per state), x = [x0 (type mean), x_1..x_S]."""
        sp = support(self.prog, self.x)
        return [{"type": int(sp["type"][i]), "mass": float(sp["prob"][i]), "rho": float(sp["rho"][i]),
                 "K": sp["K"][i].tolist(), "sigma": float(sp["sigma"][i]), "theta": float(sp["theta"][i]),
                 "phi": float(sp["phi"][i]), "D": sp["D"][i].tolist(),
                 "x": [float(sp["x0"][i])] + sp["x"][i].tolist()} for i in range(sp["prob"].size)]

    def trade_mass(self) -> np.ndarray:
        """(H,) probability of a point with trade (theta + phi > 0), per type."""
        sp = support(self.prog, self.x)
        t = (sp["theta"] + sp["phi"]) > 0
        return np.bincount(sp["type"][t], sp["prob"][t], minlength=self.econ.H)

    def to_dict(self) -> dict:
        return {"w": self.w.tolist(), "welfare": self.welfare, "weights": self.weights.tolist(),
                "allocation": self.allocation(), "trade_mass": self.trade_mass().tolist()}

    def to_dataset(self):
        return support_dataset(self, "planner")


def support_dataset(res, concept: str):
    """The result as an :class:`xarray.Dataset`: welfare per type and the support of the
    lotteries (one entry per held point), every coordinate labelled."""
    import xarray as xr

    econ = res.econ
    sp = support(res.prog, res.x)
    ds = xr.Dataset(
        {
            "w": ("type", res.w, {"long_name": "expected utility U^h (PV §2.1.1 payoff)", "units": "utils"}),
            "weight": ("type", res.weights, {"long_name": "Pareto weight w^h", "units": "1"}),
            "point_type": ("point", sp["type"], {"long_name": "type holding the point", "units": "1"}),
            "point_prob": ("point", sp["prob"], {"long_name": "probability of the point in the type's lottery",
                                                 "units": "1"}),
            "point_rho": ("point", sp["rho"], {"long_name": "reserve rho of the point's exchange",
                                               "units": "good at t=0"}),
            "point_K": (("point", "state"), sp["K"], {"long_name": "delivery rate K of the point's exchange",
                                                      "units": "1"}),
            "sigma": ("point", sp["sigma"], {"long_name": "storage sigma", "units": "good at t=0"}),
            "theta": ("point", sp["theta"], {"long_name": "bonds bought theta", "units": "bonds"}),
            "phi": ("point", sp["phi"], {"long_name": "bonds sold phi", "units": "bonds"}),
            "D": (("point", "state"), sp["D"], {"long_name": "delivery D_s (incentive-compatible)",
                                                "units": "good in state s"}),
            "x": (("point", "state"), sp["x"], {"long_name": "consumption x_s", "units": "good in state s"}),
        },
        coords={"type": np.arange(econ.H), "state": np.arange(1, econ.S + 1), "point": np.arange(sp["prob"].size)},
        attrs={"economy": "default_reserves", "concept": concept, "penalty": econ.penalty, "reserve": econ.reserve,
               "certificate_passed": bool(res.certificate is not None and res.certificate.passed)},
    )
    return label(ds, point=("held lottery point, numbered from 0", "1"))


def certify_program(prog: Program, x, y, weights, equilibrium: bool, backend: str = "highs",
                    cert: Certificate | None = None) -> Certificate:
    """The shared checks (:func:`segex.markets.certify.certify_planner`: LP optimality,
    clearing of resource0, bond and delivery, budgets in an equilibrium, each type's own
    problem over the master), that no point of the grids prices in at these duals
    (``pricing.max_reduced_cost``: the master is optimal over every grid point), and the
    grid edges."""
    from ...markets.certify import certify_planner

    econ = prog.econ
    cert = certify_planner(prog.planner, x, y, equilibrium, backend, cert=cert, families={
        "resource0": "PV §2.2 (2): t = 0 good", "bond": "PV §2.2 (4): bonds in every exchange",
        "delivery": "PV §2.2 (5): the pool delivers K in every exchange and state"},
        scale=float(econ.share @ econ.e0))
    cscale = max(1.0, float(np.abs(prog.planner.lp.c).max()))
    pr = price(econ, prog.grids, Duals.of(prog, y), weights, cscale, tol=np.inf, top=0)
    cert.add("pricing.max_reduced_cost", max(pr.max_rc, 0.0), 10 * PRICE_TOL,
             "largest reduced cost of any grid point (every exchange, layer, snapped phi; x0 continuous) / max|c|")
    add_edge_checks(cert, edges(prog, x, y, weights))
    return cert


def solve_planner(econ: DefaultReservesEconomy, grid_specs: dict | None = None, weights=None,
                  backend: str = "highs", progress: bool = False) -> PlannerResult:
    """The constrained planner (module docstring) at Pareto ``weights`` (default one per
    type: ``sum_h n_h U^h``). ``grid_specs``: the ``[grid]`` table (its ``rho`` is ignored:
    the planner's pools all carry econ.reserve). The planner at the equilibrium's weights is
    :func:`.contracts.solve_contracts` with ``rho = {points = [econ.reserve]}``."""
    specs = {k: v for k, v in (grid_specs or {}).items() if k != "rho"}
    grids = grids_from_specs(econ, specs, rho=[econ.reserve])
    w = np.ones(econ.H) if weights is None else np.asarray(weights, float)
    if w.shape != (econ.H,) or np.any(w <= 0):
        raise SpecError("solve.weights", f"give {econ.H} positive Pareto weights")
    m = solve_on_grids(econ, grids, w, backend)
    res = PlannerResult(econ, m.prog, m.sol.x, m.sol.row_dual, w, lp_stats(m), rounds=m.rounds)
    res.certificate = certify_program(m.prog, m.sol.x, m.sol.row_dual, w, False, backend)
    return res


__all__ = ["LotteryWelfare", "Grids", "Layer", "Columns", "Program", "Duals", "PlannerResult", "build_program", "column_generation",
           "grids_from_specs", "outside_pricer", "point_values", "price", "solve_on_grids", "solve_planner", "support"]
