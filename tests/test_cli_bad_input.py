"""Every bad input, through the command line: exit code 2, exactly one line on stderr that
names the TOML field (or the option / file) and says what to change, nothing on stdout and
no output file -- nor a temporary file beside it -- left behind.

The cases are the Python-level tables (``BAD`` of tests/test_config.py for the collateral
economy, ``BAD_LIQUIDITY`` of tests/test_liquidity_cli.py for the liquidity economies,
``BAD_INCOMPLETE`` of tests/test_incomplete_spec.py for KT 2.2, ``BAD_DEFAULT_RESERVES`` of
tests/test_default_reserves.py for Peiris-Vardoulakis),
each written to a TOML file and run as ``segex solve BAD.toml --json --out OUT.nc``, plus
cases only the CLI meets: malformed or unreadable files, unknown keys with did-you-mean,
an LP the loader accepts but HiGHS finds infeasible (exit code 2, "a failed solve", as
README.md and segex/cli.py document), ``segex sweep`` with a bad ``--param`` path or value,
``segex check`` on a file that is not a segex result, and a bad ``--out``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_config import BAD as BAD_COLLATERAL
from test_default_reserves import BAD_DEFAULT_RESERVES
from test_default_reserves import BASE as DEFAULT_RESERVES
from test_config import BASE as COLLATERAL
from test_incomplete_spec import BAD_INCOMPLETE
from test_incomplete_spec import BASE as INCOMPLETE
from test_liquidity_cli import BAD_LIQUIDITY
from test_liquidity_cli import BASE as LIQUIDITY
from test_liquidity_cli import KT as DIAMOND_DYBVIG

from segex.cli import main


# ---------------------------------------------------------------------------------- TOML writing
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: dict) -> str:
    """A parsed grid file back as TOML text: scalars first, then one [table] per table."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_to_toml_round_trips():
    import tomllib

    d = {"economy": "liquidity", "theta": [0.5, 1.5], "n": 3, "grid": {"I": {"points": [0.5, 1.0]}},
         "solve": {"concepts": ["SP3"]}}
    assert tomllib.loads(to_toml(d)) == d
    assert math.isnan(tomllib.loads(to_toml({"x": float("nan")}))["x"])


# ---------------------------------------------------------------------------------- cases
@dataclass
class Case:
    """``setup(dir)`` writes the input files into ``dir`` and returns the argv (OUT paths
    are inside ``dir``); the one stderr line must contain every string of ``names``."""

    id: str
    what: str  # the bad input, in a few words (for the table in the closing note)
    setup: Callable[[Path], list]
    names: tuple = ()
    code: int = 2
    starts: str = ""  # the line must start "segex: error: <starts>"


def _solve(text: str | bytes, *extra, name="bad.toml"):
    def setup(d: Path):
        p = d / name
        p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
        return ["solve", str(p), "--json", "--out", str(d / "OUT.nc"), *extra]
    return setup


def _changed_lines(old: str, new: str) -> str:
    """What a transform of a base file changed, as ``- removed`` / ``+ added`` lines."""
    diff = [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:2] in ("- ", "+ ")]
    return "; ".join(f"`{line[2:].strip()}`" if line[0] == "+" else f"~~`{line[2:].strip()}`~~" for line in diff)


def _dict_changes(base: dict, data: dict, prefix="") -> list[str]:
    out = []
    for k in list(base) + [k for k in data if k not in base]:
        path = f"{prefix}{k}"
        if k not in data:
            out.append(f"{path} removed")
        elif k not in base:
            out.append(f"`{path} = {toml_value(data[k])}`")
        elif isinstance(base[k], dict) and isinstance(data[k], dict):
            out += _dict_changes(base[k], data[k], f"{path}.")
        elif toml_value(base[k]) != toml_value(data[k]):
            out.append(f"`{path} = {toml_value(data[k])}`")
    return out


COLLATERAL_CASES = [
    Case(f"collateral: {cid}", f"{cid}: {_changed_lines(COLLATERAL, transform(COLLATERAL))}",
         _solve(transform(COLLATERAL)), (fld, phrase), starts=f"{fld}: ")
    for cid, transform, fld, phrase in BAD_COLLATERAL
]

LIQUIDITY_CASES = [
    Case(f"{data['economy']}: {fld} #{i}",
         f"{data['economy']}: " + ", ".join(_dict_changes(LIQUIDITY if data["economy"] == "liquidity"
                                                          else DIAMOND_DYBVIG, data)),
         _solve(to_toml(data)), (fld, phrase), starts=f"{fld}: ")
    for i, (data, fld, phrase) in enumerate(BAD_LIQUIDITY)
]

INCOMPLETE_CASES = [
    Case(f"incomplete_markets: {fld} #{i}", "incomplete_markets: " + ", ".join(_dict_changes(INCOMPLETE, data)),
         _solve(to_toml(data)), (fld, phrase), starts=f"{fld}: ")
    for i, (data, fld, phrase) in enumerate(BAD_INCOMPLETE)
]

DEFAULT_RESERVES_CASES = [
    Case(f"default_reserves: {fld} #{i}", "default_reserves: " + ", ".join(_dict_changes(DEFAULT_RESERVES, data)),
         _solve(to_toml(data)), (fld, phrase), starts=f"{fld}: ")
    for i, (data, fld, phrase) in enumerate(BAD_DEFAULT_RESERVES)
]

#: SP2's consumption grid {1, 2}: every bundle costs c1 + c2 / R_hat >= 1.67 > e = 1, so the
#: LP is infeasible although the loader accepts the grid (it holds e)
INFEASIBLE = to_toml({**LIQUIDITY, "grid": {"c": {"points": [1.0, 2.0]}}, "solve": {"concepts": ["SP2"]}})
SMALL_KT = COLLATERAL  # small grids: validating a sweep's points is quick


def _sweep(*params, out="OUT.nc"):
    def setup(d: Path):
        p = d / "env.toml"
        p.write_text(SMALL_KT)
        argv = ["sweep", str(p), "--out", str(d / out), "--workers", "0", "--quiet", "--json"]
        for param in params:
            argv += ["--param", param]
        return argv
    return setup


def _check(kind):
    def setup(d: Path):
        import xarray as xr

        p = d / {"text": "notes.txt", "toml": "env.toml", "empty": "plain.nc", "foreign": "foreign.nc",
                 "missing": "missing.nc", "directory": "results"}[kind]
        if kind == "text":
            p.write_text("not a result\n")
        elif kind == "toml":
            p.write_text(SMALL_KT)
        elif kind == "empty":
            xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(p, engine="h5netcdf")
        elif kind == "foreign":
            xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(p, engine="h5netcdf", group="SP3")
        elif kind == "directory":
            p.mkdir()
        return ["check", str(p), "--json"]
    return setup


CLI_CASES = [
    Case("malformed TOML", "malformed TOML: `beta = ` (no value)",
         _solve(COLLATERAL.replace("beta = 1.0", "beta = ")), ("bad.toml", "not valid TOML", "line 3", "column")),
    Case("missing file", "grid file that does not exist",
         lambda d: ["solve", str(d / "nope.toml"), "--json", "--out", str(d / "OUT.nc")], ("nope.toml", "no such file")),
    Case("directory as file", "a directory instead of a grid file",
         lambda d: ["solve", str(d), "--json", "--out", str(d / "OUT.nc")], ("is a directory",)),
    Case("not UTF-8", "grid file that is not UTF-8 text",
         _solve(COLLATERAL.encode("utf-16")), ("bad.toml", "not UTF-8")),
    Case("unknown key, did you mean", "liquidity: unknown key `R_hta = 1.5` (for `R_hat`)",
         _solve(to_toml(LIQUIDITY).replace("R_hat", "R_hta")), ("R_hta", "did you mean 'R_hat'"), starts="R_hta: "),
    Case("unknown solve key, did you mean", "liquidity: `[solve] concept = [\"SP1\"]` (for `concepts`)",
         _solve(to_toml({**LIQUIDITY, "solve": {"concept": ["SP1"]}})), ("solve.concept", "did you mean 'concepts'"),
         starts="solve.concept: "),
    Case("infeasible LP", "liquidity: SP2 on `grid.c = { points = [1.0, 2.0] }` (every bundle costs more than e; "
                          "the loader accepts it, HiGHS finds it infeasible)",
         _solve(INFEASIBLE, "--quiet"), ("infeasible", "resources", "grid.c"), starts="solver status infeasible: "),
    Case("stopped on a time limit (file)", "liquidity: `[solve] time_limit = 1e-9` (every LP stops before optimality)",
         _solve(to_toml({**LIQUIDITY, "solve": {"time_limit": 1e-9}}), "--quiet"),
         ("time_limit", "solve.time_limit", "coarsen the grids or raise the limit"), starts="solver status time_limit: "),
    Case("stopped on a time limit (flag)", "liquidity: `--time-limit 1e-9`",
         _solve(to_toml(LIQUIDITY), "--quiet", "--time-limit", "1e-9"),
         ("time_limit", "--time-limit", "raise the limit"), starts="solver status time_limit: "),
    Case("time limit not positive", "liquidity: `[solve] time_limit = -1`",
         _solve(to_toml({**LIQUIDITY, "solve": {"time_limit": -1}})), ("solve.time_limit", "positive"),
         starts="solve.time_limit: "),
    Case("--out in a missing directory", "`--out` in a directory that does not exist",
         lambda d: ["solve", str(_write(d / "env.toml", to_toml(LIQUIDITY))), "--json", "--out",
                    str(d / "missing_dir" / "OUT.nc")], ("--out", "does not exist"), starts="--out: "),
    Case("--out is a directory", "`--out` naming a directory",
         lambda d: ["solve", str(_write(d / "env.toml", to_toml(LIQUIDITY))), "--json", "--out",
                    str(_mkdir(d / "OUT.nc"))], ("--out", "is a directory"), starts="--out: "),
    Case("--out not .nc", "`--out result.csv` (segex writes netCDF4)",
         lambda d: ["solve", str(_write(d / "env.toml", to_toml(LIQUIDITY))), "--json", "--out",
                    str(d / "result.csv")], ("--out", "result.csv", "netCDF4", "use a .nc name"), starts="--out: "),
    Case("sweep: --out not .nc or .zarr", "`segex sweep --out sweep.csv`",
         _sweep("beta=0.5,1", out="sweep.csv"),
         ("--out", "sweep.csv", "use a .nc or .zarr name"), starts="--out: "),
    Case("sweep: path out of range", "`segex sweep --param \"types[5].endowment[0]=1,2\"` (2 types)",
         _sweep("types[5].endowment[0]=1,2"), ("--param", "types[5]", "out of range"), starts="--param: "),
    Case("sweep: misspelt key", "`segex sweep --param \"types[1].endowmnet[0]=1,2\"`",
         _sweep("types[1].endowmnet[0]=1,2"), ("--param", "types[1].endowmnet", "did you mean 'endowment'"),
         starts="--param: "),
    Case("sweep: path to a table", "`segex sweep --param \"types[0].endowment=1,2\"` (an array of rows)",
         _sweep("types[0].endowment=1,2"), ("--param", "types[0].endowment", "not a number"), starts="--param: "),
    Case("sweep: unreadable path", "`segex sweep --param \"types[1.endowment=1,2\"`",
         _sweep("types[1.endowment=1,2"), ("--param", "cannot read the TOML path"), starts="--param: "),
    Case("sweep: bad values", "`segex sweep --param \"gamma=1:4\"` (no count)",
         _sweep("gamma=1:4"), ("--param", "gamma", "start:stop:num"), starts="--param: "),
    Case("sweep: negative endowment", "`segex sweep --param \"types[1].endowment[0]=-1,2\"`",
         _sweep("types[1].endowment[0]=-1,2"), ("types[1].endowment", "positive", "(at types[1].endowment[0] = -1)"),
         starts="types[1].endowment: "),
    Case("sweep: beta above 1", "`segex sweep --param \"beta=0.5,2\"`",
         _sweep("beta=0.5,2"), ("beta", "(0, 1]", "(at beta = 2)"), starts="beta: "),
    Case("check: text file", "`segex check` on a text file",
         _check("text"), ("notes.txt", "not a netCDF4 file"), starts=""),
    Case("check: grid file", "`segex check` on the TOML grid file instead of the result",
         _check("toml"), ("env.toml", "not a netCDF4 file")),
    Case("check: netCDF without groups", "`segex check` on a netCDF file with no groups",
         _check("empty"), ("plain.nc", "no result groups")),
    Case("check: netCDF not from segex", "`segex check` on a netCDF group not written by segex",
         _check("foreign"), ("foreign.nc", "segex_spec")),
    Case("check: missing file", "`segex check` on a file that does not exist",
         _check("missing"), ("missing.nc", "no such file")),
    Case("check: directory", "`segex check` on a directory",
         _check("directory"), ("results", "is a directory")),
]


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


CASES = COLLATERAL_CASES + LIQUIDITY_CASES + INCOMPLETE_CASES + DEFAULT_RESERVES_CASES + CLI_CASES


def run_case(case: Case, d: Path, capsys) -> tuple[int, str, str, set, set]:
    """(exit code, stdout, stderr, files before, files after) of one case run in ``d``."""
    argv = case.setup(d)
    before = {p.relative_to(d) for p in d.rglob("*")}
    code = main(argv)
    out, err = capsys.readouterr()
    after = {p.relative_to(d) for p in d.rglob("*")}
    return code, out, err, before, after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_through_the_cli(case, tmp_path, capsys):
    code, out, err, before, after = run_case(case, tmp_path, capsys)
    assert code == case.code, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err  # exactly one non-empty line
    line = lines[0]
    assert line.startswith(f"segex: error: {case.starts}"), line
    for name in case.names:
        assert name in line, (name, line)
    assert "Traceback" not in err
    assert after == before, f"left behind: {sorted(map(str, after - before))}"  # no OUT.nc, no .OUT.nc.*.tmp
    assert not (tmp_path / "OUT.nc").is_file() and not (tmp_path / "OUT.nc.parts").exists()


def test_every_table_case_is_run():
    assert len(COLLATERAL_CASES) == len(BAD_COLLATERAL) and len(LIQUIDITY_CASES) == len(BAD_LIQUIDITY)
    assert len(INCOMPLETE_CASES) == len(BAD_INCOMPLETE) and len(DEFAULT_RESERVES_CASES) == len(BAD_DEFAULT_RESERVES)
    assert len({c.id for c in CASES}) == len(CASES)
