"""Kilenthong–Townsend Section 2.2: exogenous incomplete markets. J securities paying good 1,
spot markets in every state, per-type CRRA preferences (types not identically homothetic);
the spot prices depend on how securities are held, which is the pecuniary externality.

:mod:`.model` the economy; :mod:`.exact` Definition 4 without a grid; :mod:`.grids` and
:mod:`.lottery` Definition 5 as a lottery LP with exchanges indexed by a vector of spot
prices; :mod:`.segregated` its equilibrium, read-back and certificate; :mod:`.spec` grid
files; :mod:`.recheck` ``segex check``; :mod:`.figure` KT's Figure 1."""

from ...registry import Concept, Economy, ReportLayout, register
from .model import IncompleteMarketsEconomy

_HERE = __name__

register(Economy(
    name="incomplete_markets",
    summary="Kilenthong-Townsend 2.2: exogenous incomplete markets, exchanges indexed by spot-price vectors",
    parse=f"{_HERE}.spec:parse",
    concepts=(
        Concept("externality", f"{_HERE}.concepts:externality",
                "competitive equilibrium with exogenous incomplete markets (Definition 4), exact"),
        Concept("segregated", f"{_HERE}.concepts:segregated",
                "segregated exchanges by spot-price vector with priced rights (Definition 5), lottery LP + Negishi"),
    ),
    recheck=f"{_HERE}.recheck:recheck",
    starter=f"{_HERE}:starter.toml",
    plot=f"{_HERE}.plot:plot",
    grids=f"{_HERE}.spec:build_grids",
    options={"weights": f"{_HERE}.spec:weights"},
    sweep_defaults={"solve.weights": lambda raw: [1.0] * len(raw.get("types", []))},
    main_lp=("segregated",),
    example="grids/kt_incomplete.toml",
    report=ReportLayout(
        sections=(("prices", ("p0", "Q", "spot")), ("planner", ("welfare", "weights"))),
        columns={"types": ("c0", "c1", "theta", "utility", "transfer", "shares"),
                 "exchanges": ("id", "p", "fee", "Q", "mass"),
                 "refinement": ("step", "rows", "cols", "family_spacing", "p0", "theta", "lps", "change",
                                "certified")},
    ),
))

__all__ = ["IncompleteMarketsEconomy"]
