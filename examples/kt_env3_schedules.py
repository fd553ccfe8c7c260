"""KT Environment 3: the price schedule P_Delta(z) of the rights to trade across all
exchanges, and which types trade in which exchange.

    python examples/kt_env3_schedules.py [--out DIR]

Solves the equilibrium with segregated exchanges (Negishi weights, column generation) on
grids/kt_env3.toml and writes DIR/kt_env3_schedules.png: top, the fee of every exchange z
(active exchanges as points; for inactive ones, the interval of fees at which nobody
enters -- an LP's duals are not unique there); bottom, each type's share of its
population assigned to each active exchange. Also writes the result as netCDF.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="output directory")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segex.io.config import load_spec
    from segex.io.store import write_netcdf
    from segex.run import datasets, solve_spec

    root = Path(__file__).resolve().parents[1]
    out = Path(args.out)
    spec = load_spec(root / "grids" / "kt_env3.toml")
    res = solve_spec(spec, concepts=["segregated"], method="colgen")
    print(f"certificate: {res['segregated'].certificate}")
    ds = datasets(res, spec)["segregated"]
    write_netcdf(out / "kt_env3.nc", {"segregated": ds})

    z = ds["exchange_z"].values
    fee, lo, hi = ds["P_Delta"].values, ds["P_Delta_lo"].values, ds["P_Delta_hi"].values
    active = ds["active"].values.astype(bool)
    share = ds["share"]  # (type, exchange): the type's population share in the exchange

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True, height_ratios=[3, 2])
    finite = np.isfinite(lo) & np.isfinite(hi)
    top.vlines(z[~active & finite], lo[~active & finite], hi[~active & finite], color="0.7",
               label="inactive: fees keeping everybody out")
    top.plot(z[~active], fee[~active], ".", color="0.5", ms=3, label="inactive: the LP's dual")
    top.plot(z[active], fee[active], "o", color="C3", label="active exchanges")
    top.axhline(0, color="k", lw=0.6)
    top.set_ylabel("P_Delta(z)")
    top.set_title("KT Environment 3: rights to trade, fees and assignment")
    top.legend(fontsize=8)
    width = 0.012  # bars beside each other at each active z
    for i, h in enumerate(ds["type"].values):
        bottom.bar(z[active] + (i - 1) * width, share.sel(type=h).values[active], width, label=f"type {h}")
    bottom.set_xlabel("market fundamental z of the exchange")
    bottom.set_ylabel("share of the type")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "kt_env3_schedules.png", dpi=120)
    print(f"wrote {out / 'kt_env3_schedules.png'}")


if __name__ == "__main__":
    main()
