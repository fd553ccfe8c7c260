"""Results on disk: one netCDF4 file, one group per solution concept.

:func:`write_netcdf` writes ``{"externality": ds1, "segregated": ds2}`` as groups
``/externality`` and ``/segregated`` of one file, atomically: everything goes to a
temporary file beside the target, which replaces the target only once every group is
written; on any failure the temporary file is removed, so no half-written output is
left behind. :func:`read_netcdf` reads such a file back into the same dict.

netCDF has no boolean type and only numbers and strings as attributes, so before
writing:

* boolean variables become int8 with the attribute ``segex_dtype = "bool"``;
* boolean attributes become int8 and are listed in the attribute ``segex_bool_attrs``;
* attributes that are dicts, lists of non-numbers, None, ... become JSON strings and
  are listed in ``segex_json_attrs``;

and :func:`read_netcdf` undoes all three. String variables are written as
variable-length strings.

The engine is h5netcdf when its h5py backend is installed, otherwise netCDF4; both
write the same netCDF4/HDF5 format.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import SegexError

BOOL_VAR = "segex_dtype"
BOOL_ATTRS = "segex_bool_attrs"
JSON_ATTRS = "segex_json_attrs"


class StoreError(SegexError, OSError):
    """A result file could not be written or read (missing directory, permissions, ...)."""


# ---------------------------------------------------------------------------------- engine
def _engine() -> str:
    try:
        import h5py  # noqa: F401  (h5netcdf >= 1.8 needs it as an extra)
        import h5netcdf  # noqa: F401

        return "h5netcdf"
    except ImportError:
        pass
    try:
        import netCDF4  # noqa: F401

        return "netcdf4"
    except ImportError:
        raise StoreError("no netCDF4 writer is installed; pip install 'h5netcdf[h5py]' (or netCDF4)") from None


def _group_names(path: str) -> list[str]:
    try:
        import h5py  # noqa: F401
        import h5netcdf

        with h5netcdf.File(path, "r") as f:
            return list(f.groups)
    except ImportError:
        import netCDF4

        with netCDF4.Dataset(path, "r") as f:
            return list(f.groups)


# ---------------------------------------------------------------------------------- write
def write_netcdf(path, datasets: dict[str, xr.Dataset]) -> Path:
    """Write each dataset as the netCDF4 group named by its key, atomically; returns the path."""
    target = Path(path)
    for name, ds in datasets.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError(f"{path}: group names must be non-empty strings without '/', got {name!r}")
        if not isinstance(ds, xr.Dataset):
            raise StoreError(f"{path}: group {name!r} must be an xarray.Dataset, got {type(ds).__name__}")
    directory = target.parent if str(target.parent) else Path(".")
    engine = _engine()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        if not datasets:
            xr.Dataset().to_netcdf(tmp, engine=engine, mode="w")
        for i, (name, ds) in enumerate(datasets.items()):
            _encode(ds).to_netcdf(tmp, engine=engine, group=name, mode="w" if i == 0 else "a")
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, SegexError):
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return target


def _encode(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy(deep=False)
    ds.attrs = _encode_attrs(ds.attrs)
    for name in list(ds.variables):
        var = ds.variables[name]
        attrs = _encode_attrs(var.attrs)
        if var.dtype == bool:
            attrs[BOOL_VAR] = "bool"
            new = xr.Variable(var.dims, var.values.astype(np.int8), attrs, var.encoding)
            ds = ds.assign_coords({name: new}) if name in ds.coords else ds.assign({name: new})
        else:
            ds.variables[name].attrs = attrs
    return ds


def _encode_attrs(attrs: dict) -> dict:
    out, bools, jsons = {}, [], []
    for key, val in attrs.items():
        if isinstance(val, (bool, np.bool_)):
            out[key] = np.int8(val)
            bools.append(key)
        elif isinstance(val, np.ndarray) and val.dtype == bool:
            out[key] = val.astype(np.int8)
            bools.append(key)
        elif isinstance(val, (str, int, float, np.integer, np.floating)):
            out[key] = val
        elif isinstance(val, np.ndarray) and val.ndim == 1 and val.dtype.kind in "iuf" and val.size:
            out[key] = val
        elif isinstance(val, (list, tuple)) and val and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in val
        ):
            out[key] = np.asarray(val)
        else:
            out[key] = json.dumps(_jsonable(val))
            jsons.append(key)
    if bools:
        out[BOOL_ATTRS] = json.dumps(bools)
    if jsons:
        out[JSON_ATTRS] = json.dumps(jsons)
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if x is None or isinstance(x, (str, int)):
        return x
    return str(x)


# ---------------------------------------------------------------------------------- read
def read_netcdf(path) -> dict[str, xr.Dataset]:
    """Every group of a file written by :func:`write_netcdf`, loaded into memory."""
    path = str(path)
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such file")
    if os.path.isdir(path):
        raise StoreError(f"{path}: is a directory; give a .nc file written by segex solve --out")
    engine = _engine()
    try:
        names = _group_names(path)
    except PermissionError:
        raise StoreError(f"{path}: cannot read it (permission denied); check the file's permissions") from None
    except OSError as exc:  # not HDF5 (a TOML file, text, netCDF3) or truncated
        raise StoreError(f"{path}: not a netCDF4 file segex can read ({exc}); give a file written by "
                         "segex solve --out") from None
    out = {}
    for name in names:
        with xr.open_dataset(path, group=name, engine=engine) as ds:
            out[name] = _decode(ds.load())
    return out


def _decode(ds: xr.Dataset) -> xr.Dataset:
    ds.attrs = _decode_attrs(ds.attrs)
    for name in list(ds.variables):
        var = ds.variables[name]
        attrs = _decode_attrs(var.attrs)
        if attrs.pop(BOOL_VAR, None) == "bool":
            new = xr.Variable(var.dims, var.values.astype(bool), attrs, var.encoding)
            ds = ds.assign_coords({name: new}) if name in ds.coords else ds.assign({name: new})
        else:
            ds.variables[name].attrs = attrs
    return ds


def _decode_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    bools = json.loads(attrs.pop(BOOL_ATTRS, "[]"))
    jsons = json.loads(attrs.pop(JSON_ATTRS, "[]"))
    for key in bools:
        if key in attrs:
            v = attrs[key]
            attrs[key] = np.asarray(v).astype(bool) if np.ndim(v) else bool(v)
    for key in jsons:
        if key in attrs:
            attrs[key] = json.loads(attrs[key])
    return attrs


__all__ = ["write_netcdf", "read_netcdf", "StoreError"]
