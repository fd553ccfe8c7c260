"""The Python API, the command line's twin::

    import segex

    spec = segex.load("grids/kt_env1.toml")      # segex solve's input: the economy and options
    res = segex.solve(spec)                      # or segex.solve("grids/kt_env1.toml", concepts=["segregated"])
    print(res)                                   # one status line per concept
    res["segregated"].to_dict()["p0"]            # the JSON of segex solve --json, per concept
    res.save("env1.nc")                          # = segex solve ... --out env1.nc
    tree = segex.open("env1.nc")                 # every group, as an xarray.DataTree

:func:`solve` takes the same overrides as ``segex solve`` (``concepts``, ``backend``,
``tol``, ``time_limit`` and the economy's own, e.g. ``method="colgen"``), validated the
same way, and gives the same numbers: the same code runs (:mod:`segex.run`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import SegexError


def load(path):
    """The run a TOML grid file describes, validated: a :class:`segex.io.config.RunSpec`
    with ``economy`` (the economy object), ``kind`` (its registered name), ``solve`` (the
    ``[solve]`` options: ``concepts``, ``backend``, ``tol``, ``time_limit`` and the
    economy's own), ``grid`` (the ``[grid]`` specs) and ``path``. Every problem is a
    :class:`segex.SpecError` naming the TOML path, as on the command line."""
    from .io.config import load_spec

    return load_spec(path)


def solve(spec, concepts=None, backend=None, tol=None, time_limit=None, progress=False, verbose=False,
          **options) -> "Results":
    """Solve every concept of ``spec`` -- a :class:`~segex.io.config.RunSpec` from
    :func:`load`, a grid file's path or its parsed TOML as a dict -- as ``segex solve``
    does. Arguments left as None keep the file's ``[solve]`` values; ``options`` are the
    economy's own ``[solve]`` keys (``method="colgen"``, ``weights=[1, 1]``); ``progress``
    shows progress bars on stderr (:mod:`segex.progress`); ``verbose`` the LP solver's own
    log on stderr (``segex solve -v``). Returns :class:`Results`."""
    call = _call(spec, concepts=concepts, backend=backend, tol=tol, time_limit=time_limit, **options)
    spec = _as_spec(spec)
    from .run import solve_spec

    results = solve_spec(spec, concepts=concepts, backend=backend, tol=tol, time_limit=time_limit,
                         progress=progress, verbose=verbose, **options)
    return Results(spec, results, command=call)


def open(path):  # noqa: A001 -- segex.open, like xarray.open_dataset
    """A saved result (``segex solve --out``, :meth:`Results.save`, ``segex sweep --out``,
    netCDF or a sweep's zarr store) as one tree: an :class:`xarray.DataTree` whose root holds the file's attributes (segex
    version, creation time, grid file, command, a status line per concept) and whose
    children are the concepts' datasets, booleans restored; with an xarray older than
    2024.10 a dict ``{"/": root, concept: dataset}``."""
    from .io.store import open_result

    return open_result(path)


class Results(Mapping):
    """What :func:`solve` returns: ``{concept: result}`` in the order solved, plus

    * ``spec``: the run (:func:`load`);
    * ``certificate``: every concept's checks in one :class:`segex.certificate.Certificate`,
      named ``"<concept>.<check>"`` as in the JSON; ``passed``: all of them passed;
    * ``lp``: the run's headline LP (sizes and times), or None;
    * ``command``: the call, as saved in files;
    * :meth:`to_dict` (``segex solve --json``'s object) and :meth:`save` (``--out``).

    Each result has ``certificate``, ``lp``, ``to_dict()``, ``to_dataset()`` and
    ``headline()`` (:class:`segex.registry.Result`); printing one gives its status line.
    """

    def __init__(self, spec, results: dict, command: str = ""):
        self.spec, self._results, self.command = spec, dict(results), command

    def __getitem__(self, concept):
        try:
            return self._results[concept]
        except KeyError:
            raise KeyError(f"{concept!r}: solved {', '.join(self._results) or 'nothing'}") from None

    def __iter__(self):
        return iter(self._results)

    def __len__(self):
        return len(self._results)

    @property
    def certificate(self):
        """Every concept's checks, as ``"<concept>.<check>"``."""
        from .certificate import Certificate, Check

        cert = Certificate()
        for concept, res in self._results.items():
            for name, check in _checks(getattr(res, "certificate", None)):
                cert.checks[f"{concept}.{name}"] = check if isinstance(check, Check) else Check(**check)
        return cert

    @property
    def passed(self) -> bool:
        return self.certificate.passed

    @property
    def lp(self) -> dict | None:
        from .run import main_lp

        return main_lp(self.spec, self._results)

    def to_dict(self) -> dict:
        """The object ``segex solve --json`` prints: ``economy``, ``lp``, ``certificate``
        and each concept's ``to_dict()``."""
        cert = {"passed": self.passed, **{k: v for k, v in self.certificate.to_dict().items() if k != "passed"}}
        return {"economy": self.spec.name, "lp": self.lp, "certificate": cert,
                **{c: r.to_dict() for c, r in self._results.items()}}

    def to_datasets(self) -> dict:
        """``{concept: xarray.Dataset}`` as saved (each with the grid file it was solved from)."""
        from .run import datasets

        return datasets(self._results, self.spec)

    def save(self, path) -> Path:
        """Write the results as ``segex solve --out`` does (one netCDF4 group per concept;
        the root holds the segex version, time, grid file and this call); returns the path."""
        from .run import save

        return save(path, self._results, self.spec, command=self.command)

    def summary(self) -> str:
        """A header line (economy, grid file, overall certificate) and one status line per concept."""
        from .result import certificate_status, status_line

        where = f", {self.spec.path}" if self.spec.path else ""
        head = f"{self.spec.name} ({self.spec.kind}{where}): {certificate_status(self.certificate)}"
        return "\n".join([head, *(f"  {status_line(r, c)}" for c, r in self._results.items())])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<segex.Results {self.summary()}>"


def _checks(cert):
    """(name, Check or {residual, tol, note}) of a certificate object or dict."""
    if cert is None:
        return []
    if hasattr(cert, "checks"):
        return list(cert.checks.items())
    return [(k, {"residual": float(v["residual"]), "tol": float(v["tol"]), "note": v.get("note", "")})
            for k, v in dict(cert).items() if isinstance(v, dict)]


def _as_spec(spec):
    from .io.config import RunSpec, load_spec, parse_spec

    if isinstance(spec, RunSpec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return load_spec(spec)
    if isinstance(spec, dict):
        return parse_spec(spec)
    raise SegexError(f"segex.solve: give a grid file's path, segex.load(path) or a parsed grid file (dict), "
                     f"got {type(spec).__name__}")


def _call(spec, **kwargs) -> str:
    """``segex.solve('grids/kt_env1.toml', tol=1e-06)``: the call, for the files' root."""
    from .io.config import RunSpec

    if isinstance(spec, RunSpec):
        first = f"segex.load({spec.path!r})" if spec.path else "<RunSpec>"
    elif isinstance(spec, (str, os.PathLike)):
        first = repr(str(spec))
    else:
        first = "<dict>"
    args = [first] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"segex.solve({', '.join(args)})"


__all__ = ["Results", "load", "open", "solve"]
