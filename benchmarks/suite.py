"""The benchmark suite of issue 4: one command, one table.

Run from the repository root::

    python benchmarks/suite.py              # everything, naive LPs included (~15 min on 2 cores)
    python benchmarks/suite.py --no-naive   # without the naive full-product LPs (~4 min)
    python benchmarks/suite.py --only env1  # one economy (env1, env2, env3, synthetic)

Economies: KT Environments 1, 2, 3 and a synthetic collateral economy with H = 10
types and S = 4 states (``random_economy(10, 4, seed=0)``). For each, at Pareto
weights all one (a planner's problem, the same for every path), the rows are:

* ``grid``      -- Program 2 as one separable sparse LP on the economy's benchmark
  grid, assembled by segex (numpy index arithmetic, one CSC matrix) and solved by
  HiGHS through highspy (IPM);
* ``cvxpy``     -- the same LP assembled and solved through cvxpy (-> HiGHS);
* ``colgen``    -- column generation on the same k and z grids, securities and t = 0
  consumption continuous (closed-form pricing);
* ``naive``     -- one lottery per type over the full product of the grids, on the
  largest grid whose LP fits in 8 GiB (estimated from its exact column count by
  :func:`naive_memory`, fitted to measured peaks); the grid is printed; HiGHS stops
  it after NAIVE_TIME_LIMIT seconds;
* ``cvxpy model`` -- Program 2 written in cvxpy as a user would model it
  (:mod:`segex.economies.collateral.cvxpy_model`: per-block variables, expressions, sparse
  incidence matrices) and compiled: the honest "same LP built in cvxpy";
* ``continuum`` -- the planner's optimum without grids on the colgen row's support
  (:mod:`segex.economies.collateral.continuum`): Newton to ~1e-15; when certified it
  is the reference the price errors are measured against;
* ``reference`` -- column generation on a fine z grid (the reference when the
  continuum row does not certify; otherwise its own error is printed);

and the competitive equilibrium: for KT Env 1-3 by column generation (Negishi search)
and by accuracy mode (``--tol 1e-6``: the continuum equilibrium); for the synthetic
economy the continuum equilibrium from the planner's LP (its Negishi weights found by
Newton; the LP's nested Negishi search grows geometrically with H). Every row runs in
a fresh forked process, so ``peak_MB`` is that row's own peak resident memory (build +
solve, HiGHS included).

``price_err`` is the largest absolute difference to the reference in p0 and, per
state, in the mass-weighted fee P_Delta and fundamental z of the active exchanges
(numeraire units; z is unitless). A ratios block follows the table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import numpy as np

from segex.economies.collateral import CollateralGrids, solve_segregated
from segex.economies.collateral.kt import environment1, environment2, environment3
from segex.economies.collateral.program2 import (build_program2, full_product_columns, full_product_program2,
                                                  type_columns)
from segex.economies.collateral.synthetic import random_economy

#: peak memory of a naive LP, bytes per column and per nonzero (about 3 + 2S nonzeros
#: per column), fitted to the measured peaks: Env 1 4.6M columns / 22.6M nonzeros
#: 5.2 GB, Env 2 6.2M / 42M 8.0 GB, synthetic 6.5M / 62M 12.4 GB (the fit errs high
#: by ~15% on the first two and low by 3% on the third)
MEM_PER_COL, MEM_PER_NNZ = 700, 120
MEM_BUDGET = 8 * 2**30


def naive_memory(econ, cols: int) -> float:
    """Estimated peak bytes of the naive LP with ``cols`` columns."""
    return cols * (MEM_PER_COL + MEM_PER_NNZ * (3 + 2 * econ.S))
#: HiGHS time limit for a naive LP (s): Env 3's 7M-column naive LP had not finished
#: after 20 min of IPM; a row that hits the limit says so
NAIVE_TIME_LIMIT = 900.0

ECONOMIES = {
    "env1": (environment1, dict(c={"n": 201}, k={"n": 26}, z={"n": 21}, a={"n": 11})),
    "env2": (environment2, dict(c={"n": 101}, k={"n": 21}, z={"n": 21}, a={"n": 11})),
    "env3": (environment3, dict(c={"n": 101}, k={"n": 25}, z={"n": 31}, a={"n": 11})),
    "synthetic": (lambda: random_economy(10, 4, seed=0), dict(c={"n": 21}, k={"n": 11}, z={"n": 11}, a={"n": 5})),
}
#: the reference: column generation with this many z points per state (k as the
#: benchmark grid); the synthetic economy has 4 states and 10 types, so fewer
REF_Z = {"env1": 161, "env2": 161, "env3": 161, "synthetic": 41}


# --------------------------------------------------------------------------- measuring
def _child(conn, fn, args):
    try:
        out = fn(*args)
        out["peak_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        conn.send(out)
    except Exception as exc:  # report, do not hang the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def measured(fn, *args, timeout=None) -> dict:
    """Run ``fn(*args) -> dict`` in a forked process; add its peak RSS (MB). After
    ``timeout`` seconds (None: no limit) the process is killed and the row says so."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()
    p = ctx.Process(target=_child, args=(child, fn, args))
    p.start()
    child.close()
    if not parent.poll(timeout):
        p.kill()
        p.join()
        return {"error": f"stopped after {timeout:.0f} s", "timeout": True, "wall_s": time.perf_counter() - t0}
    out = parent.recv()
    p.join()
    return out


def outputs(res) -> dict:
    """p0 and, per state, the mass-weighted z and fee of the active exchanges."""
    d = res.to_dict()
    out = {"p0": d["p0"]}
    for s in range(res.econ.S):
        act = [x for x in d["exchanges"] if x["state"] == s + 1 and x["active"]]
        m = np.array([x["mass"] for x in act])
        out[f"z{s}"] = float(m @ [x["z"] for x in act] / m.sum())
        out[f"fee{s}"] = float(m @ [x["fee"] for x in act] / m.sum())
    return out


# --------------------------------------------------------------------------- paths
def run_grid(name):
    make, spec = ECONOMIES[name]
    e = make()
    g = CollateralGrids.build(e, **spec)
    r = solve_segregated(e, g, weights=np.ones(e.H), equilibrium=False)
    cols = [type_columns(e, g, h) for h in range(e.H)]
    assembly_s = _best(lambda: build_program2(e, g, np.ones(e.H), columns=cols))
    return {**{k: r.lp[k] for k in ("rows", "cols", "nnz", "build_s", "solve_s")}, "objective": r.objective,
            "out": outputs(r), "assembly_s": assembly_s,
            "note": f"HiGHS IPM via highspy; certified {r.certificate.passed}; matrix assembly alone "
                    f"{assembly_s * 1e3:.1f} ms (best of 5; bundles precomputed)"}


def _best(fn, n=5) -> float:
    """Best wall time of n runs of fn() (s)."""
    out = np.inf
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def run_cvxpy(name):
    from segex.backends.cvxpy_backend import default_solver, solve_cvxpy

    make, spec = ECONOMIES[name]
    e = make()
    g = CollateralGrids.build(e, **spec)
    prog = build_program2(e, g, np.ones(e.H))
    solver = default_solver()
    opts = {"highs_options": {"solver": "ipm"}} if solver == "HIGHS" else {}
    sol = solve_cvxpy(prog.lp, solver=solver, **opts)
    return {**prog.lp.stats, "build_s": sol.info["compile_s"], "solve_s": sol.solve_s, "objective": sol.objective}


def run_cvxpy_model(name):
    import cvxpy as cp

    from segex.economies.collateral.cvxpy_model import program2_problem

    make, spec = ECONOMIES[name]
    e = make()
    g = CollateralGrids.build(e, **spec)
    t0 = time.perf_counter()
    problem, _ = program2_problem(e, g, np.ones(e.H))
    data = problem.get_problem_data(cp.HIGHS)[0]
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem.solve(solver=cp.HIGHS)
    solve_s = time.perf_counter() - t0
    cols = [type_columns(e, g, h) for h in range(e.H)]
    assembly_s = _best(lambda: program2_problem(e, g, np.ones(e.H), columns=cols)[0].get_problem_data(cp.HIGHS), 3)
    return {"rows": int(data["A"].shape[0]), "cols": int(data["A"].shape[1]), "nnz": int(data["A"].nnz),
            "build_s": build_s, "solve_s": solve_s, "objective": problem.value, "assembly_s": assembly_s,
            "note": f"modelled in cvxpy (expressions), compiled for HiGHS; rows/cols after cvxpy's canonicalisation; "
                    f"model + compile alone {assembly_s * 1e3:.1f} ms (best of 3; bundles precomputed)"}


def _colgen_start(name):
    make, spec = ECONOMIES[name]
    e = make()
    return solve_segregated(e, CollateralGrids.build(e, **spec), weights=np.ones(e.H), method="colgen",
                            equilibrium=False)


def run_continuum(name):
    from segex.economies.collateral.continuum_result import solve_continuum

    start = _colgen_start(name)
    t0 = time.perf_counter()
    r = solve_continuum(start)
    total = time.perf_counter() - t0
    c = r.lp["continuum"]
    return {"rows": c["constraints"], "cols": c["variables"], "build_s": 0.0, "solve_s": total,
            "objective": r.objective, "out": outputs(r), "certified": r.certificate.passed,
            "note": f"from the colgen row: {c['exchanges']} exchanges, {c['newton_iterations']} Newton iterations, "
                    f"accuracy {r.accuracy:.1e}, certified {r.certificate.passed}"
                    + ("" if r.certificate.passed else f" (failed {r.certificate.failed()})")}


def run_continuum_equilibrium(name):
    """The continuum equilibrium started from the planner's LP at weights 1."""
    from segex.economies.collateral.continuum import equilibrium, start_from_lp

    start = _colgen_start(name)
    t0 = time.perf_counter()
    z0, state, w0 = start_from_lp(start)
    planner, pt, path = equilibrium(start.econ, z0, state, w0)
    return {"rows": int(pt.mu.size), "cols": int(planner.n), "build_s": 0.0, "solve_s": time.perf_counter() - t0,
            "objective": pt.value, "note": f"{len(path)} Newton iterations, weights {np.round(pt.weights, 3).tolist()}, "
                                           f"max |T| {np.abs(pt.transfer).max():.1e}"}


def run_colgen(name, z_points=None):
    make, spec = ECONOMIES[name]
    e = make()
    spec = dict(spec)
    if z_points:
        spec["z"] = {"n": z_points}
    g = CollateralGrids.build(e, **spec)
    t0 = time.perf_counter()
    r = solve_segregated(e, g, weights=np.ones(e.H), method="colgen", equilibrium=False)
    total = time.perf_counter() - t0
    return {**{k: r.lp[k] for k in ("rows", "cols", "nnz")}, "build_s": r.lp["build_s"],
            "solve_s": total - r.lp["build_s"], "objective": r.objective, "out": outputs(r),
            "note": f"{r.lp['colgen_rounds']} rounds, certified {r.certificate.passed}"}


def naive_grid(name):
    """The largest grid (shrinking c, then a, then z and k together) whose naive LP
    fits the memory budget; returns (grid spec, columns)."""
    make, spec = ECONOMIES[name]
    e = make()
    n = {key: v["n"] for key, v in spec.items()}
    while True:
        g = CollateralGrids.build(e, **{key: {"n": v} for key, v in n.items()})
        cols = full_product_columns(e, g)
        fits = naive_memory(e, cols) <= MEM_BUDGET
        if fits or max(n.values()) <= 2:
            return n, cols, fits
        # shrink the axis with the most points (c enters squared, z and a to the power S)
        big = max((key for key in n if n[key] > 2), key=lambda key: n[key] * (4 if key == "c" else 1))
        n[big] = max(2, int(n[big] * 0.7))


def run_naive(name, n):
    make, _ = ECONOMIES[name]
    e = make()
    g = CollateralGrids.build(e, **{key: {"n": v} for key, v in n.items()})
    t0 = time.perf_counter()
    lp = full_product_program2(e, g, np.ones(e.H))
    build_s = time.perf_counter() - t0
    from segex.backends.highs import HighsSession

    from segex.errors import SolveError

    try:
        sol = HighsSession(lp, solver="ipm", time_limit=NAIVE_TIME_LIMIT).run()
    except SolveError as exc:
        if exc.status != "time_limit":
            raise
        return {**lp.stats, "build_s": build_s, "solve_s": NAIVE_TIME_LIMIT,
                "note": f"grid {n}: stopped at the {NAIVE_TIME_LIMIT:.0f} s time limit"}
    # the separable LP on the same (small) grid, for the objective check
    sep = build_program2(e, g, np.ones(e.H), boundary=False)
    from segex.backends import solve

    return {**lp.stats, "build_s": build_s, "solve_s": sol.solve_s, "objective": sol.objective,
            "note": f"grid {n}; separable LP on it: {sep.lp.stats['cols']:,} cols, "
                    f"|obj diff| {abs(solve(sep.lp).objective - sol.objective):.1e}"}


def run_equilibrium(name):
    make, spec = ECONOMIES[name]
    e = make()
    g = CollateralGrids.build(e, **spec)
    t0 = time.perf_counter()
    r = solve_segregated(e, g, method="colgen")
    total = time.perf_counter() - t0
    return {**{k: r.lp[k] for k in ("rows", "cols", "nnz")}, "build_s": r.lp["build_s"],
            "solve_s": total - r.lp["build_s"], "objective": r.objective,
            "note": f"{r.lp['negishi_iterations']} Negishi LPs, certified {r.certificate.passed}, "
                    f"weights {np.round(r.weights, 4).tolist()}"}


def run_tol(name, tol):
    from segex.economies.collateral.refine import solve_to_tolerance

    make, _ = ECONOMIES[name]
    e = make()
    t0 = time.perf_counter()
    r, path = solve_to_tolerance(e, tol)
    total = time.perf_counter() - t0
    d = r.to_dict()
    return {**{k: r.lp[k] for k in ("rows", "cols", "nnz")}, "build_s": 0.0, "solve_s": total,
            "objective": r.objective,
            "note": f"--tol {tol}: {d.get('method', 'lp')}, accuracy {r.accuracy:.1e}, converged {r.converged}, "
                    f"{len(path.rows())} steps, p0 {d['p0']:.7f}, K {d['K']:.7f}"}


# --------------------------------------------------------------------------- report
COLS = ("economy", "path", "rows", "cols", "nnz", "build_s", "solve_s", "peak_MB", "objective", "price_err", "note")


def price_err(out, ref) -> float | None:
    if out is None or ref is None:
        return None
    return max(abs(out[k] - ref[k]) for k in ref)


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def emit(row):
    print("  ".join(f"{fmt(row.get(c)):>{w}}" for c, w in zip(COLS, WIDTHS)), flush=True)


WIDTHS = (10, 14, 6, 11, 11, 8, 8, 8, 11, 9, 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-naive", action="store_true", help="skip the naive full-product LPs")
    ap.add_argument("--only", choices=list(ECONOMIES), action="append", help="economies to run (repeatable)")
    args = ap.parse_args(argv)
    names = args.only or list(ECONOMIES)
    print("  ".join(f"{c:>{w}}" for c, w in zip(COLS, WIDTHS)))
    ratios = []
    for name in names:
        ref = measured(run_colgen, name, REF_Z[name])
        cont = measured(run_continuum, name)
        exact = cont.get("certified") and cont.get("out") is not None
        refout = cont["out"] if exact else ref.get("out")
        rows = {}
        for path, fn, args_ in (("grid", run_grid, (name,)), ("cvxpy", run_cvxpy, (name,)),
                                ("cvxpy model", run_cvxpy_model, (name,)), ("colgen", run_colgen, (name,))):
            r = measured(fn, *args_)
            rows[path] = r
            emit({"economy": name, "path": path, **r, "price_err": price_err(r.get("out"), refout),
                  "note": r.get("note", r.get("error", ""))})
        emit({"economy": name, "path": "continuum", **cont, "price_err": 0.0 if exact else None,
              "note": cont.get("note", cont.get("error", "")) + ("; the reference" if exact else "")})
        emit({"economy": name, "path": "reference", **ref,
              "price_err": price_err(ref.get("out"), refout) if exact else 0.0,
              "note": f"colgen, {REF_Z[name]} z points; " + ref.get("note", ref.get("error", ""))
                      + ("" if exact else "; the reference")})
        if not args.no_naive:
            n, cols, fits = naive_grid(name)
            if fits:
                r = measured(run_naive, name, n)
                rows["naive"] = r
                emit({"economy": name, "path": "naive", **r, "note": r.get("note", r.get("error", ""))})
            else:
                emit({"economy": name, "path": "naive", "cols": cols,
                      "note": f"skipped: even grid {n} needs {cols:,} columns (> 8 GiB)"})
        if name != "synthetic":
            r = measured(run_equilibrium, name)
            emit({"economy": name, "path": "colgen+negishi", **r, "note": r.get("note", r.get("error", ""))})
            r = measured(run_tol, name, 1e-6)
            emit({"economy": name, "path": "--tol 1e-6", **r, "note": r.get("note", r.get("error", ""))})
        else:
            r = measured(run_continuum_equilibrium, name)
            emit({"economy": name, "path": "continuum eq.", **r, "note": r.get("note", r.get("error", ""))})
        ratios.append((name, rows))
    print("\nratios")
    for name, rows in ratios:
        g, c, cg = rows.get("grid", {}), rows.get("cvxpy", {}), rows.get("colgen", {})
        cm = rows.get("cvxpy model", {})
        parts = []
        if g.get("assembly_s") and cm.get("assembly_s"):
            parts.append(f"LP assembly: cvxpy model+compile / segex = {cm['assembly_s'] / g['assembly_s']:.1f}x "
                         f"(bundles precomputed, best of runs)")
        if g.get("build_s") and cm.get("build_s"):
            parts.append(f"first build incl. bundles: cvxpy model / segex = {cm['build_s'] / g['build_s']:.1f}x")
        if g.get("build_s") and c.get("build_s"):
            parts.append(f"cvxpy compile of segex's matrix / segex build = {c['build_s'] / g['build_s']:.1f}x")
        if g.get("cols") and cg.get("cols"):
            parts.append(f"grid cols / colgen cols = {g['cols'] / cg['cols']:.1f}x")
        if cg.get("cols"):
            make, spec = ECONOMIES[name]
            e = make()
            full = full_product_columns(e, CollateralGrids.build(e, **spec))
            parts.append(f"naive cols at the benchmark grid / colgen cols = {full / cg['cols']:.1e}x "
                         f"({full:.2e} columns)")
        print(f"  {name:<10} " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
