"""`segex check FILE.nc` re-verifies a saved result from the saved allocations alone, and
fails when a saved number is tampered with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segex.check import check_file
from segex.cli import main
from segex.errors import SegexError
from segex.io.store import read_netcdf, write_netcdf

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fgt_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "fgt.nc"
    assert main(["solve", str(ROOT / "grids" / "fgt_discount.toml"), "--quiet", "--out", str(out)]) == 0
    return out


def test_a_saved_result_checks(fgt_file, capsys):
    capsys.readouterr()
    assert main(["check", str(fgt_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["passed"] is True and set(d) >= {"SP1", "SP2", "CE3", "SP3"}
    assert {"truth_telling", "private_markets", "resources", "welfare_recomputed", "rights_prices"} <= set(d["SP3"])


@pytest.mark.parametrize("group, variable, check", [
    ("SP3", "lottery", "private_markets"),     # every type on one bundle, its market not cleared
    ("SP3", "welfare", "welfare_recomputed"),  # a saved number that does not follow from the lotteries
    ("CE3", "c1", "consumer_optimality"),      # a bundle off the first-order condition
    ("SP2", "lottery", "resources"),           # more consumption than the endowment pays for
])
def test_tampering_is_caught(fgt_file, tmp_path, group, variable, check):
    groups = read_netcdf(fgt_file)
    ds = groups[group]
    if variable == "lottery":
        v = np.zeros_like(ds["lottery"].values)
        v[(slice(None),) + (-1,) * (v.ndim - 1)] = 1.0  # every type takes the last bundle
        ds["lottery"] = ds["lottery"].copy(data=v)
    elif variable == "welfare":
        ds["welfare"] = ds["welfare"] + 1e-3
    else:
        ds[variable] = ds[variable] * 1.01
    bad = write_netcdf(tmp_path / "bad.nc", groups)
    certs = check_file(bad)
    assert not certs[group].passed and check in certs[group].failed()
    assert main(["check", str(bad)]) == 1


def test_collateral_results_check_and_tampering(tmp_path):
    out = tmp_path / "env1.nc"
    assert main(["solve", str(ROOT / "grids" / "kt_env1.toml"), "--quiet", "--concept", "externality",
                 "--out", str(out)]) == 0
    assert check_file(out)["externality"].passed
    groups = read_netcdf(out)
    groups["externality"]["k"] = groups["externality"]["k"] + 0.01  # storage that nobody's endowment pays for
    bad = write_netcdf(tmp_path / "bad.nc", groups)
    cert = check_file(bad)["externality"]
    assert {"goods_t0", "goods_t1"} <= set(cert.failed())


def test_a_file_without_the_spec_is_a_clear_error(tmp_path, capsys):
    import xarray as xr

    f = write_netcdf(tmp_path / "x.nc", {"SP3": xr.Dataset({"welfare": ((), 1.0)})})
    with pytest.raises(SegexError, match="segex_spec"):
        check_file(f)
    assert main(["check", str(f)]) == 2
    assert main(["check", str(tmp_path / "missing.nc")]) == 2


@pytest.mark.parametrize("method", ["grid", "colgen"])
def test_segregated_consumer_problems_are_rechecked(tmp_path, method):
    """Segregated exchanges: from the saved lotteries and prices alone, each type's budget
    problem is re-solved (enumeration + duality, no LP): it passes as saved; raising the
    fee of the most crowded exchange makes its members' lotteries unaffordable or
    suboptimal; moving probability inside a state lottery breaks the k-marginal."""
    from test_cli import tiny_spec

    out = tmp_path / "seg.nc"
    assert main(["solve", str(tiny_spec(tmp_path)), "--quiet", "--concept", "segregated", "--method", method,
                 "--out", str(out)]) == 0
    cert = check_file(out)["segregated"]
    assert cert.passed, str(cert)
    assert {"consumer_optimality", "consumer.transfer", "consumer.no_transfer", "consumer.lotteries"} <= set(cert.checks)

    groups = read_netcdf(out)
    ds = groups["segregated"]
    j = int(ds["mass"].argmax())
    fee = ds["P_Delta"].values.copy()
    fee[j] += 0.05 * (1 + abs(fee[j]))
    ds["P_Delta"] = ("exchange", fee)
    cert = check_file(write_netcdf(tmp_path / "fee.nc", groups))["segregated"]
    assert {"consumer_optimality", "consumer.transfer"} & set(cert.failed()), str(cert)

    # a transfer the lottery's cost does not account for, in an equilibrium file
    groups = read_netcdf(out)
    ds = groups["segregated"]
    ds["lump_sum"] = ds["lump_sum"] + 0.05
    cert = check_file(write_netcdf(tmp_path / "transfer.nc", groups))["segregated"]
    assert {"consumer.transfer", "consumer.no_transfer"} <= set(cert.failed()), str(cert)

    groups = read_netcdf(out)
    ds = groups["segregated"]
    prob = ds["x1_prob"].values.copy()
    prob[0] *= 0.5
    ds["x1_prob"] = ("x1_point", prob)
    cert = check_file(write_netcdf(tmp_path / "lottery.nc", groups))["segregated"]
    assert "consumer.lotteries" in cert.failed(), str(cert)


def test_consumer_check_uses_the_results_own_grids(tmp_path):
    """A result solved on grids other than its file's (accuracy mode refines z): the
    check enumerates the grids saved with the result, not the spec's, and passes."""
    from test_cli import tiny_spec

    from segex.economies.collateral import CollateralGrids, solve_segregated
    from segex.io.config import load_spec
    from segex.run import datasets

    spec = load_spec(tiny_spec(tmp_path))
    e = spec.economy
    g = CollateralGrids.build(e, c={"n": 61}, k={"min": 0.0, "max": 2.5, "n": 11}, z={"min": 0.6, "max": 1.0, "n": 13},
                              a={"min": -1.0, "max": 1.0, "n": 7})
    assert g.z[0].size != spec.build_grids().z[0].size
    res = solve_segregated(e, g)
    out = write_netcdf(tmp_path / "refined.nc", datasets({"segregated": res}, spec))
    cert = check_file(out)["segregated"]
    assert cert.passed, str(cert)
    assert cert.checks["consumer_optimality"].residual < 1e-8
