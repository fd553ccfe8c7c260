"""Shared helpers of the economies' ``plot`` functions (``segex plot``): a matplotlib figure
with the Agg backend, axis labels from a variable's ``long_name`` and ``units``, saving one
PNG per figure as ``<stem>_<figure>.png``. matplotlib is imported here only, when plotting."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label(var, fallback: str = "") -> str:
    """``long_name [units]`` of an xarray variable (its name when it has no long_name)."""
    attrs = getattr(var, "attrs", {}) or {}
    name = attrs.get("long_name") or fallback or str(getattr(var, "name", ""))
    units = attrs.get("units")
    return f"{name} [{units}]" if units and units != "1" else name


def save(fig, out_dir: Path, stem: str, figure: str) -> Path:
    """Write ``fig`` as ``out_dir/<stem>_<figure>.png``, close it, return the path."""
    path = Path(out_dir) / f"{stem}_{figure}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


__all__ = ["label", "pyplot", "save"]
