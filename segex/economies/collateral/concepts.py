"""The collateral economy's solution concepts as the registry calls them
(``solve(spec, options, concept, progress) -> result``):

============  ==============================================================================
externality   KT Definition 1, the competitive equilibrium with the pecuniary externality,
              solved exactly (:func:`.externality.solve_externality`); no grid discretises
              it, and ``grid.k = { points = [0.0] }`` rules storage out as it does for
              segregated
segregated    Program 2 with segregated exchanges and, with ``weights = "negishi"``, its
              equilibrium without transfers (:func:`.segregated.solve_segregated`); with
              ``tol``, accuracy mode (:func:`.refine.solve_to_tolerance`)
============  ==============================================================================
"""

from __future__ import annotations

import numpy as np

from ...errors import SpecError


def externality(spec, options, concept="externality", progress=False):
    """Definition 1 solved exactly: no grid discretises it, but a grid file that fixes
    ``grid.k = { points = [0.0] }`` rules storage out for both concepts."""
    from .externality import solve_externality

    if spec.build_grids().k.size == 1:  # k = 0 only (the grid must hold it)
        return solve_externality(spec.economy, storage=False)
    return solve_externality(spec.economy)


def segregated(spec, options, concept="segregated", progress=False):
    weights = options.weights
    grids = spec.build_grids()
    if options.tol is None:
        from .segregated import solve_segregated

        return solve_segregated(spec.economy, grids, weights=None if weights == "negishi" else np.array(weights),
                                backend=options.backend, progress=progress, method=options.method)
    if weights != "negishi":
        raise SpecError("solve.tol", "--tol / solve.tol refines the competitive equilibrium; "
                                     'set solve.weights = "negishi" or drop the tolerance')
    from .refine import solve_to_tolerance

    return solve_to_tolerance(spec.economy, options.tol, grids=grids, backend=options.backend, progress=progress)[0]
