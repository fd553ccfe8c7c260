"""LP sizes, build and solve times and peak memory of Peiris–Vardoulakis's lottery LPs
(:mod:`segex.economies.default_reserves`; issue 15 items 4-5).

Run from the repository root::

    python benchmarks/bench_default_reserves.py [--quick] [ROW-SUBSTRING]

Rows (baseline economy, each in its own forked process; ``peak_MB`` its peak RSS):

* ``planner``  -- the constrained planner (weights one), PV's single bond (``K_mode =
  "equal"``, K on 0.05 steps), default sigma/theta/phi grids and two zooms; ``err`` is the
  welfare distance to the continuum lottery planner (derivation §11 E);
* ``planner refine=0/1`` -- the same without / with one zoom (the grid error per zoom);
* ``contracts small`` -- the market's choice of contracts: K on 0.1 steps, rho in {0, 0.35},
  one zoom (the test suite's grid); ``err``: to the planner's continuum value;
* ``contracts default`` -- the same on the default ``[grid]`` (K on 0.05 steps, six reserves);
* ``single exchange`` -- (rho, K) = (0.38, 0.484848) at lambda = 0.75; ``err`` to the exact
  equilibrium (derivation §11 B);
* ``contracts product`` -- a rate per state (K in {0, 1/2, 1}^2), wide theta/phi: the
  state-contingent pools (slow; not with ``--quick``);
* ``planner, naive grid`` -- the naive path in the same run: every point of a coarser grid
  (``NAIVE``) in every exchange as one LP (no column generation, no zoom), solved by HiGHS and
  by cvxpy, against column generation on the same grid.

Sizes and times are the last master LP's (rows, cols, nnz) and the sums over every LP
built / solved (column generation rounds, Negishi steps, face LPs). Results go to
``benchmarks/default_reserves_results.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, "benchmarks")
from suite import measured  # noqa: E402  (forked rows with peak RSS)

from segex.economies.default_reserves.contracts import solve_contracts, solve_single_exchange  # noqa: E402
from segex.economies.default_reserves.model import baseline  # noqa: E402
from segex.economies.default_reserves.planner import solve_planner  # noqa: E402

EQUAL = {"K_mode": "equal", "K": {"min": 0.0, "max": 1.0, "n": 21}}
SMALL = {"K_mode": "equal", "K": {"min": 0.0, "max": 1.0, "n": 11}, "rho": {"points": [0.0, 0.35]}, "refine": 1}
#: the naive comparison's grid (every point a column): K on 0.1 steps, coarser sigma/theta/phi, no zoom
NAIVE = {"K_mode": "equal", "K": {"min": 0.0, "max": 1.0, "n": 11}, "sigma": {"n": 16}, "theta": {"n": 13},
         "phi": {"n": 11}, "refine": 0}
PRODUCT = {"K": {"min": 0.0, "max": 1.0, "n": 3}, "theta": {"min": 0.0, "max": 0.6, "n": 16},
           "phi": {"min": 0.0, "max": 0.6, "n": 16}, "rho": {"points": [0.0]}, "refine": 1}
#: derivation §11 E (continuum lottery planner) and §11 B (exact equilibrium)
PLANNER_075 = -0.795057415
EQ_075_038 = -0.7972583701


def _row(res, t0, ref):
    lp = res.lp
    return {**{k: lp[k] for k in ("rows", "cols", "nnz", "build_s", "solve_s")}, "wall_s": time.perf_counter() - t0,
            "welfare": res.welfare, "err": res.welfare - ref if ref is not None else None,
            "certified": res.certificate.passed}


def planner(specs):
    t0 = time.perf_counter()
    return _row(solve_planner(baseline(0.75), specs), t0, PLANNER_075)


def contracts(specs):
    t0 = time.perf_counter()
    res = solve_contracts(baseline(0.75), specs)
    out = _row(res, t0, PLANNER_075)
    out["K"] = sorted({tuple(e["K"]) for e in res.to_dict()["exchanges"]})
    return out


def full_lp(backend):
    """The naive path: every point of the coarse grid in every exchange as a column of one LP
    (no column generation, no zoom), solved once by ``backend``."""
    import numpy as np

    from segex.backends import solve
    from segex.economies.default_reserves.planner import (Duals, add_priced, build_program, grids_from_specs,
                                                          initial_columns, price)

    econ = baseline(0.75)
    t0 = time.perf_counter()
    grids = grids_from_specs(econ, NAIVE, rho=[econ.reserve])  # the planner's exchanges
    cols = initial_columns(econ, grids)
    zero = Duals(1.0, np.zeros(grids.E), np.zeros((grids.E, econ.S)), np.zeros((econ.H, 2)))
    add_priced(econ, grids, cols, price(econ, grids, zero, np.ones(econ.H), 1.0, tol=-np.inf, top=10**9))
    prog = build_program(econ, grids, cols)
    build_s = time.perf_counter() - t0
    sol = solve(prog.planner.lp, backend=backend)
    welfare = float(econ.share @ prog.planner.utilities(sol.x))
    return {**prog.planner.lp.stats, "build_s": build_s, "solve_s": time.perf_counter() - t0 - build_s,
            "wall_s": time.perf_counter() - t0, "welfare": welfare, "err": welfare - PLANNER_075,
            "certified": "n/a (no certificate: the naive path)"}


def single(_):
    t0 = time.perf_counter()
    return _row(solve_single_exchange(baseline(0.75), 0.38, 0.4848484848), t0, EQ_075_038)


ROWS = [("planner", planner, EQUAL), ("planner refine=0", planner, {**EQUAL, "refine": 0}),
        ("planner refine=1", planner, {**EQUAL, "refine": 1}), ("single exchange", single, None),
        ("contracts small", contracts, SMALL), ("contracts default", contracts, EQUAL),
        ("contracts product", contracts, PRODUCT),
        ("planner, naive grid, column generation", planner, NAIVE),
        ("planner, naive grid, full LP by HiGHS (no column generation)", full_lp, "highs"),
        ("planner, naive grid, full LP by cvxpy", full_lp, "cvxpy")]


def main(quick=False, only=""):
    lines = ["| row | rows | cols | nnz | build_s | solve_s | wall_s | peak_MB | welfare | err | certified | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, fn, arg in ROWS:
        if quick and name in ("contracts default", "contracts product") or only not in name:
            continue
        r = measured(fn, arg, timeout=900)
        if "error" in r:
            lines.append(f"| {name} | {r['error']} |")
        else:
            err = "–" if r.get("err") is None else f"{r['err']:.1e}"
            lines.append(f"| {name} | {r['rows']} | {r['cols']} | {r['nnz']} | {r['build_s']:.2f} | {r['solve_s']:.2f} | "
                         f"{r['wall_s']:.1f} | {r.get('peak_MB', float('nan')):.0f} | {r['welfare']:.9f} | {err} | "
                         f"{r['certified']} | {('K ' + str(r['K'])) if 'K' in r else ''} |")
        print(lines[-1], flush=True)
    if only:
        return
    Path("benchmarks/default_reserves_results.md").write_text(
        "# Peiris–Vardoulakis lottery LPs (benchmarks/bench_default_reserves.py), lambda = 0.75\n\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    main(quick="--quick" in sys.argv, only=args[0] if args else "")
