"""Validators every economy's grid-file parser uses.

Each raises :class:`~segex.errors.SpecError` whose ``field`` is the TOML path of the
offending value (``types[1].endowment``, ``grid.k.n``, ``solve.tol``; type indices are
0-based) and whose message says what to change. They know no economy: an economy's
parser (``segex/economies/<name>/spec.py``) composes them.
"""

from __future__ import annotations

import difflib
import math

import numpy as np

from ..errors import SpecError

#: Keys of one grid axis: ``{min, max, n, spacing}`` or ``{points}`` (:func:`segex.gridspec.axis`).
GRID_SPEC_KEYS = ("min", "max", "n", "spacing", "points")


def check_keys(table: dict, allowed, where: str) -> None:
    """Every key of ``table`` is one of ``allowed``; ``where`` is the table's TOML path."""
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SpecError(path, f"unknown key{suggest(key, allowed, always_list=True)}")


def require(table: dict, key: str, where: str, example: str):
    """``table[key]``, or a SpecError saying to add ``example``."""
    if key not in table:
        path = f"{where}.{key}" if where else key
        raise SpecError(path, f"missing required key; add {example}")
    return table[key]


def suggest(word, choices, always_list=False) -> str:
    """``"; did you mean 'x'?"`` for keys (``always_list``), ``" (did you mean 'x'?)"`` for values."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?" if always_list else f" (did you mean {close[0]!r}?)"
    if always_list:
        return f"; allowed keys here: {', '.join(choices)}"
    return ""


def type_name(x) -> str:
    """How a TOML value reads in a message: ``string '1'``, ``number 3``, ``an array``."""
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


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def number(x, name) -> float:
    """A TOML number (not a string, not a boolean) as float."""
    if not is_number(x):
        raise SpecError(name, f"must be a number, got {type_name(x)}; write e.g. {name.split('.')[-1]} = 1.0 (no quotes)")
    return float(x)


def numbers(x, name, example) -> list[float]:
    """A TOML array of numbers as floats."""
    if not isinstance(x, list):
        raise SpecError(name, f"must be an array of numbers, got {type_name(x)}; write e.g. {example}")
    for i, v in enumerate(x):
        if not is_number(v):
            raise SpecError(name, f"entry {i} must be a number, got {type_name(v)}; write e.g. {example}")
    return [float(v) for v in x]


def matrix(x, name, cols: int, example: str, what: str = "row") -> list[list[float]]:
    """A TOML array of arrays of ``cols`` numbers each (rows unchecked in number)."""
    if not isinstance(x, list) or not x:
        raise SpecError(name, f"must be a non-empty array of {what}s, got {type_name(x)}; write e.g. {example}")
    rows = []
    for r, row in enumerate(x):
        if not isinstance(row, list) or len(row) != cols:
            got = f"{len(row)} entries" if isinstance(row, list) else type_name(row)
            raise SpecError(name, f"{what} {r} must hold {cols} numbers, got {got}; write e.g. {example}")
        rows.append(numbers(row, name, example))
    return rows


def endowment(e, name, S) -> list[list[float]]:
    """Rows t = 0, then each of S states, of two goods [good 1, good 2]."""
    example = f"endowment = {[[1, 1]] * (1 + S)}"
    states = "the state" if S == 1 else f"each of the {S} states"
    shape_msg = f"needs {1 + S} rows (t=0, then {states}) of 2 goods [good 1, good 2]"
    if not isinstance(e, list):
        raise SpecError(name, f"must be an array of rows, got {type_name(e)}; {shape_msg}, e.g. {example}")
    rows = []
    for r, row in enumerate(e):
        if not isinstance(row, list) or len(row) != 2:
            got = f"{len(row)} entries" if isinstance(row, list) else type_name(row)
            raise SpecError(name, f"row {r} must be [good 1, good 2], got {got}; {shape_msg}, e.g. {example}")
        for v in row:
            if not is_number(v):
                raise SpecError(name, f"row {r} must hold numbers, got {type_name(v)}; e.g. {example}")
        rows.append([float(v) for v in row])
    if len(rows) != 1 + S:
        raise SpecError(name, f"{shape_msg}, got {len(rows)} row{'s' if len(rows) != 1 else ''}; "
                              f"prob has {S} entr{'ies' if S > 1 else 'y'}, so e.g. {example}")
    return rows


def types_table(data: dict, keys, required, example: str) -> list[dict]:
    """The ``[[types]]`` array: a non-empty array of tables, each with only ``keys`` and
    every key of ``required`` ({key: example})."""
    if "types" not in data:
        raise SpecError("types", f"missing required key; add one [[types]] table per type, each with {example}")
    types = data["types"]
    if not isinstance(types, list) or not all(isinstance(t, dict) for t in types):
        raise SpecError("types", f"must be an array of tables written [[types]], got {type_name(types)}")
    if not types:
        raise SpecError("types", f"define at least one [[types]] table with {example}")
    for h, t in enumerate(types):
        check_keys(t, keys, f"types[{h}]")
        for key, ex in required.items():
            require(t, key, f"types[{h}]", ex)
    return types


def table(data: dict, key: str) -> dict:
    """An optional sub-table (``[grid]``, ``[solve]``), empty when absent."""
    t = data.get(key, {})
    if not isinstance(t, dict):
        raise SpecError(key, f"must be a table written [{key}], got {type_name(t)}")
    return t


def grid_spec(spec, name) -> None:
    """One grid axis: ``{min, max, n, spacing}`` or ``{points}``; ranges are the economy's job."""
    check_keys(spec, GRID_SPEC_KEYS, name)
    for bound in ("min", "max"):
        if bound in spec and not is_number(spec[bound]):
            raise SpecError(f"{name}.{bound}", f"must be a number, got {type_name(spec[bound])}")
    if "n" in spec:
        n = spec["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise SpecError(f"{name}.n", f"the number of grid points must be an integer >= 2, got {type_name(n)}")
    if "spacing" in spec and spec["spacing"] not in ("linear", "geometric"):
        raise SpecError(f"{name}.spacing", f'use "linear" or "geometric", got {type_name(spec["spacing"])}')
    if "points" in spec:
        numbers(spec["points"], f"{name}.points", example="points = [0.5, 0.75, 1.0]")
        if "min" in spec or "max" in spec or "n" in spec:
            raise SpecError(f"{name}.points", "give either points or min/max/n, not both")


def grid_axis(spec, name, example: str = "{ points = [0.5, 1.0] }") -> None:
    """A grid axis as a table (:func:`grid_spec`) or a bare array of points."""
    if isinstance(spec, dict):
        grid_spec(spec, name)
    elif isinstance(spec, list):
        numbers(spec, name, example=example)
    else:
        raise SpecError(name, f"give a table {{min, max, n}} or {{points = [...]}}, got {type_name(spec)}")


def consumption_grid(points, field: str, gamma, spec=None, zero_ok: bool = False, example_min: float = 0.01) -> None:
    """A consumption grid of CRRA utility: no negative points, and no zero unless the
    economy's LP drops the bundles it values at -inf (``zero_ok``: the liquidity
    economies' SP2). Utility is defined for c > 0 only: at c = 0 it is -inf for gamma >= 1
    (log and beyond), and a lottery LP with a -inf coefficient has no meaning (0 x -inf
    is NaN). ``gamma``: the CRRA coefficient, or one per type; ``spec``: the grid's TOML
    spec (names ``min`` or ``points`` in the message); ``example_min``: a positive lower
    end to suggest."""
    lo = float(np.min(points))
    if lo > 0 or (zero_ok and lo == 0):
        return
    g = float(np.max(np.atleast_1d(np.asarray(gamma, dtype=float))))
    end = "points" if isinstance(spec, list) or (isinstance(spec, dict) and "points" in spec) else "min"
    bound = ">= 0" if zero_ok else "> 0"
    if lo < 0:
        why = "consumption cannot be negative"
    elif g >= 1:
        why = f"utility at c = 0 is -inf for CRRA gamma = {g:g} >= 1"
    else:
        why = "CRRA utility is defined for c > 0 only"
    fix = (f"use a positive min such as min = {example_min:g}, or geometric spacing" if end == "min"
           else f"replace {lo:g} by a positive point such as {example_min:g}")
    if zero_ok:
        fix = "set min = 0" if end == "min" else f"drop the point {lo:g}"
    raise SpecError(field, f"{end} must be {bound}, got {lo:g} ({why}); {fix}")


def concepts(c, allowed) -> tuple[str, ...]:
    """``solve.concepts``: a non-empty array of names among ``allowed``, duplicates dropped."""
    example = f"concepts = {list(allowed)!r}".replace("'", '"')
    if not isinstance(c, list) or not c:
        raise SpecError("solve.concepts", f"must be a non-empty array of names, got {type_name(c)}; write e.g. {example}")
    out = []
    for v in c:
        if not isinstance(v, str) or v not in allowed:
            hint = suggest(v, allowed) if isinstance(v, str) else ""
            raise SpecError("solve.concepts", f"unknown solution concept {v!r}{hint}; "
                                              f"choose from {', '.join(map(repr, allowed))}")
        if v not in out:
            out.append(v)
    return tuple(out)


def choice(v, allowed, field: str, what: str) -> str:
    """A string among ``allowed`` (``what``: "backend", "method", ...)."""
    if not isinstance(v, str) or v not in allowed:
        hint = suggest(v, allowed) if isinstance(v, str) else ""
        raise SpecError(field, f"unknown {what} {v!r}{hint}; choose from {', '.join(map(repr, allowed))}")
    return v


def tol(t, field: str = "solve.tol") -> float | None:
    """The accuracy asked of the answer, in (0, 1), or None."""
    if t is None:
        return None
    if not is_number(t) or not math.isfinite(t) or not 0 < t < 1:
        raise SpecError(field, f"must be a number in (0, 1), e.g. tol = 1e-4 (the accuracy asked of the "
                               f"answer), got {type_name(t) if not is_number(t) else t}")
    return float(t)


def time_limit(t, field: str = "solve.time_limit") -> float | None:
    """Seconds per LP solve, positive, or None."""
    if t is None:
        return None
    if not is_number(t) or not math.isfinite(t) or t <= 0:
        raise SpecError(field, "must be a positive number of seconds per LP solve, e.g. "
                               f"time_limit = 600, got {type_name(t) if not is_number(t) else t}")
    return float(t)


def weights(w, H) -> str | tuple[float, ...]:
    """Pareto weights: ``"negishi"`` (the equilibrium without transfers) or H positive numbers."""
    if isinstance(w, str):
        if w != "negishi":
            raise SpecError("solve.weights", f'must be "negishi" or an array of {H} positive Pareto weights, got {w!r}')
        return w
    if not isinstance(w, list):
        raise SpecError("solve.weights", f'must be "negishi" or an array of {H} positive numbers, got {type_name(w)}')
    if len(w) != H:
        raise SpecError("solve.weights", f"give one Pareto weight per type ({H}), got {len(w)}; "
                                         f'or write weights = "negishi"')
    for h, v in enumerate(w):
        if not is_number(v) or not math.isfinite(v) or v <= 0:
            raise SpecError("solve.weights", f"weight {h} must be a positive finite number, got {type_name(v)}")
    return tuple(float(v) for v in w)
