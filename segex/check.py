"""``segex check FILE.nc``: re-verify a saved result without the solver that produced it.

Every group written by ``segex solve --out`` carries the grid file it was solved from
(attribute ``segex_spec``) and its concept (``segex_concept``). The economy is rebuilt from
the grid file and the economy's registered re-check (:mod:`segex.registry`) recomputes the
concept's checks from the saved allocation or lotteries alone: no LP is solved and no dual
is trusted except where a check is *about* a saved price. Tolerances are those of the
solve-time certificates.

A sweep's combined output (``segex sweep --out``) is not a single result (its points'
grids are merged): ``segex check`` says so in one line (exit 2) and points to the sweep's
parts, ``OUT.parts/point-NNNNNN.nc``, each one point's result, which it checks.
"""

from __future__ import annotations

import json

from .certificate import Certificate
from .errors import SegexError


def check_file(path) -> dict[str, Certificate]:
    """{group: certificate} for every concept group of a ``segex solve --out`` file (or of one
    point of a sweep, ``OUT.parts/point-NNNNNN.nc``). A combined sweep is an error saying so:
    its points' grids and specs are merged, so there is no single result to re-verify."""
    from .io.store import is_zarr, read_netcdf, read_root

    if is_zarr(path):
        raise SegexError(_SWEEP.format(path=path))
    groups = read_netcdf(path)
    if read_root(path).get("segex_kind") == "sweep" or _sweep_info(groups.get("sweep"), combined=True):
        raise SegexError(_SWEEP.format(path=path))
    groups = {name: ds for name, ds in groups.items() if not _sweep_info(ds, combined=False)}
    if not groups:
        raise SegexError(f"{path}: no result groups; write one with segex solve FILE --out {path}")
    return {name: check_dataset(ds, name) for name, ds in groups.items()}


_SWEEP = ("{path} is a sweep (segex sweep --out); segex check checks single results (segex solve --out): "
          "check a point's file, {path}.parts/point-NNNNNN.nc")


def _sweep_info(ds, combined: bool) -> bool:
    """``ds`` is a sweep's ``sweep`` group: per point (a combined sweep) or of one point (a part)."""
    if ds is None or "passed" not in ds or "segex_spec" in ds.attrs:
        return False
    return (ds["passed"].ndim > 0) == combined


def check_dataset(ds, name: str = "") -> Certificate:
    """The re-computed certificate of one saved concept."""
    from .io.config import parse_spec

    raw = ds.attrs.get("segex_spec")
    if raw is None:
        raise SegexError(f"group {name!r} has no segex_spec attribute (written by an older segex or by hand); "
                         "re-solve it with segex solve FILE --out")
    spec = parse_spec(json.loads(raw))
    concept = ds.attrs.get("segex_concept", name)
    recheck = spec.definition.rechecker()
    if recheck is None:
        raise SegexError(f"group {name!r}: the {spec.kind} economy has no re-check without the solver; "
                         "re-solve it with segex solve")
    return recheck(spec, ds, concept)
