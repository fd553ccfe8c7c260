"""KT 2.2's solution concepts as the registry calls them
(``solve(spec, options, concept, progress) -> result``):

============  ==============================================================================
externality   Definition 4, the competitive equilibrium with exogenous incomplete markets and
              its pecuniary externality through the spot prices, solved exactly (:mod:`.exact`)
segregated    Definition 5, segregated exchanges indexed by the vector of spot prices with
              priced rights to trade, as a lottery LP, and its equilibrium without transfers
              (Negishi weights; :mod:`.segregated`); with ``tol``, refined onto the
              support until the allocation moves less than tol (:mod:`.refine`)
============  ==============================================================================
"""

from __future__ import annotations

import numpy as np


def externality(spec, options, concept="externality", progress=False):
    from .exact import solve_externality

    return solve_externality(spec.economy)


def segregated(spec, options, concept="segregated", progress=False):
    weights = None if options.weights == "negishi" else np.array(options.weights)
    if options.tol is not None:
        from .refine import solve_to_tolerance

        return solve_to_tolerance(spec.economy, options.tol, grid_specs=spec.grid, weights=weights,
                                  backend=options.backend, progress=progress)
    from .segregated import solve_segregated

    return solve_segregated(spec.economy, weights=weights, backend=options.backend, grid_specs=spec.grid,
                            progress=progress)
