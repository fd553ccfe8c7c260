"""Grid files of the Kilenthong–Townsend collateral economy (``economy = "collateral"``)::

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
    method = "grid"                 # or "colgen", "colgen-grid"

Errors are :class:`~segex.errors.SpecError` naming the TOML path (type indices 0-based).
"""

from __future__ import annotations

import numpy as np

from ...errors import SpecError
from ...io import validate as v
from ...io.config import RunSpec, parse_solve
from .grids import CollateralGrids
from .model import CollateralEconomy
from .segregated import METHODS  # Program 2's methods solve.method may name

TOP_KEYS = ("economy", "name", "beta", "gamma", "prob", "R", "types", "grid", "solve")
TYPE_KEYS = ("share", "endowment")
GRID_KEYS = ("c", "k", "z", "a")


def weights(w, econ) -> str | tuple[float, ...]:
    """``solve.weights``: "negishi" (default) or one Pareto weight per type."""
    return v.weights("negishi" if w is None else w, econ.H)


def method(m, econ=None) -> str:
    """``solve.method`` / ``--method``: how Program 2 is solved (default "grid")."""
    return v.choice("grid" if m is None else m, METHODS, "solve.method", "method")


def parse(data: dict, name: str, path: str | None) -> RunSpec:
    """Validate a collateral grid file (module docstring) into a :class:`RunSpec`."""
    v.check_keys(data, TOP_KEYS, "")
    beta = v.number(data.get("beta", 1.0), "beta")
    gamma = v.number(data.get("gamma", 2.0), "gamma")
    prob = v.numbers(data.get("prob", [1.0]), "prob", example="prob = [0.5, 0.5]")
    if len(prob) < 1:
        raise SpecError("prob", "give at least one state probability, e.g. prob = [1.0]")
    S = len(prob)
    R = v.numbers(data["R"], "R", example=f"R = {[1.0] * S}") if "R" in data else None
    types = v.types_table(data, TYPE_KEYS, {"share": "share = 0.5", "endowment": f"endowment = {[[1, 1]] * (1 + S)}"},
                          "share and endowment")
    shares = [v.number(t["share"], f"types[{h}].share") for h, t in enumerate(types)]
    endowments = [v.endowment(t["endowment"], f"types[{h}].endowment", S) for h, t in enumerate(types)]
    econ = CollateralEconomy.create(share=shares, endowment=np.array(endowments, dtype=float), prob=prob, R=R,
                                    beta=beta, gamma=gamma, name=name)
    grid = v.table(data, "grid")
    v.check_keys(grid, GRID_KEYS, "grid")
    for key, spec in grid.items():
        _check_grid(key, spec, S)
    build_grids(econ, grid)  # grid errors before any solve
    return RunSpec(economy=econ, kind="collateral", grid=dict(grid), solve=parse_solve(data, "collateral", econ),
                   path=path)


def build_grids(econ: CollateralEconomy, grid: dict) -> CollateralGrids:
    """``CollateralGrids.build(econ, **grid)``; a shape the checks did not foresee is a SpecError."""
    try:
        return CollateralGrids.build(econ, **grid)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError("grid", f"cannot build the grids ({exc}); see the [grid] example in grids/kt_env1.toml") from None


def _check_grid(key, spec, S):
    """Types and keys of one grid spec; ranges and no-trade points are CollateralGrids.build's job."""
    name = f"grid.{key}"
    if isinstance(spec, dict):
        v.grid_spec(spec, name)
        return
    if not isinstance(spec, list):
        raise SpecError(name, f"give a table {{min, max, n}} or {{points = [...]}}, got {v.type_name(spec)}")
    if key in ("k", "a"):  # a bare list is shorthand for points
        v.numbers(spec, name, example=f"{key} = {{ points = [0.0, 0.5, 1.0] }}")
        return
    per = {"c": (2, "good"), "z": (S, "state")}[key]
    if len(spec) != per[0]:
        raise SpecError(name, f"give one table for all {per[1]}s or an array of {per[0]} tables (one per {per[1]}), "
                              f"got {len(spec)}")
    for i, sub in enumerate(spec):
        v.grid_axis(sub, f"{name}[{i}]")
