"""KT 2.2, Definition 5 as a lottery LP (segex.economies.incomplete_markets.segregated):
the paper prints no numbers here, so its theorems are tested.

* incomplete markets with different CRRA: the competitive equilibrium (Definition 4) is not
  constrained efficient -- the Pareto program with segregated exchanges at its supporting
  weights strictly beats it (Geanakoplos-Polemarchakis through the spot prices);
* complete markets (footnote 21) and identical CRRA (no externality): it is -- the Pareto
  program at its weights reproduces it exactly;
* the equilibrium without transfers of the grid file: certificate, JSON keys, check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segex.cli import main
from segex.economies.incomplete_markets.exact import solve_externality, supporting_weights
from segex.economies.incomplete_markets.grids import MarketGrids
from segex.economies.incomplete_markets.lottery import build_program
from segex.economies.incomplete_markets.model import IncompleteMarketsEconomy
from segex.economies.incomplete_markets.segregated import solve_segregated
from segex.io.config import load_spec
from segex.markets.equilibrium import solve_planner

GRID = Path(__file__).resolve().parents[1] / "grids" / "kt_incomplete.toml"
ENDOW = [[[3, 1], [4, 1], [1, 2]], [[1, 3], [2, 3], [3, 4]]]
#: HiGHS solves to 1e-9 (feasibility, optimality) on an O(1)-scaled problem: welfare and
#: allocations agree to ~1e-9; the externality's gain in the grid-file economy is ~1e-5.
LP_TOL = 1e-8


def planner_at_ce(econ, **grid):
    """The Pareto program on grids holding Definition 4's equilibrium, at its weights."""
    ce = solve_externality(econ)
    g = MarketGrids.build(econ, **grid, insert={"c0": ce.c0, "p": ce.spot, "theta": ce.theta})
    w = supporting_weights(ce)
    prog = build_program(econ, g, w)
    eq = solve_planner(prog.planner, weights=w)
    return ce, w, prog, eq


def test_pareto_program_beats_the_incomplete_markets_equilibrium():
    econ = load_spec(GRID).economy
    ce, w, prog, eq = planner_at_ce(econ)
    gain = prog.planner.lp.c @ eq.x - w @ (econ.share * ce.utility)
    assert gain > 100 * LP_TOL, gain
    # and the gain comes from moving the securities (the spot prices), not from t = 0
    res_theta = np.array([eq.x[prog.blocks[h, "x1"].slice] @ prog.bundles[h].theta for h in range(econ.H)])
    assert np.abs(res_theta - ce.theta).max() > 1e-3


@pytest.mark.parametrize("case", ["complete", "identical_crra"])
def test_no_externality_nothing_beats_the_equilibrium(case):
    """Footnote 21 and identical homothetic preferences: Definition 4's equilibrium is
    constrained efficient, so the Pareto program with segregated exchanges at its weights
    -- exchanges at every price vector of the grids and the clearing family -- reproduces
    it: no gain, and every type's utility and t = 1 allocation are Definition 4's."""
    if case == "complete":
        econ = IncompleteMarketsEconomy.create([0.5, 0.5], [0.5, 3.0], ENDOW, [0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])
    else:
        econ = IncompleteMarketsEconomy.create([0.5, 0.5], [2.0, 2.0], ENDOW, [0.5, 0.5], [[1.0, 1.0]])
    ce, w, prog, eq = planner_at_ce(econ, p={"n": 5}, theta={"n": 5}, family={"n": 9})
    pl = prog.planner
    assert abs(pl.lp.c @ eq.x - w @ (econ.share * ce.utility)) < LP_TOL
    # welfare is flat at its maximum: an allocation d away loses ~d^2, so the LP's 1e-9
    # resolves utilities and holdings only to ~sqrt(1e-9) (near-tie vertices, e.g. the
    # family's 1e-4 deviations in Definition 4's exchange, are equally optimal to it)
    assert np.allclose(pl.utilities(eq.x), ce.utility, atol=1e-4)
    theta = np.array([eq.x[prog.blocks[h, "x1"].slice] @ prog.bundles[h].theta for h in range(econ.H)])
    assert np.allclose(theta, ce.theta, atol=1e-3)


IDENTICAL = dict(share=[0.5, 0.5], gamma=[2.0, 2.0], prob=[0.5, 0.5], D=[[1.0, 1.0]])


def identical(endowment=ENDOW):
    k = IDENTICAL
    return IncompleteMarketsEconomy.create(k["share"], k["gamma"], endowment, k["prob"], k["D"])


def test_identical_crra_equilibrium_is_definition_4():
    """Identical CRRA, no externality: Definition 4 is a Definition 5 equilibrium, and the
    one segex returns -- the Negishi search starts at Definition 4's supporting weights,
    where a price system with zero fees and zero transfers supports the LP's allocation
    (the solver's own duals need not: the fees are degenerate, see the next test)."""
    econ = identical()
    ce = solve_externality(econ)
    res = solve_segregated(econ, grid_specs={"p": {"n": 5}, "theta": {"n": 5}, "family": {"n": 9}})
    assert res.certificate.passed, str(res.certificate)
    d = res.to_dict()
    # welfare is flat at its maximum: the family's smallest deviations (1e-4) from
    # Definition 4's portfolio are optimal to the LP's 1e-9 too (near-tie vertices)
    assert np.allclose([t["theta"] for t in d["types"]], ce.theta, atol=2e-4)
    assert np.allclose([t["c0"] for t in d["types"]], ce.c0, atol=2e-4)
    # zero to the face LP's tolerances (reduced costs 1e-9 of the largest utility)
    assert max(abs(f) for e in d["exchanges"] if e["active"] for f in e["fee"]) < 1e-6
    assert res.certificate.checks["budget"].passed  # no transfers (to 1e-7 of wealth)


def test_identical_crra_fees_are_lump_sum_transfers():
    """Why Definition 5 has a continuum of equilibria with identical CRRA (derivation, not
    in the paper): in an exchange at spot prices p every type spends the share a_s =
    1/(1 + p_s^(1-1/gamma)) of its state-s wealth on good 1, so its right to trade is
    Delta_s(theta) = Delta_s(0) + (a_s - 1) D_s theta, the slope the same for every type.
    Its budget c10 + p0 c20 + Q theta + sum_s P_s Delta_s = e10 + p0 e20 then reads
    c10 + p0 c20 + Q~ theta = e10 + p0 e20 - sum_s P_s Delta_s(0), with Q~ = Q + sum_s P_s
    (a_s - 1) D_s common to all: the fees are a lump-sum transfer. So the refined Pareto
    program at any weights is Definition 4 with the t = 0 transfer T^h - sum_s P_s
    Delta^h_s(0) (its Negishi transfer plus the fees'), its security price Q~, and every
    fee vector whose transfers cancel T is an equilibrium without transfers."""
    from segex.economies.incomplete_markets.refine import solve_to_tolerance

    econ, tol = identical(), 1e-3
    w = supporting_weights(solve_externality(econ)) * np.array([1.1, 1 / 1.1])
    res = solve_to_tolerance(econ, tol, grid_specs={"c": {"n": 201}, "p": {"n": 5}, "theta": {"n": 5},
                                                     "family": {"n": 9}}, weights=w)
    pr, mass = res.prices(), res.masses()
    (ex,) = np.nonzero(mass.sum(axis=0) > 1e-7)[0]  # one exchange: the no-trade spot prices
    p = res.grids.exchanges[ex]
    tau = np.array([-pr["P_Delta"][ex] @ [econ.spot(h, s, np.zeros((1, econ.J)), p[s:s + 1])[2][0]
                                          for s in range(econ.S)] for h in range(econ.H)])
    assert np.abs(tau).max() > 10 * tol  # the fees do transfer
    E = np.array(ENDOW, float)
    E[:, 0, 0] += res.lump_sum + tau
    ce = solve_externality(identical(E.tolist()))
    assert np.allclose(p, ce.spot, atol=tol)
    st = res.type_stats()
    # the refined allocation sits within a patch spacing (tol) of the continuum one
    assert np.allclose([t["theta"] for t in st], ce.theta, atol=2 * tol)
    assert np.allclose([t["c0"] for t in st], ce.c0, atol=2 * tol)
    a = 1 / (1 + p ** (1 - 1 / IDENTICAL["gamma"][0]))
    Q_tilde = pr["Q"][ex] + np.asarray(IDENTICAL["D"]) @ (pr["P_Delta"][ex] * (a - 1))
    assert np.allclose(Q_tilde, ce.Q, atol=2 * tol)


def test_equilibrium_of_the_grid_file():
    spec = load_spec(GRID)
    res = solve_segregated(spec.economy, grid_specs=spec.grid)
    assert res.certificate.passed, str(res.certificate)
    d = res.to_dict()
    assert set(d) == {"p0", "Q", "types", "exchanges", "weights", "welfare"}  # the keys, exactly
    for t in d["types"]:
        assert set(t) == {"c0", "c1", "theta", "utility", "shares", "transfer"}
        assert len(t["c1"]) == spec.economy.S and len(t["theta"]) == spec.economy.J
        assert abs(sum(t["shares"].values()) - 1) < 1e-7
    for e in d["exchanges"]:
        assert set(e) == {"id", "p", "fee", "Q", "mass", "active"}
    assert np.abs(res.lump_sum).max() < 1e-7  # no transfers
    # Definition 5's budget, recomputed from the JSON: c0 cost + Q theta + fees = wealth
    ex = {e["id"]: e for e in d["exchanges"]}
    for h, (t, st) in enumerate(zip(d["types"], res.type_stats())):
        e0 = spec.economy.e0[h]
        (eid,) = t["shares"]
        cost = t["c0"][0] + d["p0"] * t["c0"][1] + np.dot(ex[eid]["Q"], t["theta"]) + np.dot(ex[eid]["fee"], st["Delta"])
        assert -t["transfer"] == pytest.approx(np.dot(ex[eid]["fee"], st["Delta"]), abs=1e-12)
        assert cost == pytest.approx(e0[0] + d["p0"] * e0[1], rel=1e-7)


def test_cli_json_keys_and_check(tmp_path, capsys):
    out = tmp_path / "kt22.nc"
    assert main(["solve", str(GRID), "--json", "--quiet", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["economy"] == "KT 2.2: one bond, two states" and d["certificate"]["passed"]
    assert set(d["lp"]) >= {"rows", "cols", "nnz", "build_s", "solve_s"}
    ext, seg = d["externality"], d["segregated"]
    assert set(ext) == {"p0", "Q", "spot", "types", "welfare"}
    assert len(ext["Q"]) == 1 and len(ext["spot"]) == 2
    assert set(seg) == {"p0", "Q", "types", "exchanges", "weights", "welfare"}
    assert main(["check", str(out)]) == 0
    assert "segregated: passed" in capsys.readouterr().out


@pytest.mark.slow
def test_tol_refines_the_grid_file_onto_its_support(capsys):
    """--tol: the refinement path is reported under lp.refinement, its accuracy (last move
    of the allocation, family and t=0 spacings) is at most tol, and the answer certifies."""
    assert main(["solve", str(GRID), "--tol", "1e-3", "--json", "--quiet", "--concept", "segregated"]) == 0
    d = json.loads(capsys.readouterr().out)
    ref = d["lp"]["refinement"]
    assert ref["converged"] and ref["accuracy"] <= 1e-3 and len(ref["steps"]) >= 2
    assert d["certificate"]["segregated.refinement.accuracy"]["passed"]
    assert ref["steps"][-1]["family_spacing"] <= 1e-3
    assert set(d["segregated"]) == {"p0", "Q", "types", "exchanges", "weights", "welfare"}  # keys unchanged


def test_tol_that_is_not_reached_is_a_failed_check():
    """Identical CRRA: the rights fees are pinned by no type's first-order condition (every
    type spends the same share on good 2), the grid equilibria wander and the refinement
    does not settle -- reported as refinement.accuracy failed, never a pass."""
    from segex.economies.incomplete_markets.refine import solve_to_tolerance

    econ = IncompleteMarketsEconomy.create([0.5, 0.5], [2.0, 2.0], ENDOW, [0.5, 0.5], [[1.0, 1.0]])
    res = solve_to_tolerance(econ, 1e-6, grid_specs={"c": {"n": 201}, "p": {"n": 5}, "theta": {"n": 5},
                                                      "family": {"n": 9}}, max_steps=4)
    assert not res.lp["refinement"]["converged"] and len(res.lp["refinement"]["steps"]) == 4
    assert "refinement.accuracy" in res.certificate.failed()


def test_tol_with_the_family_turned_off_refines_the_t0_grids_only():
    """grid.family.n = 0 stays off under --tol: no family appears, and the run ends in a
    result (the product grid alone) rather than a crash."""
    from segex.economies.incomplete_markets.refine import solve_to_tolerance

    spec = load_spec(GRID)
    res = solve_to_tolerance(spec.economy, 1e-3, grid_specs={**spec.grid, "family": {"n": 0}})
    assert res.grids.family_p.shape[0] == 0
    assert len(res.lp["refinement"]["steps"]) >= 2
    assert np.isfinite(res.lp["refinement"]["accuracy"])


@pytest.mark.slow
def test_complete_markets_refined_segregated_equilibrium_is_definition_4():
    """Footnote 21 with --tol: complete markets, different CRRA -- the refined equilibrium
    without transfers is Definition 4's, every active fee zero, to the refinement tolerance
    (on the unrefined grids the Negishi point is 1e-2 off and fees reach 0.05)."""
    from segex.economies.incomplete_markets.refine import solve_to_tolerance

    econ = IncompleteMarketsEconomy.create([0.5, 0.5], [0.5, 3.0], ENDOW, [0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])
    ce = solve_externality(econ)
    tol = 1e-3
    res = solve_to_tolerance(econ, tol, grid_specs={"c": {"n": 201}, "p": {"n": 5}, "theta": {"n": 5},
                                                     "family": {"n": 9}})
    assert res.certificate.passed, str(res.certificate)
    d = res.to_dict()
    # a grid of spacing tol around the support: holdings and consumption within 2 tol
    assert np.abs(np.array([t["theta"] for t in d["types"]]) - ce.theta).max() < 2 * tol
    assert np.abs(np.array([t["c0"] for t in d["types"]]) - ce.c0).max() < 2 * tol
    assert max(abs(f) for e in d["exchanges"] if e["active"] for f in e["fee"]) < 2 * tol


@pytest.mark.slow
def test_refined_equilibrium_does_not_depend_on_the_product_grid():
    """The continuum limit is the grid's, not the grid file's: refined from the grid file's
    prices and portfolios (11 x 11 spot prices, 21 holdings) and from a coarse 5 x 5 x 5
    one, Definition 5's equilibrium lands on the same allocation and prices to the
    refinement's accuracy (2 tol: each is within tol of the limit). Exchanges of other
    compositions than the population's are what makes it so: with the population's alone
    the two refined holdings were 0.891 and 0.836."""
    from segex.economies.incomplete_markets.refine import solve_to_tolerance

    spec = load_spec(GRID)
    tol, out = 1e-3, []
    for grid in ({"c": {"n": 201}}, {"c": {"n": 201}, "p": {"n": 5}, "theta": {"n": 5}}):
        res = solve_to_tolerance(spec.economy, tol, grid_specs={**spec.grid, **grid})
        assert res.certificate.passed, str(res.certificate)
        out.append(res.to_dict())
    a, b = out
    for key in ("theta", "c0"):
        assert np.abs(np.array([t[key] for t in a["types"]]) - np.array([t[key] for t in b["types"]])).max() < 2 * tol
    assert abs(a["p0"] - b["p0"]) < 2 * tol


@pytest.mark.parametrize("concept, var, factor", [("segregated", "theta", 1.5), ("segregated", "c0", 1.01),
                                                  ("segregated", "fee", 3.0), ("externality", "c0", 1.01),
                                                  ("externality", "theta", 1.5)])
def test_check_catches_a_tampered_summary(tmp_path, concept, var, factor):
    """`segex check` recomputes what a user reads from the saved prices and lotteries."""
    from segex.check import check_file
    from segex.io.store import read_netcdf, write_netcdf

    out = tmp_path / "kt22.nc"
    assert main(["solve", str(GRID), "--quiet", "--concept", concept, "--out", str(out)]) == 0
    assert check_file(out)[concept].passed
    groups = read_netcdf(out)
    groups[concept][var] = groups[concept][var] * factor
    write_netcdf(tmp_path / "bad.nc", groups)
    cert = check_file(tmp_path / "bad.nc")[concept]
    assert not cert.passed, str(cert)


def test_one_type_is_autarky_and_certified(tmp_path, capsys):
    """No one to trade with: no trade, and a certificate that compares it with the
    economy's scale, not with rounding noise."""
    f = tmp_path / "one.toml"
    f.write_text('economy = "incomplete_markets"\nprob = [0.5, 0.5]\npayoffs = [[1.0, 1.0]]\n'
                 '[[types]]\nshare = 1.0\ngamma = 2.0\nendowment = [[1, 1], [2, 1], [1, 2]]\n')
    assert main(["solve", str(f), "--json", "--quiet"]) == 0, capsys.readouterr().err
    d = json.loads(capsys.readouterr().out)
    assert d["segregated"]["types"][0]["theta"] == pytest.approx([0.0], abs=1e-9)


def test_active_fees_lie_in_their_supporting_interval():
    """The reported fee is one point of the interval of fees at which the same allocation is
    still an equilibrium (the shared DualFace); the interval is what a degenerate LP pins."""
    spec = load_spec(GRID)
    res = solve_segregated(spec.economy, grid_specs=spec.grid)
    iv = res.fee_intervals()
    fee = res.prices()["P_Delta"]
    active = ~np.isnan(iv[:, 0, 0])
    assert active.sum() == len([e for e in res.to_dict()["exchanges"] if e["active"]]) >= 1
    lo, hi = iv[active, :, 0], iv[active, :, 1]
    assert np.isfinite(lo).any() or np.isfinite(hi).any()
    # NaN: an end the box around the face could not certify (segex.markets.fees)
    assert np.all(np.where(np.isnan(lo), -np.inf, lo) <= fee[active] + 1e-7)
    assert np.all(fee[active] <= np.where(np.isnan(hi), np.inf, hi) + 1e-7)
    ds = res.to_dataset()
    assert ds["P_Delta_interval"].dims == ("exchange", "state", "end")
