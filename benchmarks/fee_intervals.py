"""Fee intervals (issue 6): the dual-face LP with lazily generated rows against the naive
path, every bundle's dual-feasibility row at once, in the same run.

Run from the repository root::

    python benchmarks/fee_intervals.py [--quick]

The equilibrium of KT Environment 1 is solved once on the file's grid (``--quick``: a
26 x 21 k/z grid) and, with ``--fine``, on a 101 x 81 grid; then, each in its own forked
process (peak RSS), ``fee_intervals`` -- two warm re-solves per exchange of one
Charnes-Cooper LP in the duals (:class:`segex.markets.fees.DualFace`)
-- with lazy rows (the shipped path) and with all rows. Rows/cols/nnz are the final
dual-face LP's; the largest difference between the two paths' interval ends is printed
(they solve the same program).
"""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from suite import measured  # noqa: E402  (forked rows with peak RSS)

from segex.economies.collateral import CollateralGrids, solve_segregated  # noqa: E402
from segex.io.config import load_spec  # noqa: E402
from segex.markets.fees import DualFace  # noqa: E402

GRIDS = {"quick": {"nk": 26, "nz": 21}, "file": None, "fine": {"nk": 101, "nz": 81}}


def intervals(res, naive: bool) -> dict:
    res.prog.set_weights(res.weights)
    face = DualFace(res.prog.planner, res.x, res.row_dual, res.equilibrium)
    if naive:
        face.rows = np.arange(res.prog.lp.A.shape[1])
    t0 = time.perf_counter()
    rb = res.prog.lp.row_blocks
    ends = [face.range(rb[f"rights[{s}]"].start + j) for s in range(res.econ.S) for j in range(res.grids.z[s].size)]
    seconds = time.perf_counter() - t0
    A = face.session.lp.A
    return {"rows": A.shape[0], "cols": A.shape[1], "nnz": A.nnz, "seconds": seconds, "ends": np.array(ends)}


def main(argv) -> None:
    spec = load_spec("grids/kt_env1.toml")
    e = spec.economy
    sizes = ["quick"] if "--quick" in argv else ["file"] + (["fine"] if "--fine" in argv else [])
    print("| grid | bundles | exchanges | path | dual-face rows | cols | nnz | time | peak MB | max end diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        raw = dict(spec.grid)
        if GRIDS[size]:
            raw["k"] = {**raw["k"], "n": GRIDS[size]["nk"]}
            raw["z"] = {**raw["z"], "n": GRIDS[size]["nz"]}
        res = solve_segregated(e, CollateralGrids.build(e, **raw))
        rows = {path: measured(intervals, res, path == "naive") for path in ("lazy", "naive")}
        ends = [r["ends"] for r in rows.values()]
        fin = np.isfinite(ends[0]) & np.isfinite(ends[1])
        diff = float(np.abs(ends[0][fin] - ends[1][fin]).max()) if fin.any() else 0.0
        same_inf = bool(np.array_equal(~np.isfinite(ends[0]), ~np.isfinite(ends[1])))
        for path, r in rows.items():
            print(f"| {size} | {res.prog.lp.A.shape[1]:,} | {ends[0].shape[0]} | {path} | {r['rows']:,} | {r['cols']} | "
                  f"{r['nnz']:,} | {r['seconds']:.1f} s | {r['peak_MB']:.0f} | "
                  f"{diff:.1e}{'' if same_inf else ' (unbounded ends differ)'} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
