"""Solve a validated run specification: every solution concept the file asks for, as
certified result objects. Shared by ``segex solve`` and ``segex sweep`` (and usable from
Python: ``solve_spec(load_spec("grids/kt_env1.toml"))``)."""

from __future__ import annotations

import importlib

import numpy as np

from .errors import SegexError, SpecError

#: collateral concept -> (module, function)
SOLVERS = {
    "externality": ("segex.economies.collateral.externality", "solve_externality"),
    "segregated": ("segex.economies.collateral.segregated", "solve_segregated"),
}
COLLATERAL_CONCEPTS = tuple(SOLVERS)


def solve_spec(spec, concepts=None, backend=None, method=None, tol=None, progress=False, status=None,
               time_limit=None) -> dict:
    """``{concept: result}`` for ``spec`` (a :class:`segex.io.config.RunSpec`). Arguments
    left as None take the file's ``[solve]`` values; ``status(message)`` is called before
    each solve of a liquidity economy; ``time_limit``: seconds per HiGHS run."""
    from .backends.highs import time_limit as highs_time_limit

    with highs_time_limit(time_limit if time_limit is not None else spec.solve.time_limit):
        return _solve_spec(spec, concepts, backend, method, tol, progress, status)


def _solve_spec(spec, concepts, backend, method, tol, progress, status) -> dict:
    concepts = tuple(dict.fromkeys(concepts)) if concepts else spec.solve.concepts
    backend = backend or spec.solve.backend
    tol = tol if tol is not None else spec.solve.tol
    if spec.kind == "collateral":
        return _collateral(spec, concepts, backend, method or spec.solve.method, tol, progress)
    if method:
        raise SpecError("--method", "chooses how the collateral economy's Program 2 is solved; drop it here")
    return _liquidity(spec, concepts, backend, tol, status)


def datasets(results: dict, spec) -> dict:
    """``{concept: xarray.Dataset}`` of the results (closed-form allocations get the
    economy's type labels)."""
    import json

    out = {}
    for name, res in results.items():
        try:
            ds = res.to_dataset(spec.economy)
        except TypeError:
            ds = res.to_dataset()
        ds.attrs["segex_concept"] = name
        ds.attrs["segex_spec"] = json.dumps(spec.raw, default=str)  # `segex check` rebuilds the economy
        out[name] = ds
    return out


def _offered(concepts, offered, kind):
    bad = [c for c in concepts if c not in offered]
    if bad:
        raise SpecError("--concept", f"{bad[0]}: the {kind} economy offers {', '.join(offered)}")


def _liquidity(spec, concepts, backend, tol, status) -> dict:
    """FGT's SP1, SP2, CE3, SP3 and KT's externality / segregated for the liquidity economies."""
    from .economies.liquidity.concepts import solve_concept
    from .economies.liquidity.diamond_dybvig import KTResult
    from .economies.liquidity.lottery import consumption_grid
    from .io.liquidity_spec import CONCEPTS as OFFERED

    _offered(concepts, OFFERED[spec.kind], spec.kind)
    grids = spec.build_grids()
    c_grid = consumption_grid(spec.economy, spec.grid.get("c"))
    results = {}
    for concept in concepts:
        if status:
            refined = tol is not None and concept in ("SP2", "SP3", "segregated")
            status(f"solving {concept}" + (f" to tol {tol:g}" if refined else ""))
        res = solve_concept(spec.economy, concept, grids=grids, c_grid=c_grid, tol=tol, backend=backend)
        results[concept] = KTResult(res) if spec.kind == "diamond_dybvig" else res
    return results


def _collateral(spec, concepts, backend, method, tol, progress) -> dict:
    econ, weights = spec.economy, spec.solve.weights
    _offered(concepts, COLLATERAL_CONCEPTS, "collateral")
    solvers = {concept: load_solver(concept) for concept in concepts}  # fail before any solve
    results = {}
    for concept, solver in solvers.items():
        if concept == "externality":
            results[concept] = solver(econ)
            continue
        grids = spec.build_grids()
        if tol is None:
            results[concept] = solver(econ, grids, weights=None if weights == "negishi" else np.array(weights),
                                      backend=backend, progress=progress, method=method)
            continue
        if weights != "negishi":
            raise SpecError("solve.tol", "--tol / solve.tol refines the competitive equilibrium; "
                                         'set solve.weights = "negishi" or drop the tolerance')
        from .economies.collateral.refine import solve_to_tolerance

        results[concept] = solve_to_tolerance(econ, tol, grids=grids, backend=backend, progress=progress)[0]
    return results


def load_solver(concept):
    module, func = SOLVERS[concept]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise SegexError(f"solution concept {concept!r} is not available in this installation "
                         f"(module {module} is missing)") from None
    return getattr(mod, func)
