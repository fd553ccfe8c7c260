"""Reproduce Kilenthong & Townsend Table 1 (Environment 1): the equilibrium with the
externality ("ex", exact) and the equilibrium with rights to trade ("op", lottery LP),
printed next to the paper's numbers, plus Table 2's fees of rights to trade.

    python examples/kt_table1.py            # paper-like grid (a few seconds)
    python examples/kt_table1.py --fine     # a finer grid: closer to the continuum

The "op" numbers of the paper come from a coarse grid; expect agreement within a few
percent, and convergence under refinement (tests/test_collateral_segregated.py).
"""

from __future__ import annotations

import argparse

from segex.economies.collateral import CollateralEconomy, CollateralGrids, solve_externality, solve_segregated

PAPER = {
    "ex": {"k": [1.3595, 0], "c10": [2.6899, 1.3101], "c20": [1.7756, 0.8649], "c11": [1.3252, 2.6748],
           "c21": [1.7756, 3.5839], "U": [-2.2527, -2.5724], "p0": 2.2948, "z": 0.7463, "p": 0.5570},
    "op": {"k": [1.1753, 0], "c10": [2.6073, 1.3927], "c20": [1.8410, 0.9837], "c11": [1.2970, 2.7030],
           "c21": [1.6781, 3.4972], "U": [-2.2936, -2.3905], "p0": 2.0073, "z": 0.7729, "p": 0.5974},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fine", action="store_true", help="halve the k and z steps")
    args = ap.parse_args()
    e = CollateralEconomy.create([0.5, 0.5], [[[3, 3], [1, 1]], [[1, 1], [3, 3]]], name="KT Environment 1")
    n = (101, 81) if args.fine else (51, 41)
    g = CollateralGrids.build(e, c={"n": 401}, k={"min": 0, "max": 2.5, "n": n[0]},
                              z={"min": 0.6, "max": 1.0, "n": n[1]}, a={"min": -1, "max": 1, "n": 21})
    ex = solve_externality(e)
    op = solve_segregated(e, g, progress=True)
    d = op.to_dict()
    act = [x for x in d["exchanges"] if x["active"]]
    zbar = sum(x["z"] * x["mass"] for x in act) / sum(x["mass"] for x in act)
    ours = {
        "ex": {"k": ex.k, "c10": ex.c0[:, 0], "c20": ex.c0[:, 1], "c11": ex.c1[:, 0, 0], "c21": ex.c1[:, 0, 1],
               "U": ex.utility, "p0": ex.p0, "z": ex.z[0], "p": ex.p[0]},
        "op": {"k": [t["k"] for t in d["types"]], "c10": [t["c0"][0] for t in d["types"]],
               "c20": [t["c0"][1] for t in d["types"]], "c11": [t["c1"][0][0] for t in d["types"]],
               "c21": [t["c1"][0][1] for t in d["types"]], "U": [t["utility"] for t in d["types"]],
               "p0": d["p0"], "z": zbar, "p": zbar ** 2},
    }
    print(f"Table 1, KT Environment 1 (grid: k {n[0]} pts, z {n[1]} pts; op cols = {op.lp['cols']})")
    print(f"{'':6}{'':5}{'ex ours':>10}{'ex paper':>10}{'op ours':>10}{'op paper':>10}")
    for key in ("k", "c10", "c20", "c11", "c21", "U"):
        for h in range(2):
            print(f"{key:6}h={h:<3}" + "".join(
                f"{float(ours[c][key][h]):10.4f}{PAPER[c][key][h]:10.4f}" for c in ("ex", "op")))
    for key in ("p0", "z", "p"):
        print(f"{key:11}" + "".join(f"{float(ours[c][key]):10.4f}{PAPER[c][key]:10.4f}" for c in ("ex", "op")))
    print("\nTable 2, fees of rights to trade P_Delta(z) (paper: 0.4639 @ 0.7479, 0.5375 @ 0.7729 active, "
          "0.6118 @ 0.7979)")
    for x in d["exchanges"]:
        if 0.73 <= x["z"] <= 0.82:
            tag = "active" if x["active"] else f"inactive, any fee in [{x['fee_interval'][0]:.4f}, " \
                                               f"{x['fee_interval'][1]:.4f}] keeps all out"
            print(f"  z = {x['z']:.4f}  P_Delta = {x['fee']:.4f}  mass = {x['mass']:.4f}  ({tag})")
    t2 = d["types"][1]
    print(f"\ntype 2 receives {t2['transfer']:.4f} for its rights (paper 0.3662); "
          f"Delta^2 by exchange {t2['Delta']} (paper -0.6813)")
    print(f"certificate: {op.certificate}")


if __name__ == "__main__":
    main()
