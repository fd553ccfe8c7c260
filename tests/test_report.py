"""The text report of `segex solve` (segex.report): at most 100 columns (`--wide`: unabridged),
sections named by the economy's layout, no `nan` where a value does not apply; progress bars
only on a terminal; `-v` shows the solver's own log on stderr.

Every grid file's report is rendered from the JSON its pin recorded (tests/pinned, the output of
`segex solve FILE --json`, solved once when pinned): rendering needs the JSON object and the
economy's layout only, so no grid is solved again here. A grid file without a pin is solved.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from segex import registry
from segex.certificate import Certificate
from segex.cli import main
from segex.io import validate as v
from segex.io.config import RunSpec, load_spec, parse_solve
from segex.report import CELL, WIDTH, text_report

ROOT = Path(__file__).resolve().parents[1]
PINS = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "pinned").glob("*.json"))}
CLI_PINS = {case: pin for case, pin in PINS.items() if pin.get("argv")}
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def _pin_of(grid: Path):
    for pin in CLI_PINS.values():
        if pin["argv"] == ["solve", f"grids/{grid.name}", "--json"]:
            return pin
    return None


def _render(pin, wide=False) -> str:
    spec = load_spec(ROOT / pin["argv"][1])
    return text_report(pin["output"], layout=spec.definition.report, wide=wide)


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


# ------------------------------------------------------------------------------------ every grid file
@pytest.mark.parametrize("grid", sorted((ROOT / "grids").glob("*.toml")), ids=lambda p: p.stem)
def test_every_grid_file_fits_100_columns(grid, capsys):
    pin = _pin_of(grid)
    if pin is not None:
        text = _render(pin)
    else:  # no pin (a quick solve): the real command
        assert main(["solve", str(grid), "--quiet"]) in (0, 1)
        text = capsys.readouterr().out
    assert _widest(text) <= WIDTH, max(text.splitlines(), key=len)
    assert not NAN.search(text), text
    assert "== " in text and "certificate: " in text


@pytest.mark.parametrize("case", sorted(CLI_PINS))
def test_every_pinned_command_fits(case):
    """The README's variants too (--tol, --method colgen, one concept)."""
    text = _render(CLI_PINS[case])
    assert _widest(text) <= WIDTH and not NAN.search(text)


def test_sections_are_named_for_what_they_hold():
    env1 = _render(CLI_PINS["kt_env1"])
    assert "prices: p0 = " in env1 and "aggregates: K = " in env1 and "planner: welfare = " in env1
    assert "types:" in env1 and "active exchanges: 2 of 41" in env1
    fgt = _render(CLI_PINS["fgt_liquidity"])
    sp1 = fgt.split("== SP1 ==")[1].split("==")[0]
    assert "rates: R_hat = 1.5000" in sp1 and "R =" not in sp1  # SP1 has no private market: R is null
    assert "welfare: welfare = " in sp1 and "prices:" not in fgt and "values:" not in fgt
    seg = fgt.split("== segregated ==")[1]
    assert "R_by_type" in seg and "regulation: regulation = floor" in seg
    assert "  step  rows   cols  welfare  liquidity     change" in seg  # R (null at every step) left out


def test_wide_prints_everything_whole():
    pin = CLI_PINS["kt_env2"]
    default, wide = _render(pin), _render(pin, wide=True)
    assert _widest(wide) > WIDTH and "…" not in wide and "abridged" not in wide
    assert "s1:z9=0.9415, s1:z10=0.0585, s2:z9=0.9525, s2:z10=0.0475" in wide
    assert "… 4 entries" in default and "--wide prints every cell whole" in default.splitlines()[-1]


def test_not_applicable_values_are_left_out_of_the_text_only(capsys):
    argv = ["solve", str(ROOT / "grids" / "fgt_discount.toml"), "--concept", "SP1", "CE3", "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert not NAN.search(text) and "R = 1.5000" in text.split("== CE3 ==")[1]
    assert "R =" not in text.split("== CE3 ==")[0]
    assert main(argv + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["SP1"]["R"] is None and d["SP1"]["I"] is None  # the JSON keeps them, as null


# ---------------------------------------------------------------------------------- the generic layout
class WideResult:
    """A result with nothing declared: long vectors, many columns, a value that does not apply."""

    lp = {"rows": 3, "cols": 90, "nnz": 200, "build_s": 0.0, "solve_s": 0.0}

    def __init__(self):
        self.certificate = Certificate()
        self.certificate.add("feasible", 0.0, 1e-12, "by construction")

    def to_dict(self):
        return {"types": [{f"quantity_{j}": 1000.0 + j + h for j in range(12)} | {"path": list(np.linspace(0, 1, 60))}
                          for h in range(2)],
                "price": 1.25, "missing": float("nan"), "vector": np.linspace(0, 1, 41)}

    def to_dataset(self):
        return xr.Dataset({"price": ((), 1.25)})


def _wide_parse(data, name, path):
    v.check_keys(data, ("economy", "name", "solve"), "")
    econ = type("Wide", (), {"name": name})()
    return RunSpec(economy=econ, kind="toy_wide", solve=parse_solve(data, "toy_wide", econ), path=path)


@pytest.fixture
def wide_economy(tmp_path):
    registry.register(registry.Economy(
        name="toy_wide", summary="wide tables", parse=_wide_parse,
        concepts=(registry.Concept("wide", lambda spec, options, concept, progress=False: WideResult()),)))
    f = tmp_path / "wide.toml"
    f.write_text('economy = "toy_wide"\n')
    yield f
    registry._REGISTRY.pop("toy_wide")


def test_an_undeclared_economy_fits_too(wide_economy, capsys):
    assert main(["solve", str(wide_economy), "--quiet"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert _widest(text) <= WIDTH and not NAN.search(text) and "missing" not in text
    assert "values: price = 1.2500" in text and "vector = [0, 0.0250, " in text and "… 41 values]" in text
    headers = [line for line in lines if line.startswith("  type ")]
    assert len(headers) >= 2  # column blocks, each repeating the key column
    assert all(len(c) <= CELL for line in lines if line.startswith("     0") for c in line.split("  ") if c)
    assert "… 60 values]" in text
    assert main(["solve", str(wide_economy), "--quiet", "--wide"]) == 0
    wide = capsys.readouterr().out
    assert _widest(wide) > WIDTH and "…" not in wide
    assert sum(line.startswith("  type ") for line in wide.splitlines()) == 1
    assert main(["solve", str(wide_economy), "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["wide"]["missing"] is None


def test_every_layout_names_each_key_once():
    for name, economy in registry.economies().items():
        keys = [k for _, ks in economy.report.sections for k in ks]
        assert len(keys) == len(set(keys)), name
        assert not set(keys) & set(economy.report.hidden), name


# --------------------------------------------------------------------------------- progress, -v
def test_a_bar_counts_on_stderr(capsys, monkeypatch):
    from segex import progress

    monkeypatch.setattr(progress, "DELAY", 0.0)
    with progress.Bar("fee intervals", total=3, unit="exchange") as bar:
        for _ in range(3):
            bar.update()
        bar.write("a line above the bar")
    captured = capsys.readouterr()
    assert captured.out == "" and "fee intervals" in captured.err and "3/3" in captured.err
    assert "a line above the bar" in captured.err
    with progress.Bar("silent", total=3, enabled=False) as bar:
        bar.update(change="1e-3")
        bar.write("nothing")
    assert capsys.readouterr().err == ""


def test_verbose_shows_the_solver_log_on_stderr_only(capfd):
    """-v: HiGHS's own log on stderr, the JSON on stdout unchanged; without it (stderr not a
    terminal) stderr holds the status lines only -- no progress bars."""
    argv = ["solve", str(ROOT / "grids" / "kt_incomplete.toml"), "--concept", "segregated", "--json"]
    assert main(argv) == 0
    out, err = capfd.readouterr()
    json.loads(out)
    assert err.splitlines() == ["segex: solving segregated"]
    assert main(argv + ["-v"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out)["segregated"]["p0"] is not None
    assert "Model status" in err and "Objective value" in err


def test_verbose_cvxpy_backend_logs_on_stderr(capfd):
    pytest.importorskip("cvxpy")
    import scipy.sparse as sp

    from segex.backends.cvxpy_backend import solve_cvxpy
    from segex.backends.highs import solver_log
    from segex.engine.lp import LP

    lp = LP(c=np.array([1.0, 2.0]), A=sp.csc_matrix(np.ones((1, 2))), col_lb=np.zeros(2), col_ub=np.full(2, 4.0),
            row_lb=np.array([-np.inf]), row_ub=np.array([5.0]), col_blocks={}, row_blocks={})
    with solver_log():
        assert solve_cvxpy(lp).objective == pytest.approx(9.0)
    out, err = capfd.readouterr()
    assert out == "" and "CVXPY" in err
    solve_cvxpy(lp)
    assert capfd.readouterr() == ("", "")

