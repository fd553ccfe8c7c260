"""Regenerate Peiris-Vardoulakis Figures 1 and 2 from the model; writes
examples/pv_figure1.png, examples/pv_figure1.csv, examples/pv_figure2.png and
examples/pv_figure2.csv.

    python examples/pv_figures.py

**Figure 1**: the welfare gain of the reserve-requirement equilibrium over the equilibrium with
default, w_RR(lambda, rho) - w_GED(lambda), on a grid of penalties and requirements. The gain is
positive only for lambda in (lambda_s, 7/9) = (0.7192, 0.7778), zero where the requirement is
slack, negative elsewhere; for a given lambda it rises with rho only up to an interior peak
(below lambda_x = 0.7340) or the arc, then falls -- the paper's reading "as rho increases
welfare increases" holds only locally (docs/economies/default-reserves.md).

**Figure 2**: the arc of contracts (rho, lambda) that give full delivery -- the least
requirement at which the pool's delivery rate reaches K = 1/2 -- and welfare along it. In the
baseline the arc is rho = (4 - 3 lambda)/(6 lambda) for lambda in (2/3, 7/9]; from 7/9 on the
GED itself delivers fully and the arc is its storage. The arc is found here by bisection on the
solved regime (the closed form checks it).

Both use the closed-form branches of the paper's mirror family
(:mod:`segex.economies.default_reserves.mirror`), each the equilibrium the exact solver
certifies (tests/test_default_reserves.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from segex.economies.default_reserves import mirror  # noqa: E402
from segex.economies.default_reserves.model import baseline  # noqa: E402

HERE = Path(__file__).parent
LAMS = np.round(np.arange(0.70, 0.9501, 0.0025), 6)
RHOS = np.round(np.arange(0.30, 0.5501, 0.0025), 6)


def welfare(lam: float, rho: float) -> float:
    return mirror.equilibrium(baseline(lam, rho)).w


def figure1():
    gain = np.array([[welfare(lam, rho) - welfare(lam, 0.0) for rho in RHOS] for lam in LAMS])
    with open(HERE / "pv_figure1.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["lambda", "rho", "w_RR_minus_w_GED"])
        for i, lam in enumerate(LAMS):
            for j, rho in enumerate(RHOS):
                out.writerow([lam, rho, f"{gain[i, j]:.12g}"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    lim = np.abs(gain).max()
    im = axes[0].pcolormesh(RHOS, LAMS, gain, cmap="RdBu", vmin=-lim, vmax=lim, shading="nearest")
    axes[0].contour(RHOS, LAMS, gain, levels=[0.0], colors="k", linewidths=0.6)
    axes[0].set_xlabel("reserve requirement rho")
    axes[0].set_ylabel("penalty lambda")
    axes[0].set_title("w_RR - w_GED (black: 0)", fontsize="small")
    fig.colorbar(im, ax=axes[0])
    for lam in (0.72, 0.73, 0.75, 0.77, 0.80):
        i = int(np.argmin(np.abs(LAMS - lam)))
        axes[1].plot(RHOS, gain[i], label=f"lambda = {LAMS[i]:.4g}")
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[1].set_ylim(-0.004, 0.004)
    axes[1].set_xlabel("reserve requirement rho")
    axes[1].set_ylabel("w_RR - w_GED [utils]")
    axes[1].legend(fontsize="small")
    fig.suptitle("Peiris-Vardoulakis Figure 1: the welfare gain of a reserve requirement", fontsize="medium")
    fig.tight_layout()
    fig.savefig(HERE / "pv_figure1.png", dpi=110)
    plt.close(fig)
    return gain


def arc(lam: float) -> float | None:
    """The least rho whose equilibrium delivers fully (regime F), or None if none does."""
    top = (np.sqrt(1 + 2 / lam) - 1) / 2  # trade stops at rho_max
    ged = mirror.equilibrium(baseline(lam))
    if ged.name == "F":
        return ged.sigma
    if ged.name == "autarky" and lam >= 7 / 9:
        return None
    lo, hi = max(ged.sigma, 1 / lam - 1), top * (1 - 1e-12)
    if mirror.equilibrium(baseline(lam, hi)).name != "F":
        return None
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if mirror.equilibrium(baseline(lam, mid)).name == "F" else (mid, hi)
    return hi


def figure2():
    lams = np.round(np.arange(0.67, 0.921, 0.0025), 6)
    rows = []
    for lam in lams:
        rho = arc(lam)
        if rho is not None:
            rows.append((lam, rho, welfare(lam, rho), welfare(lam, 0.0), mirror.equilibrium(baseline(0.5)).w))
    data = np.array(rows)
    closed = (4 - 3 * data[:, 0]) / (6 * data[:, 0])
    below = data[:, 0] <= 7 / 9
    assert np.abs(data[below, 1] - closed[below]).max() < 1e-10, "the arc differs from (4 - 3 lambda)/(6 lambda)"
    with open(HERE / "pv_figure2.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["lambda", "rho_arc", "w_on_arc", "w_GED", "w_autarky"])
        out.writerows([[f"{v:.12g}" for v in r] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    axes[0].plot(data[:, 0], data[:, 1], "C0")
    axes[0].axvline(7 / 9, color="0.5", lw=0.8, ls=":")
    axes[0].set_xlabel("penalty lambda")
    axes[0].set_ylabel("least reserve with full delivery rho_arc")
    axes[0].set_title("the arc (dotted: 7/9, where the GED delivers fully)", fontsize="small")
    axes[1].plot(data[:, 0], data[:, 2], label="on the arc")
    axes[1].plot(data[:, 0], data[:, 3], label="GED (no requirement)")
    axes[1].plot(data[:, 0], data[:, 4], label="autarky", color="0.5", ls="--")
    peak = int(np.argmax(data[:, 2]))
    axes[1].plot(data[peak, 0], data[peak, 2], "k.", label=f"peak at lambda = {data[peak, 0]:.4g}")
    axes[1].set_xlabel("penalty lambda")
    axes[1].set_ylabel("welfare w [utils]")
    axes[1].legend(fontsize="small")
    fig.suptitle("Peiris-Vardoulakis Figure 2: contracts with full delivery and welfare along them",
                 fontsize="medium")
    fig.tight_layout()
    fig.savefig(HERE / "pv_figure2.png", dpi=110)
    plt.close(fig)
    return data


def main():
    gain = figure1()
    i = int(np.argmin(np.abs(LAMS - 0.75)))
    print(f"Figure 1: largest gain {gain.max():.3e}; at lambda = 0.75 the best rho on the grid is "
          f"{RHOS[int(np.argmax(gain[i]))]:.4f} (gain {gain[i].max():.3e})")
    data = figure2()
    peak = int(np.argmax(data[:, 2]))
    print(f"Figure 2: arc from lambda = {data[0, 0]:.4g}; welfare along it peaks at lambda = {data[peak, 0]:.4g} "
          f"(w = {data[peak, 2]:.10f})")
    print("wrote", ", ".join(str(HERE / f) for f in ("pv_figure1.png", "pv_figure1.csv", "pv_figure2.png",
                                                    "pv_figure2.csv")))


if __name__ == "__main__":
    main()
