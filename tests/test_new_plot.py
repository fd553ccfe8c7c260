"""``segex new ECONOMY`` (a commented starter grid file per economy, which parses) and
``segex plot FILE.nc`` (the economy's standard figures as PNGs), through the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import segex
from segex.registry import economies

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(economies())


def _segex(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "segex", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**__import__("os").environ, "MPLBACKEND": "Agg",
                                                "PYTHONPATH": str(ROOT)})


def test_every_economy_has_a_starter_and_a_plot():
    for name, e in economies().items():
        assert e.starter_text(), name
        assert e.plotter() is not None, name


@pytest.mark.parametrize("name", NAMES)
def test_new_writes_a_starter_that_parses(name, tmp_path):
    run = _segex("new", name)
    assert run.returncode == 0, run.stderr
    path = tmp_path / "my.toml"
    path.write_text(run.stdout)
    spec = segex.load(path)
    assert spec.kind == name
    assert sum(line.lstrip().startswith("#") or "#" in line for line in run.stdout.splitlines()) > 10


def test_new_lists_economies():
    run = _segex("new")
    assert run.returncode == 0
    assert [line.split(" -- ")[0] for line in run.stdout.splitlines()] == list(economies())


def test_new_unknown_economy_one_line():
    run = _segex("new", "colateral")
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "collateral" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("name", NAMES)
def test_plot_a_solved_starter(name, tmp_path):
    starter = tmp_path / f"{name}.toml"
    starter.write_text(_segex("new", name).stdout)
    out = tmp_path / f"{name}.nc"
    solved = _segex("solve", str(starter), "--out", str(out), "--quiet")
    assert solved.returncode == 0, solved.stderr
    figures = tmp_path / "figures"
    figures.mkdir()
    run = _segex("plot", str(out), "--out-dir", str(figures))
    assert run.returncode == 0, run.stderr
    paths = [Path(p) for p in run.stdout.splitlines()]
    assert paths
    for p in paths:
        assert p.parent == figures and p.name.startswith(f"{name}_") and p.suffix == ".png"
        assert p.stat().st_size > 1000


def test_plot_bad_files_one_line(tmp_path):
    text = tmp_path / "not.nc"
    text.write_text("economy = 'collateral'\n")
    for args in (["plot", str(text)], ["plot", str(tmp_path / "missing.nc")]):
        run = _segex(*args)
        assert run.returncode == 2 and run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_plot_file_without_economy(tmp_path):
    import xarray as xr

    path = tmp_path / "plain.nc"
    xr.Dataset({"x": ("i", [1.0, 2.0])}).to_netcdf(path, engine="h5netcdf")
    run = _segex("plot", str(path))
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "economy" in run.stderr
