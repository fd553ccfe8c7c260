"""Accuracy against LP size and time: the grid method, column generation, and the
continuum equilibrium.

Run from the repository root::

    python benchmarks/accuracy.py                 # writes benchmarks/accuracy_env1.png
    python benchmarks/accuracy.py --out FILE.png

KT Environment 1, the competitive equilibrium with segregated exchanges (Negishi weights
included), solved on k and z grids of increasing size by the grid method (every bundle,
a and c0 on grids) and by column generation (a and c0 continuous), and by accuracy mode
(``--tol 1e-9``: the continuum equilibrium on a coarse LP's support, Newton to ~1e-15).
Error is measured against the continuum equilibrium, in the mass-weighted fee of the
active exchanges P_Delta, aggregate storage K and p0. Printed as a table and plotted
(errors below 1e-12 are drawn at 1e-12).
"""

from __future__ import annotations

import argparse
import time


from segex.economies.collateral import CollateralGrids, solve_segregated
from segex.economies.collateral.kt import environment1

SIZES = [(11, 11), (26, 21), (51, 41), (101, 81)]
FLOOR = 1e-12


def run(econ, nk, nz, method):
    g = CollateralGrids.build(econ, c={"n": 401 if method == "grid" else 41}, k={"min": 0, "max": 2.5, "n": nk},
                              z={"min": 0.6, "max": 1.0, "n": nz}, a={"min": -1, "max": 1, "n": 21 if method == "grid" else 3})
    t0 = time.perf_counter()
    r = solve_segregated(econ, g, method=method)
    secs = time.perf_counter() - t0
    d = r.to_dict()
    act = [x for x in d["exchanges"] if x["active"]]
    fee = sum(x["fee"] * x["mass"] for x in act) / sum(x["mass"] for x in act)
    return {"method": method, "nk": nk, "nz": nz, "cols": r.lp["cols"], "seconds": secs, "fee": fee, "K": d["K"],
            "p0": d["p0"], "certified": r.certificate.passed}


def run_continuum(econ):
    from segex.economies.collateral.refine import solve_to_tolerance

    t0 = time.perf_counter()
    r, _ = solve_to_tolerance(econ, 1e-9)
    secs = time.perf_counter() - t0
    d = r.to_dict()
    act = [x for x in d["exchanges"] if x["active"]]
    fee = sum(x["fee"] * x["mass"] for x in act) / sum(x["mass"] for x in act)
    return {"cols": r.lp["cols"], "seconds": secs, "fee": fee, "K": d["K"], "p0": d["p0"],
            "certified": r.certificate.passed and r.converged, "accuracy": r.accuracy}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/accuracy_env1.png")
    args = ap.parse_args(argv)
    econ = environment1()
    ref = run_continuum(econ)
    print(f"reference: continuum equilibrium (--tol 1e-9): fee {ref['fee']:.10f}, K {ref['K']:.10f}, "
          f"p0 {ref['p0']:.10f}, last LP {ref['cols']} columns, {ref['seconds']:.1f} s, certified {ref['certified']}")
    rows = []
    print(f"{'method':8} {'k':>4} {'z':>4} {'cols':>8} {'seconds':>8} {'|dfee|':>9} {'|dK|':>9} {'|dp0|':>9} cert")
    for method in ("grid", "colgen"):
        for nk, nz in SIZES:
            r = run(econ, nk, nz, method)
            r.update({f"err_{q}": abs(r[q] - ref[q]) for q in ("fee", "K", "p0")})
            rows.append(r)
            print(f"{method:8} {nk:4d} {nz:4d} {r['cols']:8d} {r['seconds']:8.2f} {r['err_fee']:9.2e} {r['err_K']:9.2e} "
                  f"{r['err_p0']:9.2e} {r['certified']}", flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method, mk in (("grid", "o-"), ("colgen", "s-")):
        rs = [r for r in rows if r["method"] == method]
        for q, color in (("fee", "C0"), ("K", "C1"), ("p0", "C2")):
            e = [max(r[f"err_{q}"], FLOOR) for r in rs]
            axes[0].loglog([r["cols"] for r in rs], e, mk, color=color, label=f"{method}: {q}")
            axes[1].loglog([r["seconds"] for r in rs], e, mk, color=color, label=f"{method}: {q}")
    # the continuum answer: its own Newton accuracy, at its last LP's size and total time
    axes[0].loglog([ref["cols"]], [max(ref["accuracy"], FLOOR)], "k*", ms=12, label="--tol 1e-9 (continuum)")
    axes[1].loglog([ref["seconds"]], [max(ref["accuracy"], FLOOR)], "k*", ms=12, label="--tol 1e-9 (continuum)")
    axes[0].set_xlabel("LP columns")
    axes[1].set_xlabel("wall time incl. Negishi search (s)")
    for ax in axes:
        ax.set_ylabel("|error| vs continuum equilibrium")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle("KT Environment 1, equilibrium with segregated exchanges: accuracy vs size and time")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
