"""Grid files of Peiris and Vardoulakis's economy (``economy = "default_reserves"``)::

    economy = "default_reserves"
    name = "PV baseline"
    prob = [0.5, 0.5]
    promise = [1.0, 1.0]           # the bond's promise per state (A_s)
    penalty = 0.75                 # lambda, utils per unit of promise not delivered
    reserve = 0.0                  # rho, storage each agent must hold (0: no requirement)
    [[types]]
    share = 0.5
    endowment = [1, 1, 0]          # t=0, then each state
    [[types]]
    share = 0.5
    endowment = [1, 0, 1]
    [grid]                         # the contract and planner LPs' grids (segex.economies.default_reserves.planner)
    K_mode = "product"             # one delivery rate per state ("equal": one rate for every state)
    [solve]
    concepts = ["autarky", "GED", "RR", "thresholds", "contracts", "planner"]

Errors are :class:`~segex.errors.SpecError` naming the TOML path (type indices 0-based).
"""

from __future__ import annotations

from ...errors import SpecError
from ...io import validate as v
from ...io.config import RunSpec, parse_solve
from .model import DefaultReservesEconomy

TOP_KEYS = ("economy", "name", "prob", "promise", "penalty", "reserve", "types", "grid", "solve")
TYPE_KEYS = ("share", "endowment")


def parse(data: dict, name: str, path: str | None) -> RunSpec:
    """Validate a PV grid file (module docstring) into a :class:`RunSpec`."""
    v.check_keys(data, TOP_KEYS, "")
    prob = v.numbers(data.get("prob", [0.5, 0.5]), "prob", "prob = [0.5, 0.5]")
    S = len(prob)
    if S < 1:
        raise SpecError("prob", "give at least one state probability, e.g. prob = [0.5, 0.5]")
    promise = v.numbers(data.get("promise", [1.0] * S), "promise", f"promise = {[1.0] * S}")
    if len(promise) != S:
        raise SpecError("promise", f"give one promise per state ({S}, as prob), got {len(promise)}; "
                                   f"write e.g. promise = {[1.0] * S}")
    penalty = v.number(v.require(data, "penalty", "", "penalty = 0.75"), "penalty")
    reserve = v.number(data.get("reserve", 0.0), "reserve")
    types = v.types_table(data, TYPE_KEYS, {"share": "share = 0.5", "endowment": f"endowment = {[1.0] * (1 + S)}"},
                          "share and endowment")
    endowment = []
    for h, t in enumerate(types):
        e = v.numbers(t["endowment"], f"types[{h}].endowment", f"endowment = {[1.0] * (1 + S)}")
        if len(e) != 1 + S:
            raise SpecError(f"types[{h}].endowment", f"needs {1 + S} numbers (t=0, then each of the {S} states "
                                                     f"of prob), got {len(e)}; e.g. endowment = {[1.0] * (1 + S)}")
        endowment.append(e)
    econ = DefaultReservesEconomy.create(
        share=[v.number(t["share"], f"types[{h}].share") for h, t in enumerate(types)], endowment=endowment,
        prob=prob, promise=promise, penalty=penalty, reserve=reserve, name=name)
    grid = v.table(data, "grid")
    build_grids(econ, grid)  # grid errors before any solve
    return RunSpec(economy=econ, kind="default_reserves", grid=dict(grid),
                   solve=parse_solve(data, "default_reserves", econ), path=path)


def build_grids(econ: DefaultReservesEconomy, grid: dict):
    """The contract and planner LPs' grids from the ``[grid]`` table (:mod:`.planner`)."""
    from .planner import grids_from_specs

    return grids_from_specs(econ, grid)
