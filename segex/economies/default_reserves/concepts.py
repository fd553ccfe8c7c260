"""PV's solution concepts as the registry calls them (``solve(spec, options, concept,
progress) -> result``):

==========  ==================================================================================
autarky     no bond market: each type stores on its own (PV Prop 1), with the on-the-verge
            test of opening the market
GED         the general equilibrium with default, no requirement (PV §3), exact
RR          the equilibrium with the file's reserve requirement rho on every agent (PV §4)
thresholds  every threshold in lambda of Propositions 1-12 (:mod:`.thresholds`)
contracts   the market chooses the contract (PV §6): exchanges indexed by (rho, K) with priced
            rights to trade, a lottery LP at Negishi weights (:mod:`.contracts`)
planner     the constrained planner: lotteries over storage, bonds and pools with
            incentive-compatible deliveries, as an LP (:mod:`.planner`)
==========  ==================================================================================
"""

from __future__ import annotations


def autarky(spec, options, concept="autarky", progress=False):
    from .exact import solve_autarky

    return solve_autarky(spec.economy.with_(reserve=0.0), concept)


def ged(spec, options, concept="GED", progress=False):
    from .exact import solve_equilibrium

    return solve_equilibrium(spec.economy.with_(reserve=0.0), concept)


def rr(spec, options, concept="RR", progress=False):
    from .exact import solve_equilibrium

    return solve_equilibrium(spec.economy, concept)


def thresholds(spec, options, concept="thresholds", progress=False):
    from .thresholds import solve_thresholds

    return solve_thresholds(spec.economy)


def contracts(spec, options, concept="contracts", progress=False):
    from .contracts import solve_contracts

    return solve_contracts(spec.economy, spec.grid, backend=options.backend, progress=progress)


def planner(spec, options, concept="planner", progress=False):
    from .planner import solve_planner

    return solve_planner(spec.economy, spec.grid, backend=options.backend)
