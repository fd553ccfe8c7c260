"""KT Section 2.2: the competitive equilibrium with exogenous incomplete markets (Definition 4)
against the Pareto program and the equilibrium with segregated exchanges (Definition 5).

    python examples/kt_incomplete.py [grids/kt_incomplete.toml]

Prints Definition 4's prices and holdings, how much the Pareto program with segregated
exchanges gains over it at its own supporting weights (the pecuniary externality through the
spot prices: zero with complete markets or identical CRRA), and the equilibrium without
transfers with the fees of its active exchanges.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from segex.economies.incomplete_markets.exact import solve_externality, supporting_weights
from segex.economies.incomplete_markets.grids import MarketGrids
from segex.economies.incomplete_markets.lottery import build_program
from segex.economies.incomplete_markets.segregated import solve_segregated
from segex.io.config import load_spec
from segex.markets.equilibrium import solve_planner

GRID = Path(__file__).resolve().parents[1] / "grids" / "kt_incomplete.toml"


def main(path=GRID):
    spec = load_spec(path)
    econ = spec.economy
    ce = solve_externality(econ)
    print(f"{spec.name}: H = {econ.H}, S = {econ.S}, J = {econ.J}, complete markets: {econ.complete}")
    print(f"Definition 4: p0 = {ce.p0:.6f}, Q = {np.round(ce.Q, 6)}, spot = {np.round(ce.spot, 6)}, "
          f"theta = {np.round(ce.theta.ravel(), 6)}, U = {np.round(ce.utility, 6)}")
    w = supporting_weights(ce)
    grids = MarketGrids.build(econ, **spec.grid, insert={"c0": ce.c0, "p": ce.spot, "theta": ce.theta})
    prog = build_program(econ, grids, w)
    eq = solve_planner(prog.planner, weights=w)
    gain = prog.planner.lp.c @ eq.x - w @ (econ.share * ce.utility)
    theta = [float(eq.x[prog.blocks[h, "x1"].slice] @ prog.bundles[h].theta[:, 0]) for h in range(econ.H)]
    print(f"Pareto program at Definition 4's weights {np.round(w, 4)}: welfare gain {gain:.3e}, "
          f"mean holdings {np.round(theta, 6)} ({prog.planner.lp.stats['cols']} columns)")
    seg = solve_segregated(econ, grid_specs=spec.grid)
    d = seg.to_dict()
    print(f"Definition 5 (Negishi weights {np.round(seg.weights, 4)}): p0 = {d['p0']:.6f}, "
          f"certificate {'passed' if seg.certificate.passed else 'FAILED'}")
    for e in d["exchanges"]:
        if e["active"]:
            print(f"  exchange {e['id']}: p = {np.round(e['p'], 6)}, P_Delta = {np.round(e['fee'], 6)}, "
                  f"Q = {np.round(e['Q'], 6)}, mass {e['mass']:.3f}")
    for h, t in enumerate(d["types"]):
        print(f"  type {h}: theta = {np.round(t['theta'], 6)}, U = {t['utility']:.6f} "
              f"(Definition 4: {ce.utility[h]:.6f}), rights-market transfer {t['transfer']:+.6f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
