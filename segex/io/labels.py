"""What a result's coordinates mean: every coordinate of a saved result carries a
``long_name`` and ``units`` (``"1"`` for labels, indices and pure numbers).

The coordinates every economy shares are described here, once (:data:`COORDINATES`); an
economy passes its own where it builds its dataset::

    return label(xr.Dataset(...), k_grid=("collateral k on the grid", "good 2"))

Types are numbered from 0 everywhere -- ``types[0]`` in a grid file and its error
messages, the first entry of the JSON ``types`` list, ``type = 0`` in netCDF and in the
text report -- in the order of the file's ``[[types]]`` tables. States, goods and
securities keep the paper's numbers (from 1).
"""

from __future__ import annotations

#: ``name: (long_name, units)`` of the coordinates shared by economies.
COORDINATES = {
    "type": ("type h, numbered from 0 in the order of the grid file's [[types]] (types[h])", "1"),
    "report": ("reported type, numbered from 0 like type", "1"),
    "state": ("state s at t=1, numbered from 1 as in the paper (endowment row s)", "1"),
    "good": ("good l (1 or 2)", "1"),
    "security": ("security j, numbered from 1 (row j of payoffs)", "1"),
    "exchange": ("exchange id", "1"),
    "exchange_state": ("state of the exchange, numbered from 1", "1"),
    "end": ("end of the interval (min or max)", "1"),
    "prob": ("probability of the type", "1"),
    "c10_grid": ("t=0 consumption of good 1 on the grid", "good 1 at t=0"),
    "c20_grid": ("t=0 consumption of good 2 on the grid", "good 2 at t=0"),
}


def label(ds, **extra):
    """``ds`` with ``long_name`` and ``units`` on every coordinate :data:`COORDINATES` or
    ``extra`` (``name=(long_name, units)``) describes; attributes already set are kept."""
    known = {**COORDINATES, **extra}
    for name in ds.coords:
        if name in known:
            long_name, units = known[name]
            attrs = ds.variables[name].attrs
            attrs.setdefault("long_name", long_name)
            attrs.setdefault("units", units)
    return ds


def unlabelled(ds) -> list[str]:
    """The coordinates of ``ds`` without both ``long_name`` and ``units``."""
    return [str(n) for n in ds.coords if not {"long_name", "units"} <= set(ds.variables[n].attrs)]


__all__ = ["COORDINATES", "label", "unlabelled"]
