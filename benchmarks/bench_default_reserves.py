"""LP sizes, build and solve times and peak memory of Peiris–Vardoulakis's lottery LPs
(:mod:`segex.economies.default_reserves`; issue 15 items 4-5).

Run from the repository root::

    python benchmarks/bench_default_reserves.py [--quick]

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
  state-contingent pools (slow; not with ``--quick``).

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


def single(_):
    t0 = time.perf_counter()
    return _row(solve_single_exchange(baseline(0.75), 0.38, 0.4848484848), t0, EQ_075_038)


ROWS = [("planner", planner, EQUAL), ("planner refine=0", planner, {**EQUAL, "refine": 0}),
        ("planner refine=1", planner, {**EQUAL, "refine": 1}), ("single exchange", single, None),
        ("contracts small", contracts, SMALL), ("contracts default", contracts, EQUAL),
        ("contracts product", contracts, PRODUCT)]


def main(quick=False):
    lines = ["| row | rows | cols | nnz | build_s | solve_s | wall_s | peak_MB | welfare | err | certified | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, fn, arg in ROWS:
        if quick and name in ("contracts default", "contracts product"):
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
    Path("benchmarks/default_reserves_results.md").write_text(
        "# Peiris–Vardoulakis lottery LPs (benchmarks/bench_default_reserves.py), lambda = 0.75\n\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
