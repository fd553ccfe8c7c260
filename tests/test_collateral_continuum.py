"""The continuum equilibrium on an LP's support (continuum, continuum_result).

What is asserted, and why each could fail:

* the envelope formula dL/dz equals finite differences of the program's value -- a
  sign or a missing term in the formula (Roy's identity, the collateral rows, the
  rights rows) would show;
* at fixed exchanges and weights the continuum value equals the column-generation
  LP's on a grid that holds the same exchanges (k carries no grid error, a and c0
  are continuous under column generation): the continuum program is Program 2's
  limit, not a different problem;
* the equilibrium: every check of its certificate -- clearing, KKT, budgets, the
  exchange's first-order condition, each type's own budget problem solved separately,
  no exchange outside the support worth opening; the LP equilibria approach it as
  the z grid refines; KT Env 2's mirror-image states get equal fees (the LP's
  non-unique grid equilibria gave 0.113 and 0.135); Env 3's two exchanges lie
  within the paper's grid error;
* the certificate fails on a wrong price, and a support that cannot clear is a
  SolveError naming the exchange -- never a silently wrong answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from segex.economies.collateral import CollateralEconomy, CollateralGrids, solve_segregated
from segex.economies.collateral import continuum as C
from segex.economies.collateral.continuum_result import budget_problem, certify_continuum, solve_continuum
from segex.economies.collateral.exchanges import summary
from segex.economies.collateral.kt import environment1 as env1
from segex.economies.collateral.kt import environment2 as env2
from segex.economies.collateral.kt import environment3 as env3
from segex.economies.collateral.refine import starting_grids
from segex.errors import SolveError

#: KT Env 1's continuum equilibrium, as solved here (residual ~1e-15).
Z1, P0_1, K1, FEE1 = 0.7744347203, 1.9908178614, 0.5825288402, 0.5569937873


def coarse(econ):
    return starting_grids(econ, CollateralGrids.build(econ))


@pytest.fixture(scope="module")
def env1_start():
    e = env1()
    return solve_segregated(e, coarse(e), method="colgen")


@pytest.fixture(scope="module")
def env1_continuum(env1_start):
    return solve_continuum(env1_start)


def test_envelope_gradient_matches_finite_differences():
    """Env 3 (two exchanges in one state, binding collateral) at non-equilibrium
    weights: dL/dz_j against central differences of the value at step 1e-5. The value
    is exact to ~1e-14, so the difference quotient is good to ~1e-9 plus h^2 terms."""
    e = env3()
    pl = C.Planner(e, [0, 0])
    z, w = np.array([0.62, 0.80]), np.array([1.6, 1.0, 0.4])
    pt = pl.solve(z, w)
    h = 1e-5
    for j in range(2):
        dz = np.zeros(2)
        dz[j] = h
        fd = (pl.solve(z + dz, w).value - pl.solve(z - dz, w).value) / (2 * h)
        assert pt.gradient[j] * pt.y1 == pytest.approx(fd, rel=1e-6, abs=1e-8)
    # and the joint system's dL/dz (raw collateral multipliers) agrees with it
    raw = pl.dL_dz(pt.x, pt.mu, pt.fam, pt.active, z, w) / pt.y1
    np.testing.assert_allclose(raw, pt.gradient, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("gamma", [2.0, 1.0, 0.5])
def test_fixed_exchanges_match_the_lp_limit(gamma):
    """Same economy (KT Env 1's endowments, CRRA gamma), same exchanges (z = 0.77 and
    the no-trade fundamental 1, which every grid holds) and weights: the column-
    generation LP reaches the continuum value. The LP's lotteries can only approximate
    from below, by its reduced-cost tolerance."""
    e0 = env1()
    e = CollateralEconomy.create(share=e0.share, endowment=e0.endowment, prob=e0.prob, R=e0.R, gamma=gamma)
    z, w = np.array([0.77, 1.0]), np.array([1.4, 0.6])
    pt = C.Planner(e, [0, 0]).solve(z, w)
    g = CollateralGrids.build(e, k={"n": 21}, z={"points": z.tolist()}, a={"n": 3}, c={"n": 21})
    lp = solve_segregated(e, g, weights=w, equilibrium=False, method="colgen", tol=1e-10)
    assert lp.objective <= pt.value + 1e-9
    assert lp.objective == pytest.approx(pt.value, rel=1e-7)
    assert lp.prices.p0 == pytest.approx(pt.p0, rel=1e-4)  # the LP's duals: its 1e-4 floor


def test_env1_equilibrium_is_certified(env1_continuum):
    r = env1_continuum
    assert r.certificate.passed, str(r.certificate)
    checks = r.certificate.to_dict()
    for name in ("continuum.kkt", "continuum.clearing", "continuum.exchange_foc", "budget", "continuum.entry",
                 "consumer_optimality", "support.welfare_gap"):
        assert name in checks
    d = r.to_dict()
    assert d["exchanges"][0]["z"] == pytest.approx(Z1, abs=1e-9)
    assert d["p0"] == pytest.approx(P0_1, abs=1e-9) and d["K"] == pytest.approx(K1, abs=1e-9)
    assert d["exchanges"][0]["fee"] == pytest.approx(FEE1, abs=1e-9)
    # KT eq. 10: one exchange holds everybody, so z is the economy's fundamental
    assert d["exchanges"][0]["z"] == pytest.approx(float(env1().fundamental(d["K"])[0]), abs=1e-12)
    assert r.accuracy < 1e-10


def test_lp_equilibria_approach_the_continuum_as_z_refines(env1_continuum):
    """Grid equilibria on uniform z grids of step 0.04, 0.01 and 0.0025: the largest
    error in z, p0 and K falls about tenfold from the coarsest (measured 1.6e-2, 1.7e-3,
    1.7e-3), then stops at the grid's floor: the LP mixes the two grid exchanges around
    z* (0.7725 and 0.775 at the finest), which is not one exchange at z*, and its
    equilibrium is not unique. Only the continuum solve gets below that floor."""
    e = env1()
    cont = summary(env1_continuum)
    errs = []
    for n in (11, 41, 161):
        g = CollateralGrids.build(e, k={"n": 11}, z={"min": 0.6, "max": 1.0, "n": n}, a={"n": 3}, c={"n": 21})
        r = solve_segregated(e, g, method="colgen")
        sm = summary(r)
        errs.append(max(abs(sm[key][0] - cont[key][0]) for key in ("z[0]", "p0", "K")))
    assert errs[1] < errs[0] / 5 and errs[2] < errs[0] / 5 and errs[2] < 2.5e-3, errs


def test_warm_and_cold_starts_agree(env1_start, env1_continuum):
    """From the coarse LP, and from a start 0.01 off in z and 10% off in weights."""
    z0, state, w0 = C.start_from_lp(env1_start)
    _, pt, _ = C.equilibrium(env1(), z0 - 0.01, state, w0 * np.array([1.1, 0.9]))
    assert pt.z[0] == pytest.approx(env1_continuum.point.z[0], abs=1e-12)
    assert pt.p0 == pytest.approx(env1_continuum.point.p0, abs=1e-12)


def test_env2_mirror_states_get_equal_fees():
    """The two states are mirror images with the types swapped, and shares are equal:
    the equilibrium is symmetric, with equal weights, fundamentals and fees. The grid
    LP's equilibria are not unique and split the fee 0.113/0.135 between the states."""
    e = env2()
    r = solve_continuum(solve_segregated(e, coarse(e), method="colgen"))
    assert r.certificate.passed, str(r.certificate)
    d = r.to_dict()
    ex = d["exchanges"]
    assert len(ex) == 2 and ex[0]["state"] == 1 and ex[1]["state"] == 2
    assert ex[0]["fee"] == pytest.approx(ex[1]["fee"], abs=1e-12)
    assert ex[0]["z"] == pytest.approx(ex[1]["z"], abs=1e-12)
    np.testing.assert_allclose(d["weights"], [1.0, 1.0], atol=1e-12)


def test_env3_two_exchanges_within_the_papers_grid_error():
    """KT Table 5 prints z = 0.6113 and 0.8132 on a grid whose neighbours are up to
    0.0044 apart: the continuum values must lie within 2e-3."""
    e = env3()
    r = solve_continuum(solve_segregated(e, coarse(e), method="colgen"))
    assert r.certificate.passed, str(r.certificate)
    z = sorted(x["z"] for x in r.to_dict()["exchanges"])
    assert z[0] == pytest.approx(0.6113, abs=2e-3) and z[1] == pytest.approx(0.8132, abs=2e-3)
    # storage earns the same in both exchanges, and that return is p0 (zero profit)
    pt = r.point
    ret = (pt.Q * e.utility.spot_price(pt.z) - pt.P_delta * pt.z) * e.R[0]
    np.testing.assert_allclose(ret, pt.p0, rtol=1e-10)


def test_certificate_fails_at_a_wrong_price(env1_continuum):
    """Raise p0 by 1%: type 1's own budget problem (it sells good 2) then beats its
    allocation, and the budgets no longer balance."""
    r = env1_continuum
    pt = r.point
    good = budget_problem(r.planner, pt, 0)
    pt.p0 *= 1.01
    try:
        assert budget_problem(r.planner, pt, 0) > good + 1e-4
        pt.transfer = r.planner._transfer(pt.x, pt.mu * np.r_[1.0, 1.01, np.ones(pt.mu.size - 2)], pt.fam, pt.z)
        cert = certify_continuum(r)
        assert not cert.passed and {"consumer_optimality", "budget"} <= set(cert.failed())
    finally:
        pt.p0 /= 1.01


def test_an_exchange_that_cannot_clear_is_a_named_error():
    """Env 1 with its only exchange above E1/E2 = 1: the rights row (55) cannot clear
    with non-negative storage, and the error names the exchange's z."""
    with pytest.raises(SolveError, match="1.2"):
        C.Planner(env1(), [0]).solve(np.array([1.2]), np.array([1.0, 1.0]))
