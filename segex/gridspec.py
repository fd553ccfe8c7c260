"""One grid axis from a TOML spec, shared by every economy's grids.

A spec is ``{min, max, n}`` (``spacing = "linear"`` or ``"geometric"``) or explicit
``points``; every error is a :class:`~segex.errors.SpecError` naming the TOML path.
"""

from __future__ import annotations

import numpy as np

from .errors import SpecError


def axis(spec, name, lo, hi, n, geometric=False, must_hold=None, what="", insert=()):
    """One sorted, duplicate-free grid from a spec; checks it can hold ``must_hold``.

    ``spec`` is ``{min, max, n, spacing}`` (missing keys take ``lo``, ``hi``, ``n`` and
    linear or, with ``geometric``, geometric spacing) or ``{points}`` / a list; ``name`` is
    its TOML path for errors; ``insert`` points are added (e.g. the no-trade bundle)."""
    if spec is None:
        spec = {}
    if isinstance(spec, (list, tuple, np.ndarray)):
        spec = {"points": spec}
    if not isinstance(spec, dict):
        raise SpecError(name, "give a table {min, max, n} or {points = [...]}")
    unknown = set(spec) - {"min", "max", "n", "points", "spacing"}
    if unknown:
        raise SpecError(f"{name}.{sorted(unknown)[0]}", "unknown key; use min, max, n, spacing or points")
    if "points" in spec:
        pts = np.asarray(spec["points"], dtype=float)
        if pts.ndim != 1 or pts.size < 1:
            raise SpecError(f"{name}.points", "give a non-empty flat list of numbers")
        if not np.all(np.isfinite(pts)):
            raise SpecError(f"{name}.points", "grid points must be finite numbers")
        if np.any(np.diff(pts) <= 0):
            raise SpecError(f"{name}.points", "grid points must be strictly increasing (sorted, no duplicates)")
    else:
        lo = float(spec.get("min", lo))
        hi = float(spec.get("max", hi))
        n = spec.get("n", n)
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise SpecError(f"{name}.n", f"the number of grid points must be an integer >= 2, got {n!r}")
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            raise SpecError(name, f"need finite min < max, got min = {lo}, max = {hi}")
        spacing = spec.get("spacing", "geometric" if geometric else "linear")
        if spacing not in ("linear", "geometric"):
            raise SpecError(f"{name}.spacing", "use 'linear' or 'geometric'")
        if spacing == "geometric":
            if lo <= 0:
                raise SpecError(f"{name}.min", "a geometric grid needs min > 0")
            pts = np.geomspace(lo, hi, int(n))
        else:
            pts = np.linspace(lo, hi, int(n))
    if must_hold is not None and must_hold.size:
        tol = 1e-12 * max(1.0, abs(pts).max())
        if must_hold.min() < pts[0] - tol or must_hold.max() > pts[-1] + tol:
            raise SpecError(
                name,
                f"the grid [{pts[0]:.6g}, {pts[-1]:.6g}] cannot hold {what} "
                f"(needs [{must_hold.min():.6g}, {must_hold.max():.6g}]); widen min/max",
            )
    if len(insert):
        pts = np.union1d(pts, np.asarray(insert, dtype=float))
        # drop points that are distinct only by rounding from an inserted point
        keep = np.concatenate([[True], np.diff(pts) > 1e-12 * max(1.0, abs(pts).max())])
        pts = pts[keep]
        for v in insert:
            pts[np.argmin(abs(pts - v))] = v
    return pts
