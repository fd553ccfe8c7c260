"""Grid files and `segex solve` for the liquidity economies: FGT's (SP1, SP2, CE3, SP3,
segregated) and KT Section 3's Diamond-Dybvig economy with retrade (externality,
segregated) -- the JSON contract, netCDF output, and bad input naming its field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segex.cli import main
from segex.economies.liquidity import LiquidityEconomy
from segex.economies.liquidity import closed_forms as cf
from segex.errors import SpecError
from segex.io.config import load_spec, parse_spec
from segex.io.store import read_netcdf

GRIDS = Path(__file__).resolve().parents[1] / "grids"
FGT_FILES = ["fgt_discount", "fgt_liquidity", "fgt_valuation_neutral", "fgt_diamond_dybvig"]


@pytest.mark.parametrize("stem", FGT_FILES + ["kt_diamond_dybvig"])
def test_shipped_liquidity_grid_files_load(stem):
    spec = load_spec(GRIDS / f"{stem}.toml")
    assert isinstance(spec.economy, LiquidityEconomy)
    assert spec.kind == ("diamond_dybvig" if stem.startswith("kt") else "liquidity")
    grids = spec.build_grids()
    assert spec.economy.R_hat in grids.R and spec.economy.e in grids.I  # CE3 is on the grid
    assert spec.solve.tol == 1e-9


def test_fgt_discount_json_contract(capsys):
    """One JSON object: economy, lp, certificate, and FGT's four concepts in FGT's symbols."""
    assert main(["solve", str(GRIDS / "fgt_discount.toml"), "--json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert list(d) == ["economy", "lp", "certificate", "SP1", "SP2", "CE3", "SP3"]
    assert d["economy"] == "FGT Example 1: discount-factor shocks"
    assert {"rows", "cols", "nnz", "build_s", "solve_s"} <= set(d["lp"])
    assert d["certificate"]["passed"] is True
    assert {"SP3.truth_telling", "SP3.private_markets", "SP3.continuum_gap", "SP1.planner_foc",
            "CE3.consumer_optimality"} <= set(d["certificate"])
    keys = {"R", "R_hat", "R_over_R_hat", "liquidity", "short_share", "welfare", "welfare_gain"}
    for concept in ("SP1", "CE3", "SP3"):
        assert keys <= set(d[concept])
    e = load_spec(GRIDS / "fgt_discount.toml").economy
    assert d["SP3"]["R_over_R_hat"] == pytest.approx(cf.log_wedge(e), abs=1e-4)  # 8/7: a cap
    assert d["SP3"]["welfare_gain"] == pytest.approx(cf.log_welfare_gain(e), abs=1e-8)
    assert d["SP1"]["welfare"] > d["SP2"]["welfare"] > d["SP3"]["welfare"] > d["CE3"]["welfare"]
    assert d["SP1"]["R"] is None  # no private market when types are observable


def test_kt_diamond_dybvig_json_and_netcdf(tmp_path, capsys):
    out = tmp_path / "dd.nc"
    assert main(["solve", str(GRIDS / "kt_diamond_dybvig.toml"), "--json", "--quiet", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert list(d) == ["economy", "lp", "certificate", "externality", "segregated"]
    assert d["externality"]["p"] == pytest.approx(1 / 1.5)
    seg = d["segregated"]
    assert seg["welfare_gain"] > 0 and seg["exchanges"]
    assert {"p", "R", "mass", "P_Delta", "Delta"} <= set(seg["exchanges"][0])
    back = read_netcdf(out)
    assert set(back) == {"externality", "segregated"}
    ds = back["segregated"]
    assert ds["lottery"].dims == ("type", "R", "I", "split")
    np.testing.assert_allclose(ds["lottery"].sum(("R", "I", "split")).values, 1.0, atol=1e-8)
    assert float(ds["welfare"]) == pytest.approx(seg["welfare"], rel=1e-12)


def test_concept_flag_and_text_report(capsys):
    assert main(["solve", str(GRIDS / "fgt_liquidity.toml"), "--concept", "CE3", "SP1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "== CE3 ==" in out and "== SP1 ==" in out and "SP3" not in out
    assert "certificate: passed" in out


@pytest.mark.parametrize("argv, phrase", [
    (["--concept", "SP3"], "collateral economy offers"),   # FGT's concept on KT's collateral file
    (["--method", "colgen"], None),
])
def test_concepts_belong_to_their_economy(argv, phrase, capsys):
    f = GRIDS / ("kt_env1.toml" if phrase else "fgt_discount.toml")
    assert main(["solve", str(f), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("segex: error:") and len(err.strip().splitlines()) == 1
    assert (phrase or "--method") in err


BASE = {"economy": "liquidity", "family": "discount", "theta": [0.5, 1.5], "prob": [0.5, 0.5], "gamma": 1.0,
        "R_hat": 1.5}
KT = {"economy": "diamond_dybvig", "pi": 0.25, "gamma": 2.0, "R_hat": 1.5}


def _with(base, **changes):
    d = json.loads(json.dumps(base))
    for path, value in changes.items():
        *head, last = path.split("__")
        t = d
        for k in head:
            t = t.setdefault(k, {})
        if value is _DROP:
            t.pop(last)
        else:
            t[last] = value
    return d


_DROP = object()


#: (parsed grid file, field the SpecError names, a phrase of its message); also run through
#: the CLI by tests/test_cli_bad_input.py
BAD_LIQUIDITY = [
    (_with(BASE, family="habit"), "family", "unknown preference family"),
    (_with(BASE, theta=_DROP), "theta", "missing required key"),
    (_with(BASE, prob=[0.5, 0.6]), "prob", "off by"),
    (_with(BASE, rho=0.9), "rho", "Diamond-Dybvig patient discount"),
    (_with(BASE, beta=0.9), "beta", "unknown key"),
    (_with(BASE, gamma="2"), "gamma", "must be a number"),
    (_with(BASE, grid__R={"min": 1.0, "max": 2.0, "n": 5}, grid__p={"min": 0.5, "max": 1.0, "n": 5}), "grid.p",
     "not both"),
    (_with(BASE, grid__I={"min": -1.0, "max": 2.0, "n": 5}), "grid.I", "positive"),
    (_with(BASE, grid__c={"min": 2.0, "max": 3.0, "n": 5}), "grid.c", "cannot hold"),
    (_with(BASE, grid__c={"min": -1.0, "max": 3.0, "n": 5}), "grid.c", "min must be >= 0"),
    (_with(BASE, grid__z={"min": 2.0, "max": 3.0, "n": 5}), "grid.z", "unknown key"),
    (_with(BASE, solve__concepts=["externality"]), "solve.concepts", "unknown solution concept"),
    (_with(BASE, solve__method="grid"), "solve.method", "unknown key"),
    (_with(KT, pi=1.2), "pi", "impatient share"),
    (_with(KT, R_hat=_DROP), "R_hat", "missing required key"),
    (_with(KT, rho=0.5), "rho", "rho * R_hat > 1"),
    (_with(KT, R_hat=0.9), "R_hat", "rho * R_hat > 1"),
    (_with(BASE, theta=[0.5, 0.5]), "theta", "distinct"),
    (_with(BASE, theta=[float("nan"), 1.5]), "theta", "finite"),
    (_with(BASE, R_hat=float("inf")), "R_hat", "positive and finite"),
    (_with(BASE, grid__I={"points": [0.5, float("nan")]}), "grid.I.points", "finite"),
    (_with(KT, grid__c={"min": 0.0, "max": 3.0, "n": 5}), "grid.c", "unknown key"),
    (_with(KT, solve__concepts=["SP3"]), "solve.concepts", "unknown solution concept"),
]


@pytest.mark.parametrize("data, field, phrase", BAD_LIQUIDITY)
def test_bad_liquidity_input_names_the_field(data, field, phrase):
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert err.value.field == field
    assert phrase in str(err.value)
