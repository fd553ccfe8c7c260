"""Input and output: TOML grid files (:mod:`.config`) and netCDF results (:mod:`.store`)."""

from .config import RunSpec, SolveOptions, load_spec, parse_spec

__all__ = ["RunSpec", "SolveOptions", "load_spec", "parse_spec", "write_netcdf", "read_netcdf"]


def __getattr__(name):  # xarray is imported only when results are written or read
    if name in ("write_netcdf", "read_netcdf", "StoreError"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
