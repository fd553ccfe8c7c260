"""The exit contract of issue 14, through the command line: 0 solved and certified; 1 solved
and a named check failed; 2 bad input, a failed solve or anything unexpected, with exactly
one line on stderr, no traceback (unless ``--debug``) and no output file.

Each case here was a crash or a silent wrong answer before: a consumption grid from zero
(a traceback from the Negishi search, exit 1), ``--tol`` below what doubles can state
("NOT converged", exit 0), ``--out result.csv`` (netCDF in a .csv), fee intervals
``[nan, nan]`` with ``--backend cvxpy``, and an unexpected exception (a traceback, exit 1).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_bad_input import to_toml
from test_config import BASE as COLLATERAL
from test_incomplete_spec import BASE as INCOMPLETE

from segex.cli import main

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "grids"
C_FROM_ZERO = 'c = { min = 0.0, max = 5.0, n = 101, spacing = "linear" }'


def one_error_line(err: str, starts: str = "segex: error: ") -> str:
    """The single stderr line, checked to be the only one and free of a traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(starts), lines[0]
    assert "Traceback" not in err
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "env.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------------- 1. c grid from zero
def test_linear_consumption_grid_from_zero_is_a_spec_error(tmp_path):
    """The issue's case, as a user runs it: KT Env 1 with a linear c grid from 0 and
    gamma = 2 put u(0) = -inf into Program 2 (0 x -inf = NaN in the Negishi search, a
    scipy traceback, exit 1). Now: the field, why, the fix; exit 2; no file."""
    text = (GRIDS / "kt_env1.toml").read_text().replace("c = { n = 401 }", C_FROM_ZERO)
    assert C_FROM_ZERO in text and "gamma = 2.0" in text
    spec, out = write(tmp_path, text), tmp_path / "OUT.nc"
    r = subprocess.run([sys.executable, "-m", "segex", "solve", str(spec), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    line = one_error_line(r.stderr)
    assert line.startswith("segex: error: grid.c: min must be > 0, got 0")
    assert "-inf for CRRA gamma = 2" in line and "min = 0.1" in line
    assert not out.exists()


@pytest.mark.parametrize("economy, text", [
    ("collateral", COLLATERAL.replace("c = { n = 41 }", C_FROM_ZERO)),
    ("incomplete_markets", to_toml({**INCOMPLETE, "grid": {**INCOMPLETE["grid"], "c": {
        "min": 0.0, "max": 5.0, "n": 11, "spacing": "linear"}}})),
], ids=["collateral", "incomplete_markets"])
def test_consumption_grid_from_zero_every_crra_economy(tmp_path, capsys, economy, text):
    """One shared validator (segex.io.validate.consumption_grid) for the economies whose
    LPs cannot hold u(0) = -inf."""
    assert main(["solve", str(write(tmp_path, text)), "--json", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_error_line(captured.err)
    assert line.startswith("segex: error: grid.c: min must be > 0") and "-inf" in line


def test_liquidity_consumption_grid_from_zero_still_solves(tmp_path, capsys):
    """FGT's SP2 closes bundles a type values at -inf, so its c grid may start at 0 (the
    bundled files do); only a negative one is an error, by the same validator."""
    text = (GRIDS / "fgt_discount.toml").read_text()
    assert "c = { min = 0.0" in text
    assert main(["solve", str(write(tmp_path, text)), "--json", "--quiet", "--concept", "SP2"]) == 0
    assert json.loads(capsys.readouterr().out)["certificate"]["passed"]
    bad = text.replace("c = { min = 0.0", "c = { min = -1.0")
    assert main(["solve", str(write(tmp_path, bad)), "--json", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("segex: error: grid.c: min must be >= 0, got -1")


# ---------------------------------------------------------------------------------- 2. --tol below doubles
@pytest.mark.parametrize("grid_file, extra, check", [
    (GRIDS / "kt_env1.toml", ["--concept", "segregated"], "segregated.refinement.accuracy"),
    (None, ["--concept", "segregated"], "segregated.refinement.accuracy"),  # KT 2.2, small grids
    (GRIDS / "fgt_discount.toml", ["--concept", "SP3"], "SP3.refinement.accuracy"),
], ids=["collateral", "incomplete_markets", "liquidity"])
def test_tol_not_reached_is_exit_1_naming_the_check(tmp_path, capsys, grid_file, extra, check):
    """--tol 1e-20 cannot be reached in doubles: never exit 0 nor "converged". The collateral
    economy reported accuracy 0 (Newton's last step landed on the same doubles), passed
    and exited 0; its accuracy is now floored at the outputs' resolution."""
    path = grid_file or write(tmp_path, to_toml(INCOMPLETE))
    assert main(["solve", str(path), "--json", "--quiet", "--tol", "1e-20", *extra]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["certificate"]["passed"] is False
    assert d["certificate"][check]["passed"] is False and d["certificate"][check]["tol"] == 1e-20
    ref = d.get("segregated", {}).get("refinement")
    if isinstance(ref, dict):  # the collateral economy's report
        assert ref["converged"] is False and ref["accuracy"] > 1e-20


def test_collateral_tol_text_report_names_the_check(capsys):
    assert main(["solve", str(GRIDS / "kt_env1.toml"), "--quiet", "--tol", "1e-20", "--concept", "segregated"]) == 1
    text = capsys.readouterr().out
    assert "NOT converged" in text
    assert "certificate: FAILED: refinement.accuracy (residual" in text


def test_unconverged_refinement_is_never_exit_0(tmp_path, capsys, monkeypatch):
    """The front end's guard: a result whose refinement says converged: false while every
    check passed (an economy that forgot its accuracy check) exits 1 with a named check."""
    from segex.certificate import Certificate

    class Unconverged:
        lp = None

        def __init__(self):
            self.certificate = Certificate()
            self.certificate.add("clearing", 0.0, 1e-9)

        def to_dict(self):
            return {"p0": 1.0, "refinement": {"tol": 1e-20, "accuracy": 1e-15, "converged": False}}

    monkeypatch.setattr("segex.run.solve_spec", lambda spec, **kw: {"segregated": Unconverged()})
    spec = write(tmp_path, COLLATERAL)
    assert main(["solve", str(spec), "--json", "--quiet"]) == 1
    check = json.loads(capsys.readouterr().out)["certificate"]["segregated.refinement.converged"]
    assert check == {"residual": 1e-15, "tol": 1e-20, "passed": False,
                     "note": "the refinement did not reach the asked tolerance (--tol)"}


# ---------------------------------------------------------------------------------- 3. --out suffix
@pytest.mark.parametrize("command, name, message", [
    ("solve", "result.csv", "segex writes netCDF4; use a .nc name such as {d}/result.nc"),
    ("solve", "result", "segex writes netCDF4; use a .nc name such as {d}/result.nc"),
    ("sweep", "sweep.csv", "segex writes netCDF4 (.nc) or zarr (.zarr); use a .nc or .zarr name"),
])
def test_out_suffix_rejected_before_solving(tmp_path, capsys, monkeypatch, command, name, message):
    def never(*args, **kwargs):
        raise AssertionError("solved before --out was checked")

    monkeypatch.setattr("segex.run.solve_spec", never)
    monkeypatch.setattr("segex.sweep.run_sweep", never)
    spec, out = write(tmp_path, COLLATERAL), tmp_path / name
    argv = [command, str(spec), "--out", str(out), "--json"]
    if command == "sweep":
        argv += ["--param", "beta=0.5,1", "--workers", "0"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_error_line(captured.err)
    assert line.startswith(f"segex: error: --out: {out}: " + message.format(d=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.toml"]


# ---------------------------------------------------------------------------------- 4. fee intervals
@pytest.mark.slow
def test_fee_intervals_with_cvxpy_match_highs(capsys):
    """KT Env 2 with --backend cvxpy: the supporting-price LP's box was widened a third time
    or not depending on one rounding of its size (HiGHS's duals got it, cvxpy's did not), so
    some ends were NaN with no word why. The widenings are now counted: every end is a
    number (or an unbounded end, null) and agrees with HiGHS's to 1e-7."""
    ends = {}
    for backend in ("highs", "cvxpy"):
        assert main(["solve", str(GRIDS / "kt_env2.toml"), "--json", "--quiet", "--concept", "segregated",
                     "--backend", backend]) == 0
        d = json.loads(capsys.readouterr().out)["segregated"]
        assert "fee_interval_note" not in d
        ends[backend] = {e["id"]: e["fee_interval"] for e in d["exchanges"]}
        for e in d["exchanges"]:
            lo, hi = e["fee_interval"]
            if e["active"]:
                assert lo is not None and hi is not None and lo - 1e-7 <= e["fee"] <= hi + 1e-7
            assert lo is not None  # only upper ends are unbounded here
    assert ends["highs"].keys() == ends["cvxpy"].keys()
    for k, (lo, hi) in ends["highs"].items():
        lo2, hi2 = ends["cvxpy"][k]
        assert lo2 == pytest.approx(lo, abs=1e-7)
        assert (hi is None and hi2 is None) or hi2 == pytest.approx(hi, abs=1e-7)


def test_unknown_fee_interval_ends_are_explained(tmp_path, capsys, monkeypatch):
    """Where the supporting-price LP still cannot say (NaN ends), the JSON says why in
    ``fee_interval_note`` and the text report in a ``fee interval:`` line."""
    from segex.markets.fees import DualFace

    monkeypatch.setattr(DualFace, "range", lambda self, i: (math.nan, math.nan))
    spec = write(tmp_path, COLLATERAL)
    assert main(["solve", str(spec), "--json", "--quiet", "--concept", "segregated"]) in (0, 1)
    d = json.loads(capsys.readouterr().out)["segregated"]
    assert all(e["fee_interval"] == [None, None] for e in d["exchanges"])
    note = d["fee_interval_note"]
    assert note.startswith("fee interval ends not computed for s1:z0, ") and "DualFace" in note
    main(["solve", str(spec), "--quiet", "--concept", "segregated"])
    text = capsys.readouterr().out
    assert "\nfee interval: fee interval ends not computed for s1:z0" in text
    assert "fee_interval_note =" not in text


# ---------------------------------------------------------------------------------- 5. the top-level catch
def _boom(*args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def test_unexpected_exception_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("segex.negishi.negishi", _boom)  # deep in the segregated solve
    spec, out = write(tmp_path, COLLATERAL), tmp_path / "OUT.nc"
    argv = ["solve", str(spec), "--json", "--quiet", "--concept", "segregated", "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_error_line(captured.err, starts="segex: internal error: ")
    assert line == "segex: internal error: RuntimeError: boom second line (run with --debug for the traceback)"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["env.toml"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback(tmp_path, capsys, monkeypatch, where):
    monkeypatch.setattr("segex.negishi.negishi", _boom)
    argv = ["solve", str(write(tmp_path, COLLATERAL)), "--json", "--quiet", "--concept", "segregated"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "_boom" in err and "RuntimeError: boom" in err
    assert err.splitlines()[-1] == "segex: internal error: RuntimeError: boom second line"


def test_debug_is_accepted_by_every_command_and_shows_expected_errors(tmp_path, capsys):
    missing = str(tmp_path / "nope.nc")
    assert main(["check", missing]) == 2
    one_error_line(capsys.readouterr().err)
    assert main(["check", missing, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1] == f"segex: error: {missing}: no such file"
    argv = ["sweep", str(write(tmp_path, COLLATERAL)), "--param", "beta=2", "--out", str(tmp_path / "s.nc"),
            "--workers", "0", "--debug"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("segex: error: beta: ")


def test_internal_error_through_the_module_entry_point(tmp_path):
    """``python -m segex`` with a bug in the run: exit 2 (never Python's 1), one line."""
    code = ("import sys, segex.negishi as n\n"
            "def boom(*a, **k): raise ZeroDivisionError('division by zero')\n"
            "n.negishi = boom\n"
            "from segex.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    spec = write(tmp_path, COLLATERAL)
    r = subprocess.run([sys.executable, "-c", code, "solve", str(spec), "--quiet", "--concept", "segregated"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    line = one_error_line(r.stderr, starts="segex: internal error: ")
    assert line == "segex: internal error: ZeroDivisionError: division by zero (run with --debug for the traceback)"
