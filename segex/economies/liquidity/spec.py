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
:class:`~segex.errors.SpecError` naming the TOML path.
"""

from __future__ import annotations

from ...errors import SpecError
from ...io import validate as v
from ...io.config import RunSpec, parse_solve

KEYS = {
    "liquidity": ("economy", "name", "family", "theta", "prob", "gamma", "R_hat", "e", "rho", "grid", "solve"),
    "diamond_dybvig": ("economy", "name", "pi", "gamma", "R_hat", "rho", "e", "grid", "solve"),
}
GRID_KEYS = {"liquidity": ("R", "p", "I", "c"), "diamond_dybvig": ("R", "p", "I")}


def parse_fgt(data: dict, name: str, path: str | None) -> RunSpec:
    """An FGT grid file (``economy = "liquidity"``)."""
    from .model import LiquidityEconomy

    v.check_keys(data, KEYS["liquidity"], "")
    num = _numbers(data)
    for key, example in (("family", 'family = "discount"'), ("theta", "theta = [0.5, 1.5]"),
                         ("prob", "prob = [0.5, 0.5]")):
        v.require(data, key, "", example)
    if not isinstance(data["family"], str):
        raise SpecError("family", f'must be a string such as "discount", got {v.type_name(data["family"])}')
    econ = LiquidityEconomy.create(v.numbers(data["theta"], "theta", "theta = [0.5, 1.5]"),
                                   v.numbers(data["prob"], "prob", "prob = [0.5, 0.5]"), data["family"],
                                   name=name, **num)
    return _spec(data, econ, "liquidity", path)


def parse_dd(data: dict, name: str, path: str | None) -> RunSpec:
    """A KT Section 3 grid file (``economy = "diamond_dybvig"``)."""
    from . import diamond_dybvig as dd

    v.check_keys(data, KEYS["diamond_dybvig"], "")
    num = _numbers(data)
    for key in ("pi", "gamma", "R_hat"):
        if key not in num:
            raise SpecError(key, f"missing required key; add {key} = {({'pi': 0.25, 'gamma': 2.0, 'R_hat': 1.5}[key])}")
    return _spec(data, dd.economy(name=name, **num), "diamond_dybvig", path)


def build_grids(econ, grid: dict):
    """The exchanges and incomes of the lottery LPs (:class:`.lottery.LotteryGrids`)."""
    from .lottery import LotteryGrids

    return LotteryGrids.build(econ, **{k: val for k, val in grid.items() if k != "c"})


def _numbers(data: dict) -> dict:
    return {key: v.number(data[key], key) for key in ("gamma", "R_hat", "e", "rho", "pi") if key in data}


def _spec(data, econ, kind, path) -> RunSpec:
    from .lottery import consumption_grid

    grid = v.table(data, "grid")
    v.check_keys(grid, GRID_KEYS[kind], "grid")
    for key, spec in grid.items():
        v.grid_axis(spec, f"grid.{key}", example=f"{key} = {{ min = 0.5, max = 1.5, n = 41 }}")
    build_grids(econ, grid)  # grid errors before any solve
    if "c" in grid:
        consumption_grid(econ, grid["c"])
    return RunSpec(economy=econ, kind=kind, grid=dict(grid), solve=parse_solve(data, kind, econ), path=path)
