"""Grid files of KT 2.2's incomplete-markets economy (``economy = "incomplete_markets"``)::

    economy = "incomplete_markets"
    name = "KT 2.2: one bond, two states"
    beta = 1.0
    prob = [0.5, 0.5]
    payoffs = [[1.0, 1.0]]                    # D: one row per security, one column per state (good 1)
    [[types]]
    share = 0.5
    gamma = 0.5                               # this type's CRRA
    endowment = [[3, 1], [4, 1], [1, 2]]      # t=0, then each state: [good 1, good 2]
    [[types]]
    share = 0.5
    gamma = 3.0
    endowment = [[1, 3], [2, 3], [3, 4]]

    [grid]                                    # all optional (segex.economies.incomplete_markets.grids)
    c = { n = 61 }                            # t=0 consumption of each good (geometric)
    p = { min = 0.2, max = 2.0, n = 15 }      # exchanges' spot prices, per state (or one table per state)
    theta = { min = -1.0, max = 1.0, n = 31 } # holdings, per security (or one table per security)
    family = { radius = 0.5, n = 41, composition_radius = 1.0, composition_n = 5 }
                                              # exchanges clearing with their traders in them,
                                              # around Definition 4's holdings and the
                                              # population's composition (n = 0: none)

    [solve]
    concepts = ["externality", "segregated"]
    weights = "negishi"                       # or one Pareto weight per type

Errors are :class:`~segex.errors.SpecError` naming the TOML path (type indices 0-based).
"""

from __future__ import annotations

from ...errors import SpecError
from ...io import validate as v
from ...io.config import RunSpec, parse_solve
from .model import IncompleteMarketsEconomy

TOP_KEYS = ("economy", "name", "beta", "prob", "payoffs", "types", "grid", "solve")
TYPE_KEYS = ("share", "gamma", "endowment")
GRID_KEYS = ("c", "p", "theta", "family")


def weights(w, econ) -> str | tuple[float, ...]:
    """``solve.weights``: "negishi" (default) or one Pareto weight per type."""
    return v.weights("negishi" if w is None else w, econ.H)


def parse(data: dict, name: str, path: str | None) -> RunSpec:
    """Validate a KT 2.2 grid file (module docstring) into a :class:`RunSpec`."""
    v.check_keys(data, TOP_KEYS, "")
    beta = v.number(data.get("beta", 1.0), "beta")
    prob = v.numbers(v.require(data, "prob", "", "prob = [0.5, 0.5]"), "prob", "prob = [0.5, 0.5]")
    if not prob:
        raise SpecError("prob", "give at least one state probability, e.g. prob = [0.5, 0.5]")
    S = len(prob)
    payoffs = v.matrix(v.require(data, "payoffs", "", f"payoffs = [{[1.0] * S}]"), "payoffs", S,
                       f"payoffs = [{[1.0] * S}] (one row per security, one payoff of good 1 per state)",
                       what="security")
    types = v.types_table(data, TYPE_KEYS, {"share": "share = 0.5", "gamma": "gamma = 2.0",
                                            "endowment": f"endowment = {[[1, 1]] * (1 + S)}"},
                          "share, gamma and endowment")
    econ = IncompleteMarketsEconomy.create(
        share=[v.number(t["share"], f"types[{h}].share") for h, t in enumerate(types)],
        gamma=[v.number(t["gamma"], f"types[{h}].gamma") for h, t in enumerate(types)],
        endowment=[v.endowment(t["endowment"], f"types[{h}].endowment", S) for h, t in enumerate(types)],
        prob=prob, payoffs=payoffs, beta=beta, name=name)
    grid = v.table(data, "grid")
    v.check_keys(grid, GRID_KEYS, "grid")
    for key, spec in grid.items():
        if key == "family":
            if not isinstance(spec, dict):
                raise SpecError("grid.family", f"must be a table {{radius, n, composition_radius, composition_n}}, got {v.type_name(spec)}")
            continue  # checked by grids.family_spec
        if isinstance(spec, list) and spec and all(isinstance(s, (dict, list)) for s in spec):
            for i, sub in enumerate(spec):
                v.grid_axis(sub, f"grid.{key}[{i}]")
        else:
            v.grid_axis(spec, f"grid.{key}")
    build_grids(econ, grid)  # grid errors before any solve
    return RunSpec(economy=econ, kind="incomplete_markets", grid=dict(grid),
                   solve=parse_solve(data, "incomplete_markets", econ), path=path)


def build_grids(econ: IncompleteMarketsEconomy, grid: dict):
    """The LP's grids from the ``[grid]`` specs (no points inserted)."""
    from .grids import MarketGrids

    return MarketGrids.build(econ, **grid)
