"""LP size and speed of Program 2: direct HiGHS vs cvxpy vs the naive full-product LP.

Run from the repository root::

    python benchmarks/bench_lp.py            # small, medium, large (~2-3 min on 2 cores)
    python benchmarks/bench_lp.py --quick    # small and medium only

Economy: Kilenthong–Townsend Environment 1 (two types, one state), fixed Pareto
weights [1.5, 0.5]. Column meanings: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

import numpy as np

from segex.backends.cvxpy_backend import build_cvxpy, default_solver, solve_cvxpy
from segex.backends.highs import HighsSession, to_highs_lp
from segex.economies.collateral import CollateralEconomy, CollateralGrids
from segex.economies.collateral.program2 import build_program2, full_product_columns, full_product_program2
from segex.economies.collateral.segregated import solve_segregated

WEIGHTS = [1.5, 0.5]
SIZES = {
    "small": {"c": 51, "k": 11, "z": 11, "a": 5},
    "medium": {"c": 201, "k": 26, "z": 21, "a": 11},
    "large": {"c": 401, "k": 51, "z": 41, "a": 21},
}
#: the naive full-product LP is built only up to this many columns (the small grid
#: gives ~2.6M columns and ~12M nonzeros: ~1.5 s to build, ~80 s for HiGHS IPM;
#: medium would be ~10^8 columns).
NAIVE_MAX_COLS = 3_000_000
HIGHS_OPTS = {"solver": "ipm"}


def economy():
    return CollateralEconomy.create([0.5, 0.5], [[[3, 3], [1, 1]], [[1, 1], [3, 3]]], name="KT env 1")


def grids_for(econ, size):
    n = SIZES[size]
    return CollateralGrids.build(econ, c={"n": n["c"]}, k={"n": n["k"]}, z={"n": n["z"]}, a={"n": n["a"]})


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def py_peak_mb(fn) -> float:
    """tracemalloc peak (MB) of the Python-side allocations of ``fn()`` (numpy arrays
    included; the solver's C++ memory is not seen by tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    gc.collect()
    return peak / 2**20


# --------------------------------------------------------------------------- paths
def run_highs_direct(econ, grids, presolve):
    rss0 = maxrss_mb()
    t0 = time.perf_counter()
    prog = build_program2(econ, grids, WEIGHTS)
    build_s = time.perf_counter() - t0
    session = HighsSession(prog.lp, presolve=presolve, **HIGHS_OPTS)
    sol = session.run()
    row = {
        "rows": prog.lp.stats["rows"], "cols": prog.lp.stats["cols"], "nnz": prog.lp.stats["nnz"],
        "build_s": build_s, "solve_s": sol.solve_s, "objective": sol.objective,
        "rss_mb": maxrss_mb() - rss0,
        "py_mb": py_peak_mb(lambda: to_highs_lp(build_program2(econ, grids, WEIGHTS).lp)),
    }
    if presolve == "on":
        # the reduced model HiGHS actually solves
        probe = HighsSession(prog.lp, presolve="on", **HIGHS_OPTS)
        probe.h.presolve()
        plp = probe.h.getPresolvedLp()
        row["note"] = f"presolved to {plp.num_row_} rows x {plp.num_col_} cols"
    else:
        row["note"] = "presolve off"
    return prog, row


def run_cvxpy(prog, econ, grids, build_s):
    lp = prog.lp
    solver = default_solver()
    opts = {"highs_options": dict(HIGHS_OPTS)} if solver == "HIGHS" else {}
    rss0 = maxrss_mb()
    sol = solve_cvxpy(lp, solver=solver, **opts)

    def compile_only():
        prob, _, _ = build_cvxpy(lp)
        return prob, prob.get_problem_data(solver)

    return {
        "rows": lp.stats["rows"], "cols": lp.stats["cols"], "nnz": lp.stats["nnz"],
        "build_s": sol.info["compile_s"], "solve_s": sol.solve_s, "objective": sol.objective,
        "rss_mb": maxrss_mb() - rss0, "py_mb": py_peak_mb(compile_only),
        "note": f"via cvxpy->{solver}; build_s = cvxpy compile on top of segex build "
                f"({build_s:.3g}s): ratio {sol.info['compile_s'] / build_s:.1f}x",
        "ratio": sol.info["compile_s"] / build_s,
    }


def run_naive(econ, grids):
    rss0 = maxrss_mb()
    t0 = time.perf_counter()
    lp = full_product_program2(econ, grids, WEIGHTS)
    build_s = time.perf_counter() - t0
    sol = HighsSession(lp, presolve="choose", **HIGHS_OPTS).run()
    rss = maxrss_mb() - rss0
    stats = lp.stats
    del lp
    gc.collect()
    return {
        **stats, "build_s": build_s, "solve_s": sol.solve_s, "objective": sol.objective, "rss_mb": rss,
        "py_mb": py_peak_mb(lambda: to_highs_lp(full_product_program2(econ, grids, WEIGHTS))),
    }


def run_separable_noboundary(econ, grids):
    t0 = time.perf_counter()
    prog = build_program2(econ, grids, WEIGHTS, boundary=False)
    build_s = time.perf_counter() - t0
    sol = HighsSession(prog.lp, presolve="choose", **HIGHS_OPTS).run()
    return {**prog.lp.stats, "build_s": build_s, "solve_s": sol.solve_s, "objective": sol.objective,
            "rss_mb": float("nan"), "py_mb": float("nan"), "note": "separable, boundary=False (naive's reference)"}


def run_negishi(econ, grids):
    rss0 = maxrss_mb()
    t0 = time.perf_counter()
    res = solve_segregated(econ, grids)
    total = time.perf_counter() - t0
    return {
        "rows": res.lp["rows"], "cols": res.lp["cols"], "nnz": res.lp["nnz"], "build_s": res.lp["build_s"],
        "solve_s": total, "objective": res.objective, "rss_mb": maxrss_mb() - rss0, "py_mb": float("nan"),
        "note": f"solve_s = TOTAL wall time; {res.lp['negishi_iterations']} Negishi LPs, weights "
                f"{np.round(res.weights, 6).tolist()}, certificate {'passed' if res.certificate.passed else 'FAILED'}",
    }


def run_colgen(econ, grids, weights=None):
    """Column generation: a and c0 continuous, k and z on the grid's points."""
    rss0 = maxrss_mb()
    t0 = time.perf_counter()
    res = solve_segregated(econ, grids, weights=weights, method="colgen", equilibrium=weights is None)
    total = time.perf_counter() - t0
    pr = res.certificate.checks["pricing.max_reduced_cost"].residual
    return {
        "rows": res.lp["rows"], "cols": res.lp["cols"], "nnz": res.lp["nnz"], "build_s": res.lp["build_s"],
        "solve_s": total, "objective": res.objective, "rss_mb": maxrss_mb() - rss0, "py_mb": float("nan"),
        "note": f"solve_s = TOTAL; {res.lp['colgen_rounds']} rounds, max reduced cost {pr:.1e}, "
                f"certificate {'passed' if res.certificate.passed else 'FAILED'}"
                + ("" if weights is not None else f", weights {np.round(res.weights, 6).tolist()}"),
    }


# --------------------------------------------------------------------------- output
COLS = [("size", 7, "s"), ("path", 22, "s"), ("rows", 6, "d"), ("cols", 9, "d"), ("nnz", 10, "d"),
        ("build_s", 8, ".4f"), ("solve_s", 8, ".3f"), ("py_MB", 8, ".1f"), ("rss+MB", 7, ".0f"),
        ("objective", 16, ".10f"), ("|obj-ref|", 9, ".1e")]


def header():
    print("  ".join(f"{name:>{w}}" if f != "s" else f"{name:<{w}}" for name, w, f in COLS))
    print("  ".join("-" * w for _, w, _ in COLS))


def emit(size, path, r, ref):
    vals = [size, path, r["rows"], r["cols"], r["nnz"], r["build_s"], r["solve_s"], r["py_mb"], r["rss_mb"],
            r["objective"], abs(r["objective"] - ref) if ref is not None else float("nan")]
    cells = []
    for (name, w, f), v in zip(COLS, vals):
        if f == "s":
            cells.append(f"{v:<{w}}")
        elif isinstance(v, float) and not np.isfinite(v):
            cells.append(f"{'-':>{w}}")
        else:
            cells.append(f"{v:>{w}{f}}")
    line = "  ".join(cells)
    if r.get("note"):
        line += "  # " + r["note"]
    print(line, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small and medium grids only")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive full-product LP")
    args = ap.parse_args(argv)
    sizes = ["small", "medium"] if args.quick else ["small", "medium", "large"]
    econ = economy()
    t_all = time.perf_counter()
    print(f"economy: {econ.name}, H={econ.H}, S={econ.S}; Pareto weights {WEIGHTS}; HiGHS options {HIGHS_OPTS}")
    print(f"python {sys.version.split()[0]}; grids (c, k, z, a points): "
          + "; ".join(f"{s}={tuple(SIZES[s].values())}" for s in sizes))
    print()
    header()
    ratios = []
    for size in sizes:
        grids = grids_for(econ, size)
        prog, on = run_highs_direct(econ, grids, "on")
        ref = on["objective"]
        emit(size, "highs-direct", on, ref)
        _, off = run_highs_direct(econ, grids, "off")
        emit(size, "highs-direct/no-presol", off, ref)
        cv = run_cvxpy(prog, econ, grids, on["build_s"])
        emit(size, "cvxpy", cv, ref)
        cg = run_colgen(econ, grids, WEIGHTS)
        cg["note"] += "; objective >= grid LP (a, c0 continuous)"
        emit(size, "colgen", cg, ref)
        ratios.append((size, on["cols"], on["build_s"], cv["build_s"], cv["ratio"], cv["solve_s"] / on["solve_s"]))
        del prog
        gc.collect()

    naive = []
    if not args.no_naive:
        for size in sizes[:2]:
            grids = grids_for(econ, size)
            n_naive = full_product_columns(econ, grids)
            sep = run_separable_noboundary(econ, grids)
            emit(size, "separable/no-boundary", sep, None)
            if n_naive > NAIVE_MAX_COLS:
                print(f"{size:<7}  {'naive':<22}  skipped: the full product has {n_naive:,} columns "
                      f"({n_naive / sep['cols']:,.0f}x the separable LP), above the {NAIVE_MAX_COLS:,} limit", flush=True)
                naive.append((size, n_naive, sep["cols"], None))
                continue
            r = run_naive(econ, grids)
            r["note"] = "full product; |obj-ref| against separable/no-boundary"
            emit(size, "naive", r, sep["objective"])
            naive.append((size, r["cols"], sep["cols"], r))

    neg_size = sizes[-1]
    neg = run_negishi(econ, grids_for(econ, neg_size))
    emit(neg_size, "negishi-equilibrium", neg, None)
    cgn = run_colgen(econ, grids_for(econ, neg_size))
    emit(neg_size, "colgen+negishi", cgn, None)

    print()
    print("ratios")
    for size, cols, b, c, ratio, sratio in ratios:
        print(f"  {size:<7} cvxpy compile / segex build = {c:.4f}s / {b:.4f}s = {ratio:.1f}x;"
              f"  cvxpy solve / highs-direct solve = {sratio:.2f}x  ({cols:,} cols)")
    for size, nc, sc, r in naive:
        extra = "" if r is None else (f"; nnz {r['nnz']:,}; build {r['build_s']:.2f}s, "
                                      f"solve {r['solve_s']:.1f}s")
        print(f"  {size:<7} naive cols / separable cols = {nc:,} / {sc:,} = {nc / sc:,.0f}x{extra}")
    print(f"\ntotal benchmark time {time.perf_counter() - t_all:.1f}s")


if __name__ == "__main__":
    main()
