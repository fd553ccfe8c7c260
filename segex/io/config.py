"""Run specifications: the TOML grid files users write, read and validated.

A grid file names its economy, its primitives, the finite grids of the lottery LP and what
to solve::

    economy = "collateral"          # any name in segex.registry.economies()
    name = "KT Environment 1"
    ...                             # the economy's primitives and [[types]]
    [grid]                          # the economy's grids, every key optional
    [solve]
    concepts = ["externality", "segregated"]
    backend = "highs"               # or "cvxpy"
    tol = 1e-6                      # optional: accuracy asked of the answer
    time_limit = 600                # optional: seconds per LP solve
                                    # plus the economy's own keys (e.g. weights, method)

:func:`load_spec` reads a file, :func:`parse_spec` an already-parsed dict; the economy's
registered parser (:mod:`segex.registry`) validates the rest with the shared validators
of :mod:`segex.io.validate`, and :func:`parse_solve` reads the ``[solve]`` table for every
economy. Every problem is a :class:`~segex.errors.SpecError` whose ``field`` is the TOML
path of the offending value and whose message says what to change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import registry
from ..errors import SpecError
from . import validate

#: LP backends ``solve.backend`` may name.
BACKENDS = ("highs", "cvxpy")
#: ``[solve]`` keys every economy takes; an economy adds its own (``Economy.options``).
SOLVE_KEYS = ("concepts", "backend", "tol", "time_limit")


@dataclass
class SolveOptions:
    """What to compute: ``concepts`` in order, the LP ``backend``, ``tol`` (when set, the
    answer is refined to that accuracy), ``time_limit`` (seconds per LP solve; a solve
    stopped by it is an error), and ``extra``: the economy's own validated ``[solve]`` keys,
    also readable as attributes (``options.weights``)."""

    concepts: tuple[str, ...]
    backend: str = "highs"
    tol: float | None = None
    time_limit: float | None = None
    extra: dict = field(default_factory=dict)

    def __getattr__(self, key):
        extra = self.__dict__.get("extra", {})
        if key in extra:
            return extra[key]
        raise AttributeError(f"no solve option {key!r}")


@dataclass
class RunSpec:
    """A validated run: the ``economy`` object, its registered TOML name ``kind``, the raw
    ``grid`` specs, the ``solve`` options, the file it came from (None when parsed from a
    dict) and the parsed file itself (``raw``, saved with results for ``segex check``)."""

    economy: object
    kind: str
    grid: dict = field(default_factory=dict)
    solve: SolveOptions = field(default_factory=lambda: SolveOptions(()))
    path: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.economy.name

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        opts = self.solve
        tol = f", tol {opts.tol:g}" if opts.tol is not None else ""
        return (f"<RunSpec {self.kind} {self.name!r}{where}: concepts {', '.join(opts.concepts)}; "
                f"backend {opts.backend}{tol}>")

    @property
    def definition(self) -> registry.Economy:
        return registry.get(self.kind)

    def build_grids(self):
        """The lottery LP's grids, built by the economy's registered ``grids`` function."""
        build = self.definition.grids
        if build is None:
            raise SpecError("grid", f"the {self.kind} economy has no grids")
        return registry.resolve(build)(self.economy, self.grid)


# ---------------------------------------------------------------------------------- entry points
def load_spec(path) -> RunSpec:
    """Read and validate a TOML grid file; every problem is a :class:`SpecError`."""
    p = Path(path)
    where = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(where, "no such file; check the path of the grid file") from None
    except IsADirectoryError:
        raise SpecError(where, "is a directory; give the path of a .toml grid file") from None
    except OSError as exc:
        raise SpecError(where, f"cannot read the grid file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(where, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(where, f"is not valid TOML: {exc}; fix the syntax there") from None
    return parse_spec(data, source=where)


def parse_spec(data: dict, source: str = "<string>") -> RunSpec:
    """Validate an already-parsed grid file (a dict as :mod:`tomllib` returns it).

    ``source`` is recorded as :attr:`RunSpec.path` unless it is the default
    ``"<string>"``; the economy's default name is the file's stem.
    """
    if not isinstance(data, dict):
        raise SpecError(source, f"a grid file must be a table of keys, got {validate.type_name(data)}")
    known = registry.economies()
    first = next(iter(known))
    if "economy" not in data:
        raise SpecError("economy", f'missing required key; add economy = "{first}" at the top of the file')
    kind = data["economy"]
    if not isinstance(kind, str):
        raise SpecError("economy", f'must be a string such as "{first}", got {validate.type_name(kind)}')
    definition = registry.get(kind)
    is_file = source != "<string>"
    name = data.get("name", Path(source).stem if is_file else kind)
    if not isinstance(name, str):
        raise SpecError("name", f'must be a string such as "KT Environment 1", got {validate.type_name(name)}')
    spec = definition.parser()(data, name, source if is_file else None)
    spec.raw = data
    return spec


def parse_solve(data: dict, kind: str, economy) -> SolveOptions:
    """The ``[solve]`` table of any economy: the shared keys and the economy's own
    (``Economy.options``, each validated by its function; absent keys get ``None``
    passed, so the validator returns the default)."""
    definition = registry.get(kind)
    solve = validate.table(data, "solve")
    validate.check_keys(solve, SOLVE_KEYS + tuple(definition.options), "solve")
    default = list(definition.default_concepts or definition.concept_names)
    return SolveOptions(
        concepts=validate.concepts(solve.get("concepts", default), definition.concept_names),
        backend=validate.choice(solve.get("backend", BACKENDS[0]), BACKENDS, "solve.backend", "backend"),
        tol=validate.tol(solve.get("tol")),
        time_limit=validate.time_limit(solve.get("time_limit")),
        extra={key: definition.option(key)(solve.get(key), economy) for key in definition.options},
    )


def override(spec: RunSpec, concepts=None, backend=None, tol=None, time_limit=None, **extra) -> SolveOptions:
    """The spec's solve options with command-line overrides (None keeps the file's value),
    each validated as the file's would be; an option the economy does not take names the
    flag (``--method``) and says so."""
    definition = spec.definition
    opts = spec.solve
    if concepts:
        for c in concepts:
            definition.concept(c)
        concepts = tuple(dict.fromkeys(concepts))
    if backend is not None:
        validate.choice(backend, BACKENDS, "--backend", "backend")
    new_extra = dict(opts.extra)
    for key, value in extra.items():
        if value is None:
            continue
        if key not in definition.options:
            raise SpecError(f"--{key}", f"the {spec.kind} economy takes no {key} option; drop it here")
        new_extra[key] = definition.option(key)(value, spec.economy)
    return SolveOptions(concepts=concepts or opts.concepts, backend=backend or opts.backend,
                        tol=opts.tol if tol is None else tol,
                        time_limit=opts.time_limit if time_limit is None else time_limit, extra=new_extra)


__all__ = ["BACKENDS", "RunSpec", "SolveOptions", "load_spec", "override", "parse_solve", "parse_spec"]
