"""LP sizes and times of FGT's programs as lottery LPs (issue 5).

Run from the repository root::

    python benchmarks/liquidity.py

For each preference family (log utility, two equally likely shocks, R-hat = 1.5) and
grid size: SP3 with segregated exchanges (one LP), SP3 with one private market (one LP
per candidate rate, then Brent's method on the rate: the count is printed), and SP2
(consumption bundles). Each row runs in its own forked process; peak_MB is its peak RSS.
The reduced problem's SP3 (FGT eq. 22, numerical) is printed for comparison.
"""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from suite import measured  # noqa: E402  (forked rows with peak RSS)

from segex.economies.liquidity import LiquidityEconomy  # noqa: E402
from segex.economies.liquidity import reduced  # noqa: E402
from segex.economies.liquidity.lottery import LotteryGrids, solve_sp2, solve_sp3  # noqa: E402

FAMILIES = {"discount": [0.5, 1.5], "liquidity": [0.5, 1.5], "valuation_neutral": [0.3, 0.7]}
SIZES = [(21, 81), (41, 321), (81, 641)]


def econ(family):
    return LiquidityEconomy.create(FAMILIES[family], [0.5, 0.5], family, gamma=1.0, R_hat=1.5)


def run_sp3(family, nR, nI, exchanges):
    e = econ(family)
    t0 = time.perf_counter()
    r = solve_sp3(e, LotteryGrids.around(e, nR, nI), exchanges=exchanges)
    total = time.perf_counter() - t0
    return {"rows": r.lp["rows"], "cols": r.lp["cols"], "nnz": r.lp["nnz"], "build_s": r.lp["build_s"],
            "solve_s": total, "welfare": r.welfare,
            "note": f"R/R_hat {r.R / e.R_hat:.6f}, liquidity {r.liquidity:.6f}, certified {r.certificate.passed}"
                    + (f", {r.lp['single_rate_lps']} LPs" if "single_rate_lps" in r.lp else "")}


def run_sp2(family, n):
    e = econ(family)
    t0 = time.perf_counter()
    w = solve_sp2(e, np.linspace(0.05, 3.0, n))
    N = e.theta.size
    # rows: lotteries, resources, truth-telling pairs; columns: every type's bundles on the grid
    # (the LP drops those with zero consumption of a good the type values: at most this many)
    return {"rows": N + 1 + N * (N - 1), "cols": N * n * n, "solve_s": time.perf_counter() - t0, "welfare": w,
            "note": f"{n}x{n} bundles"}


def main():
    cols = ("family", "program", "grid", "rows", "cols", "nnz", "build_s", "solve_s", "peak_MB", "welfare", "note")
    print("  ".join(f"{c:>12}" for c in cols[:-1]), "note")
    for family in FAMILIES:
        s3 = reduced.sp3(econ(family))
        print(f"{family:>12}  {'reduced SP3':>12}  {'-':>12}  {'':>12}  {'':>12}  {'':>12}  {'':>12}  {'':>12}  {'':>12}"
              f"  {s3.welfare:12.8f}  R/R_hat {s3.wedge:.6f}, liquidity {s3.liquidity:.6f}", flush=True)
        rows = [("SP3 segregated", (nR, nI), run_sp3, (family, nR, nI, "segregated")) for nR, nI in SIZES]
        rows += [("SP3 single", (21, nI), run_sp3, (family, 21, nI, "single")) for _, nI in SIZES[:2]]
        rows += [("SP2", (n, n), run_sp2, (family, n)) for n in (81, 161)]
        for prog, grid, fn, args in rows:
            r = measured(fn, *args)
            vals = [family, prog, "x".join(map(str, grid))] + [r.get(c) for c in cols[3:-1]]
            print("  ".join(f"{v:>12.6g}" if isinstance(v, float) else f"{'-' if v is None else v:>12}" for v in vals),
                  r.get("note", r.get("error", "")), flush=True)


if __name__ == "__main__":
    main()
