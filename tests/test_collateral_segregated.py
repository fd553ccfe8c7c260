"""Program 2 and the competitive equilibrium with segregated exchanges
(Kilenthong & Townsend, Appendix A; Environments 1-3 of Section 2.1.6).

The paper's "op" numbers were computed on a coarse lottery grid (../shared/REFERENCE.md:
"grid"), so they are matched within a few percent on a paper-like grid, and
separately the solution is shown to converge as the grid is refined.
"""

from __future__ import annotations

import numpy as np
import pytest

from segex.backends import solve
from segex.economies.collateral import CollateralGrids
from segex.economies.collateral.externality import solve_externality
from segex.economies.collateral.kt import environment1 as env1
from segex.economies.collateral.kt import environment2 as env2
from segex.economies.collateral.kt import environment3 as env3
from segex.economies.collateral.program2 import build_program2, full_product_program2
from segex.economies.collateral.segregated import solve_segregated





def env1_grid(e, nk=51, nz=41, na=21, nc=401):
    """Paper-like grid: z step 0.01 (Table 2 prints z on a 0.025 grid), k step 0.05."""
    return CollateralGrids.build(
        e, c={"n": nc}, k={"min": 0, "max": 2.5, "n": nk}, z={"min": 0.6, "max": 1.0, "n": nz},
        a={"min": -1, "max": 1, "n": na},
    )


@pytest.fixture(scope="module")
def env1_op():
    e = env1()
    return solve_segregated(e, env1_grid(e))


# ---------------------------------------------------------------- Environment 1
# Table 1 "op" and Table 2. Grid numbers: a few percent. We allow 2% on consumption,
# prices, utilities and the active fee (observed gaps: <= 1.1%); aggregate storage K
# (the individual split of k is pinned by the grid, see below) within 2%.
PAPER_ENV1_OP = {
    "c0": [[2.6073, 1.8410], [1.3927, 0.9837]],
    "c1": [[1.2970, 1.6781], [2.7030, 3.4972]],
    "U": [-2.2936, -2.3905],
    "p0": 2.0073,
    "K": (1.1753 + 0.0) / 2,
    "z": 0.7729,
    "fee": 0.5375,
    "transfer2": 0.3662,
}


def test_env1_op_matches_paper_within_grid_error(env1_op):
    d = env1_op.to_dict()
    P = PAPER_ENV1_OP
    for h in range(2):
        t = d["types"][h]
        np.testing.assert_allclose(t["c0"], P["c0"][h], rtol=0.02)
        np.testing.assert_allclose(t["c1"][0], P["c1"][h], rtol=0.02)
        assert t["utility"] == pytest.approx(P["U"][h], rel=0.02)
    assert d["p0"] == pytest.approx(P["p0"], rel=0.02)
    assert d["K"] == pytest.approx(P["K"], rel=0.02)
    active = [x for x in d["exchanges"] if x["active"]]
    # the continuum optimum z* = 0.7729 lies between grid points 0.77 and 0.78: the
    # planner mixes the two neighbouring exchanges
    assert {round(x["z"], 2) for x in active} <= {0.77, 0.78}
    zbar = sum(x["z"] * x["mass"] for x in active)
    assert zbar == pytest.approx(P["z"], abs=0.01)
    fbar = sum(x["fee"] * x["mass"] for x in active)
    assert fbar == pytest.approx(P["fee"], rel=0.03)
    assert d["types"][1]["transfer"] == pytest.approx(P["transfer2"], rel=0.06)
    assert d["types"][0]["transfer"] == pytest.approx(-d["types"][1]["transfer"], rel=1e-9)


def test_env1_equilibrium_certificate(env1_op):
    cert = env1_op.certificate
    assert cert.passed, str(cert)
    # no transfers: budgets balance at the read-back prices
    assert np.max(np.abs(env1_op.lump_sum)) < 1e-7
    for name in ("duality_gap", "budget", "consumer_optimality", "clearing.rights", "clearing.spot_good1"):
        assert name in cert.checks


def test_env1_inactive_fee_intervals(env1_op):
    """Inactive exchanges: the reported interval keeps every type out and contains the
    fee HiGHS returned."""
    ex = env1_op.to_dict()["exchanges"]
    for x in ex:
        lo, hi = x["fee_interval"]
        assert lo <= x["fee"] + 1e-9 and x["fee"] <= hi + 1e-9
    act = [x for x in ex if x["active"]]
    # fees of inactive exchanges are genuinely not unique on this grid
    assert any(x["fee_interval"][1] - x["fee_interval"][0] > 1e-3 for x in ex if not x["active"])
    # an inactive exchange's fee is one point of its interval (duals of a degenerate LP
    # are not unique); the interval is non-empty
    assert all(x["fee_interval"][0] <= x["fee_interval"][1] + 1e-9 for x in ex)
    # between the two active neighbours the fee rises with z, as in Table 2
    assert np.all(np.diff([x["fee"] for x in sorted(act, key=lambda x: x["z"])]) > 0)


def test_propositions_1_2_env1(env1_op):
    """KT Propositions 1-2: the 'ex' equilibrium has a binding collateral constraint, so
    it is not constrained optimal; p0 and aggregate saving K are too high."""
    ex = solve_externality(env1())
    assert ex.binding.any()
    d = env1_op.to_dict()
    assert ex.p0 > d["p0"] + 0.1
    assert ex.K > d["K"] + 0.05


# ---------------------------------------------------------------- Environment 2
def test_env2_op_k_and_theta():
    """Env 2 'op': k = 0.4200 each, theta^1_11 = -theta^1_12 = -0.2872 (grid numbers)."""
    e = env2()
    g = CollateralGrids.build(e, k={"min": 0, "max": 1.2, "n": 25}, z={"min": 0.6, "max": 1.05, "n": 19},
                              a={"min": -0.6, "max": 0.6, "n": 13})
    r = solve_segregated(e, g)
    assert r.certificate.passed, str(r.certificate)
    d = r.to_dict()
    for h, sign in ((0, 1), (1, -1)):
        t = d["types"][h]
        assert t["k"] == pytest.approx(0.4200, rel=0.03)
        assert sign * t["theta"][0][0] == pytest.approx(-0.2872, rel=0.03)
        assert sign * t["theta"][1][0] == pytest.approx(0.2872, rel=0.03)
    # symmetric economy: the two types' utilities coincide
    assert d["types"][0]["utility"] == pytest.approx(d["types"][1]["utility"], abs=1e-9)
    assert d["K"] < solve_externality(e).K  # Proposition 2 (ii)


# ---------------------------------------------------------------- reformulations
def test_separable_equals_full_product():
    """The separable LP (marginal lotteries, conditional state lotteries, tau at the
    agent's optimum, one security per state) has the same optimum as the naive
    full-product lottery LP: exact reformulations, so agreement to solver tolerance."""
    e = env2()
    g = CollateralGrids.build(e, c={"n": 4}, k={"min": 0, "max": 1, "n": 3}, z={"min": 0.7, "max": 1.0, "n": 3},
                              a={"min": -0.4, "max": 0.4, "n": 3})
    w = np.array([1.3, 0.7])
    sep_lp = build_program2(e, g, w, boundary=False).lp
    full_lp = full_product_program2(e, g, w)
    # even on this tiny grid the full product is the larger LP (it multiplies the blocks)
    assert full_lp.A.shape[1] > 2 * sep_lp.A.shape[1]
    sep = solve(sep_lp)
    full = solve(full_lp)
    assert sep.objective == pytest.approx(full.objective, rel=1e-8, abs=1e-9)
    # same read-back prices on good 2 at t=0 (unique: the t=0 market is always active)
    p0_sep = sep.row_dual[1] / sep.row_dual[0]
    p0_full = full.row_dual[1] / full.row_dual[0]
    assert p0_sep == pytest.approx(p0_full, rel=1e-6)


def test_fixed_weights_pareto_and_transfers():
    """With given Pareto weights there is no Negishi search: budgets need transfers that
    sum to zero (Walras), and raising a type's weight raises its utility."""
    e = env1()
    g = env1_grid(e, nk=21, nz=17, na=7, nc=101)
    lo = solve_segregated(e, g, weights=[1.2, 0.8])
    hi = solve_segregated(e, g, weights=[0.8, 1.2])
    assert lo.certificate.passed and hi.certificate.passed
    T = lo.lump_sum
    assert e.share @ T == pytest.approx(0.0, abs=1e-9)
    assert hi.to_dict()["types"][1]["utility"] > lo.to_dict()["types"][1]["utility"]


# ---------------------------------------------------------------- refinement
@pytest.mark.slow
def test_env1_refinement_converges():
    """Halving the k and z steps changes the allocation and p0 less each time, and far
    less than the gap to the printed (coarse-grid) numbers."""
    e = env1()
    out = []
    for nk, nz in ((26, 21), (51, 41), (101, 81)):
        d = solve_segregated(e, env1_grid(e, nk=nk, nz=nz, na=11, nc=801)).to_dict()
        out.append(np.array([d["p0"], d["K"], *d["types"][0]["c0"], *d["types"][1]["c1"][0]]))
    d1 = np.abs(out[1] - out[0]).max()
    d2 = np.abs(out[2] - out[1]).max()
    assert d2 < d1
    assert d2 < 0.02


# ---------------------------------------------------------------- Environment 3
@pytest.mark.slow
def test_env3_two_exchanges_and_mixture():
    """Env 3 (Tables 4-5): two active exchanges near z = 0.6113 and 0.8132; type 1 split
    about 19.69% / 80.31%, type 3 all in the low one, type 2 all in the high one; the
    three-type Negishi search balances every budget exactly."""
    e = env3()
    g = CollateralGrids.build(e, k={"min": 0, "max": 12, "n": 49}, z={"min": 0.5, "max": 1.05, "n": 56},
                              a={"min": -3, "max": 3, "n": 13})
    r = solve_segregated(e, g)
    d = r.to_dict()
    # clusters of active exchanges (neighbouring grid points mix into one exchange)
    act = sorted((x["z"], x["mass"]) for x in d["exchanges"] if x["active"])
    low = [a for a in act if a[0] < 0.7]
    high = [a for a in act if a[0] >= 0.7]
    assert low and high and len(act) <= 4
    zl = sum(z * m for z, m in low) / sum(m for _, m in low)
    zh = sum(z * m for z, m in high) / sum(m for _, m in high)
    assert zl == pytest.approx(0.6113, abs=0.02)
    assert zh == pytest.approx(0.8132, abs=0.02)
    s1 = d["types"][0]["shares"]
    share_low = sum(v for k, v in s1.items() if float(next(x["z"] for x in d["exchanges"] if x["id"] == k)) < 0.7)
    assert share_low == pytest.approx(0.1969, abs=0.02)
    for h, want_low in ((1, False), (2, True)):
        sh = d["types"][h]["shares"]
        zs = [next(x["z"] for x in d["exchanges"] if x["id"] == k) for k in sh]
        assert all((z < 0.7) == want_low for z in zs)
    # an exact equilibrium without transfers: every check, budgets included
    assert r.certificate.passed, str(r.certificate)
    assert np.max(np.abs(r.lump_sum)) < 1e-7
    # Table 4-5 reading: the constrained types store nothing and are paid for their
    # rights (Delta < 0, positive fee): paper 6.6122 and 0.6739 (grid numbers; 6%)
    assert d["types"][1]["k"] == pytest.approx(0.0, abs=1e-9)
    assert d["types"][2]["k"] == pytest.approx(0.0, abs=1e-9)
    assert d["types"][1]["transfer"] == pytest.approx(6.6122, rel=0.06)
    assert d["types"][2]["transfer"] == pytest.approx(0.6739, rel=0.06)
    assert list(d["types"][1]["Delta"].values())[0] == pytest.approx(-2.9340, rel=0.03)
    assert list(d["types"][2]["Delta"].values())[0] == pytest.approx(-0.7209, rel=0.03)


@pytest.mark.slow
def test_env2_refinement_converges():
    """Env 2: halving every step of the k, z and a grids moves K, p0, utilities and state
    consumption less each time. (Individual k and theta are not compared: within an
    exchange the split of storage between the two types is indeterminate -- any split
    with the same K gives the same consumption -- so only their sum converges.)"""
    e = env2()
    out = []
    for nk, nz, na in ((13, 10, 7), (25, 19, 13), (49, 37, 25)):
        g = CollateralGrids.build(e, k={"min": 0, "max": 1.2, "n": nk}, z={"min": 0.6, "max": 1.05, "n": nz},
                                  a={"min": -0.6, "max": 0.6, "n": na})
        r = solve_segregated(e, g)
        assert r.certificate.passed, str(r.certificate)
        d = r.to_dict()
        out.append(np.array([d["K"], d["p0"], d["types"][0]["utility"], *d["types"][0]["c1"][0]]))
    d1 = np.abs(out[1] - out[0]).max()
    d2 = np.abs(out[2] - out[1]).max()
    assert d2 < d1
    assert d2 < 0.03


@pytest.mark.parametrize("seed", [1, 6])
def test_active_fee_interval_ends_are_price_systems_supporting_the_equilibrium(seed):
    """Active exchanges' fees are not unique either (random_economy(2, 2, seed): an
    active exchange's fee ranges over > 1e-2). Each end of the reported interval is a
    price system at which the same allocation is still an equilibrium, checked here
    without the interval code's own rows: every bundle's reduced cost <= 0 and = 0 on
    the support (tolerance: HiGHS's 1e-9 dual feasibility relative to max|c|, plus
    1e-6 of room; observed 2e-8), and every type's budget (59) balances when
    recomputed with :func:`expenditures` at those prices (1e-7 of wealth). And they are
    the extremes: an exact LP with every row agrees to 1e-6 relative."""
    from segex.economies.collateral.program2 import expenditures, read_prices
    from segex.markets.fees import DualFace
    from segex.economies.collateral.synthetic import random_economy

    e = random_economy(2, 2, seed=seed)
    r = solve_segregated(e, CollateralGrids.build(e, c={"n": 15}, k={"n": 5}, z={"n": 5}, a={"n": 5}))
    assert r.certificate.passed, str(r.certificate)
    wide = [x for x in r.to_dict()["exchanges"] if x["active"] and np.diff(x["fee_interval"])[0] > 1e-2]
    assert wide, "expected an active exchange with a non-unique fee"
    prog = r.prog
    face = DualFace(prog.planner, r.x, r.row_dual, True)
    c, At = prog.lp.c, prog.lp.A.T.tocsr()
    tol = 1e-9 * np.abs(c).max() + 1e-6
    for x in wide:
        s, j = x["state"] - 1, int(x["id"].split(":z")[1])
        i = prog.lp.row_blocks[f"rights[{s}]"].start + j
        for end, (fee, v) in zip(x["fee_interval"], face.extremes(i)):
            assert fee == pytest.approx(end) and v[-1] > 0
            y = v[:-1] / v[-1]
            rc = c - At @ y
            assert rc.max() <= tol and np.abs(rc[r.x > 1e-12]).max() <= tol
            prices = read_prices(prog, y)
            assert prices.P_delta[s][j] == pytest.approx(fee, abs=1e-9)
            spend, wealth, _ = expenditures(prog, r.x, prices)
            assert np.abs(spend - wealth).max() <= 1e-7 * wealth.max()
    # ... and they are the extremes: the same program with every bundle's row at once, no
    # box, no warm start (scipy's HiGHS), over the same tolerances
    from scipy.optimize import linprog

    B, rhs = prog.planner.budget_rows(r.x)
    m = prog.lp.A.shape[0]
    g1 = np.zeros(m + 1)
    g1[prog.lp.row_blocks["good1"].start] = 1.0
    eqc = r.x > 1e-12
    Af = np.hstack([At.toarray(), -c[:, None]])
    A_ub = np.vstack([-Af, Af[eqc]])
    b_ub = np.concatenate([np.where(eqc, face.feas_eq, face.feas), np.full(eqc.sum(), face.feas_eq)])
    bt = face.fixed_hi[1:]
    A_ub = np.vstack([A_ub, np.hstack([B.toarray(), -rhs[:, None]]), -np.hstack([B.toarray(), -rhs[:, None]])])
    b_ub = np.concatenate([b_ub, bt, bt])
    for x in wide:
        s, j = x["state"] - 1, int(x["id"].split(":z")[1])
        i = prog.lp.row_blocks[f"rights[{s}]"].start + j
        for end, sign in zip(x["fee_interval"], (1.0, -1.0)):
            obj = np.zeros(m + 1)
            obj[i] = sign
            ex = linprog(obj, A_ub=A_ub, b_ub=b_ub, A_eq=g1[None, :], b_eq=[1.0],
                         bounds=[(None, None)] * m + [(0, None)], method="highs",
                         options={"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9})
            assert ex.status == 0 and ex.x[i] == pytest.approx(end, rel=1e-6, abs=1e-9)
