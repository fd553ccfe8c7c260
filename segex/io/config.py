"""Run specifications: the TOML grid files users write, parsed and validated.

A grid file names an economy, its primitives, the finite grids of the lottery LP and
what to solve::

    economy = "collateral"
    name = "KT Environment 1"
    beta = 1.0
    gamma = 2.0
    prob = [1.0]
    R = [1.0]

    [[types]]
    share = 0.5
    endowment = [[3, 3], [1, 1]]   # rows: t=0 then each state; columns: good 1, good 2

    [grid]                          # every key optional; see CollateralGrids.build
    k = { min = 0.0, max = 2.5, n = 51 }

    [solve]
    concepts = ["externality", "segregated"]
    weights = "negishi"             # or a list of H Pareto weights
    backend = "highs"               # or "cvxpy"

:func:`load_spec` reads a file, :func:`parse_spec` an already-parsed dict. Every problem
is a :class:`~segex.errors.SpecError` whose ``field`` is the TOML path of the offending
value (``types[1].endowment``, ``grid.k.n``, ``solve.weights``; type indices are
0-based, as in :mod:`segex.economies.collateral.model`) and whose message says what to
change. Grids are built once here so that grid errors surface before any solve, but
:attr:`RunSpec.grid` keeps the raw specs, to be passed as
``CollateralGrids.build(spec.economy, **spec.grid)``.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..economies.collateral.grids import CollateralGrids
from ..economies.collateral.model import CollateralEconomy
from ..economies.collateral.segregated import METHODS  # Program 2 methods solve.method may name
from ..errors import SpecError

#: Economies a grid file may name: KT's collateral economy (Section 2.1), FGT's liquidity
#: economy, KT Section 3's Diamond-Dybvig economy with retrade.
ECONOMIES = ("collateral", "liquidity", "diamond_dybvig")
#: Solution concepts ``solve.concepts`` may list (the collateral economy's).
CONCEPTS = ("externality", "segregated")
#: LP backends ``solve.backend`` may name.
BACKENDS = ("highs", "cvxpy")

TOP_KEYS = ("economy", "name", "beta", "gamma", "prob", "R", "types", "grid", "solve")
TYPE_KEYS = ("share", "endowment")
GRID_KEYS = ("c", "k", "z", "a")
GRID_SPEC_KEYS = ("min", "max", "n", "spacing", "points")
SOLVE_KEYS = ("concepts", "weights", "backend", "method", "tol", "time_limit")


@dataclass
class SolveOptions:
    """What to compute: ``concepts`` in order, Pareto ``weights`` ("negishi" for the
    Negishi search of the competitive equilibrium, or explicit lambda^h), LP ``backend``,
    Program 2 ``method``, and ``tol``: when set, the equilibrium with segregated
    exchanges is refined and polished to that accuracy, starting from the grid."""

    concepts: tuple[str, ...] = CONCEPTS
    weights: str | tuple[float, ...] = "negishi"
    backend: str = "highs"
    method: str = "grid"
    tol: float | None = None  # accuracy mode (refine.solve_to_tolerance) when set
    time_limit: float | None = None  # seconds per HiGHS run; a run stopped by it is an error


@dataclass
class RunSpec:
    """A validated run: the economy, raw grid specs (keys among c, k, z, a for the
    collateral economy; R or p, I, c for the liquidity economies), solve options, the
    file it came from (None when parsed from a dict) and which economy ``kind`` it is."""

    economy: object  # CollateralEconomy or LiquidityEconomy
    grid: dict = field(default_factory=dict)
    solve: SolveOptions = field(default_factory=SolveOptions)
    path: str | None = None
    kind: str = "collateral"
    raw: dict = field(default_factory=dict, repr=False)  # the parsed file, for `segex check`

    @property
    def name(self) -> str:
        return self.economy.name

    def build_grids(self):
        """The lottery LP's grids: ``CollateralGrids.build(economy, **grid)``, or for the
        liquidity economies ``LotteryGrids.build`` (exchanges and incomes)."""
        if self.kind == "collateral":
            return CollateralGrids.build(self.economy, **self.grid)
        from ..economies.liquidity.lottery import LotteryGrids

        return LotteryGrids.build(self.economy, **{k: v for k, v in self.grid.items() if k != "c"})


# ---------------------------------------------------------------------------------- entry points
def load_spec(path) -> RunSpec:
    """Read and validate a TOML grid file; every problem is a :class:`SpecError`."""
    p = Path(path)
    where = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(where, "no such file; check the path of the grid file") from None
    except IsADirectoryError:
        raise SpecError(where, "is a directory; give the path of a .toml grid file") from None
    except OSError as exc:
        raise SpecError(where, f"cannot read the grid file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(where, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(where, f"is not valid TOML: {exc}; fix the syntax there") from None
    return parse_spec(data, source=where)


def parse_spec(data: dict, source: str = "<string>") -> RunSpec:
    """Validate an already-parsed grid file (a dict as :mod:`tomllib` returns it).

    ``source`` is recorded as :attr:`RunSpec.path` unless it is the default
    ``"<string>"``; the economy's default name is the file's stem.
    """
    if not isinstance(data, dict):
        raise SpecError(source, f"a grid file must be a table of keys, got {_tname(data)}")

    # -- economy ------------------------------------------------------------------
    if "economy" not in data:
        raise SpecError("economy", f'missing required key; add economy = "{ECONOMIES[0]}" at the top of the file')
    economy = data["economy"]
    if not isinstance(economy, str):
        raise SpecError("economy", f'must be a string such as "{ECONOMIES[0]}", got {_tname(economy)}')
    if economy not in ECONOMIES:
        raise SpecError("economy", f"unknown economy {economy!r}{_suggest(economy, ECONOMIES)}; "
                                   f"supported: {', '.join(map(repr, ECONOMIES))}")
    is_file = source != "<string>"
    default_name = Path(source).stem if is_file else economy
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise SpecError("name", f'must be a string such as "KT Environment 1", got {_tname(name)}')
    if economy != "collateral":
        from .liquidity_spec import parse_liquidity

        return parse_liquidity(data, economy, name, source if is_file else None)
    _check_keys(data, TOP_KEYS, "")

    beta = _number(data.get("beta", 1.0), "beta")
    gamma = _number(data.get("gamma", 2.0), "gamma")
    prob = _numbers(data.get("prob", [1.0]), "prob", example="prob = [0.5, 0.5]")
    if len(prob) < 1:
        raise SpecError("prob", "give at least one state probability, e.g. prob = [1.0]")
    S = len(prob)
    R = _numbers(data["R"], "R", example=f"R = {[1.0] * S}") if "R" in data else None

    # -- types --------------------------------------------------------------------
    if "types" not in data:
        raise SpecError("types", "missing required key; add one [[types]] table per type, each with share and endowment")
    types = data["types"]
    if not isinstance(types, list) or not all(isinstance(t, dict) for t in types):
        raise SpecError("types", f"must be an array of tables written [[types]], got {_tname(types)}")
    if not types:
        raise SpecError("types", "define at least one [[types]] table with share and endowment")
    shares, endowments = [], []
    for h, t in enumerate(types):
        where = f"types[{h}]"
        _check_keys(t, TYPE_KEYS, where)
        for key in TYPE_KEYS:
            if key not in t:
                example = "share = 0.5" if key == "share" else f"endowment = {[[1, 1]] * (1 + S)}"
                raise SpecError(f"{where}.{key}", f"missing required key; add {example}")
        shares.append(_number(t["share"], f"{where}.share"))
        endowments.append(_endowment(t["endowment"], f"{where}.endowment", S))
    H = len(types)

    econ = CollateralEconomy.create(
        share=shares, endowment=np.array(endowments, dtype=float), prob=prob, R=R,
        beta=beta, gamma=gamma, name=name,
    )

    # -- grid ---------------------------------------------------------------------
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError("grid", f"must be a table written [grid], got {_tname(grid)}")
    _check_keys(grid, GRID_KEYS, "grid")
    for key, spec in grid.items():
        _check_grid(key, spec, S)
    try:
        CollateralGrids.build(econ, **grid)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:  # a shape the checks above did not foresee
        raise SpecError("grid", f"cannot build the grids ({exc}); see the [grid] example in grids/kt_env1.toml") from None

    # -- solve --------------------------------------------------------------------
    solve = data.get("solve", {})
    if not isinstance(solve, dict):
        raise SpecError("solve", f"must be a table written [solve], got {_tname(solve)}")
    _check_keys(solve, SOLVE_KEYS, "solve")
    options = SolveOptions(
        concepts=_concepts(solve.get("concepts", list(CONCEPTS))),
        weights=_weights(solve.get("weights", "negishi"), H),
        backend=_backend(solve.get("backend", "highs")),
        method=_method(solve.get("method", "grid")),
        tol=_tol(solve.get("tol")),
        time_limit=_time_limit(solve.get("time_limit")),
    )
    return RunSpec(economy=econ, grid=dict(grid), solve=options, path=source if is_file else None, raw=data)


# ---------------------------------------------------------------------------------- validators
def _check_keys(table: dict, allowed, where: str):
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SpecError(path, f"unknown key{_suggest(key, allowed, always_list=True)}")


def _suggest(word, choices, always_list=False) -> str:
    """``"; did you mean 'x'?"`` for keys (``always_list``), ``" (did you mean 'x'?)"`` for values."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?" if always_list else f" (did you mean {close[0]!r}?)"
    if always_list:
        return f"; allowed keys here: {', '.join(choices)}"
    return ""


def _tname(x) -> str:
    if isinstance(x, bool):
        return f"boolean {str(x).lower()}"
    if isinstance(x, str):
        return f"string {x!r}"
    if isinstance(x, dict):
        return "a table"
    if isinstance(x, list):
        return "an array"
    if isinstance(x, (int, float)):
        return f"number {x!r}"
    return type(x).__name__


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number(x, name) -> float:
    if not _is_number(x):
        raise SpecError(name, f"must be a number, got {_tname(x)}; write e.g. {name.split('.')[-1]} = 1.0 (no quotes)")
    return float(x)


def _numbers(x, name, example) -> list[float]:
    if not isinstance(x, list):
        raise SpecError(name, f"must be an array of numbers, got {_tname(x)}; write e.g. {example}")
    for i, v in enumerate(x):
        if not _is_number(v):
            raise SpecError(name, f"entry {i} must be a number, got {_tname(v)}; write e.g. {example}")
    return [float(v) for v in x]


def _endowment(e, name, S) -> list[list[float]]:
    example = f"endowment = {[[1, 1]] * (1 + S)}"
    states = "the state" if S == 1 else f"each of the {S} states"
    shape_msg = f"needs {1 + S} rows (t=0, then {states}) of 2 goods [good 1, good 2]"
    if not isinstance(e, list):
        raise SpecError(name, f"must be an array of rows, got {_tname(e)}; {shape_msg}, e.g. {example}")
    rows = []
    for r, row in enumerate(e):
        if not isinstance(row, list) or len(row) != 2:
            got = f"{len(row)} entries" if isinstance(row, list) else _tname(row)
            raise SpecError(name, f"row {r} must be [good 1, good 2], got {got}; {shape_msg}, e.g. {example}")
        for v in row:
            if not _is_number(v):
                raise SpecError(name, f"row {r} must hold numbers, got {_tname(v)}; e.g. {example}")
        rows.append([float(v) for v in row])
    if len(rows) != 1 + S:
        raise SpecError(name, f"{shape_msg}, got {len(rows)} row{'s' if len(rows) != 1 else ''}; "
                              f"prob has {S} entr{'ies' if S > 1 else 'y'}, so e.g. {example}")
    return rows


def _check_grid(key, spec, S):
    """Types and keys of one grid spec; ranges and no-trade points are CollateralGrids.build's job."""
    name = f"grid.{key}"
    if isinstance(spec, dict):
        _check_grid_spec(spec, name)
        return
    if not isinstance(spec, list):
        raise SpecError(name, f"give a table {{min, max, n}} or {{points = [...]}}, got {_tname(spec)}")
    if key in ("k", "a"):  # a bare list is shorthand for points
        _numbers(spec, name, example=f"{key} = {{ points = [0.0, 0.5, 1.0] }}")
        return
    per = {"c": (2, "good"), "z": (S, "state")}[key]
    if len(spec) != per[0]:
        raise SpecError(name, f"give one table for all {per[1]}s or an array of {per[0]} tables (one per {per[1]}), "
                              f"got {len(spec)}")
    for i, sub in enumerate(spec):
        sub_name = f"{name}[{i}]"
        if isinstance(sub, dict):
            _check_grid_spec(sub, sub_name)
        elif isinstance(sub, list):
            _numbers(sub, sub_name, example="{ points = [0.5, 1.0] }")
        else:
            raise SpecError(sub_name, f"give a table {{min, max, n}} or {{points = [...]}}, got {_tname(sub)}")


def _check_grid_spec(spec, name):
    _check_keys(spec, GRID_SPEC_KEYS, name)
    for bound in ("min", "max"):
        if bound in spec and not _is_number(spec[bound]):
            raise SpecError(f"{name}.{bound}", f"must be a number, got {_tname(spec[bound])}")
    if "n" in spec:
        n = spec["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise SpecError(f"{name}.n", f"the number of grid points must be an integer >= 2, got {_tname(n)}")
    if "spacing" in spec and spec["spacing"] not in ("linear", "geometric"):
        raise SpecError(f"{name}.spacing", f'use "linear" or "geometric", got {_tname(spec["spacing"])}')
    if "points" in spec:
        _numbers(spec["points"], f"{name}.points", example="points = [0.5, 0.75, 1.0]")
        if "min" in spec or "max" in spec or "n" in spec:
            raise SpecError(f"{name}.points", "give either points or min/max/n, not both")


def _concepts(c, allowed=CONCEPTS) -> tuple[str, ...]:
    example = f"concepts = {list(allowed)!r}".replace("'", '"')
    if not isinstance(c, list) or not c:
        raise SpecError("solve.concepts", f"must be a non-empty array of names, got {_tname(c)}; write e.g. {example}")
    out = []
    for v in c:
        if not isinstance(v, str) or v not in allowed:
            hint = _suggest(v, allowed) if isinstance(v, str) else ""
            raise SpecError("solve.concepts", f"unknown solution concept {v!r}{hint}; "
                                              f"choose from {', '.join(map(repr, allowed))}")
        if v not in out:
            out.append(v)
    return tuple(out)


def _weights(w, H) -> str | tuple[float, ...]:
    if isinstance(w, str):
        if w != "negishi":
            raise SpecError("solve.weights", f'must be "negishi" or an array of {H} positive Pareto weights, got {w!r}')
        return w
    if not isinstance(w, list):
        raise SpecError("solve.weights", f'must be "negishi" or an array of {H} positive numbers, got {_tname(w)}')
    if len(w) != H:
        raise SpecError("solve.weights", f"give one Pareto weight per type ({H}), got {len(w)}; "
                                         f'or write weights = "negishi"')
    for h, v in enumerate(w):
        if not _is_number(v) or not math.isfinite(v) or v <= 0:
            raise SpecError("solve.weights", f"weight {h} must be a positive finite number, got {_tname(v)}")
    return tuple(float(v) for v in w)


def _backend(b) -> str:
    if not isinstance(b, str) or b not in BACKENDS:
        hint = _suggest(b, BACKENDS) if isinstance(b, str) else ""
        raise SpecError("solve.backend", f"unknown backend {b!r}{hint}; choose from {', '.join(map(repr, BACKENDS))}")
    return b


def _tol(t) -> float | None:
    if t is None:
        return None
    if not _is_number(t) or not math.isfinite(t) or not 0 < t < 1:
        raise SpecError("solve.tol", f"must be a number in (0, 1), e.g. tol = 1e-4 (the accuracy asked of the "
                                     f"answer), got {_tname(t) if not _is_number(t) else t}")
    return float(t)


def _time_limit(t) -> float | None:
    if t is None:
        return None
    if not _is_number(t) or not math.isfinite(t) or t <= 0:
        raise SpecError("solve.time_limit", "must be a positive number of seconds per LP solve, e.g. "
                                            f"time_limit = 600, got {_tname(t) if not _is_number(t) else t}")
    return float(t)


def _method(m) -> str:
    if not isinstance(m, str) or m not in METHODS:
        hint = _suggest(m, METHODS) if isinstance(m, str) else ""
        raise SpecError("solve.method", f"unknown method {m!r}{hint}; choose from {', '.join(map(repr, METHODS))}")
    return m


__all__ = ["RunSpec", "SolveOptions", "load_spec", "parse_spec", "ECONOMIES", "CONCEPTS", "BACKENDS", "METHODS"]
