"""The Python API matches the command line: ``segex.load`` / ``segex.solve`` give the
same numbers, JSON and files as ``segex solve``; results print one status line, not a
dataclass dump."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

import segex
from segex.certificate import Certificate
from segex.cli import main
from segex.io.config import RunSpec
from segex.report import jsonable
from segex.result import ResultMixin

ROOT = Path(__file__).resolve().parents[1]
ENV2 = ROOT / "grids" / "kt_env2.toml"


@pytest.fixture(scope="module")
def env2_externality():
    return segex.solve(ENV2, concepts=["externality"])


def test_the_api_is_exported():
    assert {"load", "solve", "Results"} <= set(segex.__all__)
    assert callable(segex.open) and "open" not in segex.__all__  # a star import keeps the built-in open


def test_load_gives_the_spec_and_options():
    spec = segex.load(ENV2)
    assert isinstance(spec, RunSpec) and spec.kind == "collateral" and spec.name == "KT Environment 2"
    assert spec.solve.concepts == ("externality", "segregated") and spec.solve.backend == "highs"
    assert spec.solve.weights == "negishi" and spec.economy.H == 2
    assert repr(spec).startswith("<RunSpec collateral 'KT Environment 2' from ") and len(repr(spec)) < 200


def test_load_errors_are_the_command_lines(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(ENV2.read_text().replace("share = 0.5", "share = -0.5", 1))
    with pytest.raises(segex.SpecError) as err:
        segex.load(bad)
    assert err.value.field == "types[0].share"


def test_solve_returns_a_mapping_of_results(env2_externality):
    res = env2_externality
    assert isinstance(res, Mapping) and list(res) == ["externality"] and len(res) == 1
    assert res.passed and res.lp is None and res.spec.kind == "collateral"
    assert set(res.certificate.checks) == {f"externality.{k}" for k in res["externality"].certificate.checks}
    with pytest.raises(KeyError, match="solved externality"):
        res["segregated"]


def test_to_dict_is_the_json_of_the_command_line(env2_externality, capsys):
    capsys.readouterr()
    assert main(["solve", str(ENV2), "--json", "--concept", "externality", "--quiet"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert json.loads(json.dumps(jsonable(env2_externality.to_dict()))) == cli


def test_results_print_one_line_per_concept(env2_externality):
    text = str(env2_externality)
    lines = text.splitlines()
    n = len(env2_externality.certificate.checks)
    assert lines[0].startswith("KT Environment 2 (collateral, ") and lines[0].endswith(f"certified ({n} checks)")
    assert lines[1].startswith(f"  externality: certified ({n} checks); p0 = 1.687") and "K = 0.4602" in lines[1]
    r = env2_externality["externality"]
    assert str(r) == f"externality: certified ({n} checks); p0 = 1.6872, K = 0.46028"
    assert repr(r) == f"<ExternalityResult {r}>" and len(repr(env2_externality)) < 400


def test_a_segregated_result_prints_its_lp():
    res = segex.solve(ROOT / "grids" / "kt_diamond_dybvig.toml", concepts=["segregated"])
    line = str(res["segregated"])
    assert line.startswith("segregated: certified (") and ", LP " in line and " nnz) " in line
    assert "welfare = " in line and "nan" not in line and len(line) < 250


def test_solve_takes_the_command_lines_overrides_and_a_dict():
    import tomllib

    raw = tomllib.loads(ENV2.read_text())
    raw["gamma"] = 3.0
    res = segex.solve(raw, concepts=["externality"])
    assert res.spec.path is None and res.spec.economy.gamma == 3.0 and res.passed
    with pytest.raises(segex.SpecError, match="offers externality, segregated"):
        segex.solve(ENV2, concepts=["SP3"])
    with pytest.raises(segex.SpecError, match="takes no method"):
        segex.solve(ROOT / "grids" / "fgt_discount.toml", method="colgen")
    with pytest.raises(segex.SegexError, match="grid file's path"):
        segex.solve(42)


def test_save_writes_what_segex_solve_out_writes(env2_externality, tmp_path):
    out = env2_externality.save(tmp_path / "r.nc")
    tree = segex.open(out)
    assert tree.attrs["command"] == f"segex.solve({str(ENV2)!r}, concepts=['externality'])"
    assert tree.attrs["grid_file"] == str(ENV2) and tree.attrs["groups"] == "externality"
    assert float(tree["externality"]["p0"]) == env2_externality["externality"].p0
    assert main(["check", str(out)]) == 0


class _Fake(ResultMixin):
    CONCEPT = "fake"

    def __init__(self, cert, lp=None, broken=False):
        self.certificate, self.lp, self.broken = cert, lp, broken

    def to_dict(self):
        if self.broken:
            raise RuntimeError("no read-back")
        return {"p0": 2.0, "R": float("nan"), "flag": True, "K": 0.5, "welfare": -1.0, "x": 3.0, "y": 4.0}


def test_the_summary_names_failed_checks_and_never_raises():
    cert = Certificate()
    cert.add("budget", 1e-3, 1e-9)
    cert.add("clearing", 0.0, 1e-9)
    lp = {"rows": 3, "cols": 4, "nnz": 5, "build_s": 0.25, "solve_s": 0.5}
    assert str(_Fake(cert, lp)) == ("fake: NOT certified: budget failed (of 2 checks), LP 3×4 (5 nnz) 0.8 s; "
                                    "p0 = 2, K = 0.5, welfare = -1, x = 3")  # NaN and bools left out
    assert str(_Fake(None, broken=True)) == "fake: no certificate (no headline numbers: RuntimeError)"
