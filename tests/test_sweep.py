"""`segex sweep`: parameter paths, validation before any solve, one labelled dataset with a
dimension per parameter, and resumption that never recomputes or loses a finished point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segex.cli import main
from segex.economies.liquidity import reduced
from segex.errors import SpecError
from segex.io.config import load_spec, parse_spec
from segex.io.store import read_netcdf
from segex.sweep import combine, load_sweep, parse_param, parts_dir, run_sweep, set_path

ROOT = Path(__file__).resolve().parents[1]
FGT = ROOT / "grids" / "fgt_discount.toml"
ENV1 = ROOT / "grids" / "kt_env1.toml"


def test_param_values_and_dims():
    p = parse_param("types[1].endowment[0]=1:4:31")
    assert p.path == "types[1].endowment[0]" and p.dim == "types_1_endowment_0"
    np.testing.assert_allclose(p.values, np.linspace(1, 4, 31))
    assert parse_param("R_hat=1.5,2").values == (1.5, 2.0)


@pytest.mark.parametrize("text, phrase", [
    ("R_hat", "PATH=start:stop:num"),
    ("R_hat=1:2", "start:stop:num"),
    ("R_hat=1:2:0", "positive integer"),
    ("R_hat=a,b", "comma list"),
    ("types[1.endowment=1,2", "cannot read the TOML path"),
    ("R_hat=1,inf", "finite"),
])
def test_bad_param_is_named(text, phrase):
    with pytest.raises(SpecError) as err:
        parse_param(text)
    assert err.value.field == "--param" and phrase in str(err.value)


def test_set_path_numbers_arrays_and_weights():
    data = {"economy": "collateral", "types": [{"endowment": [[3, 3], [1, 1]]}, {"endowment": [[1, 1], [3, 3]]}],
            "solve": {}}
    set_path(data, "types[1].endowment[0]", 2.5)  # an array of numbers: every entry
    assert data["types"][1]["endowment"] == [[2.5, 2.5], [3, 3]]
    set_path(data, "types[0].endowment[1][0]", 0.5)
    assert data["types"][0]["endowment"][1] == [0.5, 1]
    set_path(data, "solve.weights[1]", 2.0)  # "negishi" (absent) becomes weights of one: a Pareto frontier
    assert data["solve"]["weights"] == [1.0, 2.0]
    for path, phrase in [("types[2].share", "out of range"), ("types[0].endowment", "not a number"),
                         ("grid.k.n", "has no grid")]:
        with pytest.raises(SpecError, match=phrase):
            set_path(data, path, 1.0)


def test_every_point_is_validated_before_any_solve(tmp_path):
    with pytest.raises(SpecError) as err:  # rho * R_hat must exceed 1 at every point
        load_sweep(ROOT / "grids" / "kt_diamond_dybvig.toml", ["R_hat=0.9:1.5:3"])
    assert err.value.field == "rho" and "(at R_hat = 0.9)" in str(err.value)  # the file has rho = 0.95
    assert not list(tmp_path.iterdir())


def test_sweep_matches_point_solves(tmp_path):
    """The combined dataset holds, at each parameter value, what a solve at that value gives."""
    sweep = load_sweep(FGT, ["R_hat=1.25:2.0:4", "theta[1]=1.2,1.5"], concepts=["CE3", "SP3"])
    out = tmp_path / "s.nc"
    summary = run_sweep(sweep, out, workers=0, progress=False)
    assert summary == {**summary, "points": 8, "computed": 8, "reused": 0, "failed": 0, "uncertified": 0}
    res = read_netcdf(out)
    assert set(res) == {"sweep", "CE3", "SP3"}
    assert res["SP3"]["welfare"].dims == ("R_hat", "theta_1")
    assert res["SP3"]["R_hat"].attrs["long_name"] == "R_hat"
    for R_hat in (1.25, 2.0):
        for th in (1.2, 1.5):
            data = sweep.point_data({"R_hat": R_hat, "theta[1]": th})
            e = parse_spec(data).economy
            assert float(res["CE3"]["welfare"].sel(R_hat=R_hat, theta_1=th)) == pytest.approx(
                reduced.ce3(e).welfare, abs=1e-14)
            sp3 = float(res["SP3"]["welfare"].sel(R_hat=R_hat, theta_1=th))
            assert reduced.ce3(e).welfare - 1e-9 <= sp3 <= reduced.sp3(e).welfare + 1e-9
    # the refined grids differ between points: positional dimensions with their values kept
    assert "R_value" in res["SP3"].coords and "R" not in res["SP3"].indexes
    assert res["SP3"]["R_value"].dims == ("R", "R_hat", "theta_1")


def test_a_different_sweep_cannot_reuse_the_parts(tmp_path):
    out = tmp_path / "s.nc"
    run_sweep(load_sweep(FGT, ["R_hat=1.5,2"], concepts=["CE3"]), out, workers=0, progress=False)
    again = run_sweep(load_sweep(FGT, ["R_hat=1.5,2"], concepts=["CE3"]), out, workers=0, progress=False)
    assert again["computed"] == 0 and again["reused"] == 2
    with pytest.raises(SpecError, match="different sweep"):
        run_sweep(load_sweep(FGT, ["R_hat=1.5,3"], concepts=["CE3"]), out, workers=0, progress=False)


def test_failed_points_are_recorded_not_fatal(tmp_path, monkeypatch):
    import segex.sweep as sw

    real = sw.solve_point

    def flaky(sweep, values):
        if values["R_hat"] == 2.0:
            raise_at = dict(values)
            return {"datasets": {}, "passed": False, "seconds": 0.0, "error": f"boom at {raise_at}"}
        return real(sweep, values)

    monkeypatch.setattr(sw, "solve_point", flaky)
    out = tmp_path / "s.nc"
    summary = run_sweep(load_sweep(FGT, ["R_hat=1.5,2"], concepts=["CE3"]), out, workers=0, progress=False)
    assert summary["failed"] == 1
    res = read_netcdf(out)
    assert str(res["sweep"]["error"].sel(R_hat=2.0).values).startswith("boom")
    assert np.isnan(float(res["CE3"]["welfare"].sel(R_hat=2.0)))
    assert np.isfinite(float(res["CE3"]["welfare"].sel(R_hat=1.5)))


def test_pareto_weights_sweep_on_the_collateral_economy(tmp_path):
    """solve.weights[1] on a "negishi" file: the planner at each weight (a Pareto frontier);
    a higher weight on type 1 (types[1], the second) never lowers its utility (to the LP's tolerance)."""
    toml = ENV1.read_text().split("[grid]")[0] + SMALL_GRID
    f = tmp_path / "env1.toml"
    f.write_text(toml)
    assert load_spec(f).solve.weights == "negishi"
    out = tmp_path / "frontier.nc"
    sweep = load_sweep(f, ["solve.weights[1]=0.5,1,2"], concepts=["segregated"])
    summary = run_sweep(sweep, out, workers=0, progress=False)
    assert summary["failed"] == 0 and summary["uncertified"] == 0
    seg = read_netcdf(out)["segregated"]
    u = seg["utility"]
    assert u.dims == ("solve_weights_1", "type")
    assert np.all(np.diff(u.sel(type=1).values) > -1e-9) and np.all(np.diff(u.sel(type=0).values) < 1e-9)
    # the state lotteries' supports differ in size between points: padded with NaN, and
    # every point's probabilities still sum to one per type and state
    prob = seg["x1_prob"]
    assert prob.dims == ("solve_weights_1", "x1_point") and bool(prob.isnull().any())
    for w in prob["solve_weights_1"].values:
        p = prob.sel(solve_weights_1=w).values
        n = int(np.isfinite(p).sum())
        assert p[:n].sum() == pytest.approx(seg.sizes["type"] * seg.sizes["state"], rel=1e-9)


SMALL_GRID = """[grid]
c = { n = 61 }
k = { min = 0.0, max = 2.5, n = 11 }
z = { min = 0.6, max = 1.0, n = 11 }
a = { min = -1.0, max = 1.0, n = 5 }
"""


def _cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "segex.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, **kw)


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    """Kill a Dask sweep after two points are on disk, run the same command again: the
    finished points are reused, the rest computed, and the result equals an uninterrupted
    run's, value for value (the solves are deterministic)."""
    args = [str(FGT), "--param", "R_hat=1.2:2.2:6", "--concept", "SP3", "--tol", "1e-8", "--workers", "1",
            "--quiet", "--json"]
    out = tmp_path / "cut.nc"
    proc = _cli(["sweep", *args, "--out", str(out)])
    parts = parts_dir(out)
    deadline = time.time() + 240
    while len(list(parts.glob("point-*.nc"))) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in parts.glob("point-*.nc")}
    assert 2 <= len(kept) < 6 and not out.exists()

    import json

    resumed = _cli(["sweep", *args, "--out", str(out)])
    summary = json.loads(resumed.communicate(timeout=600)[0])
    assert resumed.returncode == 0
    assert summary["reused"] == len(kept) and summary["computed"] == 6 - len(kept)
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("point-*.nc") if p.name in kept} == kept

    whole = tmp_path / "whole.nc"
    assert main(["sweep", *args, "--out", str(whole), "--workers", "0"]) == 0
    a, b = read_netcdf(out), read_netcdf(whole)
    for group in ("SP3", "sweep"):
        for name in a[group].data_vars:
            if name == "seconds":
                continue
            np.testing.assert_array_equal(a[group][name].values, b[group][name].values, err_msg=f"{group}.{name}")
