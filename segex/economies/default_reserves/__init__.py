"""Peiris and Vardoulakis, "Reserve Requirements and Default": a bond whose deliveries are
pooled, a utility penalty per unit not delivered, storage, and a reserve requirement.

:mod:`.model` the economy; :mod:`.agent` one agent's delivery rule, utility and first-order
conditions; :mod:`.exact` autarky, GED and RR without a grid (a complementarity system with
the on-the-verge refinement); :mod:`.certify` their certificate (branch, clearing, verge and
independent best responses); :mod:`.mirror` the closed-form branches of the paper's symmetric
family; :mod:`.thresholds` every threshold of Propositions 1-12; :mod:`.planner` the constrained
planner and the lottery LP over pools; :mod:`.contracts` the market's choice of contract
(PV §6) with priced rights; :mod:`.spec` grid files;
:mod:`.recheck` ``segex check``; :mod:`.plot` ``segex plot``."""

from ...registry import Concept, Economy, ReportLayout, register
from .model import DefaultReservesEconomy, baseline

_HERE = __name__

register(Economy(
    name="default_reserves",
    summary="Peiris-Vardoulakis: default with pooled deliveries, penalties and reserve requirements",
    parse=f"{_HERE}.spec:parse",
    concepts=(
        Concept("autarky", f"{_HERE}.concepts:autarky", "no bond market: storage only (PV Prop 1), exact"),
        Concept("GED", f"{_HERE}.concepts:ged", "general equilibrium with default, no requirement (PV 3), exact"),
        Concept("RR", f"{_HERE}.concepts:rr", "equilibrium with the reserve requirement rho (PV 4), exact"),
        Concept("thresholds", f"{_HERE}.concepts:thresholds",
                "every threshold in lambda of PV Propositions 1-12, to machine precision"),
        Concept("contracts", f"{_HERE}.concepts:contracts",
                "the market chooses the contract (PV 6): exchanges (rho, K), priced rights, lottery LP + Negishi"),
        Concept("planner", f"{_HERE}.concepts:planner",
                "the constrained planner: lotteries over storage, bonds and pools, incentive-compatible deliveries"),
    ),
    grids=f"{_HERE}.spec:build_grids",
    main_lp=("contracts", "planner"),
    recheck=f"{_HERE}.recheck:recheck",
    starter=f"{_HERE}:starter.toml",
    plot=f"{_HERE}.plot:plot",
    example="grids/pv_baseline.toml",
    report=ReportLayout(
        sections=(("prices", ("q", "K", "bid", "ask")), ("primitives", ("penalty", "reserve")),
                  ("welfare", ("w", "welfare")),
                  ("thresholds", ("trade_starts", "full_delivery", "trade_ends", "trade_starts_with_reserves",
                                  "reserve_at_trade_start"))),
        per_type=("sigma", "theta", "phi", "D", "x", "w", "mu0", "mu", "eta", "delivery"),
        columns={"exchanges": ("id", "rho", "K", "mass", "fee", "q"),
                 "allocation": ("type", "mass", "rho", "K", "sigma", "theta", "phi", "D", "x")},
        hidden=("details",),
    ),
))

__all__ = ["DefaultReservesEconomy", "baseline"]
