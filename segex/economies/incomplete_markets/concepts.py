"""KT 2.2's solution concepts as the registry calls them
(``solve(spec, options, concept, progress) -> result``):

============  ==============================================================================
externality   Definition 4, the competitive equilibrium with exogenous incomplete markets and
              its pecuniary externality through the spot prices, solved exactly (:mod:`.exact`)
segregated    Definition 5, segregated exchanges indexed by the vector of spot prices with
              priced rights to trade, as a lottery LP, and its equilibrium without transfers
              (Negishi weights; :mod:`.segregated`)
============  ==============================================================================
"""

from __future__ import annotations

import numpy as np

from ...errors import SpecError


def externality(spec, options, concept="externality", progress=False):
    from .exact import solve_externality

    return solve_externality(spec.economy)


def segregated(spec, options, concept="segregated", progress=False):
    from .segregated import solve_segregated

    if options.tol is not None:
        raise SpecError("solve.tol", "refining KT 2.2's exchanges to a tolerance is not available yet; drop tol "
                                     "(or --tol) and refine the [grid] instead")
    weights = None if options.weights == "negishi" else np.array(options.weights)
    return solve_segregated(spec.economy, weights=weights, backend=options.backend, grid_specs=spec.grid)
