"""FGT's liquidity regulation: the closed forms against an independent numerical solution
of the reduced problem (segex.economies.liquidity.reduced), and Theorem 1's signs.

Tolerances. The numerical SP3 maximises welfare over R by Brent's method; welfare is flat
at the optimum, so R is found to about sqrt(machine epsilon) relative (measured: 2e-8),
while welfare values are exact to ~1e-15: R and the liquidity requirement are compared to
1e-6 relative, welfare gains to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

from segex.economies.liquidity import LiquidityEconomy
from segex.economies.liquidity import closed_forms as cf
from segex.economies.liquidity import reduced
from segex.errors import SpecError

# two shocks of equal probability, R-hat in {1.5, 2} (REFERENCE.md), and an uneven three-type set
CASES = [([0.5, 1.5], [0.5, 0.5], 1.5), ([0.5, 1.5], [0.5, 0.5], 2.0), ([0.6, 1.0, 2.5], [0.2, 0.5, 0.3], 1.8)]
VN_CASES = [([0.3, 0.7], [0.5, 0.5], 1.5), ([0.2, 0.5, 0.9], [0.3, 0.3, 0.4], 2.0)]


@pytest.mark.parametrize("family", ["discount", "liquidity"])
@pytest.mark.parametrize("theta, prob, R_hat", CASES)
def test_proposition4_log_closed_forms(family, theta, prob, R_hat):
    """Eq. (64) for R*/R-hat, eq. (65) for the requirement, and the re-derived Corollary 1
    welfare gain, against the numerical SP3 and CE3."""
    e = LiquidityEconomy.create(theta, prob, family, gamma=1.0, R_hat=R_hat)
    s3, c3 = reduced.sp3(e), reduced.ce3(e)
    assert s3.wedge == pytest.approx(cf.log_wedge(e), rel=1e-6)
    assert s3.liquidity == pytest.approx(cf.log_liquidity(e), rel=1e-6)
    assert s3.welfare - c3.welfare == pytest.approx(cf.log_welfare_gain(e), abs=1e-10)
    assert cf.log_welfare_gain(e) > 0  # regulation strictly improves on CE3 (Theorem 1)


@pytest.mark.parametrize("theta, prob, R_hat", VN_CASES)
@pytest.mark.parametrize("gamma", [1.0, 2.0])
def test_valuation_neutral_needs_no_regulation(theta, prob, R_hat, gamma):
    """Theorem 1.3: R* = R-hat, and SP1 = SP3 = CE3 (the incentive constraints do not bind)."""
    e = LiquidityEconomy.create(theta, prob, "valuation_neutral", gamma=gamma, R_hat=R_hat)
    s3, c3, s1 = reduced.sp3(e), reduced.ce3(e), reduced.sp1(e)
    assert s3.wedge == pytest.approx(1.0, abs=1e-6)
    assert s3.welfare == pytest.approx(c3.welfare, abs=1e-12)
    assert s1.welfare == pytest.approx(c3.welfare, abs=1e-12)
    if gamma == 1.0:
        assert cf.log_wedge(e) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("theta, prob, R_hat", CASES)
@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5])
def test_theorem1_cap_for_discount_floor_for_liquidity(theta, prob, R_hat, gamma):
    """Theorem 1 (homothetic preferences satisfy Assumption 2, Lemma 2): discount shocks
    give R* > R-hat and less liquidity than CE3 (a cap); liquidity shocks R* < R-hat and
    more (a floor). SP1 is an upper bound on SP3, which beats CE3."""
    for family, cap in (("discount", True), ("liquidity", False)):
        e = LiquidityEconomy.create(theta, prob, family, gamma=gamma, R_hat=R_hat)
        s3, c3, s1 = reduced.sp3(e), reduced.ce3(e), reduced.sp1(e)
        assert (s3.wedge > 1) == cap and (s3.liquidity < c3.liquidity) == cap
        assert c3.welfare < s3.welfare <= s1.welfare + 1e-12


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("R_hat, pi", [(1.5, 0.4), (2.0, 0.25)])
def test_proposition5_diamond_dybvig(gamma, R_hat, pi):
    """The regulated optimum is SP1; R* = R-hat^(1/gamma) (eqs. 70-72); the floor is the
    aggregate short asset pi I*, above CE3's; with log utility R* = R-hat and the gain is
    zero (SP1 = CE3)."""
    e = LiquidityEconomy.create([0, 1], [pi, 1 - pi], "diamond_dybvig", gamma=gamma, R_hat=R_hat)
    s3, s1, c3 = reduced.sp3(e), reduced.sp1(e), reduced.ce3(e)
    assert s3.R == pytest.approx(cf.dd_rate(e), rel=1e-6)
    np.testing.assert_allclose(s3.c1, s1.c1, rtol=1e-6)
    np.testing.assert_allclose(s3.c2, s1.c2, rtol=1e-6)
    assert s3.welfare == pytest.approx(s1.welfare, abs=1e-12)
    assert s3.liquidity == pytest.approx(cf.dd_floor(e), rel=1e-6)
    if gamma == 1.0:
        assert s3.welfare - c3.welfare == pytest.approx(0.0, abs=1e-12)
    else:
        assert s3.liquidity > c3.liquidity and s3.welfare > c3.welfare + 1e-6
    # the printed eq. (39) omits pi: it is I*, the impatient type's consumption
    assert cf.dd_floor(e) == pytest.approx(pi * s3.c1[0], rel=1e-6)


@pytest.mark.parametrize("kwargs, field", [
    (dict(theta=[0.5, 1.5], prob=[0.5, 0.6], family="discount"), "prob"),
    (dict(theta=[0.5, 1.5], prob=[0.5, 0.5], family="habit"), "family"),
    (dict(theta=[0.5, 1.5], prob=[0.5, 0.5], family="discount", gamma=0), "gamma"),
    (dict(theta=[0, 1], prob=[0.5, 0.5], family="diamond_dybvig", R_hat=0.9), "R_hat"),
    (dict(theta=[0.2, 1.2], prob=[0.5, 0.5], family="valuation_neutral"), "theta"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(SpecError) as err:
        LiquidityEconomy.create(**kwargs)
    assert err.value.field == field


# ------------------------------------------------------------------ SP3 as a lottery LP
from segex.economies.liquidity.lottery import LotteryGrids, refine_sp3, solve_sp3  # noqa: E402


#: Refinement stops when welfare moves less than REFINE_TOL between two LPs; the refined
#: LP's welfare is then compared with the closed forms to 10 REFINE_TOL (the stopping rule
#: measures a step, not the distance to the limit; measured distances 1e-10 to 4e-10).
REFINE_TOL = 1e-9


def _rate_tolerance(e, R):
    """How well a welfare accuracy of 10 REFINE_TOL pins the rate: welfare is flat at the
    optimum, W(R) ~ W* - |W''| (R - R*)^2 / 2, so |R - R*| <= sqrt(20 REFINE_TOL / |W''|)
    (W'' from the reduced problem by central differences); the short asset moves with R
    by its slope. Measured errors are 2-10x below these bounds."""
    h = 1e-3 * R
    W = [reduced.at_rate(e, r).welfare for r in (R - h, R, R + h)]
    curv = abs(W[0] - 2 * W[1] + W[2]) / h ** 2
    dR = np.sqrt(20 * REFINE_TOL / curv)
    slope = abs(reduced.at_rate(e, R + h).liquidity - reduced.at_rate(e, R - h).liquidity) / (2 * h)
    return dR, slope * dR + 1e-9


@pytest.mark.parametrize("family", ["discount", "liquidity"])
@pytest.mark.parametrize("theta, prob, R_hat", [CASES[0], CASES[2]])
def test_sp3_lottery_lp_reproduces_proposition4(family, theta, prob, R_hat):
    """FGT's SP3 as the lottery LP with one market (exchanges "common": every type in the
    same exchange, the rate chosen on the grid), refined onto its support: welfare gain
    (Corollary 1, re-derived), R / R-hat (eq. 64) and the requirement (eq. 65)."""
    e = LiquidityEconomy.create(theta, prob, family, gamma=1.0, R_hat=R_hat)
    r = refine_sp3(e, REFINE_TOL, exchanges="common")
    assert r.certificate.passed, str(r.certificate)
    assert r.welfare - reduced.ce3(e).welfare == pytest.approx(cf.log_welfare_gain(e), abs=10 * REFINE_TOL)
    dR, dliq = _rate_tolerance(e, cf.log_wedge(e) * R_hat)
    assert r.R == pytest.approx(cf.log_wedge(e) * R_hat, abs=dR)
    assert r.liquidity == pytest.approx(cf.log_liquidity(e), abs=dliq)
    # the right to trade in the one market is priced at the regulatory wedge
    for ex in r.to_dict()["exchanges"]:
        assert ex["P_Delta"] == pytest.approx(1 - ex["R"] / R_hat, abs=1e-6)


def test_refinement_converges_to_the_continuum():
    """The LP's distance to FGT's reduced problem falls at every refinement step, from the
    starting grid's 1.8e-4 (measured) to below 10 REFINE_TOL; the LP never beats it."""
    e = LiquidityEconomy.create([0.5, 1.5], [0.5, 0.5], "discount", gamma=1.0, R_hat=1.5)
    target = reduced.sp3(e).welfare
    r = refine_sp3(e, REFINE_TOL, exchanges="common")
    gaps = [target - step["welfare"] for step in r.refinement]
    assert gaps[0] > 1e-5 and gaps[-1] < 10 * REFINE_TOL
    assert all(g > -1e-9 for g in gaps)
    assert all(b <= a + 1e-9 for a, b in zip(gaps, gaps[1:]))
    assert r.certificate.checks["refinement.accuracy"].residual < REFINE_TOL


@pytest.mark.parametrize("theta, prob, R_hat", VN_CASES)
def test_sp3_lottery_lp_valuation_neutral(theta, prob, R_hat):
    """Proposition 4 / Theorem 1.3 with CRRA 2: the LP leaves R = R-hat and gains nothing."""
    e = LiquidityEconomy.create(theta, prob, "valuation_neutral", gamma=2.0, R_hat=R_hat)
    r = refine_sp3(e, REFINE_TOL, exchanges="common")
    assert r.certificate.passed, str(r.certificate)
    assert r.welfare - reduced.ce3(e).welfare == pytest.approx(0.0, abs=10 * REFINE_TOL)
    assert r.R == pytest.approx(R_hat, abs=_rate_tolerance(e, R_hat)[0])


@pytest.mark.parametrize("exchanges", ["common", "segregated"])
@pytest.mark.parametrize("gamma, R_hat, pi, rho", [(2.0, 1.5, 0.5, 1.0), (3.0, 2.0, 0.25, 0.9)])
def test_lottery_lp_reproduces_proposition5(exchanges, gamma, R_hat, pi, rho):
    """Diamond-Dybvig: the LP reaches SP1 (Proposition 5, with DD's patient discount rho)
    with one market or with segregated exchanges; the allocation is SP1's and the short
    asset the (corrected) floor pi I*; with one market the rate is (rho R-hat)^(1/gamma)
    (every drawn rate must be truth-telling on its own, which pins it), with segregated
    exchanges it is not unique (the impatient's demand ignores R). Allocations to 1e-4
    (they enter welfare at second order around SP1: sqrt(10 REFINE_TOL) ~ 1e-4)."""
    e = LiquidityEconomy.create([0, 1], [pi, 1 - pi], "diamond_dybvig", gamma=gamma, R_hat=R_hat, rho=rho)
    r = refine_sp3(e, REFINE_TOL, exchanges=exchanges)
    s1 = reduced.sp1(e)
    assert r.certificate.passed, str(r.certificate)
    assert r.welfare == pytest.approx(s1.welfare, abs=10 * REFINE_TOL)
    np.testing.assert_allclose(r.c1, s1.c1, atol=1e-4)
    np.testing.assert_allclose(r.c2, s1.c2, atol=1e-4)
    assert r.liquidity == pytest.approx(cf.dd_floor(e), abs=1e-4)
    assert r.welfare > reduced.ce3(e).welfare + 1e-3  # the floor is worth having
    if exchanges == "common":
        assert r.R == pytest.approx(cf.dd_rate(e), abs=1e-4)


@pytest.mark.parametrize("family, theta", [("discount", [0.5, 1.5]), ("liquidity", [0.5, 1.5]),
                                           ("valuation_neutral", [0.3, 0.7])])
def test_segregated_exchanges_and_the_bounds(family, theta):
    """Kilenthong–Townsend's segregated exchanges (rights to trade at each R, assigned and
    enforced) can only add to FGT's single market, and do strictly for discount and
    liquidity shocks (measured: +3.5e-3 and +6.2e-3, as large as SP3's own gain over
    CE3); without truth-telling rows the LP is SP1 (each type in its own exchange);
    valuation-neutral shocks need neither (SP1 = SP3 = CE3)."""
    e = LiquidityEconomy.create(theta, [0.5, 0.5], family, gamma=1.0, R_hat=1.5)
    g = LotteryGrids.around(e, 41, 161)
    seg, s3, s1 = solve_sp3(e, g, exchanges="segregated"), reduced.sp3(e), reduced.sp1(e)
    free = solve_sp3(e, g, incentives=False, exchanges="segregated")
    assert free.welfare == pytest.approx(s1.welfare, abs=1e-5)
    assert seg.welfare <= free.welfare + 1e-9
    if family == "valuation_neutral":
        assert seg.welfare == pytest.approx(s3.welfare, abs=1e-9)
        assert not seg.to_dict()["binding_ic"]
    else:
        assert seg.welfare > s3.welfare + 1e-3
        assert seg.to_dict()["binding_ic"]  # the truth-telling rows are what holds it below SP1


def test_sp3_lp_is_certified_and_the_certificate_can_fail():
    """Every SP3 solve carries LP and economic checks; a lottery that lies fails them."""
    e = LiquidityEconomy.create([0.5, 1.5], [0.5, 0.5], "liquidity", gamma=2.0, R_hat=2.0)
    r = solve_sp3(e, LotteryGrids.around(e, 21, 41), exchanges="segregated")  # types' lotteries differ
    assert r.certificate.passed, str(r.certificate)
    assert {"truth_telling", "private_markets", "resources", "duality_gap"} <= set(r.certificate.checks)
    # swap the two types' lotteries: the truth-telling check sees it
    from segex.economies.liquidity import lottery as lot

    k, R, I, c1, c2, V, x1 = lot.bundles(e, r.grids)
    pairs = [(0, 1), (1, 0)]
    cost = c1 + c2 / e.R_hat
    market = (k, x1, c1, r.grids.R.size)
    ok = lot.economic_residuals(e, r.x, pairs, V, cost, market)
    bad = lot.economic_residuals(e, r.x[::-1], pairs, V, cost, market)
    assert ok["truth_telling"][0] <= lot.RESIDUAL_TOL < bad["truth_telling"][0]


@pytest.mark.parametrize("family, theta", [("discount", [0.5, 1.5]), ("liquidity", [0.5, 1.5])])
def test_the_order_of_the_programs(family, theta):
    """SP1 > SP2 > SP3 > CE3 strictly for these shocks: each adds a binding informational
    constraint (types private: Proposition 1's wedge; then hidden trades). Measured with
    a 161-point consumption grid for SP2 (its grid error, 4e-5 against 321 points, is far
    below the gaps): discount -0.8500 > -0.8785 > -0.9087 > -0.9132; liquidity
    -1.0136 > -1.0605 > -1.1033 > -1.1101."""
    from segex.economies.liquidity.lottery import solve_sp2

    e = LiquidityEconomy.create(theta, [0.5, 0.5], family, gamma=1.0, R_hat=1.5)
    s1, s3, c3 = reduced.sp1(e), reduced.sp3(e), reduced.ce3(e)
    s2 = solve_sp2(e, np.linspace(0.05, 3.0, 161))
    assert s2.certificate.passed, str(s2.certificate)
    s2 = s2.welfare
    assert s2 < s1.welfare - 1e-2  # the truth-telling rows bind
    assert s2 > s3.welfare + 1e-2  # hidden trades cost more
    assert s3.welfare > c3.welfare + 1e-3


def test_sp3_result_round_trips_through_netcdf(tmp_path):
    from segex.io.store import read_netcdf, write_netcdf

    e = LiquidityEconomy.create([0.5, 1.5], [0.5, 0.5], "discount", gamma=1.0, R_hat=1.5)
    r = solve_sp3(e, LotteryGrids.around(e, 11, 21))
    ds = r.to_dataset()
    assert ds["lottery"].dims == ("type", "R", "I", "split")
    np.testing.assert_allclose(ds["lottery"].sum(("R", "I", "split")).values, 1.0, atol=1e-9)
    out = write_netcdf(tmp_path / "sp3.nc", {"SP3": ds})
    back = read_netcdf(out)["SP3"]
    np.testing.assert_allclose(back["lottery"].values, ds["lottery"].values)
    assert float(back["welfare"]) == pytest.approx(r.welfare, rel=1e-15) and back.attrs["family"] == "discount"


def test_sp2_refined_lies_between_ce3_and_sp1():
    """On a coarse consumption grid SP2 can fall below CE3 (valuation-neutral shocks, 61
    points: -8e-4, measured) although CE3 is feasible for it; refined onto its support it
    reaches CE3 = SP1 (no incentive constraint binds) to 10 REFINE_TOL."""
    from segex.economies.liquidity.lottery import refine_sp2, solve_sp2

    e = LiquidityEconomy.create([0.2, 0.5, 0.8], [0.3, 0.4, 0.3], "valuation_neutral", gamma=2.0, R_hat=1.5)
    coarse = solve_sp2(e, np.linspace(0.0, 3.0, 61))
    fine = refine_sp2(e, REFINE_TOL, c_grid=np.linspace(0.0, 3.0, 61))
    assert coarse.welfare < reduced.ce3(e).welfare - 1e-4
    assert fine.certificate.passed, str(fine.certificate)
    assert fine.welfare == pytest.approx(reduced.sp1(e).welfare, abs=10 * REFINE_TOL)


@pytest.mark.parametrize("concept", ["SP1", "CE3"])
@pytest.mark.parametrize("family, theta", [("discount", [0.5, 1.5]), ("diamond_dybvig", [0, 1])])
def test_closed_form_allocations_are_certified_and_the_certificate_can_fail(concept, family, theta):
    """SP1's first-order conditions and CE3's consumer optimality, recomputed; a bundle
    moved off the optimum fails them."""
    e = LiquidityEconomy.create(theta, [0.5, 0.5], family, gamma=2.0, R_hat=1.5)
    a = reduced.certified(e, reduced.sp1(e) if concept == "SP1" else reduced.ce3(e))
    assert a.certificate.passed, str(a.certificate)
    a.c1 = a.c1 * 1.01
    a.c2 = a.c2 - a.c1 * 0.01 * e.R_hat / 1.01 * (a.c2 > 0)  # keep roughly feasible, leave the optimum
    assert not reduced.certify(e, a).passed


# ------------------------------------------------------------------ KT Section 3
from segex.economies.liquidity import diamond_dybvig as kt_dd  # noqa: E402


@pytest.mark.parametrize("gamma, R_hat, pi, rho", [(2.0, 1.5, 0.25, 0.95), (3.0, 2.0, 0.5, 1.0)])
def test_kt_diamond_dybvig_segregated_exchanges_remove_the_externality(gamma, R_hat, pi, rho):
    """KT Section 3: the equilibrium with retrade (externality) is Jacklin's, p = 1/R-hat,
    each type with present value e; rights to trade in exchanges indexed by p reach SP1
    (constraints (44)-(46) hold there at the exchanges' prices) and price every active
    exchange's rights at 1 - 1/(p R-hat) (the certificate's rights_prices). Whether rights
    change hands at all is not determined: SP1 can be delivered pre-traded."""
    from segex.economies.liquidity.concepts import solve_concept

    e = kt_dd.economy(pi, gamma, R_hat, rho=rho)
    ext = kt_dd.KTResult(solve_concept(e, "externality"))
    seg = kt_dd.KTResult(solve_concept(e, "segregated", tol=REFINE_TOL))
    d_ext, d_seg = ext.to_dict(), seg.to_dict()
    assert d_ext["p"] == pytest.approx(1 / R_hat) and d_ext["I"] == pytest.approx(e.e)
    assert ext.certificate.passed and seg.certificate.passed, str(seg.certificate)
    s1 = reduced.sp1(e)
    assert d_seg["welfare"] == pytest.approx(s1.welfare, abs=10 * REFINE_TOL)
    assert d_seg["welfare_gain"] > 1e-3
    assert "rights_prices" in seg.certificate.checks  # P_Delta(p) = 1 - 1/(p R_hat) where both ends are held
    for ex in d_seg["exchanges"]:  # whoever demands good 1 in an exchange is impatient
        assert ex["Delta"][1] <= 1e-9


@pytest.mark.parametrize("exchanges", ["common", "segregated"])
def test_cvxpy_backend_cross_checks_the_sp3_lp(exchanges):
    """The same LP through cvxpy (its default LP solver) gives HiGHS's welfare; 1e-7 is
    both solvers' feasibility tolerance on this O(1)-scaled LP."""
    e = LiquidityEconomy.create([0.5, 1.5], [0.5, 0.5], "liquidity", gamma=2.0, R_hat=1.5)
    g = LotteryGrids.around(e, 7, 9)
    a = solve_sp3(e, g, exchanges=exchanges)
    b = solve_sp3(e, g, exchanges=exchanges, backend="cvxpy")
    assert b.welfare == pytest.approx(a.welfare, abs=1e-7)
    assert a.certificate.passed


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("family, regulation", [("discount", "cap"), ("liquidity", "floor")])
def test_theorem1_signs_from_the_lottery_lp(gamma, family, regulation):
    """Theorem 1 without log utility (no closed form): the refined LP's regulation has the
    theorem's sign, with the rate on the same side of R-hat as FGT's reduced problem's."""
    e = LiquidityEconomy.create([0.5, 1.0, 1.5], [0.3, 0.4, 0.3], family, gamma=gamma, R_hat=2.0)
    r = refine_sp3(e, REFINE_TOL, exchanges="common")
    assert r.to_dict()["regulation"] == regulation
    assert (r.R > e.R_hat) == (regulation == "cap") == (reduced.sp3(e).R > e.R_hat)
    assert r.welfare == pytest.approx(reduced.sp3(e).welfare, abs=10 * REFINE_TOL)
