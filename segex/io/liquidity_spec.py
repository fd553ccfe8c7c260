"""Grid files of the liquidity economies: FGT's (``economy = "liquidity"``) and KT
Section 3's Diamond-Dybvig economy with retrade (``economy = "diamond_dybvig"``)::

    economy = "liquidity"
    name = "FGT Example 1: discount-factor shocks"
    family = "discount"           # discount | liquidity | valuation_neutral | diamond_dybvig
    theta = [0.5, 1.5]            # the preference shocks
    prob = [0.5, 0.5]             # their probabilities F
    gamma = 1.0                   # CRRA of u-hat (1 = log)
    R_hat = 1.5                   # the long asset's return
    e = 1.0                       # endowment

    [grid]
    R = { min = 0.75, max = 2.25, n = 41 }   # exchanges: private-market rates
    I = { min = 0.5, max = 1.5, n = 41 }     # present values at R
    c = { min = 0.0, max = 3.0, n = 81 }     # SP2's consumption grid

    [solve]
    concepts = ["SP1", "SP2", "CE3", "SP3"]  # and "segregated"
    tol = 1e-9                    # refine SP3's grids until welfare moves less than this

``economy = "diamond_dybvig"`` takes ``pi`` (impatient share), ``gamma``, ``R_hat``,
``rho`` (patient discount, default 1), ``e``; its exchanges may be given as spot prices
``grid.p`` (KT's index); its concepts are ``externality`` and ``segregated``. Errors are
:class:`~segex.errors.SpecError` naming the TOML path, as in :mod:`.config`.
"""

from __future__ import annotations

from ..economies.liquidity.concepts import FGT_CONCEPTS, KT_CONCEPTS
from ..errors import SpecError
from .config import (BACKENDS, RunSpec, SolveOptions, _backend, _check_grid_spec, _check_keys, _concepts, _number,
                     _numbers, _time_limit, _tname, _tol)

KEYS = {
    "liquidity": ("economy", "name", "family", "theta", "prob", "gamma", "R_hat", "e", "rho", "grid", "solve"),
    "diamond_dybvig": ("economy", "name", "pi", "gamma", "R_hat", "rho", "e", "grid", "solve"),
}
GRID_KEYS = {"liquidity": ("R", "p", "I", "c"), "diamond_dybvig": ("R", "p", "I")}
SOLVE_KEYS = ("concepts", "backend", "tol", "time_limit")
CONCEPTS = {"liquidity": FGT_CONCEPTS, "diamond_dybvig": KT_CONCEPTS}
DEFAULT_CONCEPTS = {"liquidity": ("SP1", "SP2", "CE3", "SP3"), "diamond_dybvig": KT_CONCEPTS}


def parse_liquidity(data: dict, kind: str, name: str, path: str | None) -> RunSpec:
    """Validate a liquidity-economy grid file (module docstring) into a :class:`RunSpec`."""
    from ..economies.liquidity import LiquidityEconomy
    from ..economies.liquidity import diamond_dybvig as dd
    from ..economies.liquidity.lottery import LotteryGrids, consumption_grid

    _check_keys(data, KEYS[kind], "")
    num = {key: _number(data[key], key) for key in ("gamma", "R_hat", "e", "rho", "pi") if key in data}
    if kind == "liquidity":
        for key in ("family", "theta", "prob"):
            if key not in data:
                example = {"family": 'family = "discount"', "theta": "theta = [0.5, 1.5]",
                           "prob": "prob = [0.5, 0.5]"}[key]
                raise SpecError(key, f"missing required key; add {example}")
        if not isinstance(data["family"], str):
            raise SpecError("family", f'must be a string such as "discount", got {_tname(data["family"])}')
        econ = LiquidityEconomy.create(_numbers(data["theta"], "theta", "theta = [0.5, 1.5]"),
                                       _numbers(data["prob"], "prob", "prob = [0.5, 0.5]"), data["family"],
                                       name=name, **num)
    else:
        for key in ("pi", "gamma", "R_hat"):
            if key not in num:
                raise SpecError(key, f"missing required key; add {key} = "
                                     f"{ {'pi': 0.25, 'gamma': 2.0, 'R_hat': 1.5}[key] }")
        econ = dd.economy(name=name, **num)

    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError("grid", f"must be a table written [grid], got {_tname(grid)}")
    _check_keys(grid, GRID_KEYS[kind], "grid")
    for key, spec in grid.items():
        if isinstance(spec, dict):
            _check_grid_spec(spec, f"grid.{key}")
        else:
            _numbers(spec, f"grid.{key}", example=f"{key} = {{ min = 0.5, max = 1.5, n = 41 }}")
    LotteryGrids.build(econ, **{k: v for k, v in grid.items() if k != "c"})  # grid errors before any solve
    if "c" in grid:
        consumption_grid(econ, grid["c"])

    solve = data.get("solve", {})
    if not isinstance(solve, dict):
        raise SpecError("solve", f"must be a table written [solve], got {_tname(solve)}")
    _check_keys(solve, SOLVE_KEYS, "solve")
    options = SolveOptions(concepts=_concepts(solve.get("concepts", list(DEFAULT_CONCEPTS[kind])), CONCEPTS[kind]),
                           weights="negishi", backend=_backend(solve.get("backend", BACKENDS[0])),
                           tol=_tol(solve.get("tol")), time_limit=_time_limit(solve.get("time_limit")))
    return RunSpec(economy=econ, grid=dict(grid), solve=options, path=path, kind=kind, raw=data)
