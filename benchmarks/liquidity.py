"""LP sizes and times of the liquidity economies' lottery LPs, per grid file (issue 5).

Run from the repository root::

    python benchmarks/liquidity.py [--quick]

For every grid file of FGT's economy (``grids/fgt_*.toml``) and of KT Section 3's
Diamond-Dybvig economy (``grids/kt_diamond_dybvig.toml``), and for each LP concept the
file asks for (SP3 with one market, SP3 with segregated exchanges, SP2):

* ``file grid``  -- one LP on the file's grid;
* ``refined``    -- the same LP refined onto its support to the file's ``solve.tol``
  (sizes of the last LP, build and solve times summed over all of them);
* ``uniform``    -- the naive path in the same run: uniform grids over the file's ranges,
  refined by doubling, to show what accuracy a bigger grid buys;
* ``presolve off`` / ``simplex`` / ``ipm`` -- HiGHS options on the refined path's last LP
  (wide lottery LPs: presolve and the algorithm are measured, not assumed).

``err`` is the welfare distance to the reference: FGT's reduced problem (22)-(23) for SP3
with one market, SP1 for Diamond-Dybvig (Proposition 5) and for valuation-neutral SP2,
the refined LP otherwise (its own row then shows –). Each
row runs in its own forked process; ``peak_MB`` is its peak RSS.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
from suite import measured  # noqa: E402  (forked rows with peak RSS)

from segex.backends.highs import solve_highs  # noqa: E402
from segex.economies.liquidity import lottery as lot  # noqa: E402
from segex.economies.liquidity import reduced  # noqa: E402
from segex.io.config import load_spec  # noqa: E402

FILES = ["fgt_discount", "fgt_liquidity", "fgt_valuation_neutral", "fgt_diamond_dybvig", "kt_diamond_dybvig"]
UNIFORM = [(21, 41), (41, 81), (81, 161), (161, 321)]
UNIFORM_C = [41, 81, 161, 321]


def _spec(stem):
    spec = load_spec(Path("grids") / f"{stem}.toml")
    return spec, spec.economy


def _reference(econ, concept):
    if econ.family == "diamond_dybvig":
        return reduced.sp1(econ).welfare
    if concept == "SP3":
        return reduced.sp3(econ).welfare
    if concept == "SP2" and econ.family == "valuation_neutral":
        return reduced.sp1(econ).welfare  # no incentive constraint binds
    return None


def _row(res, t0, ref):
    lp = res.lp
    return {"rows": lp["rows"], "cols": lp["cols"], "nnz": lp["nnz"], "build_s": lp["build_s"],
            "solve_s": lp["solve_s"], "wall_s": time.perf_counter() - t0, "welfare": res.welfare,
            "err": (ref - res.welfare) if ref is not None else None, "lps": lp.get("lps", 1),
            "certified": bool(res.certificate.passed)}


def _solve(econ, concept, grids, c_grid, tol=None, options=None):
    if options is not None:  # HiGHS options forced for this row
        lot.solve = lambda lp, backend="highs", **_: solve_highs(lp, **options)
    if concept == "SP2":
        return lot.refine_sp2(econ, tol, c_grid=c_grid) if tol else lot.solve_sp2(econ, c_grid)
    exchanges = "common" if concept == "SP3" else "segregated"
    return lot.refine_sp3(econ, tol, exchanges=exchanges, grids=grids) if tol else \
        lot.solve_sp3(econ, grids, exchanges=exchanges)


def run(stem, concept, path, arg=None, refined=None):
    spec, econ = _spec(stem)
    grids, c_grid = spec.build_grids(), lot.consumption_grid(econ, spec.grid.get("c"))
    ref = _reference(econ, concept)
    ref = refined if ref is None else ref
    t0 = time.perf_counter()
    if path == "file grid":
        res = _solve(econ, concept, grids, c_grid)
    elif path == "refined":
        res = _solve(econ, concept, grids, c_grid, spec.solve.tol)
    elif path == "uniform":
        if concept == "SP2":
            c_grid = np.linspace(c_grid[0], c_grid[-1], arg)
        else:
            grids = lot.LotteryGrids(R=np.linspace(grids.R[0], grids.R[-1], arg[0]),
                                     I=np.linspace(grids.I[0], grids.I[-1], arg[1]))
        res = _solve(econ, concept, grids, c_grid)
    else:  # HiGHS options on the refined path's last grid
        last = _solve(econ, concept, grids, c_grid, spec.solve.tol)
        t0 = time.perf_counter()
        res = _solve(econ, concept, getattr(last, "grids", None), getattr(last, "c_grid", None), options=arg)
    return _row(res, t0, ref)


def main(quick=False):
    print(f"# python benchmarks/liquidity.py{' --quick' if quick else ''} -- {time.strftime('%Y-%m-%d')}")
    cols = ("file", "concept", "path", "grid", "rows", "cols", "nnz", "build_s", "solve_s", "peak_MB", "err", "note")
    print(" | ".join(cols))
    print("|".join(["---"] * len(cols)))
    for stem in FILES:
        spec, econ = _spec(stem)
        for concept in [c for c in spec.solve.concepts if c in ("SP2", "SP3", "segregated")]:
            rows = [("file grid", None, "file"), ("refined", None, f"tol {spec.solve.tol:g}")]
            sizes = UNIFORM_C if concept == "SP2" else UNIFORM
            rows += [("uniform", n, f"{n}x{n}" if concept == "SP2" else f"{n[0]}x{n[1]}")
                     for n in (sizes[:2] if quick else sizes)]
            rows += [(name, opts, "last refined") for name, opts in
                     (("HiGHS default", {}), ("presolve off", {"presolve": "off"}), ("simplex", {"solver": "simplex"}),
                      ("ipm", {"solver": "ipm"}))]
            refined = None  # the reference where there is no closed form: the refined LP
            for path, arg, grid in rows:
                r = measured(run, stem, concept, path if path in ("file grid", "refined", "uniform") else "options",
                             arg, refined)
                if path == "refined" and "welfare" in r:
                    refined = r["welfare"] if r["err"] is None else None
                if "error" in r:
                    print(f"{stem} | {concept} | {path} | {grid} | " + " | ".join(["–"] * 7) + f" | {r['error']}")
                    continue
                err = "–" if r["err"] is None else f"{r['err']:.1e}"
                note = (f"{r['lps']} LPs, " if r["lps"] > 1 else "") + ("certified" if r["certified"] else "NOT certified")
                print(f"{stem} | {concept} | {path} | {grid} | {r['rows']:,} | {r['cols']:,} | {r['nnz']:,} | "
                      f"{r['build_s']:.3f} | {r['solve_s']:.2f} | {r['peak_MB']:.0f} | {err} | {note}", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
