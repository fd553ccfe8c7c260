"""``segex plot`` for the liquidity economies (FGT, KT Section 3): for each saved lottery
concept with exchanges (SP3, segregated), the fees P_Delta against the private-market rate R
with the population mass of each type in each exchange."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io.plotting import label, pyplot, save


def plot(datasets: dict, out_dir: Path, stem: str = "result") -> list[Path]:
    """One figure per concept holding ``P_Delta`` over ``R``, named ``fees_<concept>``."""
    plt = pyplot()
    paths = []
    for concept, ds in datasets.items():
        if "P_Delta" not in ds or "R" not in ds.dims:
            continue
        R = ds["R"].values
        order = np.argsort(R)
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True)
        fee = ds["P_Delta"].values[order]
        top.plot(R[order], fee, "-", color="C0", label="P_Delta(R)")
        if "pinned" in ds:
            pinned = ds["pinned"].values[order].astype(bool)
            top.plot(R[order][pinned], fee[pinned], "o", color="C3", label="pinned: 1 - R/R_hat")
        top.set_ylabel(label(ds["P_Delta"], "P_Delta"))
        top.set_title(f"{concept}: fees and assignments")
        top.legend(fontsize="small")
        mass = ds["mass"].transpose("R", "type").values[order]
        for h, t in enumerate(ds["type"].values):
            theta = f", theta = {float(ds['theta'].values[h]):.3g}" if "theta" in ds.coords else ""
            bottom.plot(R[order], mass[:, h], "o-", ms=3, label=f"type {int(t)}{theta}")
        bottom.set_xlabel(label(ds["R"], "R"))
        bottom.set_ylabel(label(ds["mass"], "mass"))
        bottom.legend(fontsize="small")
        paths.append(save(fig, out_dir, stem, f"fees_{concept}"))
    return paths
