"""The Pareto frontier of KT Environment 1 with segregated exchanges, by a Dask sweep over
the Pareto weight of type 2, with the competitive equilibrium (Negishi weights) and the
equilibrium with the externality (KT Definition 1) marked.

    python examples/kt_pareto_frontier.py [--points 13] [--workers 2] [--out DIR]

Writes DIR/kt_env1_frontier.nc (the sweep: one dimension, solve_weights_1) and
DIR/kt_env1_frontier.png. The frontier's points are Program 2 at fixed weights (each a
certified LP); the equilibrium without transfers is where the Negishi search lands on it,
and the externality equilibrium lies strictly inside it (the pecuniary externality costs
welfare; KT Table 1: U = (-2.2527, -2.5724)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

GRID = """[grid]
c = { n = 201 }
k = { min = 0.0, max = 2.5, n = 26 }
z = { min = 0.6, max = 1.0, n = 21 }
a = { min = -1.0, max = 1.0, n = 11 }
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=13)
    ap.add_argument("--workers", type=int, default=None, help="Dask workers (default: one per core)")
    ap.add_argument("--out", default=".", help="output directory")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segex.io.config import load_spec
    from segex.io.store import read_netcdf
    from segex.run import solve_spec
    from segex.sweep import load_sweep, run_sweep

    out = Path(args.out)
    root = Path(__file__).resolve().parents[1]
    toml = out / "kt_env1_frontier.toml"  # Environment 1 on a medium grid
    toml.write_text((root / "grids" / "kt_env1.toml").read_text().split("[grid]")[0] + GRID)

    sweep = load_sweep(toml, [f"solve.weights[1]=0.1:4:{args.points}:log"], concepts=["segregated"])
    summary = run_sweep(sweep, out / "kt_env1_frontier.nc", workers=args.workers)
    print(f"{summary['points']} points ({summary['computed']} computed, {summary['reused']} reused, "
          f"{summary['failed']} failed) in {summary['seconds']:.1f} s")
    U = read_netcdf(out / "kt_env1_frontier.nc")["segregated"]["utility"]

    eq = solve_spec(load_spec(toml))  # Negishi equilibrium and Definition 1
    u_eq = [t["utility"] for t in eq["segregated"].to_dict()["types"]]
    u_ex = [t["utility"] for t in eq["externality"].to_dict()["types"]]

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(U.sel(type=0), U.sel(type=1), "o-", ms=4, label="Program 2 at Pareto weights (1, w)")
    ax.plot(*u_eq, "*", ms=14, label="equilibrium with segregated exchanges")
    ax.plot(*u_ex, "s", ms=8, label="equilibrium with the externality (Def. 1)")
    ax.set_xlabel("U of type 0 (types[0], KT's type 1)")
    ax.set_ylabel("U of type 1 (types[1], KT's type 2)")
    ax.set_title("KT Environment 1: the Pareto frontier")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "kt_env1_frontier.png", dpi=120)
    print(f"wrote {out / 'kt_env1_frontier.png'}")


if __name__ == "__main__":
    main()
