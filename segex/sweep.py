"""Parameter sweeps on Dask: many solves of one grid file, written point by point, one
labelled dataset at the end, resumable.

``segex sweep grids/kt_env1.toml --param types[1].endowment[0]=1:4:31 --out sweep.nc``

* A parameter is a TOML path into the grid file (``types[1].endowment[0]``,
  ``R_hat``, ``solve.weights[0]``) and values ``start:stop:num`` (inclusive, like
  ``numpy.linspace``), ``start:stop:num:log`` (``numpy.geomspace``) or ``v1,v2,...``. A path that ends on an array of numbers sets every
  entry (``types[1].endowment[0]`` is type 1's t = 0 endowment of both goods); sweeping
  ``solve.weights[h]`` of a file with ``weights = "negishi"`` starts from weights of one
  (a Pareto frontier). Several ``--param`` give their Cartesian product. Every point's
  file is validated before anything is solved.
* Points run on Dask: a local cluster of ``workers`` processes by default, or the
  scheduler at ``scheduler`` (``tcp://host:8786``); ``workers=0`` solves them one by
  one in this process, without Dask. Each finished point is written at
  once, atomically, to ``OUT.parts/point-NNNNNN.nc`` beside a ``manifest.json`` that
  names the sweep; run the same command again and finished points are read, never
  recomputed (a different sweep in the same place is an error, not a silent mix).
* At the end the parts are combined into OUT (netCDF, one group per concept, or zarr
  when OUT ends in ``.zarr``) with one dimension per parameter, named by its path with
  ``[].`` turned into ``_`` (the path is the dimension's ``long_name``). Grids that differ
  between points (the collateral economy's z grid holds the no-trade fundamental, which
  moves with endowments; refined liquidity grids) become positional dimensions with
  their values in ``<dim>_value``; dimensions without coordinates whose size varies (the
  support of the state lotteries, ``x1_point``) are padded with NaN. Group ``sweep`` holds per point: ``passed``
  (certificate), ``seconds`` and ``error`` (a failed solve is recorded, not fatal). Boolean
  variables stay booleans unless some points lack them (a failed point, a padded dimension):
  then they are float, 1/0, NaN where missing.
  The root says what the file is (``segex_kind = "sweep"``, a part ``"sweep point"``), the
  grid file, the parameters and the command (:mod:`segex.io.store`); ``segex check`` checks
  single results (a part), not a combined sweep.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import SegexError, SpecError

_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


@dataclass(frozen=True)
class Param:
    path: str
    values: tuple[float, ...]

    @property
    def dim(self) -> str:
        """The dataset dimension: the path with brackets and dots as underscores."""
        return re.sub(r"_+", "_", re.sub(r"[\[\].]", "_", self.path)).strip("_")


def parse_param(text: str) -> Param:
    """``PATH=start:stop:num`` or ``PATH=v1,v2,...``."""
    if "=" not in text:
        raise SpecError("--param", f"expected PATH=start:stop:num or PATH=v1,v2,..., got {text!r}")
    path, spec = (s.strip() for s in text.split("=", 1))
    _tokens(path)
    try:
        if ":" in spec:
            start, stop, num, *scale = spec.split(":")
            n = int(num)
            if n < 1 or scale not in ([], ["log"]) or (scale and min(float(start), float(stop)) <= 0):
                raise ValueError
            values = (np.geomspace if scale else np.linspace)(float(start), float(stop), n)
        else:
            values = np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise SpecError("--param", f"{path}: values must be start:stop:num (num a positive integer; "
                                   f"start:stop:num:log for positive geometric steps) or a comma list of numbers, "
                                   f"got {spec!r}") from None
    if not np.all(np.isfinite(values)):
        raise SpecError("--param", f"{path}: values must be finite, got {spec!r}")
    return Param(path, tuple(float(v) for v in values))


def _tokens(path: str) -> list:
    out, pos = [], 0
    for m in _TOKEN.finditer(path):
        if m.start() != pos and path[pos:m.start()] != ".":
            break
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not out or not isinstance(out[0], str):
        raise SpecError("--param", f"cannot read the TOML path {path!r}; write it like types[1].endowment[0] or R_hat")
    return out


def set_path(data: dict, path: str, value: float) -> None:
    """Set the number (or every number of the array) at ``path`` in a parsed grid file."""
    tokens = _tokens(path)
    node = data
    for i, tok in enumerate(tokens[:-1]):
        node = _step(node, tok, path, tokens, i, data)
    last = tokens[-1]
    target = _step(node, last, path, tokens, len(tokens) - 1, data, create=True)
    if _numeric_list(target):
        node[last] = [value] * len(target)
    elif target is None or isinstance(target, (int, float)) and not isinstance(target, bool):
        node[last] = value
    else:
        raise SpecError("--param", f"{path} holds {type(target).__name__} {target!r}, not a number; "
                                   "point the path at a number or an array of numbers")


def _sweep_default(data: dict, where: str):
    """The economy's default for a TOML path a sweep sets where the file holds no number
    (``Economy.sweep_defaults``), or None."""
    from . import registry

    try:
        return registry.get(data.get("economy")).sweep_defaults.get(where)
    except (SpecError, TypeError):
        return None  # an unknown economy is reported when the point's file is validated


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _step(node, tok, path, tokens, i, data, create=False):
    where = "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in tokens[:i + 1]).lstrip(".")
    if isinstance(tok, str):
        if not isinstance(node, dict):
            raise SpecError("--param", f"{path}: {where} is not a table")
        if tok == "solve" and where == "solve" and tok not in node:
            node[tok] = {}  # [solve] is optional: its defaults apply
        default = _sweep_default(data, where)
        if default is not None and not _numeric_list(node.get(tok)) and not _is_num(node.get(tok)):
            node[tok] = default(data)  # e.g. solve.weights = "negishi": a Pareto frontier starts from weights of one
        if tok not in node:
            if create:
                return None
            from .io.validate import suggest

            hint = suggest(tok, [k for k in node if isinstance(k, str)])
            raise SpecError("--param", f"{path}: the file has no {where}{hint}; check the key (see grids/*.toml)")
        return node[tok]
    if not isinstance(node, list) or tok >= len(node):
        size = len(node) if isinstance(node, list) else "no"
        raise SpecError("--param", f"{path}: {where} is out of range ({size} entries; indices are 0-based)")
    return node[tok]


def _numeric_list(x) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x)


# ---------------------------------------------------------------------------------- the points
@dataclass(frozen=True)
class Sweep:
    file: str
    raw: dict
    params: tuple[Param, ...]
    concepts: tuple[str, ...] | None = None
    tol: float | None = None
    backend: str | None = None
    method: str | None = None

    def points(self):
        """(flat index, {path: value}) in C order over the parameters."""
        for flat, combo in enumerate(itertools.product(*(p.values for p in self.params))):
            yield flat, dict(zip((p.path for p in self.params), combo))

    def point_data(self, values: dict) -> dict:
        data = copy.deepcopy(self.raw)
        for path, v in values.items():
            set_path(data, path, v)
        return data

    def manifest(self) -> dict:
        return {"file": str(Path(self.file).resolve()), "sha256": hashlib.sha256(
                    json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest(),
                "params": [[p.path, list(p.values)] for p in self.params], "concepts": self.concepts,
                "tol": self.tol, "backend": self.backend, "method": self.method}


def load_sweep(file, params, concepts=None, tol=None, backend=None, method=None) -> Sweep:
    """Read the grid file, set each point's values and validate every point's spec."""
    import tomllib

    from .io.config import load_spec, override, parse_spec

    load_spec(file)  # the file itself is valid
    raw = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    params = tuple(parse_param(p) if isinstance(p, str) else p for p in params)
    if not params:
        raise SpecError("--param", "give at least one --param PATH=start:stop:num")
    if len({p.dim for p in params}) != len(params):
        raise SpecError("--param", "each parameter may be swept once")
    sweep = Sweep(str(file), raw, params, tuple(concepts) if concepts else None, tol, backend, method)
    for _, values in sweep.points():
        data = sweep.point_data(values)  # a bad path fails here, whatever the value
        try:
            spec = parse_spec(data, source=str(file))
        except SpecError as exc:
            at = ", ".join(f"{k} = {v:g}" for k, v in values.items())
            raise SpecError(exc.field, f"{exc.message} (at {at})") from None
    override(spec, concepts=concepts, backend=backend, tol=tol, method=method)  # the flags, before any solve
    return sweep


def solve_point(sweep: Sweep, values: dict) -> dict:
    """One point, on a worker: ``{"datasets": {concept: Dataset}, "passed", "seconds", "error"}``."""
    from .io.config import parse_spec
    from .run import datasets, solve_spec

    t0 = time.perf_counter()
    try:
        spec = parse_spec(sweep.point_data(values), source=sweep.file)
        results = solve_spec(spec, concepts=sweep.concepts, backend=sweep.backend, method=sweep.method,
                             tol=sweep.tol)
        passed = all(bool(getattr(r, "certificate", None) is None or _passed(r.certificate))
                     for r in results.values())
        return {"datasets": datasets(results, spec), "passed": passed, "seconds": time.perf_counter() - t0,
                "error": ""}
    except Exception as exc:  # recorded per point and reported; never a silent gap
        kind = "" if isinstance(exc, SegexError) else f"{type(exc).__name__}: "
        return {"datasets": {}, "passed": False, "seconds": time.perf_counter() - t0, "error": f"{kind}{exc}"}


def _passed(cert) -> bool:
    return bool(cert.passed) if hasattr(cert, "passed") else bool(dict(cert).get("passed", True))


# ---------------------------------------------------------------------------------- running
def parts_dir(out) -> Path:
    return Path(str(out) + ".parts")


def run_sweep(sweep: Sweep, out, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, command: str = "") -> dict:
    """Solve every point not already finished, writing each as it completes, then combine
    into ``out`` (``command``: what ran it, saved in the files' root). Returns ``{"points",
    "computed", "reused", "failed", "seconds", "out"}``."""
    from .io.store import write_netcdf

    parts = parts_dir(out)
    parts.mkdir(parents=True, exist_ok=True)
    _check_manifest(parts, sweep.manifest())
    for stale in parts.glob(".point-*.tmp"):  # a write cut off by a kill: never a part
        stale.unlink()
    todo, done = [], 0
    for flat, values in sweep.points():
        if (parts / _part_name(flat)).exists():
            done += 1
        else:
            todo.append((flat, values))
    t0 = time.perf_counter()
    if todo and workers == 0:  # serially in this process, without Dask (debugging, tests)
        for flat, values in todo:
            write_netcdf(parts / _part_name(flat), _part(solve_point(sweep, values), flat, values),
                         attrs=_root(sweep, command, "sweep point", values))
    elif todo:
        from dask.distributed import Client, LocalCluster, as_completed

        from .progress import Bar

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers or min(len(todo), _cpus()), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = {client.submit(solve_point, sweep, values, pure=False): (flat, values) for flat, values in todo}
            with Bar("sweep", total=len(todo), unit="point", enabled=progress) as bar:
                for fut in as_completed(futures):
                    flat, values = futures[fut]
                    write_netcdf(parts / _part_name(flat), _part(fut.result(), flat, values),
                                 attrs=_root(sweep, command, "sweep point", values))
                    bar.update()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    summary = combine(sweep, parts, out, command)
    summary.update(computed=len(todo), reused=done, seconds=time.perf_counter() - t0, out=str(out))
    return summary


def _cpus() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _part_name(flat: int) -> str:
    return f"point-{flat:06d}.nc"


def _root(sweep: Sweep, command: str, kind: str, values: dict | None = None) -> dict:
    """The root attributes of a sweep's file (``kind`` "sweep") or of one point's ("sweep point")."""
    out = {"segex_kind": kind, "title": f"segex {kind}: {Path(sweep.file).name}",
           "grid_file": str(Path(sweep.file).resolve()), "command": command,
           "params": ", ".join(f"{p.path} ({len(p.values)} values)" for p in sweep.params)}
    if values is not None:
        out["values"] = ", ".join(f"{k} = {v:g}" for k, v in values.items())
    return out


def _part(res: dict, flat: int, values: dict) -> dict:
    info = xr.Dataset({"passed": ((), bool(res["passed"])), "seconds": ((), float(res["seconds"])),
                       "error": ((), str(res["error"]))},
                      attrs={"point": int(flat), "values": json.dumps(values)})
    return {"sweep": info, **res["datasets"]}


def _check_manifest(parts: Path, manifest: dict) -> None:
    path = parts / "manifest.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(manifest)):
            raise SpecError("--out", f"{parts} holds the parts of a different sweep (file, parameters or options "
                                     "differ); delete it or choose another --out")
    else:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        tmp.replace(path)


# ---------------------------------------------------------------------------------- combining
def combine(sweep: Sweep, parts: Path, out, command: str = "") -> dict:
    """Read every part and write ``out``: one dataset per concept (module docstring)."""
    from .io.store import read_netcdf, write_netcdf, write_zarr

    loaded = {}
    for flat, values in sweep.points():
        f = parts / _part_name(flat)
        if f.exists():
            loaded[flat] = (values, read_netcdf(f))
    concepts = list(dict.fromkeys(g for _, groups in loaded.values() for g in groups))
    combined = {g: _combine_group(sweep, [(flat, v, groups[g]) for flat, (v, groups) in loaded.items()
                                         if g in groups]) for g in concepts}
    write = write_zarr if str(out).endswith(".zarr") else write_netcdf
    write(out, combined, attrs=_root(sweep, command, "sweep"))
    info = combined.get("sweep")
    failed = int((info["error"] != "").sum()) if info is not None else 0
    uncertified = int(((info["passed"] != 1) & (info["error"] == "")).sum()) if info is not None else 0
    return {"points": len(loaded), "failed": failed, "uncertified": uncertified}


def _combine_group(sweep: Sweep, items: list) -> xr.Dataset:
    dims = [p.dim for p in sweep.params]
    flags = {n for _, _, ds in items for n, v in ds.data_vars.items() if v.dtype == bool}
    varying = _varying_dims([ds for _, _, ds in items])
    size = {d: max(ds.sizes.get(d, 0) for _, _, ds in items) for d in varying}
    pieces = []
    for flat, values, ds in items:
        ds = _positional(ds.drop_encoding(), varying, size)  # encodings read from a part (e.g. '<U1') would truncate
        ds = ds.expand_dims(point=[flat]).assign_coords(
            {p.dim: ("point", [values[p.path]]) for p in sweep.params})
        pieces.append(ds)
    ds = xr.concat(pieces, dim="point", join="outer", combine_attrs="drop_conflicts", data_vars="all",
                   coords="different", compat="equals")
    ds = ds.set_index(point=dims).unstack("point") if len(dims) > 1 else ds.swap_dims(point=dims[0]).drop_vars(
        "point")
    full = {p.dim: np.array(p.values) for p in sweep.params}
    ds = ds.reindex(full)  # missing (failed) points as NaN
    for p in sweep.params:
        ds[p.dim].attrs.update(long_name=p.path, units="as in the grid file", segex_param=p.path)
    for name in list(ds.data_vars):
        if name in flags:  # booleans, or 1/0 with NaN at failed points
            ds[name] = ds[name].astype(bool if ds[name].notnull().all() else float)
        elif ds[name].dtype.kind == "O":
            ds[name] = ds[name].fillna("").astype(str)
    return ds


def _varying_dims(datasets) -> set:
    """Dimensions that differ between points: index dimensions whose coordinate values
    differ, and dimensions without coordinates whose sizes differ (a lottery's support)."""
    seen, varying = {}, set()
    for ds in datasets:
        for d in ds.dims:
            v = np.asarray(ds.indexes[d]) if d in ds.indexes else np.arange(ds.sizes[d])
            if d in seen and (seen[d].shape != v.shape or not np.array_equal(seen[d], v)):
                varying.add(d)
            seen.setdefault(d, v)
    return varying


def _positional(ds: xr.Dataset, varying: set, size: dict) -> xr.Dataset:
    for d in varying & set(ds.dims):
        if d not in ds.coords:  # no values to keep: pad with NaN to the largest size
            ds = ds.pad({d: (0, size[d] - ds.sizes[d])})
            continue
        vals, old = ds[d].values, ds[d].attrs
        ds = ds.drop_vars(d)
        pad = size[d] - ds.sizes[d]
        if pad:
            ds = ds.pad({d: (0, pad)})
            vals = np.concatenate([vals.astype(float) if vals.dtype.kind in "if" else vals.astype(object),
                                   np.full(pad, np.nan if vals.dtype.kind in "if" else "", dtype=object
                                           if vals.dtype.kind not in "if" else float)])
        attrs = {"long_name": f"{old.get('long_name', d)} at each point (they differ between points)",
                 "units": old.get("units", "1")}
        ds = ds.assign_coords({f"{d}_value": (d, vals, attrs)})
    return ds
