"""``segex check FILE.nc``: re-verify a saved result without the solver that produced it.

Every group written by ``segex solve --out`` carries the grid file it was solved from
(attribute ``segex_spec``) and its concept (``segex_concept``). The economy is rebuilt from
the grid file and the economy's registered re-check (:mod:`segex.registry`) recomputes the
concept's checks from the saved allocation or lotteries alone: no LP is solved and no dual
is trusted except where a check is *about* a saved price. Tolerances are those of the
solve-time certificates.
"""

from __future__ import annotations

import json

from .certificate import Certificate
from .errors import SegexError


def check_file(path) -> dict[str, Certificate]:
    """{group: certificate} for every concept group of a ``segex solve --out`` file."""
    from .io.store import read_netcdf

    groups = read_netcdf(path)
    if not groups:
        raise SegexError(f"{path}: no result groups; write one with segex solve FILE --out {path}")
    return {name: check_dataset(ds, name) for name, ds in groups.items()}


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
