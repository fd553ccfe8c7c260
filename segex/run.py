"""Solve a validated run specification: every solution concept the file asks for, as
certified result objects. Shared by ``segex solve``, ``segex sweep`` and the Python API
(:func:`segex.solve`). It knows no economy: each concept's solver comes from the
economy's registry entry (:mod:`segex.registry`)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import SegexError
from .io.config import override


def solve_spec(spec, concepts=None, backend=None, tol=None, progress=False, status=None, time_limit=None,
               verbose=False, **options) -> dict:
    """``{concept: result}`` for ``spec`` (a :class:`segex.io.config.RunSpec`). Arguments
    left as None take the file's ``[solve]`` values; ``options`` are the economy's own
    (``method="colgen"``), validated as the file's would be; ``status(message)`` is called
    before each concept is solved; ``time_limit``: seconds per HiGHS run; ``progress``:
    progress bars on stderr (:mod:`segex.progress`); ``verbose``: the LP solver's own log on
    stderr (:func:`segex.backends.highs.solver_log`)."""
    from .backends.highs import solver_log
    from .backends.highs import time_limit as highs_time_limit

    opts = override(spec, concepts=concepts, backend=backend, tol=tol, time_limit=time_limit, **options)
    definition = spec.definition
    solvers = {c: definition.solver(c) for c in opts.concepts}  # fail before any solve
    results = {}
    with highs_time_limit(opts.time_limit), solver_log(verbose):
        for concept, solve in solvers.items():
            if status:
                status(f"solving {concept}" + (f" to tol {opts.tol:g}" if opts.tol is not None else ""))
            try:
                results[concept] = solve(spec, opts, concept, progress=progress)
            except ModuleNotFoundError as exc:  # an incomplete installation, not a bug in the economy
                raise SegexError(f"solution concept {concept!r} is not available in this installation "
                                 f"(module {exc.name} is missing)") from None
    return results


def main_lp(spec, results: dict) -> dict | None:
    """The run's headline LP (the economy's ``main_lp`` concepts, first one solved), or None."""
    for concept in spec.definition.main_lp:
        lp = getattr(results.get(concept), "lp", None)
        if lp:
            return lp
    return None


def datasets(results: dict, spec) -> dict:
    """``{concept: xarray.Dataset}`` of the results, each carrying the grid file it was
    solved from (``segex check`` rebuilds the economy from it)."""
    out = {}
    for name, res in results.items():
        ds = res.to_dataset()
        ds.attrs["segex_concept"] = name
        ds.attrs["segex_spec"] = json.dumps(spec.raw, default=str)
        out[name] = ds
    return out


def save(path, results: dict, spec, command: str) -> Path:
    """Write ``results`` as ``segex solve --out`` does: one group per concept
    (:func:`datasets`) and the root's provenance (:func:`provenance`); returns the path."""
    from .io.store import write_netcdf

    return write_netcdf(path, datasets(results, spec), attrs=provenance(spec, results, command))


def provenance(spec, results: dict, command: str) -> dict:
    """What a result file's root says about the run: the economy, the grid file (absolute
    path), the command that solved it and one status line per concept."""
    from .result import status_line

    return {"segex_kind": "result", "title": f"segex result: {spec.name}", "economy": spec.kind,
            "grid_file": str(Path(spec.path).resolve()) if spec.path else "none (parsed from a dict)",
            "command": command, "summary": "\n".join(status_line(r, c) for c, r in results.items())}
