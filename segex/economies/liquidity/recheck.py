"""``segex check`` for the liquidity economies (FGT; KT Section 3's Diamond-Dybvig): a
saved result's checks recomputed from the file alone.

* SP3 / segregated (lotteries on type x R x I x split): lotteries sum to one, resources
  (per drawn rate with one market), every exchange's private market, truth-telling with the
  deviator's re-trade, welfare and the short asset recomputed and compared with the saved
  numbers, the saved P_Delta against 1 - R/R_hat where pinned, and the grid edges
  (``edge.grid.I``, ``edge.grid.R`` or ``edge.grid.p``) from the saved lotteries;
* SP2 (lotteries on c1 x c2): lotteries, resources, truth-telling, welfare, ``edge.grid.c``;

The edge checks use the ends the solve used: the saved grids', or under refinement how far
it could extend them (the dataset's ``edge_limits``).
* SP1, CE3, externality: the allocation's first-order conditions and budgets
  (:func:`.reduced.certify`).
"""

from __future__ import annotations

import numpy as np

from ...certificate import Certificate, add_edge_checks


def recheck(spec, ds, concept: str) -> Certificate:
    """The checks of one saved concept (module docstring)."""
    if concept in ("SP3", "segregated"):
        return sp3(spec.economy, ds, index=spec.build_grids().index)
    if concept == "SP2":
        return sp2(spec.economy, ds)
    return allocation(spec.economy, ds, concept)


def _limits(ds):
    """The grid ends the solve's edge checks used under refinement, or None (the grids' own)."""
    limits = ds.attrs.get("edge_limits")
    return None if limits is None else tuple(float(v) for v in np.atleast_1d(limits))


def sp3(econ, ds, index: str = "R") -> Certificate:
    """SP3's or the segregated exchanges' checks (module docstring); ``index``: the grid
    file gave the exchanges as rates "R" or prices "p"."""
    from . import lottery as lot

    grids = lot.LotteryGrids(R=ds["R"].values, I=ds["I"].values, index=index)
    k, R, I, c1, c2, V, x1 = lot.bundles(econ, grids)
    N = econ.theta.size
    x = ds["lottery"].transpose("type", "R", "I", "split").values.reshape(N, -1)
    common = ds.attrs.get("exchanges") == "common"
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s]
    cost = c1 + c2 / econ.R_hat
    cert = Certificate()
    lot.economic_checks(cert, econ, x, pairs, V, cost, market=(k, x1, c1, grids.R.size), common=common)
    F = econ.prob
    cert.match("welfare", float(F @ (x * V).sum(1)), float(ds["welfare"]))
    cert.match("liquidity", float(F @ (x @ c1)), float(ds["liquidity"]))
    pinned = ds["pinned"].values.astype(bool)
    lot.check_rights_prices(cert, econ, grids, ds["P_Delta"].values, pinned)
    add_edge_checks(cert, lot.support_edges(x.reshape(N, grids.R.size, grids.I.size, 2), econ, grids, common,
                                                _limits(ds)))
    return cert


def sp2(econ, ds) -> Certificate:
    from . import lottery as lot

    c = ds["c1_grid"].values
    c1, c2 = (a.ravel() for a in np.meshgrid(c, c, indexing="ij"))
    N = econ.theta.size
    x = ds["lottery"].transpose("type", "c1_grid", "c2_grid").values.reshape(N, -1)
    V = econ.utility(c1[None, :], c2[None, :])
    finite = np.isfinite(V)
    cert = Certificate()
    cert.add("closed_bundles", float((x * ~finite).max(initial=0.0)), lot.RESIDUAL_TOL,
             "no type holds a bundle it values at -inf")
    floor = np.where(finite, V, np.inf).min(1)
    Vic = np.where(finite, V, floor[:, None])
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s]
    lot.economic_checks(cert, econ, x, pairs, Vic, c1 + c2 / econ.R_hat)
    cert.match("welfare", float(econ.prob @ (x * Vic).sum(1)), float(ds["welfare"]))
    add_edge_checks(cert, lot.consumption_edges(c1, c2, x, c, _limits(ds)))
    return cert


def allocation(econ, ds, concept) -> Certificate:
    from . import reduced

    R = float(ds["R"]) if "R" in ds else float("nan")
    alloc = reduced.Allocation(concept, R, float(ds["I"]), ds["c1"].values, ds["c2"].values, float(ds["welfare"]),
                               float(ds["liquidity"]), econ.R_hat, econ.e)
    cert = reduced.certify(econ, alloc)
    cert.match("welfare", econ.welfare(alloc.c1, alloc.c2), alloc.welfare)
    return cert
