"""``segex plot`` for incomplete markets: the fees P_Delta(p, s) of the active exchanges per
state, and each type's share of its population in each active exchange."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io.plotting import label, pyplot, save

#: An exchange with more population mass than this is drawn as active.
ACTIVE_MASS = 1e-9


def plot(datasets: dict, out_dir: Path, stem: str = "result") -> list[Path]:
    """Figures ``fees`` (P_Delta of each active exchange, by state) and ``shares``."""
    ds = datasets.get("segregated")
    if ds is None or "P_Delta" not in ds:
        return []
    plt = pyplot()
    mass = ds["mass"].values  # (type, exchange)
    active = np.flatnonzero(mass.sum(axis=0) > ACTIVE_MASS)
    names = [str(ds["exchange"].values[e]) for e in active]
    states = ds["state"].values
    x = np.arange(len(active))
    width = 0.8 / max(len(states), 1)
    paths = []

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, s in enumerate(states):
        ax.bar(x + i * width, ds["P_Delta"].values[active, i], width, label=f"state {int(s)}")
    ax.set_xticks(x + width * (len(states) - 1) / 2, names)
    ax.set_xlabel("active exchange (spot prices p_s: " + "; ".join(
        "(" + ", ".join(f"{v:.3g}" for v in ds["exchange_p"].values[e]) + ")" for e in active) + ")", fontsize="small")
    ax.set_ylabel(label(ds["P_Delta"], "P_Delta"))
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(fontsize="small")
    paths.append(save(fig, out_dir, stem, "fees"))

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    totals = mass.sum(axis=1, keepdims=True)
    shares = np.divide(mass, totals, out=np.zeros_like(mass), where=totals > 0)
    types = ds["type"].values
    wt = 0.8 / max(len(types), 1)
    for h, t in enumerate(types):
        ax.bar(x + h * wt, shares[h, active], wt, label=f"type {int(t)}")
    ax.set_xticks(x + wt * (len(types) - 1) / 2, names)
    ax.set_xlabel("active exchange")
    ax.set_ylabel("share of the type's population in the exchange")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    paths.append(save(fig, out_dir, stem, "shares"))
    return paths
