"""Result files open the way people open them: the root says what the file is and how to
open it (and holds the version, time, grid file and command); ``segex.open`` gives the
tree; plain ``xr.open_dataset`` reads every group back as written (booleans included);
every coordinate has ``long_name`` and ``units``; types are numbered from 0 in TOML, JSON,
netCDF and the text report; files get the umask's permissions; ``segex check`` says
plainly that it checks single results when given a sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import segex
from segex.cli import main
from segex.io.config import load_spec
from segex.io.labels import unlabelled
from segex.io.store import read_netcdf, write_netcdf

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "grids"

#: One run per economy of grids/*.toml (and per result class), on its fastest grid file.
CASES = {
    "collateral-externality": ("kt_env2.toml", {"concepts": ["externality"]}, False),
    "collateral": ("kt_env2.toml", {}, True),
    "collateral-continuum": ("kt_env2.toml", {"concepts": ["segregated"], "tol": 1e-6}, True),
    "incomplete_markets": ("kt_incomplete.toml", {}, True),
    "liquidity": ("fgt_discount.toml", {"concepts": ["SP1", "SP2", "CE3", "SP3", "segregated"]}, True),
    "diamond_dybvig": ("kt_diamond_dybvig.toml", {}, False),
    "default_reserves": ("pv_baseline.toml", {"concepts": ["autarky", "GED", "RR", "thresholds"]}, False),
    "default_reserves-lp": ("pv_baseline.toml", {"concepts": ["contracts", "planner"]}, True),
}


def _cases():
    return [pytest.param(name, id=name, marks=[pytest.mark.slow] if slow else []) for name, (_, _, slow) in
            CASES.items()]


def test_every_economy_of_the_grid_files_is_covered():
    kinds = {load_spec(f).kind for f in GRIDS.glob("*.toml")}
    assert kinds == {load_spec(GRIDS / f).kind for f, _, _ in CASES.values()}


@pytest.mark.parametrize("case", _cases())
def test_a_saved_result_round_trips_labelled(case, tmp_path):
    file, kwargs, _ = CASES[case]
    res = segex.solve(GRIDS / file, **kwargs)
    out = res.save(tmp_path / "r.nc")
    memory = res.to_datasets()
    tree = segex.open(out)
    assert set(tree.children) == set(res) and tree.attrs["groups"] == ", ".join(res)
    for concept, result in res.items():
        plain = xr.open_dataset(out, group=concept).load()  # no segex on the reading side
        xr.testing.assert_equal(plain, memory[concept])
        assert not unlabelled(plain), f"{concept}: coordinates without long_name and units"
        for name, var in memory[concept].variables.items():
            assert plain[name].dtype == var.dtype or var.dtype.kind in "UO", (concept, name)
        ds = tree[concept].to_dataset()
        assert all(isinstance(v, (bool, np.bool_)) for k, v in ds.attrs.items()
                   if k in ("equilibrium", "certificate_passed"))
        _types_agree(ds, result.to_dict())


def _types_agree(ds, d: dict) -> None:
    """netCDF's type h is the JSON's types[h] (or entry h of a per-type list)."""
    if "type" not in ds.dims:
        return
    n = ds.sizes["type"]
    assert ds["type"].values.tolist() == list(range(n))
    if "x1_type" in ds:
        assert set(ds["x1_type"].values.tolist()) <= set(range(n))
    for h in range(n):
        if isinstance(d.get("types"), list):
            assert float(ds["utility"].sel(type=h)) == pytest.approx(d["types"][h]["utility"], rel=1e-12)
        elif isinstance(d.get("c1"), list):
            assert float(ds["c1"].sel(type=h)) == pytest.approx(d["c1"][h], rel=1e-12)


def test_the_root_says_what_the_file_is(tmp_path, capsys):
    out = tmp_path / "env2.nc"
    argv = ["solve", str(GRIDS / "kt_env2.toml"), "--concept", "externality", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    root = xr.open_dataset(out).attrs  # what a user sees first
    assert root["groups"] == "externality" and "segex.open" in root["description"]
    assert "xr.open_dataset(FILE, group='externality')" in root["description"]
    assert root["segex_version"] == segex.__version__ and root["segex_kind"] == "result"
    created = datetime.fromisoformat(root["created"].replace("Z", "+00:00"))
    assert root["created"].endswith("Z") and abs((datetime.now(timezone.utc) - created).total_seconds()) < 600
    assert root["grid_file"] == str(GRIDS / "kt_env2.toml") and root["command"] == "segex " + " ".join(argv)
    assert root["summary"].startswith("externality: certified (")
    assert not xr.open_dataset(out).variables  # no data at the root


def test_types_are_numbered_from_zero_in_the_text_report(capsys):
    capsys.readouterr()
    assert main(["solve", str(GRIDS / "kt_env2.toml"), "--concept", "externality", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["type"])
    assert [lines[head + 1].split()[0], lines[head + 2].split()[0]] == ["0", "1"]


def test_booleans_are_booleans(tmp_path):
    ds = xr.Dataset({"active": ("exchange", np.array([True, False])), "x": ("exchange", [1.0, 2.0])},
                    coords={"exchange": ["a", "b"]}, attrs={"equilibrium": True, "info": {"k": 1}})
    out = write_netcdf(tmp_path / "b.nc", {"g": ds})
    plain = xr.open_dataset(out, group="g")
    assert plain["active"].dtype == bool and plain.attrs["equilibrium"] == 1
    back = segex.open(out)["g"]
    assert back["active"].dtype == bool and back.attrs["equilibrium"] is True and back.attrs["info"] == {"k": 1}
    # files of older segex: int8 with segex_dtype = "bool"
    old = xr.Dataset({"active": ("exchange", np.array([1, 0], dtype=np.int8), {"segex_dtype": "bool"})})
    old.to_netcdf(tmp_path / "old.nc", group="g", engine="h5netcdf")
    assert read_netcdf(tmp_path / "old.nc")["g"]["active"].dtype == bool


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o002, 0o664)])
def test_files_get_the_umasks_permissions(tmp_path, umask, mode):
    out = tmp_path / "r.nc"
    code = (f"import os, sys; os.umask({umask:#o}); from segex.cli import main; "
            f"sys.exit(main(['solve', {str(GRIDS / 'kt_env2.toml')!r}, '--concept', 'externality', '--quiet', "
            f"'--out', {str(out)!r}]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == mode


@pytest.fixture(scope="module")
def sweep_nc(tmp_path_factory):
    """A two-point sweep written as netCDF (and its parts), and the sweep itself."""
    from segex.sweep import load_sweep, run_sweep

    out = tmp_path_factory.mktemp("sweep") / "s.nc"
    sweep = load_sweep(GRIDS / "fgt_discount.toml", ["R_hat=1.4,1.6"], concepts=["SP1", "CE3"])
    assert run_sweep(sweep, out, workers=0, progress=False, command="segex sweep ...")["failed"] == 0
    return out, sweep


def test_check_says_it_checks_single_results_given_a_sweep(sweep_nc, capsys):
    from segex.sweep import parts_dir

    out, _ = sweep_nc
    root = xr.open_dataset(out).attrs
    assert root["segex_kind"] == "sweep" and root["command"] == "segex sweep ..." and "R_hat" in root["params"]
    assert xr.open_dataset(out, group="sweep")["passed"].dtype == bool
    for group in ("SP1", "CE3"):
        assert not unlabelled(xr.open_dataset(out, group=group)), group
    capsys.readouterr()
    assert main(["check", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a sweep" in err[0] and "checks single results" in err[0]
    part = sorted(parts_dir(out).glob("point-*.nc"))[0]
    assert xr.open_dataset(part).attrs["segex_kind"] == "sweep point"
    assert main(["check", str(part), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"SP1", "CE3"}


def test_check_says_it_checks_single_results_given_a_zarr_store(tmp_path, capsys, monkeypatch):
    """Only sweeps write zarr: a store is refused in one line whether or not zarr is installed."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / ".zgroup").write_text('{"zarr_format": 2}')
    capsys.readouterr()
    assert main(["check", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a sweep" in err[0] and "checks single results" in err[0]
    monkeypatch.setitem(sys.modules, "zarr", None)  # segex.open says what it needs to open a store
    with pytest.raises(segex.SegexError, match=r"reading \.zarr needs the zarr package: pip install zarr"):
        segex.open(store)


def test_a_zarr_sweep_has_the_root_of_a_result_and_opens(sweep_nc, tmp_path):
    """``segex sweep --out OUT.zarr``: the store's root carries what a netCDF result's root
    does (segex version, creation time, grid file, command, the groups), and ``segex.open``
    opens it as it opens the netCDF sweep, booleans and JSON attributes restored."""
    pytest.importorskip("zarr")
    from segex.sweep import combine, parts_dir

    nc, sweep = sweep_nc
    store = tmp_path / "s.zarr"
    combine(sweep, parts_dir(nc), store, command="segex sweep ... --out s.zarr")  # the same parts, not re-solved
    root = xr.open_zarr(store).attrs  # plain xarray
    want = xr.open_dataset(nc).attrs
    for key in ("title", "groups", "description", "segex_version", "grid_file", "segex_kind", "params"):
        assert root[key] == want[key], key
    assert root["command"] == "segex sweep ... --out s.zarr" and root["created"].endswith("Z")
    zarr_tree, nc_tree = segex.open(store), segex.open(nc)
    assert list(zarr_tree.children) == list(nc_tree.children) == ["sweep", "SP1", "CE3"]
    assert zarr_tree.attrs["segex_version"] == segex.__version__
    for group in nc_tree.children:
        z, n = zarr_tree[group].to_dataset(), nc_tree[group].to_dataset()
        xr.testing.assert_identical(z.drop_encoding(), n.drop_encoding())
    assert zarr_tree["sweep"]["passed"].dtype == bool
