"""The economy registry: the front end (CLI, run, sweep, check, io, the report) names no economy and no
concept, every registered economy's grid files load, results follow one protocol, and a
new economy registered from outside segex runs through `segex solve` and `segex check`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from segex import registry
from segex.certificate import Certificate
from segex.cli import main
from segex.errors import SpecError
from segex.io import validate as v
from segex.io.config import RunSpec, load_spec, parse_solve

ROOT = Path(__file__).resolve().parents[1]
FRONT = ["segex/cli.py", "segex/run.py", "segex/check.py", "segex/sweep.py", "segex/registry.py", "segex/report.py",
         "segex/progress.py",
         *[str(p.relative_to(ROOT)) for p in (ROOT / "segex" / "io").glob("*.py")]]


def test_front_end_names_no_economy_and_no_concept():
    names = set(registry.economies())
    concepts = {c for e in registry.economies().values() for c in e.concept_names}
    for path in FRONT:
        tree = ast.parse((ROOT / path).read_text())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not strings & names, f"{path} names economies {strings & names}"
        assert not strings & concepts, f"{path} names concepts {strings & concepts}"


@pytest.mark.parametrize("path", sorted((ROOT / "grids").glob("*.toml")), ids=lambda p: p.stem)
def test_every_grid_file_names_a_registered_economy(path):
    spec = load_spec(path)
    assert spec.kind in registry.economies()
    assert set(spec.solve.concepts) <= set(spec.definition.concept_names)
    if spec.definition.grids is not None:  # economies solved without a grid have none
        spec.build_grids()


@pytest.mark.parametrize("file,concept", [("kt_incomplete", "externality"), ("kt_env1", "externality"),
                                          ("fgt_discount", "SP1"), ("kt_diamond_dybvig", "externality")])
def test_results_follow_one_protocol(file, concept):
    from segex.run import datasets, solve_spec

    spec = load_spec(ROOT / "grids" / f"{file}.toml")
    res = solve_spec(spec, concepts=[concept])[concept]
    assert isinstance(res, registry.Result)
    assert isinstance(res.to_dict(), dict) and res.certificate.passed
    ds = datasets({concept: res}, spec)[concept]
    assert isinstance(ds, xr.Dataset) and ds.attrs["segex_concept"] == concept


def test_unknown_economy_lists_the_registered_ones():
    with pytest.raises(SpecError) as err:
        registry.get("incomplete_market")
    assert "did you mean 'incomplete_markets'" in str(err.value)
    assert all(repr(n) in str(err.value) for n in registry.economies())


# ---------------------------------------------------------------------------------- an outside economy
class ToyResult:
    """Autarky of a pure-exchange economy: each type consumes its endowment."""

    lp = None

    def __init__(self, endowment):
        self.endowment = np.asarray(endowment, float)
        self.certificate = Certificate()
        self.certificate.add("feasible", 0.0, 1e-12, "autarky is feasible")

    def to_dict(self):
        return {"types": [{"c": e.tolist()} for e in self.endowment]}

    def to_dataset(self):
        return xr.Dataset({"c": (("type", "good"), self.endowment)})


def toy_parse(data, name, path):
    v.check_keys(data, ("economy", "name", "endowment", "solve"), "")
    e = v.matrix(v.require(data, "endowment", "", "endowment = [[1, 2]]"), "endowment", 2, "endowment = [[1, 2]]")
    econ = type("Toy", (), {"name": name, "endowment": e})()
    return RunSpec(economy=econ, kind="toy_autarky", solve=parse_solve(data, "toy_autarky", econ), path=path)


def toy_solve(spec, options, concept, progress=False):
    return ToyResult(spec.economy.endowment)


def toy_recheck(spec, ds, concept):
    cert = Certificate()
    cert.add("endowment", float(np.abs(ds["c"].values - np.array(spec.economy.endowment)).max()), 1e-12)
    return cert


@pytest.fixture
def toy():
    econ = registry.register(registry.Economy(
        name="toy_autarky", summary="autarky", parse=toy_parse,
        concepts=(registry.Concept("autarky", toy_solve, "no trade"),), recheck=toy_recheck))
    yield econ
    registry._REGISTRY.pop("toy_autarky")


def test_a_new_economy_runs_through_solve_and_check(toy, tmp_path, capsys):
    f = tmp_path / "toy.toml"
    f.write_text('economy = "toy_autarky"\nendowment = [[1, 2], [3, 4]]\n')
    out = tmp_path / "toy.nc"
    assert main(["solve", str(f), "--json", "--out", str(out), "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["economy"] == "toy" and d["lp"] is None and d["certificate"]["passed"]
    assert d["autarky"] == {"types": [{"c": [1.0, 2.0]}, {"c": [3.0, 4.0]}]}
    assert main(["check", str(out)]) == 0
    assert main(["solve", str(f), "--method", "grid", "--quiet"]) == 2  # an option it does not take
    assert "--method: the toy_autarky economy takes no method option" in capsys.readouterr().err


def test_a_broken_economy_package_is_named_not_fatal(tmp_path, monkeypatch, capsys):
    """An economy package that fails to import is recorded; every other economy still works
    and asking for the broken one says why it is missing."""
    import segex.economies

    pkg = tmp_path / "broken_economy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('needs a library this machine lacks')\n")
    monkeypatch.setattr(segex.economies, "__path__", [*segex.economies.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_DISCOVERED", False)
    monkeypatch.setattr(registry, "_FAILED", {})
    assert "incomplete_markets" in registry.economies()
    assert "RuntimeError: needs a library" in registry._FAILED["segex.economies.broken_economy"]
    with pytest.raises(SpecError, match="not loaded: segex.economies.broken_economy"):
        registry.get("broken")
    assert main(["solve", str(ROOT / "grids" / "kt_incomplete.toml"), "--concept", "externality", "--quiet"]) == 0
    capsys.readouterr()
