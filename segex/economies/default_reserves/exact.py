"""PV's equilibria without a grid: autarky, the general equilibrium with default (GED, PV §3)
and the reserve-requirement equilibrium (RR, PV §4), for any types, states, promise, penalty
and reserve.

**The system.** Agent h's first-order conditions (:mod:`.agent`) and market clearing are one
complementarity system in the unknowns z = (sigma, theta, s, V, q, K): storage sigma^h, bonds
bought theta^h, the seller's share s^h of the volume V = sum_h n_h phi^h (so phi^h = V s^h),
the bond price q and the pool's delivery rates K_s:

    sigma - rho >= 0  _|_  mu_0 - sum_s mu_s >= 0                       (storage)
    theta >= 0        _|_  q mu_0 - sum_s A_s K_s mu_s >= 0             (buyer, PV "MU")
    s >= 0            _|_  sum_s A_s min(lambda pi_s, mu_s) - q mu_0 >= 0 (seller, PV "MDU")
    sum_h n_h s^h = 1,   sum_h n_h theta^h = V,
    A_s K_s = sum_h n_h D_s^h / V                                        (PV §2.2, pooled rate)

with D_s^h = clip(y_s - 1/lambda, 0, A_s phi^h) (the delivery incentive). Writing the pool's
rate per unit of *volume* is what makes no trade come out refined: as V -> 0, D_s^h / V ->
A_s s^h [y_s > 1/lambda], the rate the marginal (lowest-ask) sellers would deliver, so V = 0
solves the system only when no buyer bids more than the lowest ask at that rate -- PV §3's
"on the verge" rule (after Dubey-Geanakoplos-Shubik). Without it autarky with K = 0 is
always an equilibrium. Each complementarity pair enters as its Fischer-Burmeister residual
a + b - sqrt(a^2 + b^2), and the square system is solved by bounded least squares from
several starts (autarky on the verge, trading starts, seeded random starts).

**Branches.** The branch (regime) of a solution is read from which side of each pair binds:
each seller's delivery in each state is none, partial (x_s = 1/lambda) or full, storage is at
the reserve or free. The certificate then checks that branch's equations (the residuals of the
binding sides) and its inequalities (the other sides' signs) on the solution itself, with
clearing and an independent best response of every type. The regime reported is
``"autarky"`` (no bond traded), ``"partial"`` (some seller delivers part of its promise in
some state) or ``"full"`` (every seller delivers all or nothing in each state); PV's baseline
has the closed-form branches of :mod:`.mirror`, against which the tests check this solver.

**What is not unique.** When the bond pays the same A_s K_s = q in every state and storage is
free, bonds and storage are perfect substitutes: consumption and welfare are unique, the split
of each type's saving between them is not (derivation §1). The solver starts symmetric in a
symmetric economy, so there it returns the symmetric representative theta = phi.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...certificate import Certificate
from ...errors import SolveError
from ...result import ResultMixin
from . import agent
from .system import ACCEPT, VANISHING, ZERO, Point, bounds, pack, residual, unpack, verge_point

#: Random starts per seed after the structured ones.
RANDOM_STARTS = 6
#: Least-squares iterations per start (a solve from a good start takes 10-25).
MAX_ITER = 100


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class DefaultEquilibrium(ResultMixin):
    """An equilibrium of PV's economy (autarky, GED or RR).

    Prices: ``q`` in t = 0 goods per bond; ``K`` the delivery rate per state (a buyer receives
    A_s K_s per bond). With no trade both are the on-the-verge values: K^v and the lowest
    ask, at which the marginal seller would sell (PV §3).

    Attributes
    ----------
    concept : "autarky", "GED" or "RR".
    regime : "autarky", "partial" or "full" (module docstring).
    sigma, theta, phi : (H,) storage, bonds bought and sold.
    D : (H, S) deliveries.
    x : (H, 1 + S) consumption, t = 0 then each state.
    mu0, mu : (H,) and (H, S) multipliers, mu0 = u'(x_0), mu_s = pi_s u'(x_s).
    eta : (H,) the reserve requirement's multiplier mu_0 - sum_s mu_s.
    w : (H,) each type's expected utility net of default penalties (PV's welfare).
    delivery : (H, S) "none", "partial" or "full" for each seller, "-" for non-sellers.
    bid, ask : highest bid and lowest ask at the equilibrium (t = 0 goods per bond).
    found : how many distinct equilibrium allocations every start reached (``thorough``
        solves; 0: the search stopped at the first).
    market : False for autarky, the economy without the bond (its bid and ask are then the
        on-the-verge test of opening the market).
    """

    economy: object
    concept: str
    regime: str
    sigma: np.ndarray
    theta: np.ndarray
    phi: np.ndarray
    D: np.ndarray
    K: np.ndarray
    q: float
    x: np.ndarray
    mu0: np.ndarray
    mu: np.ndarray
    eta: np.ndarray
    w: np.ndarray
    delivery: np.ndarray
    bid: float
    ask: float
    found: int = 1
    market: bool = True
    certificate: Certificate = field(default_factory=Certificate)
    solve_info: dict = field(default_factory=dict)
    lp: dict | None = None
    HEADLINE = ("regime", "q", "welfare")

    @property
    def welfare(self) -> float:
        """sum_h n_h w^h."""
        return float(self.economy.share @ self.w)

    @property
    def trades(self) -> bool:
        return self.regime != "autarky"

    def to_dict(self) -> dict:
        """``regime``, ``sigma``, ``phi``, ``theta``, ``D``, ``K``, ``q``, ``w``, ``x`` (per type,
        t = 0 then states), ``welfare``, the multipliers ``mu0``, ``mu``, ``eta``, the
        ``delivery`` labels, ``bid``/``ask`` and ``penalty``/``reserve``."""
        return {
            "regime": self.regime,
            "sigma": self.sigma.tolist(),
            "phi": self.phi.tolist(),
            "theta": self.theta.tolist(),
            "D": self.D.tolist(),
            "K": self.K.tolist(),
            "q": float(self.q),
            "w": self.w.tolist(),
            "welfare": self.welfare,
            "x": self.x.tolist(),
            "mu0": self.mu0.tolist(),
            "mu": self.mu.tolist(),
            "eta": self.eta.tolist(),
            "delivery": self.delivery.tolist(),
            "bid": float(self.bid),
            "ask": float(self.ask),
            "penalty": float(self.economy.penalty),
            "reserve": float(self.economy.reserve),
        }

    def to_dataset(self):
        import xarray as xr

        from ...io.labels import label

        e = self.economy

        def var(data, dims, units, desc):
            return xr.Variable(dims, np.asarray(data), attrs={"units": units, "description": desc})

        g0 = "good at t=0"
        ds = xr.Dataset(
            {
                "sigma": var(self.sigma, ("type",), g0, "storage sigma^h"),
                "theta": var(self.theta, ("type",), "bonds", "bonds bought theta^h"),
                "phi": var(self.phi, ("type",), "bonds", "bonds sold phi^h"),
                "D": var(self.D, ("type", "state"), "good in state s", "deliveries D_s^h"),
                "K": var(self.K, ("state",), "1", "delivery rate K_s of the pool (PV 2.2)"),
                "q": var(self.q, (), f"{g0} per bond", "bond price q"),
                "x": var(self.x, ("type", "date"), "good", "consumption x^h, t=0 then each state"),
                "mu0": var(self.mu0, ("type",), f"utils per {g0}", "mu_0 = u'(x_0)"),
                "mu": var(self.mu, ("type", "state"), "utils per good in state s", "mu_s = pi_s u'(x_s)"),
                "eta": var(self.eta, ("type",), f"utils per {g0}", "reserve multiplier mu_0 - sum_s mu_s"),
                "w": var(self.w, ("type",), "utils", "welfare: expected utility net of default penalties"),
                "delivery": var(self.delivery.astype(str), ("type", "state"), "1",
                                "each seller's delivery in each state: none, partial or full"),
            },
            coords={"type": np.arange(e.H), "state": np.arange(1, e.S + 1), "date": np.arange(0, e.S + 1)},
        )
        ds.attrs = {"description": f"Peiris-Vardoulakis {self.concept}: {self.regime}", "concept": self.concept,
                    "regime": self.regime, "economy": e.name, "penalty": e.penalty, "reserve": e.reserve,
                    "prob": e.prob, "promise": e.promise, "share": e.share, "bid": self.bid, "ask": self.ask,
                    "certificate_passed": bool(self.certificate.passed)}
        return label(ds, date=("date: 0 is t=0, s >= 1 is state s", "1"))


# ---------------------------------------------------------------------------- solving
def solve_autarky(econ, concept: str = "autarky") -> DefaultEquilibrium:
    """No bond (PV Prop 1): each type stores sigma solving its own first-order condition, at
    the economy's reserve. The on-the-verge prices are reported as q (lowest ask) and K (K^v)."""
    return _assemble(econ, concept, unpack(econ, verge_point(econ)), found=1, market=False)


def solve_equilibrium(econ, concept: str = "GED", starts: list | None = None, thorough: bool = False) -> DefaultEquilibrium:
    """The equilibrium of ``econ`` with its bond market open (module docstring): GED when the
    economy's reserve is 0, RR otherwise. ``starts``: points z to try first (warm starts).
    The structured starts come next, then seeded random ones, until one reaches an
    equilibrium; with ``thorough`` every start is run and ``found`` counts the distinct
    equilibrium allocations reached (the uniqueness check)."""
    found: list[np.ndarray] = []
    tried = 0
    for batch in ([np.asarray(z) for z in starts or []], _starts(econ, None), _starts(econ, 0), _starts(econ, 1)):
        for z0 in batch:
            if found and not thorough:
                break
            tried += 1
            z = _solve_from(econ, z0)
            if z is not None:
                found.append(z)
    if not found:
        raise SolveError("no_equilibrium", f"{concept}: none of {tried} starts reached an equilibrium of the "
                                           f"first-order and clearing conditions; check the endowments and penalty")
    allocations = _distinct(econ, found)
    best = _symmetric(econ, max(allocations, key=lambda z: econ.share @ _w(econ, unpack(econ, z))))
    eq = _assemble(econ, concept, unpack(econ, best), found=len(allocations) if thorough else 0)
    eq.solve_info = {"z": best, "starts": tried}
    return eq


def _symmetric(econ, z) -> np.ndarray:
    """In PV's mirror family the representative with equal storage and theta = phi (PV §3),
    when it solves the system as well (it does wherever positions are indeterminate)."""
    if econ.mirror is None:
        return z
    H, S = econ.H, econ.S
    sym = z.copy()
    for block in (slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H), slice(3 * H + 2, 3 * H + 2 + S)):
        sym[block] = z[block].mean()
    delta = z[3 * H + 2 + S:].reshape(H, S)
    mean = 0.5 * (delta[0] + delta[1, ::-1])  # type 1's states are type 0's, mirrored
    sym[3 * H + 2 + S:] = np.concatenate([mean, mean[::-1]])
    return sym if np.abs(residual(econ, sym)).max() <= ACCEPT else z


def _solve_from(econ, z0) -> np.ndarray | None:
    """Bounded least squares on the system from ``z0``, polished; a solution within
    :data:`ACCEPT` (a vanishing volume snapped to the verge point) or None."""
    from scipy.optimize import least_squares

    lo, hi = bounds(econ)
    z0 = np.clip(z0, lo, np.where(np.isfinite(hi), hi - 1e-12, hi))
    try:
        sol = least_squares(lambda z: residual(econ, z), z0, jac=lambda z: _jacobian(econ, z, lo, hi),
                            bounds=(lo, hi), method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=MAX_ITER,
                            x_scale="jac")
    except (ValueError, FloatingPointError):
        return None
    z = _polish(econ, sol.x, lo, hi)
    if unpack(econ, z).V <= VANISHING:
        z = verge_point(econ)
    return z if np.abs(residual(econ, z)).max() <= ACCEPT else None


def _polish(econ, z, lo, hi, steps: int = 8) -> np.ndarray:
    """Newton steps on the Fischer-Burmeister system (least-squares steps: the Jacobian is
    singular where positions are indeterminate), kept inside the bounds."""
    r = residual(econ, z)
    for _ in range(steps):
        if np.abs(r).max() < 1e-15:
            break
        J = _jacobian(econ, z, lo, hi)
        step = np.linalg.lstsq(J, -r, rcond=1e-13)[0]
        z_new = np.clip(z + step, lo, hi)
        r_new = residual(econ, z_new)
        if np.abs(r_new).max() >= np.abs(r).max():
            break
        z, r = z_new, r_new
    return z


def _jacobian(econ, z, lo, hi) -> np.ndarray:
    """Central differences (one-sided at a bound) of :func:`residual`; z has 3H + 2 + S + HS entries."""
    n = z.size
    J = np.empty((residual(econ, z).size, n))
    for i in range(n):  # one column per unknown (a handful), not per grid point
        h = 1e-7 * max(1.0, abs(z[i]))
        up, dn = z.copy(), z.copy()
        up[i] = min(z[i] + h, hi[i])
        dn[i] = max(z[i] - h, lo[i])
        J[:, i] = (residual(econ, up) - residual(econ, dn)) / (up[i] - dn[i])
    return J


def _starts(econ, seed: int) -> list[np.ndarray]:
    """Autarky on the verge and symmetric trading starts (``seed`` None), or seeded random ones."""
    H, S = econ.H, econ.S
    sigma = agent.autarky_storage(econ)
    if seed is not None:
        return _random_starts(econ, sigma, seed)
    out = [verge_point(econ)]
    scale = float(econ.share @ econ.e0)
    K_v, bid, ask, sellers = agent.verge(econ, sigma)
    for V in (1e-3, 1e-5):  # trade opening on the verge (a threshold's neighbourhood)
        out.append(pack(econ, sigma, np.full(H, V * scale), sellers, V * scale, 0.5 * (bid + ask), K_v))
    for V, K in ((0.1, 0.5), (0.02, 0.5), (0.1, 1.0), (0.3, 0.25)):
        Kv = np.full(S, K)
        q = float(econ.promise @ (Kv * econ.prob))
        out.append(pack(econ, np.maximum(sigma * 0.95, econ.reserve), np.full(H, V * scale), np.ones(H), V * scale, q, Kv))
    return out


def _random_starts(econ, sigma, seed: int) -> list[np.ndarray]:
    H, S = econ.H, econ.S
    scale = float(econ.share @ econ.e0)
    out = []
    rng = np.random.default_rng(seed)
    for _ in range(RANDOM_STARTS):
        s = econ.reserve + rng.uniform(0, 0.8) * (econ.e0 - econ.reserve)
        V = rng.uniform(0.01, 0.5) * scale
        out.append(pack(econ, s, rng.uniform(0, 2 * V, H), rng.uniform(0, 2, H), V, rng.uniform(0.1, 1.0),
                        rng.uniform(0, 1, S)))
    return out


def _w(econ, p: Point) -> np.ndarray:
    x = np.maximum(p.x, 1e-300)
    return agent.utility(econ, np.maximum(p.x0, 1e-300), x, p.phi, p.D)


def _distinct(econ, zs) -> list[np.ndarray]:
    """One z per distinct consumption allocation (positions may differ, module docstring)."""
    out, seen = [], []
    for z in zs:
        p = unpack(econ, z)
        c = np.concatenate([p.x0, p.x.ravel()])
        if not any(np.abs(c - o).max() < 1e-7 for o in seen):
            seen.append(c)
            out.append(z)
    return out


def equilibrium_at(econ, concept, q, K, sigma, theta, phi, market: bool = True) -> DefaultEquilibrium:
    """The equilibrium object (and its certificate) at given prices and choices: deliveries,
    consumption and welfare recomputed from the economy (``segex check``)."""
    sigma, theta, phi, K = (np.asarray(a, dtype=float) for a in (sigma, theta, phi, K))
    V = float(econ.share @ phi)
    share = phi / V if V > 0 else agent.verge(econ, sigma)[3]
    return _assemble(econ, concept, unpack(econ, pack(econ, sigma, theta, share, V, float(q), K)), found=1, market=market)


# ---------------------------------------------------------------------------- read-back
def _labels(econ, p: Point) -> np.ndarray:
    lab = np.full((econ.H, econ.S), "-", dtype=object)  # "-": sells nothing
    promised = econ.promise[None, :] * p.phi[:, None]
    sells = np.broadcast_to((p.phi > ZERO)[:, None], lab.shape)
    lab[sells] = "partial"
    lab[sells & (p.D <= ZERO * (1 + promised))] = "none"
    lab[sells & (p.D >= promised - ZERO * (1 + promised))] = "full"
    return lab


def _regime(econ, p: Point, lab) -> str:
    if p.V <= ZERO:
        return "autarky"
    return "partial" if np.any(lab == "partial") else "full"


def _assemble(econ, concept, p: Point, found: int, market: bool = True) -> DefaultEquilibrium:
    lab = _labels(econ, p)
    promised = econ.promise[None, :] * p.phi[:, None]
    D = np.where(lab == "full", promised, np.where((lab == "none") | (lab == "-"), 0.0, p.D))  # rounding off
    p = Point(p.sigma, p.theta, p.share, p.V, p.q, p.K, p.phi, p.D_rate, D, p.x0, p.x + p.D - D)
    mu0 = 1.0 / p.x0
    mu = econ.prob[None, :] / p.x
    storage, bid, ask = agent.margins(econ, mu0, mu, p.q, p.K)
    eq = DefaultEquilibrium(
        economy=econ, concept=concept, regime=_regime(econ, p, lab), sigma=p.sigma.copy(), theta=p.theta.copy(),
        phi=p.phi.copy(), D=p.D.copy(), K=np.asarray(p.K, float).copy(), q=float(p.q),
        x=np.column_stack([p.x0, p.x]), mu0=mu0, mu=mu, eta=storage, w=_w(econ, p), delivery=lab,
        bid=float(bid.max()), ask=float(ask.min()), found=found, market=market)
    from .certify import certify

    eq.certificate = certify(eq)
    return eq


__all__ = ["DefaultEquilibrium", "equilibrium_at", "solve_autarky", "solve_equilibrium"]
