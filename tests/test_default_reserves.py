"""Peiris-Vardoulakis (economy = "default_reserves"): the exact equilibria, their branches
and certificates, every threshold against its closed form and the paper's printed value, the
paper's claims that fail (with the numbers), and bad input.

Tolerances: the branches' equations are solved by brentq to 1e-15 and hold to ~2e-15 in the
general system (1e-12 leaves room for conditioning and still catches any wrong formula); the
general solver's answers are polished Newton solutions of the same equations (1e-10 on
positions, which are reported to 1e-11 and equal the closed forms to rounding); welfare
differences in the paper's claims are 1e-6 and larger, far above either.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from spec_edit import DROP, edit

from segex.economies.default_reserves import agent, mirror
from segex.economies.default_reserves.certify import BR_TOL, best_response_gains
from segex.economies.default_reserves.exact import equilibrium_at, solve_autarky, solve_equilibrium
from segex.economies.default_reserves.model import DefaultReservesEconomy, baseline
from segex.economies.default_reserves.system import residual
from segex.economies.default_reserves.thresholds import reserve_interval, solve_thresholds
from segex.errors import SpecError
from segex.io.config import parse_spec

SQ17 = np.sqrt(17.0)
LAM_S = (7 - SQ17) / 4  # trade starts (no requirement)
LAM_E = (3 * SQ17 - 5) / 8  # trade ends
RHO_MAX = lambda lam: (np.sqrt(1 + 2 / lam) - 1) / 2  # noqa: E731 -- trade with a requirement stops
RHO_ARC = lambda lam: (4 - 3 * lam) / (6 * lam)  # noqa: E731 -- branch P reaches K = 1/2


# ---------------------------------------------------------------------------- autarky and thresholds
def test_autarky_marginal_utilities_are_the_papers_after_rounding():
    a = solve_autarky(baseline(0.75))
    assert a.sigma[0] == pytest.approx((SQ17 - 1) / 8, abs=1e-15)
    mu = 1 / a.x[0, 1:]  # the paper's "mu" are unweighted marginal utilities
    assert mu == pytest.approx([(7 - SQ17) / 4, (1 + SQ17) / 2], abs=1e-14)
    assert np.round(mu, 2).tolist() == [0.72, 2.56]
    assert a.mu[0] == pytest.approx(0.5 * mu, abs=1e-15)  # the FOC multipliers are half
    assert a.certificate.passed


def test_every_threshold_to_its_closed_form_and_the_printed_values():
    t = solve_thresholds(baseline(0.7))
    assert t.trade_starts == pytest.approx(LAM_S, abs=1e-13)
    # bisection on the branches' regime; branch P's K <= 1/2 holds to 1e-13 (P and F coincide there)
    assert t.full_delivery == pytest.approx(7 / 9, abs=1e-13)
    assert t.trade_ends == pytest.approx(LAM_E, abs=1e-13)
    # an infimum over rho approached along strict inequalities: bisection on a gap of ~1e-13
    assert t.trade_starts_with_reserves == pytest.approx(2 / 3, abs=1e-12)
    assert t.reserve_at_start == pytest.approx(0.5, abs=1e-11)
    # printed: 0.72, 7/9, 0.92 are ours rounded; 0.66 is a truncation of 2/3 (documented)
    assert round(t.trade_starts, 2) == 0.72 and round(t.trade_ends, 2) == 0.92
    assert round(t.trade_starts_with_reserves, 2) == 0.67 != 0.66
    # §6.1: lambda = 0.7 needs rho > 3/7 (printed 0.43), and trade stops at rho_max (not printed)
    (lo, hi), = t.reserve_for_trade
    assert lo == pytest.approx(3 / 7, abs=1e-13) and hi == pytest.approx(RHO_MAX(0.7), abs=1e-13)
    assert t.certificate.passed, t.certificate


def test_the_thresholds_are_where_the_exact_solver_changes_regime():
    """The verge computation (autarky's multipliers only) agrees with the equilibrium solver
    on either side of each threshold."""
    for lam, below, above in ((LAM_S, "autarky", "partial"), (7 / 9, "partial", "full"), (LAM_E, "full", "autarky")):
        assert solve_equilibrium(baseline(lam * (1 - 1e-6))).regime == below, lam
        assert solve_equilibrium(baseline(lam * (1 + 1e-6))).regime == above, lam
    assert solve_equilibrium(baseline(0.7, 3 / 7 + 1e-6)).trades
    assert not solve_equilibrium(baseline(0.7, 3 / 7 - 1e-6)).trades
    assert not solve_equilibrium(baseline(0.7, RHO_MAX(0.7) + 1e-6)).trades


def test_thresholds_of_an_economy_outside_the_papers_family():
    econ = DefaultReservesEconomy.create(share=[0.4, 0.6], endowment=[[1.0, 1.2, 0.1], [0.8, 0.0, 1.0]],
                                         prob=[0.6, 0.4], promise=[1.0, 0.8], penalty=0.8)
    t = solve_thresholds(econ)
    assert t.trade_starts is not None and t.certificate.passed
    inside = solve_equilibrium(econ.with_(penalty=t.trade_starts * (1 + 1e-4)))
    outside = solve_equilibrium(econ.with_(penalty=t.trade_starts * (1 - 1e-4)))
    assert inside.trades and not outside.trades


# ---------------------------------------------------------------------------- branches
LAMS = np.linspace(0.6, 1.0, 401)
RHOS = (0.0, 0.3, 0.37, 0.39, 0.4, 0.42, 0.45, 0.48, 0.5, 0.55)


def test_each_valid_branch_solves_its_equations_to_1e_12():
    worst = 0.0
    for lam in LAMS[::8]:
        for rho in RHOS:
            econ = baseline(lam, rho)
            for b in mirror.branches(econ):
                if b.valid:
                    worst = max(worst, np.abs(residual(econ, mirror.as_point(econ, b))).max())
    assert worst <= 1e-12


def test_exactly_one_valid_branch_on_a_fine_scan():
    """P and F coincide on their boundary K = 1/2 (same allocation); otherwise one branch."""
    probes = np.concatenate([LAMS, [x * (1 + s * 1e-10) for x in (LAM_S, 7 / 9, LAM_E, 2 / 3) for s in (-1, 1)]])
    bad = []
    for lam in probes:
        for rho in RHOS:
            valid = [b for b in mirror.branches(baseline(lam, rho)) if b.valid]
            same = len(valid) == 2 and abs(valid[0].w - valid[1].w) < 1e-12
            if len(valid) != 1 and not same:
                bad.append((lam, rho, [b.name for b in valid]))
    assert not bad


#: (lambda, rho, regime, sigma, phi, K, q, w) from the derivation (its §11 B, 9-10 digits)
TABLE = [
    (0.7195, 0.0, "partial", 0.390213759, 0.000819832, 0.438741200, 0.438741200, -0.8004481145),
    (0.75, 0.0, "partial", 0.372020766, 0.082141640, 0.470984425, 0.470984425, -0.7989339463),
    (0.8, 0.0, "full", 0.362228375, 0.120152333, 0.5, 0.5, -0.7968410086),
    (0.921, 0.0, "full", 0.390349694, 0.000158784, 0.5, 0.5, -0.8004482421),
    (0.7, 0.43, "partial", 0.43, 0.003079470, 0.463901690, 0.399, -0.8052637342),
    (0.7, 0.47, "full", 0.47, 0.019335797, 0.5, 0.366965572, -0.8196445094),
    (0.75, 0.38, "partial", 0.38, 0.09625, 0.484848485, 0.465, -0.7972583701),
    (0.8, 0.38, "full", 0.38, 0.091273524, 0.5, 0.480320549, -0.7974025931),
    (0.95, 0.4, "autarky", 0.4, 0.0, None, None, -0.8007348714),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"lam{r[0]}-rho{r[1]}")
def test_general_solver_matches_the_closed_form_branches(row):
    lam, rho, regime, sigma, phi, K, q, w = row
    econ = baseline(lam, rho)
    eq = solve_equilibrium(econ, "RR")
    b = mirror.equilibrium(econ)
    assert eq.regime == b.regime == regime
    assert eq.certificate.passed, eq.certificate
    assert eq.sigma == pytest.approx([b.sigma] * 2, abs=1e-10)
    assert eq.phi == pytest.approx([b.phi] * 2, abs=1e-10)
    assert eq.w == pytest.approx([b.w] * 2, abs=1e-12)
    assert (eq.sigma[0], eq.phi[0], eq.w[0]) == pytest.approx((sigma, phi, w), abs=1e-9)
    if K is not None:
        assert eq.K == pytest.approx([b.K] * 2, abs=1e-10) and eq.K[0] == pytest.approx(K, abs=1e-9)
        assert eq.q == pytest.approx(q, abs=1e-9) and eq.q == pytest.approx(b.q, abs=1e-10)


@pytest.mark.parametrize("lam,rho", [(0.75, 0.0), (0.7, 0.45), (0.95, 0.0),
                                     pytest.param(0.8, 0.0, marks=pytest.mark.slow),
                                     pytest.param(0.65, 0.0, marks=pytest.mark.slow)])
def test_every_start_reaches_the_same_allocation(lam, rho):
    """Uniqueness (under the on-the-verge rule) from 17 starts, random ones included."""
    eq = solve_equilibrium(baseline(lam, rho), thorough=True)
    assert eq.found == 1


def test_an_asymmetric_economy_with_a_seller_who_never_delivers():
    """derivation §2: pi = (0.55, 0.45), e = (1, 1.1, 0), (1, 0, 0.9), lambda = 0.8 -- type 1
    sells bonds it never delivers on, K = (0.632, 0): a regime the paper never considers."""
    econ = DefaultReservesEconomy.create(share=[0.5, 0.5], endowment=[[1, 1.1, 0], [1, 0, 0.9]], prob=[0.55, 0.45],
                                         promise=[1, 1], penalty=0.8)
    eq = solve_equilibrium(econ, thorough=True)
    assert eq.certificate.passed and eq.found == 1
    assert eq.K[0] == pytest.approx(0.632, abs=5e-4) and eq.K[1] == pytest.approx(0.0, abs=1e-15)
    assert eq.delivery[1].tolist() == ["none", "none"] and eq.phi[1] > 0


def test_three_types_three_states():
    econ = DefaultReservesEconomy.create(
        share=[0.3, 0.3, 0.4], endowment=[[1, 1.2, 0.1, 0.4], [1, 0.1, 1.1, 0.3], [0.9, 0.5, 0.5, 0.8]],
        prob=[0.3, 0.3, 0.4], promise=[1.0, 1.0, 0.5], penalty=0.8, reserve=0.0)
    eq = solve_equilibrium(econ)
    assert eq.trades and eq.certificate.passed, eq.certificate


# ---------------------------------------------------------------------------- certificates
def test_the_best_response_certificate_has_power():
    eq = solve_equilibrium(baseline(0.75))
    assert max(best_response_gains(eq)) <= BR_TOL
    for factor in (0.98, 1.02):
        wrong = equilibrium_at(eq.economy, "GED", eq.q * factor, eq.K, eq.sigma, eq.theta, eq.phi)
        assert max(best_response_gains(wrong)) > 1e-4
        assert not wrong.certificate.passed


def test_an_autarky_that_fails_the_verge_is_not_certified_as_an_equilibrium():
    econ = baseline(0.75)
    sigma = agent.autarky_storage(econ)
    K_v, bid, ask, _ = agent.verge(econ, sigma)
    assert bid > ask  # the bond would open
    fake = equilibrium_at(econ, "GED", ask, K_v, sigma, np.zeros(2), np.zeros(2))
    assert "verge" in fake.certificate.failed()
    closed = solve_autarky(econ)  # without the bond it is the right answer
    assert closed.certificate.passed and closed.bid == pytest.approx(bid)


# ---------------------------------------------------------------------------- the paper's claims
def test_trade_starts_below_the_printed_072_and_ends_after_092():
    """Props 2-3 and footnote 3: trade at lambda = 0.7195 and 0.921."""
    p = solve_equilibrium(baseline(0.7195))
    assert p.regime == "partial" and p.D[0, 0] == pytest.approx(7.19388e-4, abs=1e-9)
    f = solve_equilibrium(baseline(0.921))
    assert f.regime == "full" and f.phi[0] == pytest.approx(1.58784e-4, abs=1e-9)


def test_no_requirement_gives_trade_at_066():
    """Props 4 and 7: at lambda = 0.66 trade needs rho > 1/lambda - 1 = 0.515 but stops at 0.504."""
    assert reserve_interval(baseline(0.66), 0.66) == []
    assert 1 / 0.66 - 1 > RHO_MAX(0.66)


def test_trade_rises_with_rho_only_up_to_the_arc():
    """Prop 8 holds only on [sigma_GED, rho_arc]: at lambda = 0.75 phi rises to 1/9 at the arc, then
    falls to 0 before rho_max."""
    lam = 0.75
    phi = lambda rho: mirror.equilibrium(baseline(lam, rho)).phi  # noqa: E731
    sigma_ged = mirror.equilibrium(baseline(lam)).sigma
    assert phi(sigma_ged) == pytest.approx(0.082141640, abs=1e-9)
    assert phi(RHO_ARC(lam)) == pytest.approx(1 / 9, abs=1e-12)
    assert phi(0.45) == pytest.approx(0.012175, abs=1e-6)
    assert mirror.equilibrium(baseline(lam, RHO_MAX(lam) + 1e-9)).name == "autarky"


def test_welfare_peaks_before_the_arc_below_lambda_x():
    """Prop 11 holds only locally: at lambda = 0.73 welfare peaks at rho = 0.405383 and is lower at
    the arc (rho = 0.413242)."""
    from scipy.optimize import minimize_scalar

    lam = 0.73
    w = lambda rho: mirror.equilibrium(baseline(lam, rho)).w  # noqa: E731
    best = minimize_scalar(lambda r: -w(r), bounds=(0.39, RHO_ARC(lam)), method="bounded", options={"xatol": 1e-10})
    assert best.x == pytest.approx(0.405383, abs=1e-6)
    assert -best.fun == pytest.approx(-0.7992637720, abs=1e-9)
    assert w(RHO_ARC(lam)) == pytest.approx(-0.7994048916, abs=1e-9)
    assert w(RHO_ARC(lam)) < -best.fun - 1e-4


def test_a_requirement_raises_welfare_below_072():
    """Prop 10 fails on [lambda_s, 0.72): at lambda = 0.7195 the best requirement gains 1.02e-6."""
    from scipy.optimize import minimize_scalar

    lam = 0.7195
    ged = mirror.equilibrium(baseline(lam))
    best = minimize_scalar(lambda r: -mirror.equilibrium(baseline(lam, r)).w, bounds=(ged.sigma, RHO_ARC(lam)),
                           method="bounded", options={"xatol": 1e-12})
    assert -best.fun - ged.w == pytest.approx(1.02e-6, abs=1e-8)


def test_default_beats_autarky_so_ged_is_not_inferior_to_gei():
    """§3's "inferior to the GEI equilibrium": without default the bond is storage (GEI = autarky),
    and the GED is never worse (max gain 5.05e-3 near lambda = 0.778)."""
    aut = mirror.equilibrium(baseline(0.5)).w
    gains = np.array([mirror.equilibrium(baseline(lam)).w - aut for lam in LAMS])
    assert gains.min() >= -1e-15 and gains.max() == pytest.approx(5.05e-3, abs=5e-5)


# ---------------------------------------------------------------------------- the grid file
def test_the_grid_file_through_the_cli(tmp_path, capsys):
    from segex.cli import main

    exact = ["--concept", "autarky", "--concept", "GED", "--concept", "RR", "--concept", "thresholds"]
    assert main(["solve", "grids/pv_baseline.toml", "--json", "--quiet", *exact]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["economy"] == "PV baseline" and out["certificate"]["passed"]
    for concept in ("autarky", "GED", "RR"):
        assert {"regime", "sigma", "phi", "D", "K", "q", "w", "x"} <= set(out[concept])
    assert {"trade_starts", "full_delivery", "trade_ends", "trade_starts_with_reserves"} <= set(out["thresholds"])
    assert out["RR"]["regime"] == "partial" and out["RR"]["q"] == pytest.approx(0.465, abs=1e-12)
    nc = tmp_path / "pv.nc"
    assert main(["solve", "grids/pv_baseline.toml", "--quiet", "--out", str(nc), *exact]) == 0
    assert main(["check", str(nc)]) == 0


BASE = {"economy": "default_reserves", "prob": [0.5, 0.5], "promise": [1.0, 1.0], "penalty": 0.75, "reserve": 0.0,
        "types": [{"share": 0.5, "endowment": [1, 1, 0]}, {"share": 0.5, "endowment": [1, 0, 1]}],
        "solve": {"concepts": ["GED"]}}
_DROP = DROP


def _with(**changes):
    return edit(BASE, **changes)


#: (parsed grid file, field the SpecError names, a phrase of its message)
BAD_DEFAULT_RESERVES = [
    (_with(penalty=-0.5), "penalty", "must be a number >= 0"),
    (_with(penalty=_DROP), "penalty", "missing required key"),
    (_with(penalty="0.75"), "penalty", "must be a number"),
    (_with(reserve=-0.1), "reserve", "must be a number >= 0"),
    (_with(promise=[1.0]), "promise", "one promise per state"),
    (_with(promise=[1.0, -1.0]), "promise", ">= 0"),
    (_with(promise=[0.0, 0.0]), "promise", "at least one positive"),
    (_with(reserve=1.0), "types[0].endowment", "cannot support the reserve"),
    (_with(types__1__endowment=[0.3, 0, 1], reserve=0.5), "types[1].endowment", "cannot support the reserve"),
    (_with(types__0__endowment=[1, 1]), "types[0].endowment", "needs 3 numbers"),
    (_with(types__0__endowment=[1, -1, 0]), "types[0].endowment", ">= 0"),
    (_with(types__0__share=0.4), "types[*].share", "off by"),
    (_with(prob=[0.5, 0.6]), "prob", "off by"),
    (_with(types__0__gamma=2.0), "types[0].gamma", "unknown key"),
    (_with(solve__concepts=["segregated"]), "solve.concepts", "unknown solution concept"),
    (_with(grid__theta={"min": -0.1, "max": 1.0, "n": 5}), "grid.theta", "bond positions are >= 0"),
    (_with(grid__rho={"points": [0.0, 1.5]}), "grid.rho", "leaves nothing to consume"),
    (_with(grid__K_mode="some"), "grid.K_mode", "'product'"),
    (_with(grid__K={"min": 0, "max": 1.5, "n": 3}), "grid.K", "delivery rates are in [0, 1]"),
    (_with(grid__Kk={"n": 3}), "grid.Kk", "unknown key"),
    (_with(grid__refine=-1), "grid.refine", "integer >= 0"),
]


@pytest.mark.parametrize("data,field,phrase", BAD_DEFAULT_RESERVES, ids=[f"{f}#{i}" for i, (_, f, _) in
                                                                         enumerate(BAD_DEFAULT_RESERVES)])
def test_bad_input_names_the_field(data, field, phrase):
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert err.value.field == field and phrase in str(err.value)
