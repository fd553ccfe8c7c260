"""The active exchanges of a grid equilibrium, as accuracy mode uses them: where they are
(:func:`clusters`, :func:`mean_z`), grids that hold them at chosen fundamentals
(:func:`grids_at`), the bundles carried to new grids (:func:`carried_columns`), and the
determinate outputs compared between steps (:func:`summary`, :func:`change`)."""

from __future__ import annotations

import numpy as np

from . import colgen
from .grids import CollateralGrids
from .program2 import bundle_table, make_type_columns
from .segregated import ACTIVE_MASS, SegregatedResult

#: Grid points closer than this fraction of a state's z range to a polished exchange
#: are removed, so that the exchange's mass sits at zeta alone.
CLEAR = 0.02


def clusters(res: SegregatedResult) -> list:
    """Per state, groups of active exchanges (indices) that are grid neighbours or lie
    within CLEAR of each other: a grid mixes the points around one continuum exchange."""
    out = []
    for s in range(res.econ.S):
        zg = res.grids.z[s]
        width = CLEAR * max(zg[-1] - zg[0], 1e-12)
        groups = []
        for j in (j for j in range(zg.size) if _mass(res, s, j) > ACTIVE_MASS):
            if groups and (j == groups[-1][-1] + 1 or zg[j] - zg[groups[-1][-1]] <= width):
                groups[-1].append(j)
            else:
                groups.append([j])
        out.append(groups)
    return out


def _mass(res, s, j):
    st = res.type_stats()
    return sum(res.econ.share[h] * st[h]["share"][s][j] for h in range(res.econ.H))


def mean_z(res: SegregatedResult, s: int, grp) -> float:
    """The mass-weighted fundamental of the exchanges ``grp`` of state s."""
    m = np.array([_mass(res, s, j) for j in grp])
    return float(m @ res.grids.z[s][grp] / m.sum())


def grids_at(econ, base: CollateralGrids, zeta: list, clear: float = 0.0) -> tuple[CollateralGrids, list]:
    """``base`` with every point within max(CLEAR * range, ``clear``) of a polished
    exchange removed (except the no-trade fundamental E_1s/E_2s) and the exchanges
    ``zeta[s]`` inserted; also the index of each zeta in the new grids."""
    z_new, where = [], []
    E = econ.aggregate
    for s, zs in enumerate(zeta):
        zg = base.z[s]
        width = max(CLEAR * (zg[-1] - zg[0]), clear)
        far = np.all(np.abs(zg[:, None] - np.asarray(zs)[None, :]) > width, axis=1)
        far |= np.isclose(zg, E[1 + s, 0] / E[1 + s, 1], rtol=1e-12)
        pts = np.union1d(zg[far], zs)
        z_new.append(pts)
        where.append(np.searchsorted(pts, zs))
    return CollateralGrids(c0=base.c0, k=base.k, z=tuple(z_new), a=base.a), where


def summary(res: SegregatedResult) -> dict:
    """The determinate outputs compared between refinements, by name: p0, K, each
    type's consumption and utility, and per state the mass-weighted fundamental z and
    fee P_Delta of the active exchanges (a grid mixes the two points around the
    continuum's z*). Individual k, securities and fees paid are indeterminate within
    an exchange and are not compared."""
    d = res.to_dict()
    out = {"p0": np.array([d["p0"]]), "K": np.array([d["K"]])}
    for h, t in enumerate(d["types"]):
        out[f"c0[{h}]"] = np.asarray(t["c0"])
        out[f"c1[{h}]"] = np.ravel(t["c1"])
        out[f"utility[{h}]"] = np.array([t["utility"]])
    for s in range(res.econ.S):
        act = [x for x in d["exchanges"] if x["state"] == s + 1 and x["active"]]
        m = np.array([x["mass"] for x in act])
        out[f"z[{s}]"] = np.array([m @ [x["z"] for x in act] / m.sum()])
        out[f"P_Delta[{s}]"] = np.array([m @ [x["fee"] for x in act] / m.sum()])
    return out


def change(a: dict, b: dict) -> tuple[float, str]:
    """Largest absolute change between two summaries and the output where it occurs."""
    worst = max(a, key=lambda k: float(np.max(np.abs(a[k] - b[k]))))
    return float(np.max(np.abs(a[worst] - b[worst]))), worst


def carried_columns(res: SegregatedResult, grids: CollateralGrids, rel: float = 1e-6, zmaps=None) -> list:
    """The previous master's useful bundles -- every bundle with mass or reduced cost
    within ``rel`` of zero -- re-indexed to new grids with the same k grid.

    ``zmaps``: per state, the new index of every old exchange (-1: dropped; a moved
    exchange keeps its bundles at its new z); by default the new z grids contain the
    old ones. No trade in every exchange is always included: a feasible start.
    """
    prog, econ = res.prog, res.econ
    old = res.grids
    if zmaps is None:
        zmaps = [_positions(old.z[s], grids.z[s]) for s in range(econ.S)]
    scale = max(1.0, np.abs(prog.lp.c).max())
    keep = (res.x > 0) | (res.col_dual >= -rel * scale)
    k0 = int(np.argmin(np.abs(grids.k)))
    out = []
    for h, tc in enumerate(prog.columns):
        c10 = tc.c10[keep[prog.block(f"c10[{h}]").slice]]
        c20 = tc.c20[keep[prog.block(f"c20[{h}]").slice]]
        x1 = []
        for s, st in enumerate(tc.x1):
            sel = keep[prog.block(f"x1[{h},{s}]").slice]
            zi = np.asarray(zmaps[s])[st["z_idx"][sel]]
            ok = zi >= 0
            ki, zi, a = st["k_idx"][sel][ok], zi[ok], st["a"][sel][ok]
            if grids.z[s].size:
                a = np.maximum(a, -econ.utility.spot_price(grids.z[s][zi]) * econ.R[s] * grids.k[ki])  # (13) at new z
            zall = np.arange(grids.z[s].size)
            x1.append(bundle_table(econ, grids, h, s, np.concatenate([np.full(zall.size, k0), ki]),
                                   np.concatenate([zall, zi]), np.concatenate([np.zeros(zall.size), a])))
        # (the c grids hold every type's endowment: with no trade, a feasible start)
        c10 = colgen.append_new(c10, grids.c0[0])
        c20 = colgen.append_new(c20, grids.c0[1])
        out.append(make_type_columns(econ, c10, c20, grids.k, x1))
    return out


def _positions(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Index in ``new`` of every point of ``old`` (``new`` contains ``old``)."""
    pos = np.clip(np.searchsorted(new, old - 1e-12 * max(1.0, np.abs(new).max())), 0, new.size - 1)
    if not np.allclose(new[pos], old, rtol=1e-10, atol=1e-12):
        raise ValueError("refined grid does not contain the previous grid")
    return pos
