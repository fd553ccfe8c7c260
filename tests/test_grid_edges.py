"""No silent wrong answers from grids (issue 14): in every economy a lottery or an active
exchange on an end of a grid that binds fails the certificate's ``edge.<grid>`` check,
whose note says which grid to widen and which way (:func:`segex.certificate.add_edge_checks`);
and the collateral economy's two concepts honour the same ``grid.k = { points = [0.0] }``.

Each economy is run through the CLI on a shipped grid file with one grid narrowed so that
it cuts the support: exit code 1, the check named in ``--json``'s certificate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segex.certificate import EDGE_MASS, Certificate, GridEdge, add_edge_checks, edge_mass
from segex.cli import main

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "grids"


def narrowed(tmp_path, name, old, new, drop=()):
    """A copy of ``grids/<name>`` with the line starting ``old`` replaced by ``new`` and the
    lines starting with any of ``drop`` left out."""
    lines = []
    for line in (GRIDS / name).read_text().splitlines():
        if drop and line.startswith(drop):
            continue
        lines.append(new if line.startswith(old) else line)
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def solve_json(capsys, *argv):
    rc = main(["solve", *map(str, argv), "--json", "--quiet"])
    return rc, json.loads(capsys.readouterr().out)


def rechecked(capsys, out, solved: dict, concept: str, grids=()):
    """``segex check`` of the saved result recomputes the edge checks from the file: each of
    ``grids`` (``"z"``, ...) gets the solve's verdict and residual; the exit code follows."""
    capsys.readouterr()
    rc = main(["check", str(out), "--json"])
    checked = json.loads(capsys.readouterr().out)[concept]
    for g in grids:
        now, then = checked[f"edge.grid.{g}"], solved["certificate"][f"{concept}.edge.grid.{g}"]
        assert now["passed"] == then["passed"] and now["residual"] == pytest.approx(then["residual"], abs=1e-12), g
    return rc, checked


# ---------------------------------------------------------------------------------- the shared check
def test_edge_check_counts_only_binding_ends():
    """Mass on an end binds unless the end is a natural bound or the next point out prices
    out; a one-point grid is fixed, never an edge; the note says which way to widen."""
    cert = Certificate()
    add_edge_checks(cert, [
        GridEdge("grid.z", 0.9, 1.0, (0.7, 0.0), "state 1"),
        GridEdge("grid.z", 0.6, 1.0, (0.0, 0.3), "state 2", bound=(None, "no exchange clears above 1")),
        GridEdge("grid.a", -1.0, 1.0, (0.0, 0.5), gain=(None, -1e-3)),
        GridEdge("grid.c", 0.1, 4.0, (0.0, 0.5), gain=(None, 1e-3)),
        GridEdge("grid.k", 0.0, 0.0, (1.0, 1.0)),
        GridEdge("grid.I", 0.5, 1.5, (EDGE_MASS / 2, 0.0)),
    ])
    z, a, c, k, inc = (cert.checks[f"edge.grid.{g}"] for g in "zackI")
    assert not z.passed and z.residual == 0.7 and "widen grid.z below 0.9" in z.note
    assert "0.3 at or past 1 (state 2) cannot bind: no exchange clears above 1" in z.note
    assert a.passed and "would not enter" in a.note
    assert not c.passed and "widen grid.c above 4" in c.note
    assert k.passed and "one point, fixed in the grid file" in k.note
    assert inc.passed and inc.residual == 0.0  # below the stated mass


def test_edge_mass_is_the_largest_over_types():
    values = np.array([0.0, 0.5, 1.0])
    prob = np.array([[0.2, 0.8, 0.0], [0.0, 0.4, 0.6]])
    assert edge_mass(values, prob, 0.0, 1.0) == (0.2, 0.6)
    assert edge_mass(values, prob, 0.25, 0.75) == (0.2, 0.6)  # at or past an end


# ---------------------------------------------------------------------------------- one per economy
def test_collateral_narrowed_z_fails_edge_check(tmp_path, capsys):
    """KT Env 1 with grid.z = [0.9, 1]: the one active exchange sits on 0.9 (p0 1.27 instead
    of 1.99), which used to pass."""
    p = narrowed(tmp_path, "kt_env1.toml", "z =", "z = { min = 0.9, max = 1.0, n = 11 }")
    rc, d = solve_json(capsys, p, "--concept", "segregated", "--out", tmp_path / "r.nc")
    check = d["certificate"]["segregated.edge.grid.z"]
    assert rc == 1 and not check["passed"] and check["residual"] == pytest.approx(1.0)
    assert "widen grid.z below 0.9" in check["note"]
    assert d["certificate"]["segregated.edge.grid.k"]["passed"]  # k = 0 is a natural bound
    rc, checked = rechecked(capsys, tmp_path / "r.nc", d, "segregated", "zkca")  # segex check: still failed
    assert rc == 1 and checked["edge.grid.z"]["note"] == check["note"]


def test_collateral_narrowed_z_with_tol_keeps_the_continuum(tmp_path, capsys):
    """--tol: the continuum moves the exchange past the grid to its optimum (p0 1.99), but
    exchanges beyond it were never priced: the same check fails, the answer is kept."""
    p = narrowed(tmp_path, "kt_env1.toml", "z =", "z = { min = 0.9, max = 1.0, n = 11 }")
    rc, d = solve_json(capsys, p, "--concept", "segregated", "--tol", "1e-6")
    assert rc == 1 and d["certificate"]["passed"] is False
    assert [k for k, v in d["certificate"].items() if k != "passed" and not v["passed"]] == \
        ["segregated.edge.grid.z"]
    assert d["segregated"]["p0"] == pytest.approx(1.9908, abs=1e-3)


def test_collateral_securities_edge_priced(tmp_path, capsys):
    """KT Env 2: its lottery puts 0.0107 on a = 0.6, the top of grid.a, but a = 0.7 prices
    out (the LP with it has the same optimum): not binding. With grid.a = [-0.2, 0.2] the
    types' +-0.29 are cut off: binding, widen above 0.2."""
    rc, d = solve_json(capsys, GRIDS / "kt_env2.toml", "--concept", "segregated", "--out", tmp_path / "r.nc")
    check = d["certificate"]["segregated.edge.grid.a"]
    assert rc == 0 and check["passed"] and "would not enter" in check["note"]
    rc, checked = rechecked(capsys, tmp_path / "r.nc", d, "segregated", "zkca")  # segex check: still passed
    assert rc == 0 and "priced by the LP's duals at solve time" in checked["edge.grid.a"]["note"]
    p = narrowed(tmp_path, "kt_env2.toml", "a =", "a = { min = -0.2, max = 0.2, n = 5 }")
    rc, d = solve_json(capsys, p, "--concept", "segregated")
    check = d["certificate"]["segregated.edge.grid.a"]
    assert rc == 1 and not check["passed"] and "widen grid.a above 0.2" in check["note"]


def test_liquidity_narrowed_rate_fails_edge_check(tmp_path, capsys):
    """FGT Example 2 on fixed grids with grid.R = [1.35, 1.65]: SP3's rate 9/7 is cut off."""
    p = narrowed(tmp_path, "fgt_liquidity.toml", "R =", "R = { min = 1.35, max = 1.65, n = 7 }", drop=("tol",))
    rc, d = solve_json(capsys, p, "--concept", "SP3", "--out", tmp_path / "r.nc")
    check = d["certificate"]["SP3.edge.grid.R"]
    assert rc == 1 and not check["passed"] and "widen grid.R below 1.35" in check["note"]
    assert d["certificate"]["SP3.edge.grid.I"]["passed"]
    assert rechecked(capsys, tmp_path / "r.nc", d, "SP3", "RI")[0] == 1


def test_incomplete_markets_narrowed_holdings_fail_edge_check(tmp_path, capsys):
    """KT 2.2 with grid.theta = [-0.1, 0.1] and no clearing family: the bond holdings sit
    on the ends (Definition 4's +-0.90, which the grid holds, are now its ends)."""
    p = narrowed(tmp_path, "kt_incomplete.toml", "theta =", "theta = { min = -0.1, max = 0.1, n = 5 }\n"
                                                         "family = { n = 0 }")
    rc, d = solve_json(capsys, p, "--concept", "segregated", "--out", tmp_path / "r.nc")
    check = d["certificate"]["segregated.edge.grid.theta"]
    assert rc == 1 and not check["passed"] and "widen grid.theta" in check["note"]
    assert rechecked(capsys, tmp_path / "r.nc", d, "segregated", ("c", "p", "theta"))[0] == 1


def test_incomplete_markets_narrow_family_fails_edge_check(tmp_path, capsys):
    """KT 2.2 with a clearing family of radius 0.02 around Definition 4's holdings and a
    product grid of +-0.1: the equilibrium's holdings move further (0.88 against 0.90), so
    the lotteries sit on the family's boundary -- edge.grid.family fails, at solve time and
    under segex check (each held bundle saves its member and whether it is on the boundary)."""
    p = narrowed(tmp_path, "kt_incomplete.toml", "theta =", "theta = { min = -0.1, max = 0.1, n = 5 }\n"
                                                         "family = { radius = 0.02, n = 3, composition_n = 1 }")
    rc, d = solve_json(capsys, p, "--concept", "segregated", "--out", tmp_path / "r.nc")
    check = d["certificate"]["segregated.edge.grid.family"]
    assert rc == 1 and not check["passed"] and "widen grid.family above 0.02" in check["note"]
    assert rechecked(capsys, tmp_path / "r.nc", d, "segregated", ("c", "p", "theta", "family"))[0] == 1


# ---------------------------------------------------------------------------------- the same restriction
def test_collateral_concepts_honour_k_fixed_at_zero(tmp_path, capsys):
    """grid.k = { points = [0.0] } rules storage out for the segregated concept; the
    externality concept honours it too (K = 0, said in its certificate) instead of storing
    K = 0.68, which made the exchanges look welfare-reducing."""
    p = narrowed(tmp_path, "kt_env1.toml", "k =", "k = { points = [0.0] }")
    rc, d = solve_json(capsys, p)
    assert rc == 0
    ex, seg = d["externality"], d["segregated"]
    assert ex["K"] == 0.0 and all(t["k"] == 0.0 for t in ex["types"]) and seg["K"] == pytest.approx(0.0, abs=1e-12)
    check = d["certificate"]["externality.restriction.grid.k"]
    assert check["passed"] and "storage ruled out" in check["note"]
    assert "externality.foc_k" not in d["certificate"]  # k = 0 is imposed, not chosen
    assert ex["p0"] == pytest.approx(1.0) and seg["p0"] == pytest.approx(1.0, abs=1e-6)  # (E_10 / E_20)^2
    assert np.mean([t["utility"] for t in ex["types"]]) >= np.mean([t["utility"] for t in seg["types"]]) - 1e-4


def test_externality_says_grids_do_not_restrict_it(capsys):
    from segex import CollateralEconomy, solve_externality

    e = CollateralEconomy.create(share=[0.5, 0.5], endowment=[[[3, 3], [1, 1]], [[1, 1], [3, 3]]])
    free, fixed = solve_externality(e), solve_externality(e, storage=False)
    assert free.K == pytest.approx(0.6797537732, rel=1e-8) and fixed.K == 0.0 and np.all(fixed.k == 0)
    assert free.certificate.passed and fixed.certificate.passed
    assert "no grid restricts" in free.certificate.checks["restriction.grid.k"].note
    assert "foc_k" in free.certificate.checks and "foc_k" not in fixed.certificate.checks


@pytest.mark.slow
def test_collateral_k_fixed_with_tol_is_no_crash(tmp_path, capsys):
    """--tol with grid.k = [0]: the starting grids keep the one point (a SpecError before)
    and the continuum phase, which solves k as a continuum, is skipped."""
    p = narrowed(tmp_path, "kt_env1.toml", "k =", "k = { points = [0.0] }")
    rc, d = solve_json(capsys, p, "--concept", "segregated", "--tol", "1e-6")
    assert rc in (0, 1) and d["segregated"]["K"] == 0.0
    assert all(step["phase"] != "continuum" for step in d["segregated"]["refinement"]["path"])
