"""``segex plot`` for the collateral economy: the segregated fee schedule P_Delta(z, s)
against the market fundamental z, one panel per state, active exchanges marked, with the
population mass assigned to each exchange; with the externality concept saved, its z_s."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io.plotting import label, pyplot, save


def plot(datasets: dict, out_dir: Path, stem: str = "result") -> list[Path]:
    """One figure ``fees``: per state, P_Delta(z) (left axis) and the mass in each exchange (bars)."""
    ds = datasets.get("segregated")
    if ds is None or "P_Delta" not in ds:
        return []
    plt = pyplot()
    states = np.unique(ds["exchange_state"].values)
    fig, axes = plt.subplots(len(states), 1, figsize=(6.4, 3.2 * len(states)), squeeze=False)
    ext = datasets.get("externality")
    for ax, s in zip(axes[:, 0], states):
        sel = ds["exchange_state"].values == s
        z = ds["exchange_z"].values[sel]
        order = np.argsort(z)
        z = z[order]
        fee = ds["P_Delta"].values[sel][order]
        mass = ds["mass"].values[sel][order]
        active = ds["active"].values[sel][order].astype(bool)
        ax.plot(z, fee, "-", color="C0", label="P_Delta(z)")
        ax.plot(z[active], fee[active], "o", color="C3", label="active exchange")
        if ext is not None and "z" in ext:
            ax.axvline(float(ext["z"].sel(state=s)), color="0.5", ls="--", label="z_s with the externality")
        ax.set_xlabel(label(ds["exchange_z"]))
        ax.set_ylabel(label(ds["P_Delta"], "P_Delta"))
        ax.set_title(f"state {int(s)}")
        twin = ax.twinx()
        width = np.min(np.diff(z)) * 0.8 if len(z) > 1 else 0.01
        twin.bar(z, mass, width=width, alpha=0.3, color="C2", label="mass")
        twin.set_ylabel(label(ds["mass"], "mass"))
        ax.legend(loc="best", fontsize="small")
    return [save(fig, out_dir, stem, "fees")]
