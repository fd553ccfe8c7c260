"""Command line: ``segex [--debug] solve FILE [--json | --wide] [--out FILE.nc] [--backend B] [--concept C ...]
[--quiet] [-v]``;
``segex check FILE.nc``; ``segex sweep``; ``segex new [ECONOMY]`` (a commented starter grid file on
stdout); ``segex plot FILE.nc [--out-dir DIR]`` (the economy's standard figures as PNGs).

Loads a TOML grid file (:mod:`segex.io.config`), computes each requested solution concept
and reports it. Thin by design: all modelling lives in the economy modules.

Output
------
``--json`` prints exactly one JSON object on stdout::

    {"economy": <name>,
     "lp": <the main LP's sizes and times (the economy's main_lp concepts, first solved), or null>,
     "certificate": {"passed": <all checks of all concepts passed>,
                     "<concept>.<check>": {"residual": .., "tol": .., "passed": ..}, ...},
     "<concept>": <result.to_dict()>, ...}   # each computed concept under its paper name:
                                             # (each economy's registered concepts)

with non-finite floats written as null. Without ``--json`` a plain-text report is printed
(:mod:`segex.report`): at most 100 columns, each concept's results under the headings its
economy declares, values that do not apply left out; ``--wide`` prints it unabridged.
``--out FILE.nc`` writes every concept's ``to_dataset()`` as a netCDF4 group named by the
concept (:func:`segex.io.store.write_netcdf`).

Exit codes (one contract, enforced in :func:`main`):

* 0 solved and certified;
* 1 solved, but a named certificate check failed -- including ``refinement.accuracy`` when
  ``--tol`` was not reached (results are still printed and written);
* 2 bad input or a failed solve (any :class:`segex.errors.SegexError`, or a usage error such
  as ``--out`` not ending in ``.nc``), reported as one line ``segex: error: <message>`` on
  stderr, before any solve where the input allows, and no output file;
* 2 as well for anything unexpected (a bug): one line ``segex: internal error: <type>:
  <message> (run with --debug for the traceback)``; never 0 or 1;
* 130 interrupted.

``--debug`` (before or after the command, accepted by every command) prints the Python
traceback of any error above its one line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from .errors import SegexError
from .report import certificate_dict, certificate_line, jsonable, text_report

from .io.config import BACKENDS  # noqa: E402


DEBUG_HELP = "on any error, print the Python traceback above the one-line message"

#: What ``--out`` may end in, per command (the writer follows the name).
OUT_SUFFIXES = {"solve": (".nc",), "sweep": (".nc", ".zarr")}


def _concepts_help() -> str:
    """Each registered economy's concepts, for --help."""
    from .registry import economies

    return "; ".join(f"{name}: {', '.join(e.concept_names)}" for name, e in economies().items())


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def parser() -> argparse.ArgumentParser:
    """The command line's argparse parser, every subcommand included: what :func:`main`
    parses, and what the documentation's command-line reference is generated from. Its
    errors raise instead of exiting (:func:`main` turns them into the one-line
    ``segex: error:`` of the exit contract)."""
    p = _Parser(prog="segex", description="Constrained-efficient allocations and competitive equilibria "
                                          "with segregated exchanges, as sparse lottery LPs.")
    p.add_argument("--version", action="version", version=f"segex {__version__}")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    s = sub.add_parser("solve", help="solve the economy of a TOML grid file",
                       description="Solve the economy of a TOML grid file (see grids/*.toml).")
    s.add_argument("file", metavar="FILE", help="TOML grid file")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of a text report")
    s.add_argument("--wide", action="store_true",
                   help="text report unabridged: every cell whole and tables uncut (default: at most 100 columns)")
    s.add_argument("--out", metavar="FILE.nc", help="write every concept's dataset to this netCDF4 file (a .nc name)")
    s.add_argument("--backend", choices=BACKENDS, help="LP backend (overrides solve.backend)")
    s.add_argument("--method", metavar="METHOD",
                   help="how the economy's LP is solved, where it offers a choice (overrides solve.method; the "
                        "economy's grid-file docs list the methods)")
    s.add_argument("--concept", action="extend", nargs="+", metavar="NAME",
                   help=f"solution concept(s) to compute (overrides solve.concepts); by economy: {_concepts_help()}")
    s.add_argument("--tol", type=_tolerance, metavar="TOL",
                   help="ask for an accuracy instead of a grid: refine the exchanges around the active ones (and "
                        "polish them) until the answer changes by less than TOL (what 'the answer' is depends on "
                        "the economy: prices and allocations, or welfare; the file's grid is the start; overrides "
                        "solve.tol)")
    s.add_argument("--time-limit", type=_seconds, metavar="SECONDS", dest="time_limit",
                   help="stop any LP solve after this many seconds, an error naming the limit (overrides "
                        "solve.time_limit)")
    s.add_argument("--quiet", action="store_true",
                   help="no progress bars or status messages (progress bars are shown only when stderr is a terminal)")
    s.add_argument("-v", "--verbose", action="store_true",
                   help="show the LP solver's own log (HiGHS: presolve, iterations, status) on stderr, instead of "
                        "progress bars")
    _solve_options(s)

    c = sub.add_parser("check", help="re-verify a result file written by segex solve --out",
                       description="Rebuild the economy saved in FILE.nc and recompute every concept's checks from the "
                                   "saved allocations and lotteries, without the solver. See segex.check.")
    c.add_argument("file", metavar="FILE.nc", help="a netCDF file written by segex solve --out")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    w = sub.add_parser("sweep", help="solve a grid file over a grid of parameter values, in parallel (Dask)",
                       description="Solve FILE at every value of one or more parameters on Dask and write one "
                                   "dataset with a dimension per parameter. Finished points are kept in OUT.parts/; "
                                   "rerunning the same command resumes. See segex.sweep.")
    w.add_argument("file", metavar="FILE", help="TOML grid file")
    w.add_argument("--param", action="append", required=True, metavar="PATH=SPEC",
                   help="TOML path and values, start:stop:num or v1,v2,... (e.g. types[1].endowment[0]=1:4:31, "
                        "solve.weights[0]=0.25:4:16); repeat for a product grid")
    w.add_argument("--out", required=True, metavar="OUT.nc|OUT.zarr", help="combined result (netCDF or zarr)")
    w.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes (default: one per core; 0: in this process, without Dask)")
    w.add_argument("--scheduler", metavar="ADDRESS", help="use this Dask scheduler instead of a local cluster")
    w.add_argument("--json", action="store_true", help="print a JSON summary")
    w.add_argument("--quiet", action="store_true", help="no progress bar (shown only when stderr is a terminal)")
    _solve_options(w)
    n = sub.add_parser("new", help="print a commented starter grid file for an economy",
                       description="Print a commented starter grid file for ECONOMY on stdout (segex new ECONOMY > "
                                   "my.toml); every key with what it means, its units and its default. Without "
                                   "ECONOMY: list the registered economies.")
    n.add_argument("economy", metavar="ECONOMY", nargs="?", help="registered economy name (omit to list them)")
    g = sub.add_parser("plot", help="draw the standard figures of a result file written by segex solve --out",
                       description="Draw the economy's standard figures of FILE.nc (fee schedules and assignments) "
                                   "as PNG files named <stem>_<figure>.png, and print their paths one per line.")
    g.add_argument("file", metavar="FILE.nc", help="a netCDF file written by segex solve --out")
    g.add_argument("--out-dir", metavar="DIR", dest="out_dir",
                   help="directory for the PNG files (default: the directory of FILE.nc)")
    for command in (s, c, w, n, g):  # --debug after the command too; SUPPRESS keeps one given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return p


def _solve_options(s):
    if s.prog.endswith("solve"):
        return  # already added above, with solve's help texts
    s.add_argument("--backend", choices=BACKENDS, help="LP backend (overrides solve.backend)")
    s.add_argument("--method", metavar="METHOD", help="how the economy's LP is solved (overrides solve.method)")
    s.add_argument("--concept", action="extend", nargs="+", metavar="NAME",
                   help="solution concept(s) to compute at every point (overrides solve.concepts)")
    s.add_argument("--tol", type=_tolerance, metavar="TOL", help="accuracy mode at every point (overrides solve.tol)")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--time-limit: expected seconds such as 600, got {text!r}") from None
    if not (0 < v < math.inf):
        raise argparse.ArgumentTypeError(f"--time-limit: must be a positive number of seconds, got {text}")
    return v


def _tolerance(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tol: expected a number such as 1e-4, got {text!r}") from None
    if not (0 < v < 1):
        raise argparse.ArgumentTypeError(f"--tol: must lie in (0, 1), got {text}")
    return v


# ---------------------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run one command; the exit code of the contract in the module docstring. Every
    exception ends here: expected ones (bad input, failed solve) as ``segex: error:``,
    anything else as ``segex: internal error:``, each one line (``--debug``: traceback first)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # until the arguments are parsed (an error while parsing them)
    try:
        try:
            args = parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        args.argv = argv  # the command, saved with results
        debug = bool(getattr(args, "debug", False))
        return _run(args)
    except (_UsageError, SegexError) as exc:
        _traceback(debug)
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug: one line, exit 2 (never 0 or 1: no answer is claimed)
        _traceback(debug)
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"segex: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "solve":
        return _solve(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "check":
        return _check(args)
    if args.command == "new":
        return _new(args)
    if args.command == "plot":
        return _plot(args)
    raise _UsageError("choose a command: solve, check, sweep, new or plot (see 'segex --help')")


def _traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def _one_line(message) -> str:
    return " ".join(str(message).split())


def _error(message: str):
    print(f"segex: error: {_one_line(message)}", file=sys.stderr)


def _status(args, message):
    if not args.quiet:
        print(f"segex: {message}", file=sys.stderr)


def _progress(args) -> bool:
    """Progress bars (:mod:`segex.progress`): on a terminal only, never with ``--quiet`` or
    under ``--verbose`` (the solver's log is the progress then)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not args.quiet and not getattr(args, "verbose", False) and bool(isatty and isatty())


def _solve(args) -> int:
    from .io.config import load_spec
    from .run import main_lp, save, solve_spec

    if args.out:
        _check_out(args.out, OUT_SUFFIXES["solve"])  # before the solve, not after it
    spec = load_spec(args.file)
    results = solve_spec(spec, concepts=args.concept, backend=args.backend, method=args.method, tol=args.tol,
                         time_limit=args.time_limit, verbose=args.verbose,
                         progress=_progress(args), status=lambda m: _status(args, m))
    report = _report(spec.name, results, main_lp(spec, results))
    if args.json:
        print(json.dumps(jsonable(report), allow_nan=False))
    else:
        print(text_report(report, layout=spec.definition.report, results=results, wide=args.wide))
    if args.out:
        save(args.out, results, spec, command=_command(args))
        _status(args, f"wrote {args.out}")
    return 0 if report["certificate"]["passed"] else 1


def _command(args) -> str:
    """The command line as typed (``segex solve grids/kt_env1.toml --out r.nc``)."""
    import shlex

    return shlex.join(["segex", *getattr(args, "argv", [])])


def _check_suffix(out: str, suffixes) -> None:
    """``--out`` ends in one of ``suffixes`` (the writer follows the name: a .csv name would
    get netCDF4 inside)."""
    target = Path(out)
    if target.suffix.lower() in suffixes:
        return
    formats = "netCDF4" if suffixes == (".nc",) else "netCDF4 (.nc) or zarr (.zarr)"
    names = " or ".join(suffixes)
    raise _UsageError(f"--out: {out}: segex writes {formats}; use a {names} name such as "
                      f"{target.with_suffix(suffixes[0]) if target.name else 'result' + suffixes[0]}")


def _check_out(out: str, suffixes=(".nc",)) -> None:
    """``--out`` names a ``suffixes`` file in an existing, writable directory (the file is
    written atomically at the end; see :func:`segex.io.store.write_netcdf`)."""
    target = Path(out)
    directory = target.parent
    if target.is_dir():
        raise _UsageError(f"--out: {out} is a directory; give a file name such as {target / 'result.nc'}")
    if not directory.is_dir():
        raise _UsageError(f"--out: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _UsageError(f"--out: cannot write in {directory} (permission denied); choose another path")
    _check_suffix(out, suffixes)


def _check(args) -> int:
    from .check import check_file

    try:
        certs = check_file(args.file)
    except SegexError as exc:  # name the file when the message does not (e.g. a group without segex_spec)
        if args.file in str(exc):
            raise
        raise SegexError(f"{args.file}: {exc}") from None
    passed = all(c.passed for c in certs.values())
    if args.json:
        out = {"file": args.file, "passed": passed, **{g: c.to_dict() for g, c in certs.items()}}
        print(json.dumps(jsonable(out), allow_nan=False))
    else:
        for group, cert in certs.items():
            print(f"{group}: {certificate_line(cert).removeprefix('certificate: ')} ({len(cert.checks)} checks)")
    return 0 if passed else 1


def _new(args) -> int:
    from .registry import economies

    found = economies()
    if args.economy is None:
        for name, e in found.items():
            print(f"{name} -- {e.summary}")
        return 0
    if args.economy not in found:
        raise _UsageError(f"unknown economy {args.economy!r}; registered: {', '.join(found)}")
    text = found[args.economy].starter_text()
    if text is None:
        example = found[args.economy].example
        hint = f"; start from its example {example}" if example else ""
        raise _UsageError(f"economy {args.economy!r} ships no starter file{hint}")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _plot(args) -> int:
    from .io.store import read_netcdf, read_root
    from .registry import economies

    root = read_root(args.file)
    name = root.get("economy")
    if not name:
        raise _UsageError(f"{args.file}: no 'economy' attribute; give a file written by segex solve --out")
    found = economies()
    if name not in found:
        raise _UsageError(f"{args.file}: economy {name!r} is not registered here; registered: {', '.join(found)}")
    plot = found[name].plotter()
    if plot is None:
        raise _UsageError(f"{args.file}: the {name} economy defines no figures; open the file with segex.open "
                          "and plot its datasets yourself")
    out_dir = Path(args.out_dir) if args.out_dir else Path(args.file).resolve().parent
    if not out_dir.is_dir():
        raise _UsageError(f"--out-dir: directory {out_dir} does not exist; create it or choose another")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise _UsageError(f"--out-dir: cannot write in {out_dir} (permission denied); choose another directory")
    paths = plot(read_netcdf(args.file), out_dir, stem=Path(args.file).stem)
    if not paths:
        raise _UsageError(f"{args.file}: none of its concepts ({', '.join(read_netcdf(args.file))}) has a figure "
                          f"in the {name} economy; solve a concept with exchanges (see 'segex new {name}')")
    for path in paths:
        print(path)
    return 0


def _sweep(args) -> int:
    from .sweep import load_sweep, run_sweep

    if args.workers is not None and args.workers < 0:
        raise _UsageError("--workers: give a number of worker processes (0: in this process, without Dask)")
    _check_suffix(args.out, OUT_SUFFIXES["sweep"])  # before any point is solved
    sweep = load_sweep(args.file, args.param, concepts=args.concept, tol=args.tol, backend=args.backend,
                       method=args.method)
    summary = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler, progress=_progress(args),
                        command=_command(args))
    if args.json:
        print(json.dumps(jsonable(summary), allow_nan=False))
    else:
        print(f"sweep: {summary['points']} points ({summary['computed']} computed, {summary['reused']} reused), "
              f"{summary['failed']} failed, {summary['uncertified']} not certified, {summary['seconds']:.1f} s; "
              f"wrote {summary['out']}")
    return 0 if summary["failed"] == 0 and summary["uncertified"] == 0 else 1


def _report(name, results, lp) -> dict:
    dicts = {concept: res.to_dict() for concept, res in results.items()}
    for concept, res in results.items():
        _refinement_guard(dicts[concept], res)
    cert = {"passed": True}
    for concept, res in results.items():
        c = certificate_dict(getattr(res, "certificate", None))
        if c is None:
            continue
        ok = bool(c.pop("passed", True))
        for check, val in c.items():
            cert[f"{concept}.{check}"] = val
            if isinstance(val, dict) and "passed" in val:
                ok = ok and bool(val["passed"])
        cert["passed"] = cert["passed"] and ok
    return {"economy": name, "lp": lp, "certificate": cert, **dicts}


def _refinement_guard(d: dict, res) -> None:
    """An answer refined to a --tol it did not reach is never exit 0: if its refinement
    report says ``converged: false`` while its certificate passed, add the failed check
    ``refinement.converged`` (each economy's own accuracy check should already have
    failed; this keeps the exit contract if one does not)."""
    ref = d.get("refinement") if isinstance(d, dict) else None
    lp = getattr(res, "lp", None)
    if not isinstance(ref, dict) and isinstance(lp, dict):
        ref = lp.get("refinement")
    cert = getattr(res, "certificate", None)
    if not isinstance(ref, dict) or ref.get("converged", True) or not hasattr(cert, "add") or not cert.passed:
        return
    tol, accuracy = ref.get("tol") or 0.0, ref.get("accuracy")
    cert.add("refinement.converged", accuracy if isinstance(accuracy, (int, float)) and accuracy > tol else math.inf,
             tol, "the refinement did not reach the asked tolerance (--tol)")


if __name__ == "__main__":
    sys.exit(main())
