"""Results on disk: one netCDF4 file, one group per solution concept.

:func:`write_netcdf` writes ``{"externality": ds1, "segregated": ds2}`` as groups
``/externality`` and ``/segregated`` of one file, atomically: everything goes to a
temporary file beside the target, which replaces the target only once every group is
written; on any failure the temporary file is removed, so no half-written output is
left behind. The file gets the permissions the user's umask gives (``0o666 & ~umask``),
as any file the user creates. :func:`read_netcdf` reads the groups back into the same
dict, :func:`open_result` (``segex.open``) the whole file as one tree.

:func:`write_zarr` writes the same groups and root as a zarr store (``segex sweep --out
OUT.zarr``; the zarr package is then needed), :func:`read_zarr` reads it back, and
:func:`open_result` opens either format.

The root group holds no data, only what a reader of ``xr.open_dataset(FILE)`` needs
(:func:`root_attrs`): ``title``, ``groups`` (the groups' names), ``description`` (how to
open them), ``segex_version``, ``created`` (ISO 8601, UTC) and the writer's own:
``grid_file``, ``command`` (the ``segex`` command line or the ``segex.solve(...)`` call),
``segex_kind`` (``result``, ``sweep`` or ``sweep point``) and ``summary`` (one status
line per group).

netCDF has no boolean type and only numbers and strings as attributes, so:

* boolean variables are written as xarray writes them, int8 with the attribute
  ``dtype = "bool"``, which every xarray reader (``xr.open_dataset`` too) turns back
  into booleans;
* boolean attributes become int8 and are listed in the attribute ``segex_bool_attrs``;
* attributes that are dicts, lists of non-numbers, None, ... become JSON strings and
  are listed in ``segex_json_attrs``;

and :func:`read_netcdf` and :func:`open_result` undo the last two (and read the boolean
variables older files wrote as int8 with ``segex_dtype = "bool"``). String variables are
written as variable-length strings.

The engine is h5netcdf when its h5py backend is installed, otherwise netCDF4; both
write the same netCDF4/HDF5 format.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import SegexError

BOOL_VAR = "segex_dtype"  # older files' boolean variables (read only)
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
def write_netcdf(path, datasets: dict[str, xr.Dataset], attrs: dict | None = None) -> Path:
    """Write each dataset as the netCDF4 group named by its key, and the root's attributes
    (:func:`root_attrs` with ``attrs``), atomically; returns the path."""
    target = Path(path)
    _check_groups(path, datasets)
    directory = target.parent if str(target.parent) else Path(".")
    engine = _engine()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        xr.Dataset(attrs=_encode_attrs(root_attrs(datasets, attrs))).to_netcdf(tmp, engine=engine, mode="w")
        for name, ds in datasets.items():
            _encode(ds).to_netcdf(tmp, engine=engine, group=name, mode="a")
        os.chmod(tmp, 0o666 & ~umask())
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


def _check_groups(path, datasets: dict) -> None:
    for name, ds in datasets.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError(f"{path}: group names must be non-empty strings without '/', got {name!r}")
        if not isinstance(ds, xr.Dataset):
            raise StoreError(f"{path}: group {name!r} must be an xarray.Dataset, got {type(ds).__name__}")


def write_zarr(path, datasets: dict[str, xr.Dataset], attrs: dict | None = None) -> Path:
    """:func:`write_netcdf` as a zarr store: each dataset a group, the root's attributes
    (:func:`root_attrs` with ``attrs``) encoded the same way. Written to ``PATH.tmp`` and
    moved over ``path`` once complete; returns the path."""
    import inspect
    import shutil

    _zarr("writing")
    _check_groups(path, datasets)
    target = Path(path)
    tmp = Path(str(target) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # zarr format 2 (the only one zarr < 3 writes): every zarr reader opens it, and zarr 3
    # warns that consolidated metadata and fixed-length strings have no version-3 spec yet
    fmt = {"zarr_format": 2} if "zarr_format" in inspect.signature(xr.Dataset.to_zarr).parameters else {}
    try:
        for i, (name, ds) in enumerate(datasets.items()):
            _encode(ds).to_zarr(tmp, group=name, mode="w" if i == 0 else "a", **fmt)
        # the root last: its (consolidated) metadata then lists every group
        xr.Dataset(attrs=_encode_attrs(root_attrs(datasets, attrs))).to_zarr(tmp, mode="a", **fmt)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, SegexError):
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return target


def _zarr(doing: str):
    try:
        import zarr
    except ImportError:
        raise StoreError(f"{doing} .zarr needs the zarr package: pip install zarr (or use .nc)") from None
    return zarr


def is_zarr(path) -> bool:
    """``path`` is a zarr store (a directory named ``*.zarr`` or holding zarr metadata)."""
    p = Path(path)
    return p.is_dir() and (p.suffix == ".zarr" or (p / ".zgroup").exists() or (p / "zarr.json").exists())


def root_attrs(groups, extra: dict | None = None) -> dict:
    """The root group's attributes (module docstring): what is in the file and how to open it."""
    names = list(groups)
    first = names[0] if names else "NAME"
    return {
        "title": "segex result",
        "groups": ", ".join(names),
        "description": f"one group per solution concept, no data at the root: open every group with "
                       f"segex.open(FILE), or one with xr.open_dataset(FILE, group='{first}')",
        "segex_version": _version(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(extra or {}),
    }


def _version() -> str:
    from ..version import __version__

    return __version__


def umask() -> int:
    """The process's umask, read without changing it where Linux's /proc tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _encode(ds: xr.Dataset) -> xr.Dataset:
    """Attributes netCDF can hold; boolean variables stay booleans (xarray writes them as
    int8 with ``dtype = "bool"``)."""
    ds = ds.copy(deep=False)
    ds.attrs = _encode_attrs(ds.attrs)
    for name in list(ds.variables):
        ds.variables[name].attrs = _encode_attrs(ds.variables[name].attrs)
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
    out = {}
    for name in _readable_groups(path):
        with xr.open_dataset(path, group=name, engine=_engine()) as ds:
            out[name] = _decode(ds.load())
    return out


def _readable_groups(path: str) -> list[str]:
    """The groups of ``path``; a :class:`StoreError` saying why when it is not a readable netCDF4 file."""
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such file")
    if os.path.isdir(path):
        raise StoreError(f"{path}: is a directory; give a .nc file written by segex solve --out")
    _engine()
    try:
        return _group_names(path)
    except PermissionError:
        raise StoreError(f"{path}: cannot read it (permission denied); check the file's permissions") from None
    except OSError as exc:  # not HDF5 (a TOML file, text, netCDF3) or truncated
        raise StoreError(f"{path}: not a netCDF4 file segex can read ({exc}); give a file written by "
                         "segex solve --out") from None


def read_root(path) -> dict:
    """The root group's attributes (:func:`root_attrs`; empty for older files)."""
    _readable_groups(str(path))
    with xr.open_dataset(str(path), engine=_engine()) as ds:
        return _decode_attrs(ds.attrs)


def read_zarr(path) -> dict[str, xr.Dataset]:
    """Every group of a store written by :func:`write_zarr`, loaded into memory, in the
    order written (older stores without root attributes: zarr's order)."""
    zarr = _zarr("reading")
    path = str(path)
    if not is_zarr(path):
        raise StoreError(f"{path}: not a zarr store; give a .zarr directory written by segex sweep --out")
    keys = list(zarr.open_group(path, mode="r").group_keys())
    written = [g.strip() for g in str(read_zarr_root(path).get("groups", "")).split(",")]
    out = {}
    for name in [g for g in written if g in keys] + [g for g in keys if g not in written]:
        with xr.open_zarr(path, group=name) as ds:
            out[name] = _decode(ds.load())
    return out


def read_zarr_root(path) -> dict:
    """The root attributes of a zarr store (:func:`root_attrs`; empty for older stores)."""
    _zarr("reading")
    with xr.open_zarr(str(path)) as ds:
        return _decode_attrs(ds.attrs)


def open_result(path):
    """A result -- a netCDF file of :func:`write_netcdf` or a zarr store of
    :func:`write_zarr` -- as one tree (``segex.open``): an :class:`xarray.DataTree` whose
    root holds the file's attributes and whose children are the groups, decoded as
    :func:`read_netcdf` decodes them; with an xarray older than 2024.10 (no DataTree) a
    dict ``{"/": root, group: dataset, ...}``."""
    if is_zarr(path):
        groups, root = read_zarr(path), read_zarr_root(path)
    else:
        groups, root = read_netcdf(path), read_root(path)
    tree = {"/": xr.Dataset(attrs=root), **groups}
    return xr.DataTree.from_dict(tree) if hasattr(xr, "DataTree") else tree


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


__all__ = ["StoreError", "is_zarr", "open_result", "read_netcdf", "read_root", "read_zarr", "read_zarr_root",
           "root_attrs", "write_netcdf", "write_zarr"]
