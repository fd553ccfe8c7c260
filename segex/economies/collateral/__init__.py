"""Kilenthong–Townsend collateral economy: Definition 1 (with the externality) and
Program 2 (segregated exchanges, Appendix A) with its competitive equilibrium."""

from ...registry import Concept, Economy, ReportLayout, register
from .externality import ExternalityResult, solve_externality
from .grids import CollateralGrids
from .model import CollateralEconomy
from .segregated import SegregatedResult, solve_segregated

_HERE = __name__

register(Economy(
    name="collateral",
    summary="Kilenthong-Townsend 2.1: collateral, the fire-sale externality and segregated exchanges",
    parse=f"{_HERE}.spec:parse",
    concepts=(
        Concept("externality", f"{_HERE}.concepts:externality",
                "competitive collateral equilibrium with the pecuniary externality (Definition 1), exact"),
        Concept("segregated", f"{_HERE}.concepts:segregated",
                "Program 2 with segregated exchanges and its equilibrium without transfers (Negishi)"),
    ),
    recheck=f"{_HERE}.recheck:recheck",
    starter=f"{_HERE}:starter.toml",
    plot=f"{_HERE}.plot:plot",
    grids=f"{_HERE}.spec:build_grids",
    options={"weights": f"{_HERE}.spec:weights", "method": f"{_HERE}.spec:method"},
    sweep_defaults={"solve.weights": lambda raw: [1.0] * len(raw.get("types", []))},
    main_lp=("segregated",),
    example="grids/kt_env1.toml",
    report=ReportLayout(
        sections=(("prices", ("p0", "spot", "q")),
                  ("aggregates", ("K", "z")),
                  ("planner", ("welfare", "weights", "equilibrium", "method"))),
        columns={"types": ("k", "c0", "c1", "theta", "utility", "binding", "multiplier", "transfer", "fee",
                           "lump_sum", "wealth", "expenditure", "shares", "Delta"),
                 "exchanges": ("id", "state", "z", "p", "fee", "fee_interval", "Q", "mass"),
                 "refinement": ("step", "phase", "n_z", "rows", "cols", "objective", "p0", "K", "z", "P_Delta",
                                "change", "largest_change_in", "seconds", "certified")},
        hidden=("active_exchanges", "continuum"),  # the exchanges' table; the LP's continuum line
    ),
))

__all__ = [
    "CollateralEconomy",
    "CollateralGrids",
    "ExternalityResult",
    "SegregatedResult",
    "solve_externality",
    "solve_segregated",
]
