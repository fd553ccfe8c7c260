"""The constrained planner against every equilibrium of Peiris-Vardoulakis's baseline, at each
penalty lambda; writes examples/pv_planner_comparison.csv and .png.

    python examples/pv_planner_comparison.py

Columns (welfare sum_h n_h w^h, utils):

* ``GED`` -- the equilibrium with default, no requirement (exact);
* ``best_RR`` and ``best_rho`` -- the reserve requirement that maximises the RR equilibrium's
  welfare (exact branches, a grid over rho then Brent's method);
* ``arc`` -- the least requirement giving full delivery (the paper's §6 contract);
* ``planner_single_bond`` -- the constrained planner with PV's single bond (one delivery rate
  for both states, ``K_mode = "equal"``), a lottery LP;
* ``planner_per_state`` -- the constrained planner whose pools may deliver a different rate in
  each state (``K_mode = "product"``).

The single-bond planner is the benchmark the paper's §6 speaks to: it is at least every
equilibrium (it randomises from lambda_L = 0.7107 on, below the GED's lambda_s = 0.7192), equal
to the GED from 7/9 on, and strictly above the arc below 7/9. The per-state planner shows how
much of the pooling externality a second pool removes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

from segex.economies.default_reserves import mirror  # noqa: E402
from segex.economies.default_reserves.model import baseline  # noqa: E402
from segex.economies.default_reserves.planner import solve_planner  # noqa: E402

HERE = Path(__file__).parent
LAMS = (0.705, 0.713, 0.72, 0.73, 0.75, 0.77, 0.8, 0.85, 0.9)
SINGLE = {"K_mode": "equal", "K": {"min": 0.0, "max": 1.0, "n": 21}}
PER_STATE = {"K_mode": "product", "K": {"n": 5}}


def w(lam, rho=0.0) -> float:
    return mirror.equilibrium(baseline(lam, rho)).w


def best_rr(lam) -> tuple[float, float]:
    rmax = (np.sqrt(1 + 2 / lam) - 1) / 2
    grid = np.linspace(0.0, min(rmax, 0.99), 400)
    vals = np.array([w(lam, r) for r in grid])
    i = int(np.argmax(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(lambda r: -w(lam, r), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return (float(-res.fun), float(res.x)) if -res.fun > vals[i] else (float(vals[i]), float(grid[i]))


def arc(lam) -> float:
    if lam <= 2 / 3:
        return np.nan
    rho = (4 - 3 * lam) / (6 * lam)  # branch P reaches K = 1/2 (the docs' Figure 2)
    ged = mirror.equilibrium(baseline(lam))
    return w(lam) if ged.name == "F" or rho <= ged.sigma else w(lam, rho)


def main():
    rows = []
    for lam in LAMS:
        rr, rho = best_rr(lam)
        single = solve_planner(baseline(lam), SINGLE)
        per_state = solve_planner(baseline(lam), PER_STATE)
        assert single.certificate.passed and per_state.certificate.passed
        rows.append({"lambda": lam, "GED": w(lam), "best_RR": rr, "best_rho": rho, "arc": arc(lam),
                     "planner_single_bond": single.welfare, "planner_per_state": per_state.welfare})
        print("  ".join(f"{k} = {v:.7f}" for k, v in rows[-1].items()), flush=True)
    with open(HERE / "pv_planner_comparison.csv", "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    lam = np.array([r["lambda"] for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, style in (("GED", "k-"), ("best_RR", "C0--"), ("arc", "C1:"), ("planner_single_bond", "C2o-"),
                       ("planner_per_state", "C3s-")):
        ax.plot(lam, [r[key] for r in rows], style, label=key.replace("_", " "))
    ax.set_xlabel("penalty lambda")
    ax.set_ylabel("welfare sum_h n_h w^h [utils]")
    ax.legend(fontsize="small")
    ax.set_title("Peiris-Vardoulakis baseline: the constrained planner and the equilibria", fontsize="medium")
    fig.tight_layout()
    fig.savefig(HERE / "pv_planner_comparison.png", dpi=110)
    print("wrote", HERE / "pv_planner_comparison.csv", HERE / "pv_planner_comparison.png")


if __name__ == "__main__":
    main()
