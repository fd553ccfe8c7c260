"""The economy registry: what the front end (``segex solve``, ``sweep``, ``check``, the TOML
reader and the netCDF writer) knows about an economy, and nothing else.

Each economy package registers one :class:`Economy` per TOML ``economy = "..."`` name it
handles, from its ``__init__.py``::

    register(Economy(
        name="incomplete_markets",
        summary="KT 2.2: exogenous incomplete markets",
        parse="segex.economies.incomplete_markets.spec:parse",
        concepts=(Concept("externality", "...concepts:externality", "Definition 4, exact"),
                  Concept("segregated", "...concepts:segregated", "Definition 5, lottery LP")),
        recheck="segex.economies.incomplete_markets.recheck:recheck",
        example="grids/kt_incomplete.toml",
    ))

Functions are named ``"module:function"`` and imported when first used, so registering
costs nothing and an economy's solvers load only when it is solved. The signatures:

* ``parse(data: dict, name: str, path: str | None) -> RunSpec`` -- the parsed TOML file,
  validated; every problem a :class:`~segex.errors.SpecError` naming the TOML path
  (validators shared by every parser live in :mod:`segex.io.validate`);
* a concept's ``solve(spec: RunSpec, options: SolveOptions, concept: str, progress: bool) -> Result``
  (one function may serve several concepts);
* ``recheck(spec: RunSpec, ds: xarray.Dataset, concept: str) -> Certificate`` -- the
  concept's checks recomputed from a saved result, without the solver;
* ``plot(datasets: dict[str, xarray.Dataset], out_dir: Path, stem: str) -> list[Path]`` --
  optional (``segex plot``): the economy's standard figures of a saved result (its concepts'
  datasets by name), one PNG per figure named ``<stem>_<figure>.png``; matplotlib is imported
  inside it, with the Agg backend.

``starter`` (optional, ``segex new``): a commented starter grid file, ``"package:file.toml"``
shipped as package data, or the text itself.

``report`` (optional): a :class:`ReportLayout` saying how the text report of ``segex solve``
(:mod:`segex.report`) groups its concepts' ``to_dict()`` keys -- which are prices, which
welfare, which per-type vectors -- so the report needs no economics of its own. Without one
every scalar is listed under ``values:``.

A :class:`Result` (every concept of every economy) has ``certificate``, ``lp`` (a dict of
the main LP's sizes and times, or None), ``to_dict()`` (the JSON object under the concept's
name) and ``to_dataset()`` (an :class:`xarray.Dataset` whose coordinates carry ``long_name``
and ``units``, :mod:`segex.io.labels`). Inheriting :class:`segex.result.ResultMixin` adds
``headline()`` and a one-line ``str``/``repr`` (status, LP, headline numbers).

Which rows of an economy's LP stay exact in the infeasibility diagnosis, and what a user
should change when a row family conflicts, are declared where the rows are built
(``LPBuilder.add_rows(..., exact=True, hint="...")``), so the engine's diagnosis needs no
economy names either.

Economies outside segex register through the entry-point group ``segex.economies``
(each entry point names a module whose import registers its economies).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from .errors import SegexError, SpecError

#: Entry-point group through which other packages register economies.
ENTRY_POINT_GROUP = "segex.economies"


@runtime_checkable
class Result(Protocol):
    """What every solution concept returns (module docstring)."""

    certificate: Any
    lp: dict | None

    def to_dict(self) -> dict: ...

    def to_dataset(self): ...


@dataclass(frozen=True)
class Concept:
    """A solution concept: its name in the paper (the JSON key), the function that solves
    it (``"module:function"`` or a callable) and one line saying what it is."""

    name: str
    solve: str | Callable
    summary: str = ""


@dataclass(frozen=True)
class ReportLayout:
    """How the text report (:mod:`segex.report`) lays out the ``to_dict()`` of an economy's
    concepts; the JSON and netCDF outputs are not affected.

    ``sections``: ``(heading, keys)`` pairs in order -- the keys listed on one line (wrapped)
    as ``heading: key = value  key = value``, each where the concept has it; keys declared
    nowhere are listed under ``values:``. ``per_type``: top-level lists indexed by type
    (``c1 = [c1 of type 0, c1 of type 1]``), shown as columns of the types table. ``columns``:
    per table (a key whose value is a list of records: ``types``, ``exchanges``, the
    ``refinement`` path) the columns to show first, in order (the first is the key column a
    wide table repeats in each of its column blocks); the others follow as they come.
    ``titles``: a table's heading instead of its key. ``hidden``: keys left out of the text
    (shown elsewhere in it, or too long to read there); they stay in the JSON.
    """

    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    per_type: tuple[str, ...] = ()
    columns: dict = field(default_factory=dict)
    titles: dict = field(default_factory=dict)
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Economy:
    """One TOML ``economy`` name and how the front end handles it (module docstring).

    ``options``: the extra ``[solve]`` keys this economy takes beyond the shared ones
    (concepts, backend, tol, time_limit), each with a validator
    ``(value or None, economy) -> value`` (``"module:function"`` or a callable) raising
    :class:`SpecError` and returning the default for None; command-line overrides
    (``--method``) go through the same validators. ``sweep_defaults``: TOML paths a sweep
    may set that the file may hold as a non-number (``solve.weights = "negishi"``), each
    with a function ``raw_file -> numeric default``. ``grids``: ``(economy, grid specs) ->
    grids`` of the lottery LP (:meth:`segex.io.config.RunSpec.build_grids`). ``main_lp``: the concepts, in order,
    whose LP is reported as the run's ``lp``.
    """

    name: str
    summary: str
    parse: str | Callable
    concepts: tuple[Concept, ...]
    default_concepts: tuple[str, ...] = ()
    recheck: str | Callable | None = None
    grids: str | Callable | None = None
    options: dict = field(default_factory=dict)
    sweep_defaults: dict = field(default_factory=dict)
    main_lp: tuple[str, ...] = ()
    example: str = ""
    starter: str = ""
    plot: str | Callable | None = None
    report: ReportLayout = field(default_factory=ReportLayout)

    @property
    def concept_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.concepts)

    def concept(self, name: str) -> Concept:
        for c in self.concepts:
            if c.name == name:
                return c
        raise SpecError("--concept", f"{name}: the {self.name} economy offers {', '.join(self.concept_names)}")

    def solver(self, name: str) -> Callable:
        return resolve(self.concept(name).solve)

    def parser(self) -> Callable:
        return resolve(self.parse)

    def option(self, key: str) -> Callable:
        """The validator of the economy's own ``[solve]`` key ``key``."""
        return resolve(self.options[key])

    def rechecker(self) -> Callable | None:
        return resolve(self.recheck) if self.recheck is not None else None

    def starter_text(self) -> str | None:
        """The commented starter grid file (``segex new``): ``starter`` is ``"package:file"``
        (a file shipped inside the package, read with :mod:`importlib.resources`) or the text
        itself (anything holding a newline); None when the economy has none."""
        if not self.starter:
            return None
        if "\n" in self.starter:
            return self.starter
        from importlib.resources import files

        package, _, name = self.starter.partition(":")
        return files(package).joinpath(name).read_text(encoding="utf-8")

    def plotter(self) -> Callable | None:
        """The economy's ``plot(datasets, out_dir) -> [png paths]`` (``segex plot``), or None."""
        return resolve(self.plot) if self.plot is not None else None


_REGISTRY: dict[str, Economy] = {}
_FAILED: dict[str, str] = {}  # package or entry point -> why it did not load
_DISCOVERED = False


def register(economy: Economy) -> Economy:
    """Add an economy (called by each economy package on import). Registering the same
    name twice with a different definition is an error: two packages claim one name."""
    old = _REGISTRY.get(economy.name)
    if old is not None and old != economy:
        raise SegexError(f"economy {economy.name!r} is registered twice (by {old.parse} and {economy.parse})")
    _REGISTRY[economy.name] = economy
    return economy


def economies() -> dict[str, Economy]:
    """Every registered economy, by TOML name (segex's own packages, then entry points)."""
    _discover()
    return dict(_REGISTRY)


def get(name: str) -> Economy:
    """The economy registered as ``name``; a :class:`SpecError` on field ``economy`` if none."""
    found = economies()
    if name not in found:
        from .io.validate import suggest

        broken = f"; not loaded: {'; '.join(f'{k} ({v})' for k, v in _FAILED.items())}" if _FAILED else ""
        raise SpecError("economy", f"unknown economy {name!r}{suggest(name, found)}; supported: "
                                   f"{', '.join(map(repr, found))}{broken}")
    return found[name]


def resolve(target: str | Callable) -> Callable:
    """``"package.module:function"`` imported, or a callable as it is."""
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:  # a module of segex's or a dependency it needs
        raise SegexError(f"{target} is not available in this installation (module {exc.name} is missing)") from None
    return getattr(mod, attr)


def _discover() -> None:
    """Import every package under segex.economies and every entry point once. One that
    fails to import is recorded (and named when its economy is asked for), never allowed
    to take the others, or the command line, down with it."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    from . import economies as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.ispkg:
            _load(f"{pkg.__name__}.{info.name}", lambda name=f"{pkg.__name__}.{info.name}": importlib.import_module(name))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _load(f"entry point {ep.name}", ep.load)
    _DISCOVERED = True


def _load(what: str, load) -> None:
    try:
        load()
    except Exception as exc:  # a broken or incompatible economy package: record, go on
        _FAILED[what] = f"{type(exc).__name__}: {exc}"


__all__ = ["Concept", "Economy", "ReportLayout", "Result", "economies", "get", "register", "resolve"]
