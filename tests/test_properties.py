"""Property tests (hypothesis) of Program 2 with segregated exchanges over randomly drawn
small collateral economies (issue 6, "Certificates and property tests").

Draws: H in 2..4 types, S in 1..3 states, population shares, state probabilities,
endowments in [0.5, 3], storage returns in [0.8, 1.2], beta in [0.8, 1], CRRA gamma in
{2, 1, 3} and Pareto weights in [0.5, 2]. Program 2 is solved at these FIXED weights
(``solve_segregated(e, g, weights=w)``: one LP, no Negishi search) on small grids (9 to
9 + 2H points per t = 0 good, 4-8 for k, 5-6 per state for z, 5-17 for a): 20-60 ms a solve.

Properties, with max_examples (derandomized, no example database: CI runs the same
examples every time; ``--hypothesis-show-statistics`` shows the H/S/gamma mix):

* value bounds (80): welfare >= strict autarky, >= no trade (endowments, k = 0, spot
  retrade in the no-trade exchange), >= a deterministic feasible allocation built here
  (t = 0 goods reallocated, storage, one type borrowing against it) put on the grids;
  the reported welfare is sum_h lambda^h alpha^h U^h.
* certificate (80): each named LP / clearing / consumer check passes (and every check but
  the grid-edge ones, ``edge.<grid>``: the grids are small on purpose, so an end may bind -- a
  verdict on the grid, not on the solve; so in every property below); independently, a
  scipy dual-simplex re-solve gives the same optimum, the reported duals give it as b'y,
  and every clearing condition recomputed from ``to_dict()`` holds.
* consumer optimality (60): at the read-back prices no grid bundle (all of them,
  enumerated with our own utility and bundle-price formulas) beats the type's lottery in
  V - mu P, mu = P10 / lambda^h; plus the certificate's ``consumer_optimality``.
* scaling (40): endowments x 2 or x 10 (grids built from the endowments scale too): the
  same prices (p0, Q, P_Delta), welfare x c**(1 - gamma) (gamma = 1: + (2 + 2 beta) log c
  per unit weight), the same exchange masses, aggregate storage x c.
* robustness (12 per cell; scale 1e-3 and 1e3 x gamma 1, 2, 3): certified, welfare and
  prices to the same relative accuracy as at scale 1 (the cell 1e3, gamma = 3 failed --
  welfare up to 3.4e-3 suboptimal, certificates passing -- until the HiGHS backend passed
  the objective at O(1) and the certificate's scales became units-free).
* relabelling (50): permuting types (shares, endowments, weights) gives the same welfare,
  prices and exchange masses, and permuted utilities.
* determinism (15): two solves in one process are bitwise identical (x, duals, welfare,
  prices); one fixed economy solved in a fresh interpreter matches bitwise.
* equilibrium, H = 2 (30): Negishi weights, budgets balance, consumer optimality as above.
* equilibrium, H = 3 (20): the same, through the two-level search; plus four fixed
  reproductions on a coarse grid (H = 3 seeds 15, 17, 35 and H = 4) of failures the
  end-game had (11 of 40 random three-type economies uncertified, now 0 of 40).

Lotteries on a grid make the LP degenerate. x is often not unique (within an exchange
the split of storage between types is indeterminate; identical types can take different
grid points, so even their utilities differ), and neither are the prices: Q and P_Delta of
inactive *and active* exchanges, and p0 when no trade sits on a grid point (identical
types, all endowments 1: every p0 in [0.71, 1.45] is optimal on these grids). So a quantity
or price that differs between two solves of the same LP is checked to lie in the range
the first solve's LP attains over its optimal primal (:func:`optimal_range`) or dual
(:func:`price_range`) face -- two small LPs, only when the direct comparison fails.

Runtime (2 cores): ~35 s for the file (``--durations=10``: 2-6 s per property).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from segex.economies.collateral import CollateralEconomy, CollateralGrids
from segex.economies.collateral.segregated import solve_segregated

SETTINGS = {"deadline": None, "derandomize": True, "database": None, "print_blob": True,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

#: grid sizes before the points each test inserts (endowments, a constructed allocation)
N_C, N_K, N_Z, N_A = 9, 4, 4, 5

def grid_certified(cert) -> bool:
    """Every check of the grid economy's certificate passed -- all but ``edge.<grid>``:
    these grids are small on purpose, so an end of one may bind, which says the grid is
    too narrow, not that the solve is wrong (tests/test_grid_edges.py tests those)."""
    return all(name.startswith("edge.") for name in cert.failed())


# ---------------------------------------------------------------- draws


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _vec(draw, n, lo, hi):
    return np.array(draw(st.lists(_floats(lo, hi), min_size=n, max_size=n)), dtype=float)


@st.composite
def economies(draw, H_max=4, gammas=(2.0, 1.0, 3.0)):
    """(economy, Pareto weights): H in 2..H_max, S in 1..3, gamma from ``gammas``."""
    H = draw(st.integers(2, H_max))
    S = draw(st.integers(1, 3))
    share = _vec(draw, H, 0.2, 1.0)
    prob = _vec(draw, S, 0.2, 1.0)
    endowment = _vec(draw, H * (1 + S) * 2, 0.5, 3.0).reshape(H, 1 + S, 2)
    R = _vec(draw, S, 0.8, 1.2)
    beta = draw(_floats(0.8, 1.0))
    gamma = draw(st.sampled_from(gammas))
    e = CollateralEconomy.create(share=share / share.sum(), endowment=endowment, prob=prob / prob.sum(), R=R,
                                 beta=beta, gamma=gamma, name="property")
    weights = _vec(draw, H, 0.5, 2.0)
    event(f"H={H} S={S} gamma={gamma:g}")  # coverage, shown by --hypothesis-show-statistics
    return e, weights


@st.composite
def allocation_recipes(draw, H):
    """How to build a deterministic feasible allocation (see :func:`allocation`).

    Storage fraction 0 or >= 0.05 and borrowing fraction 0 or >= 0.1, so that no
    constructed point lands within rounding of the grid's inserted 0 / no-trade points."""
    return {
        "f": draw(st.one_of(st.just(0.0), _floats(0.05, 0.6))),  # aggregate storage / E_20
        "v": _vec(draw, H, 0.1, 1.0),  # who stores
        "m": _vec(draw, H, 0.2, 1.0),  # who eats good 1 at t = 0
        "t": draw(st.one_of(st.just(0.0), _floats(0.1, 1.0))),  # type 0 borrows t x its collateral
    }


# ---------------------------------------------------------------- economics, written independently


def u1(c, g):
    """CRRA utility of one good (our own formula, not segex.utility)."""
    c = np.asarray(c, float)
    return np.log(c) if g == 1.0 else c ** (1.0 - g) / (1.0 - g)


def state_value(W, z, g):
    """max u(c1) + u(c2) s.t. c1 + p c2 = W at p = z**g: FOC c2 = c1 p**(-1/g)."""
    p = np.asarray(z, float) ** g
    c1 = W / (1.0 + p ** (1.0 - 1.0 / g))
    return u1(c1, g) + u1(c1 * p ** (-1.0 / g), g)


def bundle_value(e, h, c0, k, z, a):
    """V^h of a deterministic bundle: t = 0 consumption c0 (2,), storage k, exchange z (S,)
    and security a (S,), spot retrade at p(z_s) in every state."""
    V = u1(c0[0], e.gamma) + u1(c0[1], e.gamma)
    for s in range(e.S):
        e1, e2 = e.e1[h, s]
        W = e1 + z[s] ** e.gamma * (e2 + e.R[s] * k) + a[s]
        V += e.beta * e.prob[s] * state_value(W, z[s], e.gamma)
    return float(V)


def autarky_value(e, h):
    """Strict autarky: endowments eaten, no storage, no spot trade (not an LP point)."""
    V = u1(e.e0[h, 0], e.gamma) + u1(e.e0[h, 1], e.gamma)
    for s in range(e.S):
        V += e.beta * e.prob[s] * (u1(e.e1[h, s, 0], e.gamma) + u1(e.e1[h, s, 1], e.gamma))
    return float(V)


def z_autarky(e):
    E = e.aggregate
    return E[1:, 0] / E[1:, 1]


def allocation(e, recipe):
    """A deterministic feasible allocation: good 1 at t = 0 split by ``m``; a fraction ``f``
    of good 2 stored (split by ``v``), the rest eaten in proportion to endowments; every
    type in the exchange z_s = E_1s / (E_2s + R_s K) of each state (rights clear there);
    type 0 borrows ``t`` times its collateral value, the others lend it (securities clear).
    Returns per type c0 (H, 2), k (H,), a (H, S) and z (S,)."""
    H, E, al = e.H, e.aggregate, e.share
    c0 = np.empty((H, 2))
    c0[:, 0] = E[0, 0] * recipe["m"] / (al @ recipe["m"])
    K = recipe["f"] * E[0, 1]
    k = K * recipe["v"] / (al @ recipe["v"])
    c0[:, 1] = (1.0 - recipe["f"]) * e.e0[:, 1]
    z = E[1:, 0] / (E[1:, 1] + e.R * K)
    a = np.zeros((H, e.S))
    a[0] = -recipe["t"] * z ** e.gamma * e.R * k[0]
    a[1:] = -al[0] * a[0] / (1.0 - al[0])
    return {"c0": c0, "k": k, "z": z, "a": a}


def assert_feasible(e, alloc):
    """Clearing (51)-(53), (55) and the collateral constraint (13) of a constructed
    allocation; 1e-9 of the aggregates: rounding of the construction and of snapping to
    grid points (<= 1e-10 relative)."""
    E, al = e.aggregate, e.share
    c0, k, a, z = alloc["c0"], alloc["k"], alloc["a"], alloc["z"]
    assert np.all(c0 > 0) and np.all(k >= 0)
    assert abs(al @ c0[:, 0] - E[0, 0]) <= 1e-9 * E[0, 0]
    assert abs(al @ (c0[:, 1] + k) - E[0, 1]) <= 1e-9 * E[0, 1]
    for s in range(e.S):
        assert abs(al @ a[:, s]) <= 1e-9 * E[1 + s, 0]
        delta = z[s] * (e.e1[:, s, 1] + e.R[s] * k) - e.e1[:, s, 0]
        assert abs(al @ delta) <= 1e-9 * E[1 + s].max()
        floor = -z[s] ** e.gamma * e.R[s] * k
        assert np.all(a[:, s] >= floor - 1e-12 * (1 + np.abs(floor)))


# ---------------------------------------------------------------- grids and solves


def small_grids(e, extra=None):
    """Small explicit grids built from the endowments (so they scale with them), holding
    every type's t = 0 endowment (no trade is an LP point) and ``extra`` points."""
    extra = extra or {}
    E, amin = e.aggregate, e.share.min()
    c = []
    for l in range(2):
        pts = np.geomspace(0.1 * e.e0[:, l].min(), E[0, l] / amin, N_C)
        pts = np.union1d(pts, e.e0[:, l])
        if "c0" in extra:
            pts = np.union1d(pts, extra["c0"][:, l])
        c.append({"points": pts})
    k = np.linspace(0.0, E[0, 1] / amin, N_K)
    a = np.linspace(-E[1:, 0].max(), E[1:, 0].max(), N_A)
    if "k" in extra:
        k = np.union1d(k, extra["k"])
        a = np.union1d(a, extra["a"].ravel())
    z = []
    for s in range(e.S):
        z_aut = E[1 + s, 0] / E[1 + s, 1]
        z_lo = E[1 + s, 0] / (E[1 + s, 1] + e.R[s] * E[0, 1])
        zs = np.linspace(0.9 * z_lo, 1.1 * z_aut, N_Z)
        if "z" in extra:
            zs = np.union1d(zs, extra["z"][s])
        z.append({"points": zs})
    return CollateralGrids.build(e, c=c, k={"points": k}, z=z, a={"points": a})


def snap(grid, v):
    """The grid point equal to v (the grid builder drops points within 1e-12 of an
    inserted one, so a constructed value may be replaced by its twin)."""
    v = np.asarray(v, float)
    i = np.abs(grid[None, :] - v.reshape(-1, 1)).argmin(axis=1)
    # 1e-10 relative: far above the builder's 1e-12 merge, far below any grid step
    assert np.all(np.abs(grid[i] - v.ravel()) <= 1e-10 * (1 + np.abs(v.ravel()))), "constructed point not on grid"
    return grid[i].reshape(v.shape)


def on_grid(g, alloc):
    """The allocation with every coordinate replaced by its grid point."""
    return {"c0": np.column_stack([snap(g.c0[0], alloc["c0"][:, 0]), snap(g.c0[1], alloc["c0"][:, 1])]),
            "k": snap(g.k, alloc["k"]), "a": snap(g.a, alloc["a"]),
            "z": np.array([snap(g.z[s], alloc["z"][s]) for s in range(len(g.z))])}


def scaled(e, c):
    return CollateralEconomy.create(share=e.share, endowment=e.endowment * c, prob=e.prob, R=e.R, beta=e.beta,
                                    gamma=e.gamma, name=f"{e.name} x{c}")


def permuted(e, perm):
    return CollateralEconomy.create(share=e.share[perm], endowment=e.endowment[perm], prob=e.prob, R=e.R,
                                    beta=e.beta, gamma=e.gamma, name=f"{e.name} perm")


def solve(e, w, g=None):
    return solve_segregated(e, g if g is not None else small_grids(e), weights=w)


# ---------------------------------------------------------------- linear functionals of the lottery


def utility_coef(res, h):
    prog = res.prog
    return np.where(prog.col_type == h, prog.col_util, 0.0)


def mass_coefs(res):
    """(s, j) -> coefficient vector of the population mass in exchange (s, z_j)."""
    prog, e = res.prog, res.econ
    out = {}
    for s in range(e.S):
        for j in range(res.grids.z[s].size):
            c = np.zeros(prog.lp.A.shape[1])
            for h in range(e.H):
                sl = prog.block(f"x1[{h},{s}]").slice
                c[sl] = e.share[h] * (prog.columns[h].x1[s]["z_idx"] == j)
            out[s, j] = c
    return out


def storage_coef(res):
    prog, e = res.prog, res.econ
    c = np.zeros(prog.lp.A.shape[1])
    for h in range(e.H):
        c[prog.block(f"k[{h}]").slice] = e.share[h] * prog.columns[h].k
    return c


def optimal_range(res, coef):
    """min and max of coef'x over res's LP optimal face (welfare within the certificate's
    1e-7 relative duality-gap tolerance of the optimum), by scipy's HiGHS."""
    lp = res.prog.lp
    obj = float(lp.c @ res.x)
    kw = {"A_ub": -lp.c[None, :], "b_ub": [-(obj - 1e-7 * (1 + abs(obj)))], "A_eq": lp.A, "b_eq": lp.row_lb,
          "bounds": (0, None), "method": "highs"}
    lo, hi = linprog(coef, **kw), linprog(-coef, **kw)
    assert lo.status == 0 and hi.status == 0, (lo.message, hi.message)
    return lo.fun, -hi.fun


def assert_same_or_on_face(res, coef, value, tol, what):
    """value (from another solve) equals coef'res.x, or -- where the LP has several optimal
    solutions -- lies in the range res's optimal face attains."""
    own = float(coef @ res.x)
    if abs(own - value) <= tol:
        return
    event("primal quantity not unique: compared on the optimal face")
    lo, hi = optimal_range(res, coef)
    assert lo - tol <= value <= hi + tol, f"{what}: {value!r} outside optimal range [{lo!r}, {hi!r}] (own {own!r})"


def price_rows(res):
    """name -> row of every price read back in numeraire units: p0, and Q, P_Delta of
    every exchange (the row's dual over good 1's)."""
    rb, e = res.prog.lp.row_blocks, res.econ
    out = {"p0": rb["good2"].start}
    for s in range(e.S):
        for j in range(res.grids.z[s].size):
            out[f"Q[s{s + 1}:z{j}]"] = rb[f"sec[{s}]"].start + j
            out[f"P_Delta[s{s + 1}:z{j}]"] = rb[f"rights[{s}]"].start + j
    return out


def price_value(res, row):
    return float(res.row_dual[row] / res.row_dual[res.prog.lp.row_blocks["good1"].start])


def price_range(res, row):
    """min and max of y_row / y_good1 over res's optimal dual face: duals feasible for
    every column (within 1e-8 (1 + max|c|), ~10x HiGHS's dual tolerance) and tight on
    the columns res.x uses -- every optimal dual is complementary to every optimal x.
    A ratio, so by Charnes-Cooper: v = y / y_good1, t = 1 / y_good1, v_good1 = 1."""
    lp = res.prog.lp
    m = lp.A.shape[0]
    At = lp.A.T.tocsr()
    eps = 1e-8 * (1 + np.abs(lp.c).max())
    supp = np.nonzero(res.x > 1e-9)[0]
    # -A'v + (c - eps) t <= 0 for all columns; A'v - (c + eps) t <= 0 on the support
    A_ub = sp.vstack([sp.hstack([-At, sp.csr_matrix((lp.c - eps)[:, None])]),
                      sp.hstack([At[supp], sp.csr_matrix(-(lp.c[supp] + eps)[:, None])])]).tocsc()
    g1 = lp.row_blocks["good1"].start
    A_eq = sp.csr_matrix(([1.0], ([0], [g1])), shape=(1, m + 1))
    kw = {"A_ub": A_ub, "b_ub": np.zeros(A_ub.shape[0]), "A_eq": A_eq, "b_eq": [1.0],
          "bounds": [(None, None)] * m + [(0, None)], "method": "highs"}
    obj = np.zeros(m + 1)
    obj[row] = 1.0
    lo, hi = linprog(obj, **kw), linprog(-obj, **kw)
    assert lo.status in (0, 3) and hi.status in (0, 3), (lo.message, hi.message)
    return (lo.fun if lo.status == 0 else -np.inf), (-hi.fun if hi.status == 0 else np.inf)


def assert_prices_same_or_on_face(res, other, rtol, what):
    """Every price of ``other`` (same LP up to scale / relabelling) equals res's, or is
    another optimal dual of res's LP (a degenerate LP -- e.g. no trade on a grid point,
    or an exchange with one kind of member -- has a face of them)."""
    rows, other_rows = price_rows(res), price_rows(other)
    for name, row in rows.items():
        mine, theirs = price_value(res, row), price_value(other, other_rows[name])
        tol = rtol * (1 + abs(mine))
        if abs(mine - theirs) <= tol:
            continue
        event(f"{name.split('[')[0]} not unique: compared on the optimal dual face")
        lo, hi = price_range(res, row)
        assert lo - tol <= mine <= hi + tol, f"{name}: own price {mine!r} outside own optimal range [{lo}, {hi}]"
        assert lo - tol <= theirs <= hi + tol, f"{what} {name}: {theirs!r} outside optimal range [{lo!r}, {hi!r}] " \
                                               f"(here {mine!r})"


# ---------------------------------------------------------------- properties


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_value_at_least_no_trade_and_a_constructed_allocation(data):
    """The LP optimum is at least the welfare of allocations known to be feasible."""
    e, w = data.draw(economies())
    alloc = allocation(e, data.draw(allocation_recipes(e.H)))
    g = small_grids(e, alloc)
    alloc = on_grid(g, alloc)
    assert_feasible(e, alloc)  # the construction itself, so the bound below means something
    r = solve(e, w, g)
    d = r.to_dict()
    W = r.objective
    # the objective is sum_h lambda^h alpha^h U^h with U^h the reported lottery utility;
    # 1e-12 relative: the same sum in another order (floating point only)
    U = np.array([t["utility"] for t in d["types"]])
    assert d["welfare"] == W
    assert W == pytest.approx(float(w * e.share @ U), rel=1e-12, abs=1e-12)
    # LP optimum certified to a 1e-7 relative duality gap: a feasible point may beat the
    # reported welfare by at most that much
    tol = 1e-7 * (1 + abs(W))
    z_aut = z_autarky(e)
    no_trade = [bundle_value(e, h, e.e0[h], 0.0, z_aut, np.zeros(e.S)) for h in range(e.H)]
    autarky = [autarky_value(e, h) for h in range(e.H)]
    built = [bundle_value(e, h, alloc["c0"][h], alloc["k"][h], alloc["z"], alloc["a"][h]) for h in range(e.H)]
    # spot retrade at the no-trade fundamental is an improvement on strict autarky (same
    # wealth, optimal bundle); 1e-12: rounding when no retrade is needed
    assert np.all(np.array(no_trade) >= np.array(autarky) - 1e-12 * (1 + np.abs(autarky)))
    for name, V in (("strict autarky", autarky), ("no trade", no_trade), ("constructed allocation", built)):
        value = float(w * e.share @ np.array(V))
        assert W >= value - tol, f"LP welfare {W!r} < {name} welfare {value!r}"


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_certificate_duality_gap_and_clearing(data):
    """Each certificate check by name, then LP optimality and clearing recomputed outside it."""
    e, w = data.draw(economies())
    r = solve(e, w)
    cert = r.certificate
    named = ["primal_feasibility", "dual_feasibility", "complementary_slackness", "duality_gap",
             "clearing.good1_t0", "clearing.good2_t0", "clearing.securities", "clearing.rights",
             "clearing.spot_good1", "clearing.spot_good2", "consumer_optimality"]
    for name in named:  # one assertion per check, so a regression names itself
        assert name in cert.checks, f"certificate lost check {name}"
        assert cert.checks[name].passed, f"{name}: {cert.checks[name]}"
    assert {"edge.grid.c", "edge.grid.k", "edge.grid.z", "edge.grid.a"} <= set(cert.checks)
    assert grid_certified(cert), str(cert)
    lp = r.prog.lp
    assert np.array_equal(lp.row_lb, lp.row_ub)  # Program 2 has only equality rows (b'y below)
    # independent optimum: scipy's dual simplex on the same matrix (not segex's backend);
    # 1e-7 relative is the certificate's duality-gap tolerance
    ref = linprog(-lp.c, A_eq=lp.A, b_eq=lp.row_lb, bounds=(0, None), method="highs-ds")
    assert ref.status == 0, ref.message
    assert r.objective == pytest.approx(-ref.fun, rel=1e-7, abs=1e-7)
    # the reported duals are dual-optimal: their dual objective b'y (x >= 0 only bounds)
    # equals the optimum, same tolerance
    assert float(lp.row_lb @ r.row_dual) == pytest.approx(-ref.fun, rel=1e-7, abs=1e-7)
    # clearing recomputed from the user-facing read-back (to_dict), not from x
    d = r.to_dict()
    T, al, E = d["types"], e.share, e.aggregate
    # good 1, good 2 at t = 0: expectations of the marginal lotteries, exact rows of the
    # LP, so 1e-7 of the aggregate (the certificate's CLEARING_TOL)
    c0 = np.array([t["c0"] for t in T])
    K = np.array([t["k"] for t in T])
    assert abs(al @ c0[:, 0] - E[0, 0]) <= 1e-7 * E[0, 0]
    assert abs(al @ (c0[:, 1] + K) - E[0, 1]) <= 1e-7 * E[0, 1]
    # per exchange: to_dict drops a type's entry below mass 1e-7 (ACTIVE_MASS), which can
    # leave up to H * 1e-7 * (largest |quantity| on the grids) unaccounted, plus 1e-7
    qmax = max(np.abs(r.grids.a).max(), r.grids.c0[0].max(), r.grids.c0[1].max(),
               max(zs.max() for zs in r.grids.z) * (e.e1[..., 1].max() + e.R.max() * r.grids.k.max()))
    for s in range(e.S):
        scale = E[1 + s].max()
        tol = 1e-7 * scale + e.H * 1e-7 * qmax
        for x in d["exchanges"]:
            if x["state"] != s + 1:
                continue
            rows = np.zeros(4)  # securities, rights, spot good 1, spot good 2
            for h, t in enumerate(T):
                b = t["by_exchange"].get(x["id"])
                if b is None:
                    continue
                e1, e2 = e.e1[h, s]
                m = al[h] * b["share"]
                rows += m * np.array([b["theta"][0], b["Delta"], b["c1"][0] - e1 - b["theta"][0],
                                      b["c1"][1] - e2 - e.R[s] * b["k"]])
            assert np.all(np.abs(rows) <= tol), f"exchange {x['id']}: clearing residuals {rows} > {tol:.2g}"
            # and the reported mass is the types' shares summed
            mass = sum(al[h] * t["shares"].get(x["id"], 0.0) for h, t in enumerate(T))
            assert abs(mass - x["mass"]) <= e.H * 1e-7  # dropped entries again


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_consumer_optimality_at_read_back_prices(data):
    """Consumer problem (58)-(59) at the read-back prices, from first principles: type h's
    lottery is optimal iff it only uses bundles maximising V^h(b) - mu P(b) with
    mu = P10 / lambda^h (the dual of its budget, by the Pareto program's dual
    feasibility and complementary slackness). Every grid bundle of every type is
    enumerated here -- separably: t = 0 goods, then k, then per state (z, a) -- with our
    own utility and bundle-price formulas (eq. 57)."""
    e, w = data.draw(economies())
    r = solve(e, w)
    assert np.array_equal(r.weights, w)
    assert r.certificate.checks["consumer_optimality"].passed, str(r.certificate.checks["consumer_optimality"])
    assert_consumer_optimal(r)


def assert_consumer_optimal(r):
    """No grid bundle beats type h's lottery in V - mu P, mu = P10 / lambda^h (see
    :func:`test_consumer_optimality_at_read_back_prices`)."""
    e, w = r.econ, r.weights
    d, g, pr = r.to_dict(), r.grids, r.prices
    p0 = d["p0"]
    assert p0 == pr.p0 and pr.P10 > 0
    cmax = np.abs(r.prog.lp.c).max()
    for h, t in enumerate(d["types"]):
        mu = pr.P10 / w[h]
        lottery = t["utility"] - mu * t["expenditure"]
        best = (np.max(u1(g.c0[0], e.gamma) - mu * g.c0[0]) + np.max(u1(g.c0[1], e.gamma) - mu * p0 * g.c0[1])
                - mu * p0 * g.k)  # (n_k,) so far
        for s in range(e.S):
            e1, e2 = e.e1[h, s]
            z = g.z[s]
            p = z ** e.gamma
            kk, zz, aa = np.meshgrid(g.k, np.arange(z.size), g.a, indexing="ij")
            floor = -p[zz] * e.R[s] * kk  # collateral constraint (13): a >= -p R k
            ok = aa >= floor - 1e-12 * (1 + np.abs(floor))
            # with the binding point a = -p R k of every (k, z) (the LP adds it)
            kk = np.concatenate([kk[ok], g.k[:, None].repeat(z.size, 1).ravel()])
            zi = np.concatenate([zz[ok], np.tile(np.arange(z.size), g.k.size)])
            aa = np.concatenate([aa[ok], -(p[None, :] * e.R[s] * g.k[:, None]).ravel()])
            W = e1 + p[zi] * (e2 + e.R[s] * kk) + aa
            delta = z[zi] * (e2 + e.R[s] * kk) - e1
            cost = pr.Q[s][zi] * aa + pr.P_delta[s][zi] * delta  # eq. (57), state s terms
            val = e.beta * e.prob[s] * state_value(W, z[zi], e.gamma) - mu * cost
            ki = np.searchsorted(g.k, kk)
            per_k = np.full(g.k.size, -np.inf)
            np.maximum.at(per_k, ki, val)
            best = best + per_k
        best = best.max()
        # dual feasibility is certified to 1e-7 (1 + max|c|) per LP column; a bundle is 3 + S
        # columns, and V is the LP coefficient over lambda alpha: that, in utility units
        tol = (3 + e.S) * 1e-7 * (1 + cmax) / (w[h] * e.share[h])
        assert best <= lottery + tol, f"type {h}: a grid bundle gains {best - lottery:.3g} over its lottery"
        # the lottery mixes bundles, so it cannot beat the best one (checks U and the
        # expenditure read back from to_dict against the prices)
        assert lottery <= best + tol, f"type {h}: lottery {lottery!r} above every bundle ({best!r})"


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), c=st.sampled_from([2.0, 10.0]))
def test_scaling_leaves_relative_prices_unchanged(data, c):
    """Homothetic CRRA utility and grids built from the endowments: the economy scaled by
    c is the same LP up to rounding (quantity rows x c, objective x c**(1-gamma)), so
    prices in units of good 1 at t = 0 -- p0, and Q and P_Delta of every exchange --
    must not move and the allocation scales.

    Prices are often not unique on a grid (the LP's optimal duals form a face): measured
    on random economies, one active exchange's fee was -0.0243 at scale 1 and +0.0193 at
    scale 10, both certified; two identical types with all endowments 1 (a grid point)
    get p0 = 1.0 at scale 1 and 1.45 at scale 2, both in the optimal range [0.71, 1.45].
    So a price that moved must be an optimal price of the unscaled LP
    (:func:`price_range`)."""
    e, w = data.draw(economies())
    base, big = solve(e, w), solve(scaled(e, c), w)
    assert grid_certified(big.certificate), str(big.certificate)
    # scaled LP = base LP up to rounding of the data: differences are solver noise
    # (HiGHS tolerances 1e-9 on an O(1)-scaled problem), so 1e-8 relative
    assert_prices_same_or_on_face(base, big, 1e-8, f"x{c}:")
    if e.gamma == 1.0:
        shift = (2 + 2 * e.beta) * np.log(c) * float(w @ e.share)  # log c per good and date
        assert big.objective == pytest.approx(base.objective + shift, rel=1e-8, abs=1e-8)
    else:
        assert big.objective == pytest.approx(base.objective * c ** (1 - e.gamma), rel=1e-8, abs=1e-8)
    # quantities: exchange masses and K / c, unique or on base's optimal face; 1e-7: the
    # solver's feasibility tolerance, with room
    big_mass = mass_coefs(big)
    for key, coef in mass_coefs(base).items():
        assert_same_or_on_face(base, coef, float(big_mass[key] @ big.x), 1e-7, f"mass of exchange {key}")
    assert_same_or_on_face(base, storage_coef(base), float(storage_coef(big) @ big.x) / c,
                           1e-7 * e.aggregate[0, 1], "K / c")


@pytest.mark.parametrize("c, gamma", [(1e-3, 1.0), (1e-3, 2.0), (1e-3, 3.0), (1e3, 1.0), (1e3, 2.0)])
@settings(max_examples=12, **SETTINGS)
@given(data=st.data())
def test_robust_to_endowments_of_order_1e_minus_3_and_1e3(data, c, gamma):
    """Same relative accuracy at endowments of order 1e-3 and 1e3 as at order 1 (per
    gamma: the objective scales as c**(1 - gamma), so gamma sets how far the LP's
    coefficients move from O(1)). The cell (1e3, gamma = 3) is the next test."""
    check_robust(data.draw(economies(gammas=(gamma,))), c)


#: gamma = 3 at endowments x 1e3 puts the objective coefficients at ~1e-6. Before the HiGHS
#: backend passed the objective at O(1) (segex.backends.highs.objective_scale), HiGHS's
#: absolute 1e-9 tolerances were loose there: on 30 random economies 19 had welfare off by
#: more than 1e-8 (worst 3.4e-3 relative), p0 off by up to 16%, and all 30 certificates
#: passed (their scales were 1 + max|c| ~ 1; now units-free). This test failed then.
@settings(max_examples=12, **SETTINGS)
@given(data=st.data())
def test_robust_to_endowments_of_order_1e3_with_gamma_3(data):
    check_robust(data.draw(economies(gammas=(3.0,))), 1e3)


def check_robust(drawn, c):
    e, w = drawn
    base, r = solve(e, w), solve(scaled(e, c), w)
    assert grid_certified(r.certificate), str(r.certificate)
    # same relative tolerances as the x2 / x10 comparison: solver noise only
    if e.gamma == 1.0:
        shift = (2 + 2 * e.beta) * np.log(c) * float(w @ e.share)
        assert r.objective == pytest.approx(base.objective + shift, rel=1e-8, abs=1e-8)
    else:
        assert r.objective * c ** (e.gamma - 1) == pytest.approx(base.objective, rel=1e-8)
    assert_prices_same_or_on_face(base, r, 1e-8, f"x{c}:")
    # aggregate storage scales with c (unique, or on base's optimal face); 1e-7 of E_20:
    # the solver's feasibility tolerance relative to the row's size
    assert_same_or_on_face(base, storage_coef(base), float(storage_coef(r) @ r.x) / c,
                           1e-7 * e.aggregate[0, 1], "K / c")


@settings(max_examples=50, **SETTINGS)
@given(data=st.data())
def test_relabelling_types_permutes_the_answer(data):
    """Type i of the relabelled economy is type perm[i] of the original."""
    e, w = data.draw(economies())
    perm = np.array(data.draw(st.permutations(range(e.H))))
    r = solve(e, w)
    rp = solve(permuted(e, perm), w[perm])
    assert grid_certified(rp.certificate), str(rp.certificate)
    # the same LP with rows and columns permuted (aggregates summed in another order, so
    # grids may differ in the last bit): 1e-9 relative, the solver's tolerance
    assert rp.objective == pytest.approx(r.objective, rel=1e-9, abs=1e-9)
    # prices (p0, Q, P_Delta; unique or on r's optimal dual face): 1e-8 relative, as for
    # scaling -- ratios of duals, each accurate to ~1e-9
    assert_prices_same_or_on_face(r, rp, 1e-8, "relabelled:")
    # utilities: new type i is old type perm[i]; unique unless the LP is degenerate
    # (identical types can swap grid points), then on the optimal face. 1e-7 relative:
    # the duality-gap tolerance in utility units
    for i in range(e.H):
        Ui = float(utility_coef(rp, i) @ rp.x)
        assert_same_or_on_face(r, utility_coef(r, perm[i]), Ui, 1e-7 * (1 + abs(Ui)), f"utility of type {perm[i]}")
    rp_mass = mass_coefs(rp)
    for key, coef in mass_coefs(r).items():
        assert_same_or_on_face(r, coef, float(rp_mass[key] @ rp.x), 1e-7, f"mass of exchange {key}")


@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_two_solves_are_bitwise_identical(data):
    """Fixed HiGHS options (random_seed 0, same solver) give the same bits every time."""
    e, w = data.draw(economies())
    g = small_grids(e)
    a, b = solve(e, w, g), solve(e, w, g)
    assert a.objective == b.objective  # bitwise: no tolerance
    assert a.prices.p0 == b.prices.p0
    assert np.array_equal(a.x, b.x)
    assert np.array_equal(a.row_dual, b.row_dual)
    assert all(np.array_equal(qa, qb) for qa, qb in zip(a.prices.P_delta, b.prices.P_delta))
    assert all(np.array_equal(qa, qb) for qa, qb in zip(a.prices.Q, b.prices.Q))


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_two_type_equilibrium_without_transfers(data):
    """The competitive equilibrium (Negishi weights, ``weights=None``; one-dimensional
    search for H = 2): budgets (59) balance at the read-back prices with no transfer, and
    each type's lottery is optimal in its own budget problem."""
    e, _ = data.draw(economies(H_max=2))
    r = solve_segregated(e, small_grids(e))
    assert r.equilibrium
    cert = r.certificate
    for name in ("duality_gap", "complementary_slackness", "clearing.rights", "budget", "consumer_optimality"):
        assert cert.checks[name].passed, f"{name}: {cert.checks[name]}"
    assert grid_certified(cert), str(cert)
    for t in r.to_dict()["types"]:
        # no transfer: the certificate's BUDGET_TOL, relative to wealth
        assert abs(t["lump_sum"]) <= 1e-7 * t["wealth"]
        assert t["expenditure"] == pytest.approx(t["wealth"], rel=1e-7)
    assert_consumer_optimal(r)


@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_three_type_equilibrium_without_transfers(data):
    """H = 3: the nested Negishi search (two levels, tie end-game, branch retries and
    the other nesting order when needed) gives an equilibrium with no transfer, certified
    and consumer-optimal by enumeration."""
    e, _ = data.draw(economies(H_max=3).filter(lambda ew: ew[0].H == 3))
    r = solve_segregated(e, small_grids(e))
    assert grid_certified(r.certificate), str(r.certificate)
    for t in r.to_dict()["types"]:
        assert abs(t["lump_sum"]) <= 1e-7 * t["wealth"]
    assert_consumer_optimal(r)


@pytest.mark.parametrize("H,seed", [(3, 15), (3, 17), (3, 35), (4, 0)])
def test_negishi_reproductions_on_a_coarse_grid(H, seed):
    """Fixed reproductions of economies the end-game used to leave uncertified on this grid
    (11 of random_economy(3, 1, seed), seeds 0..39; now all 40 pass for H = 3 with S = 1
    and 2, and for H = 4 with S = 1). Which change each one needs (ablation, each change
    disabled in turn): seed 35 and (H = 4, seed 0) need the face LP to mix only columns
    optimal at the point; seed 35 needs the other nesting order, and so does seed 17 when
    the branch retries are off; seed 15 passes with any one of them."""
    from segex.economies.collateral.synthetic import random_economy

    e = random_economy(H, 1, seed=seed)
    g = CollateralGrids.build(e, c={"n": 15}, k={"n": 5}, z={"n": 5}, a={"n": 5})
    r = solve_segregated(e, g)
    assert grid_certified(r.certificate), str(r.certificate)
    for t in r.to_dict()["types"]:
        assert abs(t["lump_sum"]) <= 1e-7 * t["wealth"]


_FRESH = """
import hashlib, json, numpy as np
from segex.economies.collateral import CollateralGrids, solve_segregated
from segex.economies.collateral.synthetic import random_economy
e = random_economy(H=3, S=2, seed=11)
g = CollateralGrids.build(e, c={"n": 12}, k={"n": 5}, z={"n": 6}, a={"n": 7})
r = solve_segregated(e, g, weights=[1.3, 0.8, 1.1])
print(json.dumps({"objective": r.objective.hex(), "p0": r.prices.p0.hex(),
                  "x": hashlib.sha256(r.x.tobytes()).hexdigest(),
                  "y": hashlib.sha256(r.row_dual.tobytes()).hexdigest()}))
"""


def test_fresh_interpreter_gives_bitwise_identical_result(capsys):
    """Run to run: the same fixed-seed economy solved here and in a new Python process."""
    here = {}
    exec(compile(_FRESH, "<fresh>", "exec"), here)  # noqa: S102 (our own constant)
    mine = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True, timeout=120)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert mine == theirs
