"""``segex check FILE.nc``: re-verify a saved result without the solver that produced it.

Every group written by ``segex solve --out`` carries the grid file it was solved from
(attribute ``segex_spec``). The economy is rebuilt from it and each concept's checks are
recomputed from the saved allocation or lotteries alone -- no LP is solved and no dual is
trusted except where a check is *about* a saved price:

* liquidity economies, SP3 / segregated (lotteries on type x R x I x split): lotteries sum to
  one, resources (per drawn rate with one market), every exchange's private market,
  truth-telling with the deviator's re-trade, welfare and the short asset recomputed and
  compared with the saved numbers, the saved P_Delta against 1 - R/R_hat where pinned;
* SP2 (lotteries on c1 x c2): lotteries, resources, truth-telling, welfare;
* SP1, CE3, externality of the liquidity economies: the allocation's first-order
  conditions and budgets (:func:`segex.economies.liquidity.reduced.certify`);
* the collateral economy (externality, segregated): goods clear at t = 0 and in every
  state, storage included, and securities net to zero, from the saved per-type means
  (clearing is linear, so means suffice).

Tolerances are those of the solve-time certificates.
"""

from __future__ import annotations

import json

import numpy as np

from .certificate import Certificate
from .errors import SegexError

#: Saved numbers are float64 written and read back exactly; recomputed sums of many terms
#: differ from the solve-time ones by rounding only: 1e-9 relative.
MATCH_TOL = 1e-9


def check_file(path) -> dict[str, Certificate]:
    """{group: certificate} for every concept group of a ``segex solve --out`` file."""
    from .io.store import read_netcdf

    groups = read_netcdf(path)
    if not groups:
        raise SegexError(f"{path}: no result groups; write one with segex solve FILE --out {path}")
    return {name: check_dataset(ds, name) for name, ds in groups.items()}


def check_dataset(ds, name: str = "") -> Certificate:
    from .io.config import parse_spec

    raw = ds.attrs.get("segex_spec")
    if raw is None:
        raise SegexError(f"group {name!r} has no segex_spec attribute (written by an older segex or by hand); "
                         "re-solve it with segex solve FILE --out")
    spec = parse_spec(json.loads(raw))
    concept = ds.attrs.get("segex_concept", name)
    if spec.kind == "collateral":
        return _collateral(spec.economy, ds)
    if concept in ("SP3", "segregated"):
        return _sp3(spec.economy, ds)
    if concept == "SP2":
        return _sp2(spec.economy, ds)
    return _allocation(spec.economy, ds, concept)


# ---------------------------------------------------------------------------------- liquidity
def _sp3(econ, ds) -> Certificate:
    from .economies.liquidity import lottery as lot

    grids = lot.LotteryGrids(R=ds["R"].values, I=ds["I"].values)
    k, R, I, c1, c2, V, x1 = lot._bundles(econ, grids)
    N = econ.theta.size
    x = ds["lottery"].transpose("type", "R", "I", "split").values.reshape(N, -1)
    common = ds.attrs.get("exchanges") == "common"
    pairs = [(t, s) for t in range(N) for s in range(N) if t != s]
    cost = c1 + c2 / econ.R_hat
    cert = Certificate()
    lot._economic_checks(cert, econ, x, pairs, V, cost, market=(k, x1, c1, grids.R.size), common=common)
    F = econ.prob
    _match(cert, "welfare", float(F @ (x * V).sum(1)), float(ds["welfare"]))
    _match(cert, "liquidity", float(F @ (x @ c1)), float(ds["liquidity"]))
    pinned = ds["pinned"].values.astype(bool)
    lot._check_rights_prices(cert, econ, grids, ds["P_Delta"].values, pinned)
    return cert


def _sp2(econ, ds) -> Certificate:
    from .economies.liquidity import lottery as lot

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
    lot._economic_checks(cert, econ, x, pairs, Vic, c1 + c2 / econ.R_hat)
    _match(cert, "welfare", float(econ.prob @ (x * Vic).sum(1)), float(ds["welfare"]))
    return cert


def _allocation(econ, ds, concept) -> Certificate:
    from .economies.liquidity import reduced

    R = float(ds["R"]) if "R" in ds else float("nan")
    alloc = reduced.Allocation(concept, R, float(ds["I"]), ds["c1"].values, ds["c2"].values, float(ds["welfare"]),
                               float(ds["liquidity"]), econ.R_hat, econ.e)
    cert = reduced.certify(econ, alloc)
    _match(cert, "welfare", econ.welfare(alloc.c1, alloc.c2), alloc.welfare)
    return cert


# ---------------------------------------------------------------------------------- collateral
def _collateral(econ, ds) -> Certificate:
    """Goods and securities clearing from the saved per-type means (module docstring)."""
    a = econ.share
    c0 = ds["c0"].transpose("type", "good").values
    c1 = ds["c1"].transpose("type", "state", "good").values
    k = ds["k"].values
    theta = ds["theta"].transpose("type", "state", "good").values
    E = econ.aggregate
    scale = float(np.abs(E).max())
    t0 = a @ c0 - E[0] + np.array([0.0, a @ k])  # storage takes good 2 at t = 0
    t1 = np.einsum("h,hsl->sl", a, c1) - E[1:] - np.stack([np.zeros(econ.S), econ.R * (a @ k)], axis=1)
    cert = Certificate()
    cert.add("goods_t0", float(np.abs(t0).max()) / scale, 1e-7, "sum_h alpha (c0 + (0, k) - e0) = 0")
    cert.add("goods_t1", float(np.abs(t1).max()) / scale, 1e-7,
             "sum_h alpha (c1_s - e1_s) = (0, R_s K) in every state")
    cert.add("securities", float(np.abs(np.einsum("h,hsl->sl", a, theta)).max()) / scale, 1e-7,
             "sum_h alpha theta_s = 0 in every state")
    return cert


def _match(cert, name, recomputed, saved):
    cert.add(f"{name}_recomputed", abs(recomputed - saved) / (1.0 + abs(saved)), MATCH_TOL,
             f"recomputed {recomputed:.12g}, saved {saved:.12g}")
