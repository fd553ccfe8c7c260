"""LP sizes, HiGHS options, the cvxpy path and the equilibrium of KT 2.2's incomplete-markets
economy (``grids/kt_incomplete.toml``, :mod:`segex.economies.incomplete_markets`).

Run from the repository root::

    python benchmarks/incomplete.py            # every row (~4 min on 2 cores)
    python benchmarks/incomplete.py --quick    # without the p 21 x theta 41 grid and H = 3's family row

Grids (Definition 5's lottery LP, :func:`lottery.build_program`), each with Definition 4's
exact equilibrium inserted as :func:`segregated.solve_segregated` does (so the LP holds that
allocation and the clearing family is centred on its holdings):

* the file's grid (c 801, p 11 per state, theta 21, clearing family n = 41 by default);
* the product grid p n = 5 / 21 per state with theta n = 11 / 41 (p 11 x theta 21 is the file's);
* the clearing family n = 0 (off) / 21 / 81 on the file's p and theta (n = 41 is the file's);
* an H = 3, S = 3, J = 2 economy (:func:`h3_economy`, gammas 0.5 / 2 / 4) on small grids
  (c 21, p 3, theta 5) with the family off and n = 3 (x 9 compositions); its default family
  (holdings n = 3 x 9 compositions, 729 exchanges) is built but not solved.

Per grid, each in its own forked process (``peak_MB`` its peak RSS, getrusage):

* ``lp``: build seconds, rows / cols / nnz, one solve at Definition 4's supporting weights
  (:func:`exact.supporting_weights`) with HiGHS default options, presolve off, ``solver="ipm"``
  and ``solver="simplex"`` (``segex.backends.solve`` on ``prog.planner.lp``, cold each);
* ``cvxpy``: the same LP through ``backend="cvxpy"`` (cvxpy -> HiGHS), smallest grids only;
  compile + solve seconds;
* ``eq``: the equilibrium without transfers, ``solve_segregated(econ, grid_specs=...)``
  (Definition 4 solved, grids built, Negishi + face LPs + certificate), wall
  time and LPs solved; stopped after ``--eq-timeout`` seconds (default 120).

``gain`` is the welfare gain of the Pareto program over Definition 4 at its supporting
weights: LP objective - sum_h w_h alpha_h U^h(CE). The LP holds the CE allocation, so
gain >= 0; without the clearing family it is ~0 (round-off): mixing product-grid exchanges
to clear costs more than correcting the externality gains; with the family it shows.

Last, ``segex solve grids/kt_incomplete.toml --json --quiet`` (and with ``--tol 1e-3`` and ``--tol 1e-4``) as a subprocess under
``/usr/bin/time -v`` (wall time, peak RSS; resource.getrusage of the child if absent).
Results go to ``benchmarks/incomplete_results.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import measured  # noqa: E402  (forked rows with peak RSS and a timeout)

from segex.backends import solve  # noqa: E402
from segex.economies.incomplete_markets.exact import solve_externality, supporting_weights
from segex.economies.incomplete_markets.grids import MarketGrids
from segex.economies.incomplete_markets.lottery import build_program
from segex.economies.incomplete_markets.model import IncompleteMarketsEconomy
from segex.economies.incomplete_markets.segregated import solve_segregated
from segex.io.config import load_spec

GRID_FILE = "grids/kt_incomplete.toml"
OUT = Path("benchmarks/incomplete_results.md")
#: HiGHS option sets of the lp row (cold solve each); {} is HiGHS's default ("choose")
OPTIONS = {"default": {}, "presolve off": {"presolve": "off"}, "ipm": {"solver": "ipm"},
           "simplex": {"solver": "simplex"}}
#: seconds per HiGHS run of the lp row (a guard, not expected to bind)
LP_TIME_LIMIT = 300.0
H3_GRID = {"c": {"n": 21}, "p": {"n": 3}, "theta": {"n": 5}}


def h3_economy() -> IncompleteMarketsEconomy:
    """H = 3 types with distinct CRRA (0.5, 2, 4), S = 3 states, J = 2 securities (a bond and
    a security paying 0 / 1 / 2)."""
    return IncompleteMarketsEconomy.create(
        share=[0.3, 0.3, 0.4], gamma=[0.5, 2.0, 4.0],
        endowment=[[[3, 1], [4, 1], [1, 2], [2, 2]], [[1, 3], [2, 3], [3, 1], [2, 2]],
                   [[2, 2], [1, 2], [3, 3], [2, 1]]],
        prob=[0.3, 0.3, 0.4], payoffs=[[1, 1, 1], [0, 1, 2]], name="H3 S3 J2")


def economy(name):
    """(economy, base [grid] specs)."""
    if name == "kt":
        spec = load_spec(GRID_FILE)
        return spec.economy, dict(spec.grid)
    return h3_economy(), dict(H3_GRID)


#: (label, economy, grid overrides, run cvxpy, solve the LPs and the equilibrium)
CASES = [
    ("file grid (= p 11 x θ 21, family 41)", "kt", {}, False, True),
    ("p 5 x θ 11", "kt", {"p": {"n": 5}, "theta": {"n": 11}}, True, True),
    ("p 21 x θ 41", "kt", {"p": {"n": 21}, "theta": {"n": 41}}, False, True),
    ("family off (n 0)", "kt", {"family": {"n": 0}}, True, True),
    ("family n 21", "kt", {"family": {"n": 21}}, False, True),
    ("family n 81", "kt", {"family": {"n": 81}}, False, True),
    ("H3: p 3 x θ 5, family off", "h3", {"family": {"n": 0}}, True, True),
    ("H3: p 3 x θ 5, family n 3", "h3", {"family": {"n": 3}}, False, True),
    ("H3: p 3 x θ 5, default family (n 3 x 9 compositions)", "h3", {}, False, False),
]
QUICK_SKIP = {"p 21 x θ 41", "H3: p 3 x θ 5, family n 3"}


# --------------------------------------------------------------------------- measuring
# --------------------------------------------------------------------------- rows
def _setup(name, overrides):
    econ, specs = economy(name)
    specs.update(overrides)
    t0 = time.perf_counter()
    ce = solve_externality(econ)
    ce_s = time.perf_counter() - t0
    return econ, specs, ce, ce_s


def _lp(econ, specs, ce):
    """Definition 5's LP on the grids solve_segregated builds (CE inserted), at the CE's
    supporting weights; (program, weights, build seconds, CE welfare at those weights)."""
    w = supporting_weights(ce)
    t0 = time.perf_counter()
    grids = MarketGrids.build(econ, **specs, insert={"c0": ce.c0, "p": ce.spot, "theta": ce.theta})
    prog = build_program(econ, grids, w)
    build_s = time.perf_counter() - t0
    prog.planner.set_weights(w)
    return prog, w, build_s, float(np.sum(w * econ.share * ce.utility))


def run_lp(name, overrides, do_solve=True):
    econ, specs, ce, ce_s = _setup(name, overrides)
    prog, w, build_s, ce_value = _lp(econ, specs, ce)
    lp, g = prog.planner.lp, prog.grids
    out = {**lp.stats, "build_s": build_s, "ce_s": ce_s, "exchanges": int(g.exchanges.shape[0]),
           "family": int(g.family_p.shape[0]), "holdings": int(g.holdings.shape[0])}
    if not do_solve:
        return out
    for key, opts in OPTIONS.items():
        prog.planner.set_weights(w)
        sol = solve(lp, backend="highs", time_limit=LP_TIME_LIMIT, **opts)
        out[key] = {"solve_s": sol.solve_s, "objective": sol.objective,
                    "simplex_it": sol.info["simplex_iterations"], "ipm_it": sol.info["ipm_iterations"]}
    out["gain"] = out["default"]["objective"] - ce_value
    return out


def run_cvxpy(name, overrides):
    econ, specs, ce, _ = _setup(name, overrides)
    prog, w, _, ce_value = _lp(econ, specs, ce)
    sol = solve(prog.planner.lp, backend="cvxpy")
    return {"compile_s": sol.info["compile_s"], "solve_s": sol.solve_s, "objective": sol.objective,
            "solver": sol.info.get("solver"), "gain": sol.objective - ce_value}


def run_eq(name, overrides):
    econ, specs = economy(name)
    specs.update(overrides)
    t0 = time.perf_counter()
    r = solve_segregated(econ, grid_specs=specs)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "lps": r.lp["lps"], "cols": r.lp["cols"],
            "equilibrium": bool(r.eq.equilibrium), "passed": bool(r.certificate.passed),
            "failed": r.certificate.failed()}


def run_cli(*extra):
    """``segex solve GRID_FILE --json --quiet [extra]`` as a subprocess: wall time and peak RSS."""
    exe = shutil.which("segex")
    args = ["solve", GRID_FILE, *extra, "--json", "--quiet"]
    cmd = [exe, *args] if exe else [sys.executable, "-m", "segex", *args]
    timer = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    t0 = time.perf_counter()
    if timer:
        proc = subprocess.run([timer, "-v", *cmd], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        peak = int(m.group(1)) / 1024.0 if m else float("nan")
        how = "/usr/bin/time -v"
    else:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0
        how = "getrusage(RUSAGE_CHILDREN)"
    out = {"cmd": "segex " + " ".join(args), "wall_s": wall, "peak_MB": peak, "how": how,
           "rc": proc.returncode}
    try:
        d = json.loads(proc.stdout)
        out.update(passed=d["certificate"]["passed"], lps=d["lp"]["lps"], cols=d["lp"]["cols"],
                   steps=len(d["lp"].get("refinement", {}).get("steps", [])))
    except (ValueError, KeyError, TypeError):
        out["stderr"] = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
    return out


# --------------------------------------------------------------------------- report
def machine() -> str:
    try:
        highs = subprocess.run([sys.executable, "-c", "import highspy; print(highspy.__version__)"],
                               capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        highs = ""
    if not highs or highs == "None":
        highs = importlib.metadata.version("highspy") + " (package metadata; highspy.__version__ not set)"
    try:
        cvx = importlib.metadata.version("cvxpy")
    except importlib.metadata.PackageNotFoundError:
        cvx = "not installed"
    return (f"nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), Python {platform.python_version()}, "
            f"highspy {highs}, cvxpy {cvx}, {platform.machine()} {platform.system()}")


def _commit() -> str:
    """The checked-out commit (read-only git), ``+ local changes`` when the tree is not clean."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "segex"], capture_output=True,
                               text=True).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" + local changes under segex/" if dirty else "")


def _rss_MB() -> float:
    """This process's current resident memory (MB): what a forked child starts with."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the p 21 x theta 41 grid and H = 3's family row")
    ap.add_argument("--eq-timeout", type=float, default=120.0, help="seconds before an equilibrium row is stopped")
    args = ap.parse_args(argv)
    command = "python benchmarks/incomplete.py" + (" --quick" if args.quick else "") + \
        (f" --eq-timeout {args.eq_timeout:g}" if args.eq_timeout != 120.0 else "")
    t_start = time.perf_counter()
    base_MB = _rss_MB()
    head = ("grid", "rows", "cols", "nnz", "build_s", "default_s", "presolve_off_s", "ipm_s", "simplex_s",
            "cvxpy_s", "lp_MB", "gain", "eq_s", "LPs", "eq_MB", "note")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    print(lines[0], flush=True)
    ratios = []
    for label, name, over, cvx, full in CASES:
        if args.quick and label in QUICK_SKIP:
            continue
        lp = measured(run_lp, name, over, full)
        if "error" in lp:
            row = [label] + ["–"] * (len(head) - 2) + [lp["error"]]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
            continue
        note = [f"{lp['exchanges']:,} exchanges ({lp['family']:,} family; the product grid's x {lp['holdings']:,} portfolios)"]
        cv = measured(run_cvxpy, name, over) if cvx else None
        eq = measured(run_eq, name, over, timeout=args.eq_timeout) if full else None
        if full:
            d = lp["default"]
            alg = "simplex" if d["simplex_it"] and not d["ipm_it"] else ("ipm" if d["ipm_it"] else "?")
            objs = [lp[k]["objective"] for k in OPTIONS]
            if cv and "error" not in cv:
                objs.append(cv["objective"])
            note.append(f"default ran {alg} ({d['simplex_it']:,} simplex it.), ipm {lp['ipm']['ipm_it']} it.; "
                        f"objectives spread {max(objs) - min(objs):.0e}")
        if cv is not None:
            if "error" in cv:
                cvx_s = "–"
                note.append(f"cvxpy: {cv['error']}")
            else:
                cvx_s = f"{cv['compile_s']:.2f}+{cv['solve_s']:.2f}"
                ratios.append((label, (cv["compile_s"] + cv["solve_s"]) / lp["default"]["solve_s"],
                               cv["compile_s"] / lp["build_s"], cv["solve_s"] / lp["default"]["solve_s"]))
        else:
            cvx_s = "–"
        if eq is None:
            eq_s = lps = eq_mb = "–"
            note.append("built only, not solved")
        elif "error" in eq:
            eq_s, lps, eq_mb = (f"> {args.eq_timeout:.0f}" if eq.get("timeout") else "–"), "–", "–"
            note.append(f"equilibrium {eq['error']}")
        else:
            eq_s, lps, eq_mb = f"{eq['wall_s']:.1f}", str(eq["lps"]), f"{eq['peak_MB']:.0f}"
            cert = "certified" if eq["passed"] else "NOT certified (" + ", ".join(eq["failed"]) + ")"
            note.append(f"eq.: {cert}")
        row = [label, f"{lp['rows']:,}", f"{lp['cols']:,}", f"{lp['nnz']:,}", f"{lp['build_s']:.3f}"]
        row += [f"{lp[k]['solve_s']:.2f}" if full else "–" for k in OPTIONS]
        row += [cvx_s, f"{lp['peak_MB']:.0f}", f"{lp['gain']:.2e}" if full else "–", eq_s, lps, eq_mb,
                "; ".join(note)]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)

    cli_lines = []
    for extra in ((), ("--tol", "1e-3"), ("--tol", "1e-4")):
        cli = run_cli(*extra)
        steps = f"{cli['steps']} refinement steps, last LP " if cli.get("steps") else ""
        cli_lines.append(f"| `{cli['cmd']}` | {cli['wall_s']:.2f} | {cli['peak_MB']:.0f} | exit {cli['rc']}; "
                         + (f"{steps}{cli['cols']:,} columns, {cli['lps']} LPs in all, certificate "
                            f"{'passed' if cli['passed'] else 'FAILED'}" if "lps" in cli else f"{cli.get('stderr')}")
                         + f"; measured by {cli['how']} |")
        print(cli_lines[-1], flush=True)
    total = time.perf_counter() - t_start

    md = ["# KT 2.2 incomplete markets: LP sizes, HiGHS options, cvxpy, equilibrium", "",
          f"Command: `{command}` (from the repository root; total {total:.0f} s)  ",
          f"Code: commit {_commit()}  ",
          f"Machine: {machine()}  ",
          f"Date: {time.strftime('%Y-%m-%d %H:%M')}  ",
          "Timings are single runs on a shared 2-core machine with other jobs running: noisy, "
          "read ratios of 2x or less as ties.", "",
          "Each row's `lp`, `cvxpy` and `eq` parts run in their own forked process; `lp_MB` / `eq_MB` "
          f"are those processes' peak RSS, which includes the ~{base_MB:.0f} MB the parent holds at fork "
          "(numpy, scipy, segex imported). All LPs: Definition 5's program on the grids "
          "`solve_segregated` builds (Definition 4's equilibrium inserted), at Definition 4's supporting "
          "weights; one cold solve per HiGHS option set (`default` = HiGHS's own choice). `cvxpy_s` = "
          "cvxpy compile + solve (through HiGHS). `gain` = LP objective (default solve) - "
          "sum_h w_h alpha_h U^h(CE) (>= 0: the LP holds the CE allocation). `eq_s` = "
          "`solve_segregated(econ, grid_specs=...)` wall time (Definition 4 solved, grids built, "
          "Negishi search, face LPs, certificate), `LPs` its LP solves. "
          "p 11 x θ 21 and family n 41 are the file grid's row (family radius: the default, 1.0 here). "
          "Grids: 2-type rows c 801 (file); "
          "H3 rows `h3_economy()` (H = 3, S = 3, J = 2, gammas 0.5 / 2 / 4) with c 21, p 3, θ 5; "
          "inserted points make the grids one to three points longer than n.", "",
          *lines, "", "| command | wall_s | peak_MB | note |", "|---|---|---|---|", *cli_lines, ""]
    if ratios:
        md += ["cvxpy ÷ HiGHS (same LP): " + "; ".join(
            f"{lab}: total (compile + solve) / direct solve {r:.1f}x, compile / segex build {c:.0f}x, "
            f"solve / direct solve {s:.1f}x" for lab, r, c, s in ratios), ""]
    OUT.write_text("\n".join(md))
    print(f"\nwritten {OUT} ({total:.0f} s)")


if __name__ == "__main__":
    main()
