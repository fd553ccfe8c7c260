"""`segex solve`: exit codes, one-line errors, the JSON contract, netCDF output."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from segex import __version__
from segex.cli import main
from segex.io.store import read_netcdf, write_netcdf

ROOT = Path(__file__).resolve().parents[1]
ENV1 = ROOT / "grids" / "kt_env1.toml"
SEG = "segex.economies.collateral.segregated"
EXT = "segex.economies.collateral.externality"


def has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


needs_externality = pytest.mark.skipif(not has_module(EXT), reason=f"{EXT} not written yet")
needs_segregated = pytest.mark.skipif(not has_module(SEG), reason=f"{SEG} not written yet")


# ---------------------------------------------------------------------------------- fakes
class FakeResult:
    """Stands in for a solver's result, following the contract the CLI codes against."""

    def __init__(self, passed=True, with_cert=True):
        self.lp = {"rows": 10, "cols": 200, "nnz": 900, "build_s": 0.01, "solve_s": 0.02}
        if with_cert:
            self.certificate = {
                "passed": passed,
                "clearing": {"residual": 1e-12, "tol": 1e-8, "passed": True},
                "duality_gap": {"residual": 1e-10 if passed else 1e-3, "tol": 1e-8, "passed": passed},
                "nan_check": {"residual": float("nan"), "tol": 1e-8, "passed": True},
            }

    def to_dict(self):
        return {
            "types": [{"k": 1.0, "c0": np.array([2.5, 1.75]), "c1": [[1.3, 1.7]], "theta": [[0.0, 0.0]],
                       "utility": np.float64(-2.29)},
                      {"k": 0.0, "c0": [1.4, 0.98], "c1": [[2.7, 3.5]], "theta": [[0.0, 0.0]], "utility": -2.39}],
            "p0": 2.0073,
            "spot": np.array([0.5974]),
            "exchanges": [
                {"state": 1, "z": 0.7729, "p": 0.5974, "fee": 0.5375, "shares": [1.0, 1.0]},
                {"state": 1, "z": 0.7979, "p": 0.6366, "fee": float("inf"), "shares": [0.0, 0.0]},
            ],
            "weights": [1.0, 1.2],
        }

    def to_dataset(self):
        return xr.Dataset(
            {"k": ("type", np.array([1.0, 0.0])), "active": ("exchange", np.array([True, False])),
             "label": ("exchange", np.array(["z=0.7729", "z=0.7979"]))},
            coords={"type": [1, 2], "exchange": [0, 1]},
            attrs={"certificate": {"passed": True}, "negishi": True},
        )


@pytest.fixture
def fake_segregated(monkeypatch):
    """Install a fake segregated module; returns the list of calls it received. The grid
    file's parser imports the real module's METHODS: load it first (a test run alone, or
    first on its xdist worker, otherwise fails on the import, whatever it tests)."""
    importlib.import_module("segex.economies.collateral.spec")
    calls = []
    state = {"passed": True}
    mod = types.ModuleType(SEG)

    def solve_segregated(econ, grids, weights=None, backend="highs", progress=True, method="grid"):
        calls.append({"econ": econ, "grids": grids, "weights": weights, "backend": backend, "progress": progress,
                      "method": method})
        return FakeResult(passed=state["passed"])

    mod.solve_segregated = solve_segregated
    monkeypatch.setitem(sys.modules, SEG, mod)
    return calls, state


@pytest.fixture
def fake_externality(monkeypatch):
    mod = types.ModuleType(EXT)
    mod.solve_externality = lambda econ: FakeResult(with_cert=False)
    monkeypatch.setitem(sys.modules, EXT, mod)


def small_spec(tmp_path, extra=""):
    text = ENV1.read_text().replace("n = 401", "n = 21") + extra
    p = tmp_path / "env.toml"
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("old,new,field", [
    ("gamma = 2.0", "gamma = -2.0", "gamma"),
    ("endowment = [[3, 3], [1, 1]]", "endowmnet = [[3, 3], [1, 1]]", "types[0].endowmnet"),
    ("share = 0.5", "share = 0.7", "types[*].share"),
    ("n = 51", "n = 0", "grid.k.n"),
    ('backend = "highs"', 'backend = "gurobi"', "solve.backend"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, old, new, field):
    p = tmp_path / "bad.toml"
    p.write_text(ENV1.read_text().replace(old, new, 1))
    assert main(["solve", str(p), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("segex: error: ")
    assert field in lines[0]
    assert "Traceback" not in err


def test_malformed_toml_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text("economy = \n")
    assert main(["solve", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"segex: error: {p}: ") and "line 1" in err and len(err.strip().splitlines()) == 1


def test_missing_file_and_usage_errors(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["solve", str(ENV1), "--concept", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segex: error: ") and len(err.strip().splitlines()) == 1
    assert main([]) == 2
    assert capsys.readouterr().err.startswith("segex: error: ")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"segex {__version__}"


def test_missing_concept_module_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, SEG, None)  # import of SEG now raises ModuleNotFoundError
    assert main(["solve", str(small_spec(tmp_path)), "--concept", "segregated", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segex: error: ") and "segregated" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- externality (real)
@needs_externality
def test_json_externality_env1(capsys):
    assert main(["solve", str(ENV1), "--json", "--concept", "externality"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out)
    assert d["economy"] == "KT Environment 1"
    assert d["lp"] is None
    assert d["certificate"]["passed"] is True
    assert "segregated" not in d
    assert d["externality"]["p0"] == pytest.approx(2.2948, abs=5e-5)
    assert d["externality"]["z"][0] == pytest.approx(0.7463, abs=5e-5)


@needs_externality
def test_text_externality_env1(capsys):
    assert main(["solve", str(ENV1), "--concept", "externality"]) == 0
    out = capsys.readouterr().out
    assert "KT Environment 1" in out and "externality" in out
    assert "2.2948" in out and "1.3595" in out


@needs_externality
def test_out_externality_roundtrip(tmp_path, capsys):
    out = tmp_path / "res.nc"
    assert main(["solve", str(ENV1), "--concept", "externality", "--out", str(out), "--quiet"]) == 0
    res = read_netcdf(out)
    assert set(res) == {"externality"}
    assert float(res["externality"]["p0"]) == pytest.approx(2.2948, abs=5e-5)


# ---------------------------------------------------------------------------------- segregated (real)
TINY = """
[grid]
c = { n = 61 }
k = { min = 0.0, max = 2.5, n = 11 }
z = { min = 0.6, max = 1.0, n = 9 }
a = { min = -1.0, max = 1.0, n = 5 }
"""


def tiny_spec(tmp_path):
    text = ENV1.read_text()
    text = text[:text.index("[grid]")] + TINY
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return p


@needs_segregated
@pytest.mark.parametrize("method", ["grid", "colgen", "colgen-grid"])
def test_json_segregated_real_small_grid(tmp_path, capsys, method):
    out = tmp_path / "seg.nc"
    rc = main(["solve", str(tiny_spec(tmp_path)), "--json", "--concept", "segregated", "--quiet", "--out", str(out),
               "--method", method])
    d = json.loads(capsys.readouterr().out)
    assert rc == (0 if d["certificate"]["passed"] else 1)
    assert {"rows", "cols", "nnz", "build_s", "solve_s"} <= set(d["lp"])
    assert {"types", "p0", "spot", "exchanges", "weights"} <= set(d["segregated"])
    assert len(d["segregated"]["types"]) == 2
    assert all(k.startswith("segregated.") for k in d["certificate"] if k != "passed")
    assert len(d["certificate"]) > 1
    assert set(read_netcdf(out)) == {"segregated"}


@needs_segregated
def test_tol_reports_the_refinement_path(tmp_path, capsys):
    """--tol: accuracy mode; the JSON carries the refinement report and the text the path;
    --out writes the continuum result, which reads back with its exchanges."""
    out = tmp_path / "env1.nc"
    rc = main(["solve", str(ENV1), "--json", "--concept", "segregated", "--quiet", "--tol", "1e-6",
               "--out", str(out)])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["certificate"]["passed"]
    ref = d["segregated"]["refinement"]
    assert ref["tol"] == 1e-6 and ref["converged"] and ref["accuracy"] < 1e-6
    assert ref["path"][0]["phase"] == "refine" and ref["path"][-1]["phase"] == "continuum"
    assert d["segregated"]["method"] == "continuum" and d["lp"]["continuum"]["newton_iterations"] >= 1
    assert "segregated.support.welfare_gap" in d["certificate"]
    ds = read_netcdf(out)["segregated"]
    assert ds.attrs["method"] == "continuum"
    assert float(ds["p0"]) == pytest.approx(d["segregated"]["p0"], rel=1e-12)
    assert list(ds["exchange"].values) == d["segregated"]["active_exchanges"]
    assert main(["solve", str(ENV1), "--concept", "segregated", "--quiet", "--tol", "2"]) == 2
    assert "--tol" in capsys.readouterr().err


@needs_segregated
def test_text_segregated_real_small_grid(tmp_path, capsys):
    main(["solve", str(tiny_spec(tmp_path)), "--concept", "segregated", "--quiet"])
    text = capsys.readouterr().out
    assert "== segregated ==" in text and "active exchanges:" in text and "LP:" in text
    assert "certificate: " in text


# ---------------------------------------------------------------------------------- contract (fakes)
def test_json_contract_with_segregated(tmp_path, capsys, fake_segregated, fake_externality):
    calls, _ = fake_segregated
    assert main(["solve", str(small_spec(tmp_path)), "--json", "--backend", "cvxpy", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert list(d) == ["economy", "lp", "certificate", "externality", "segregated"]
    assert d["lp"] == {"rows": 10, "cols": 200, "nnz": 900, "build_s": 0.01, "solve_s": 0.02}
    cert = d["certificate"]
    assert cert["passed"] is True
    assert set(cert) == {"passed", "segregated.clearing", "segregated.duality_gap", "segregated.nan_check"}
    assert cert["segregated.nan_check"]["residual"] is None  # non-finite -> null
    assert d["segregated"]["exchanges"][1]["fee"] is None
    assert d["segregated"]["types"][0]["c0"] == [2.5, 1.75]
    (call,) = calls
    assert call["weights"] is None and call["backend"] == "cvxpy" and call["progress"] is False
    assert call["grids"].c0[0].size == 21


def test_explicit_weights_and_concept_flag(tmp_path, capsys, fake_segregated):
    calls, _ = fake_segregated
    p = small_spec(tmp_path)
    p.write_text(p.read_text().replace('weights = "negishi"', "weights = [1.0, 2.0]"))
    assert main(["solve", str(p), "--json", "--concept", "segregated"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "externality" not in d and "segregated" in d
    np.testing.assert_array_equal(calls[0]["weights"], [1.0, 2.0])
    assert calls[0]["backend"] == "highs" and calls[0]["progress"] is False  # stderr is not a terminal here


@pytest.mark.parametrize("flags, shown", [([], True), (["--quiet"], False), (["-v"], False), (["--json"], True)])
def test_progress_only_on_a_terminal(tmp_path, capsys, monkeypatch, fake_segregated, flags, shown):
    """Progress bars (segex.progress) need stderr to be a terminal, and neither --quiet nor
    --verbose (whose solver log is the progress then)."""
    calls, _ = fake_segregated
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["solve", str(small_spec(tmp_path)), "--concept", "segregated", *flags]) == 0
    assert calls[0]["progress"] is shown


def test_failed_certificate_exit_1_still_reports(tmp_path, capsys, fake_segregated):
    _, state = fake_segregated
    state["passed"] = False
    out = tmp_path / "res.nc"
    assert main(["solve", str(small_spec(tmp_path)), "--json", "--concept", "segregated", "--out", str(out)]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["certificate"]["passed"] is False
    assert d["certificate"]["segregated.duality_gap"]["passed"] is False
    assert out.exists()
    assert main(["solve", str(small_spec(tmp_path)), "--concept", "segregated", "--quiet"]) == 1
    text = capsys.readouterr().out
    assert "certificate: FAILED: duality_gap (residual 1.00e-03 > tol 1.00e-08)" in text


def test_text_report_segregated(tmp_path, capsys, fake_segregated):
    assert main(["solve", str(small_spec(tmp_path)), "--concept", "segregated", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "certificate: passed (max residual" in text
    assert "active exchanges: 1 of 2" in text
    assert "0.5375" in text and "0.7729" in text
    assert "LP: 10 rows x 200 columns, 900 nonzeros" in text
    for col in ("k", "c0", "c1", "theta", "utility"):
        assert col in text


def test_out_writes_readable_file(tmp_path, capsys, fake_segregated, fake_externality):
    out = tmp_path / "res.nc"
    assert main(["solve", str(small_spec(tmp_path)), "--out", str(out), "--quiet"]) == 0
    res = read_netcdf(out)
    assert set(res) == {"externality", "segregated"}
    ds = res["segregated"]
    assert ds["active"].dtype == bool and ds["active"].values.tolist() == [True, False]
    assert [str(v) for v in ds["label"].values] == ["z=0.7729", "z=0.7979"]
    assert ds.attrs["certificate"] == {"passed": True} and ds.attrs["negishi"] is True
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failing_write_leaves_nothing(tmp_path, capsys, monkeypatch, fake_segregated, fake_externality):
    real = xr.Dataset.to_netcdf
    n = {"calls": 0}

    def flaky(self, *args, **kwargs):
        n["calls"] += 1
        if n["calls"] == 2:  # the first group is already in the temporary file
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", flaky)
    out = tmp_path / "res.nc"
    assert main(["solve", str(small_spec(tmp_path)), "--out", str(out), "--json", "--quiet"]) == 2
    captured = capsys.readouterr()
    json.loads(captured.out)  # results were still printed before the write
    assert captured.err.startswith("segex: error: cannot write") and "No space left" in captured.err
    assert list(tmp_path.iterdir()) == [tmp_path / "env.toml"]


# ---------------------------------------------------------------------------------- store
def test_store_roundtrip_and_atomic_failure(tmp_path, monkeypatch):
    ds = FakeResult().to_dataset()
    ds["flag"] = ((), np.bool_(True))
    ds["x"] = ("type", np.array([1.5, math.nan]))
    ds["x"].attrs["meta"] = {"a": [1, 2]}
    out = tmp_path / "a.nc"
    write_netcdf(out, {"one": ds, "two": ds.drop_vars("label")})
    back = read_netcdf(out)
    assert list(back) == ["one", "two"]
    assert bool(back["one"]["flag"]) is True and back["one"]["flag"].dtype == bool
    assert back["one"]["x"].attrs["meta"] == {"a": [1, 2]}
    assert np.isnan(back["one"]["x"].values[1])
    xr.testing.assert_identical(back["two"]["k"], ds["k"])

    # overwrite fails half-way: the old file is untouched and no temporary file remains
    before = out.read_bytes()

    def boom(self, *a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        write_netcdf(out, {"one": ds})
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc"]
    new = tmp_path / "b.nc"
    with pytest.raises(RuntimeError):
        write_netcdf(new, {"one": ds})
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc"]


# ---------------------------------------------------------------------------------- entry points
def test_module_version_subprocess():
    r = subprocess.run([sys.executable, "-m", "segex.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"segex {__version__}"


@pytest.mark.skipif(shutil.which("segex") is None, reason="console script not installed")
def test_console_script_bad_file(tmp_path):
    r = subprocess.run(["segex", "solve", str(tmp_path / "nope.toml")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("segex: error: ") and "Traceback" not in r.stderr
