"""``segex plot`` for PV's economy: each type's consumption at t = 0 and in every state under
each solved concept (autarky, GED, RR), and the penalties at which the bond trades."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io.plotting import pyplot, save

EQUILIBRIA = ("autarky", "GED", "RR")


def plot(datasets: dict, out_dir: Path, stem: str = "result") -> list[Path]:
    """Figures ``consumption`` (one bar per concept, per type and date) and ``thresholds``."""
    paths = []
    solved = [c for c in EQUILIBRIA if c in datasets and "x" in datasets[c]]
    plt = pyplot()
    if solved:
        first = datasets[solved[0]]
        types, dates = first["type"].values, first["date"].values
        fig, axes = plt.subplots(1, len(types), figsize=(3.4 * len(types), 3.4), sharey=True, squeeze=False)
        width = 0.8 / len(solved)
        for h, ax in enumerate(axes[0]):
            for i, c in enumerate(solved):
                ds = datasets[c]
                ax.bar(np.arange(dates.size) + i * width, ds["x"].values[h], width,
                       label=f"{c} ({ds.attrs.get('regime', '')})")
            ax.set_xticks(np.arange(dates.size) + width * (len(solved) - 1) / 2,
                          ["t=0"] + [f"state {int(d)}" for d in dates[1:]])
            ax.set_title(f"type {int(types[h])}", fontsize="small")
        axes[0, 0].set_ylabel("consumption [good]")
        axes[0, -1].legend(fontsize="small")
        paths.append(save(fig, out_dir, stem, "consumption"))
    th = datasets.get("thresholds")
    if th is not None and "value" in th:
        fig, ax = plt.subplots(figsize=(6.4, 2.4))
        for name, v in zip(th["threshold"].values, th["value"].values):
            if np.isfinite(v):
                ax.axvline(v, color="0.3", lw=0.8)
                ax.annotate(f"{name} = {v:.6f}", (v, 0.5), rotation=90, fontsize="x-small", va="center", ha="right")
        for c in solved:
            lam = float(datasets[c].attrs.get("penalty", np.nan))
            ax.axvline(lam, color="C3", ls="--", lw=0.8)
        marks = [v for v in th["value"].values if np.isfinite(v)]
        if marks:
            ax.set_xlim(0.9 * min(marks), 1.05 * max(marks))
        ax.set_yticks([])
        ax.set_xlabel("penalty lambda (the file's: dashed)")
        paths.append(save(fig, out_dir, stem, "thresholds"))
    return paths
