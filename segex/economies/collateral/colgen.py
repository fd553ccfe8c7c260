r"""Column generation for Program 2: lotteries over a continuum of securities and t = 0
consumption, without enumerating bundles.

The restricted master LP holds a few bundles per type; its duals price every other
bundle (Dantzig–Wolfe; Prescott's lottery-LP column generation). Two parts of the
bundle need no grid at all, because the best one given the duals has a closed form:

* **t = 0 consumption of good l.** A column ``c`` of type h has reduced cost
  :math:`\lambda^h\alpha^h u_1(c) - \alpha^h y_l c - y_{prob}`, concave in c, maximised
  at :math:`u_1'(c^*) = y_l/\lambda^h`, i.e. :math:`c^* = (\lambda^h / y_l)^{1/\gamma}`.
* **The security value a** in exchange (k, z) of state s. The reduced cost
  :math:`\lambda\alpha\beta\pi_s v(W_0 + a, p(z)) - y_{cons} - \alpha a\,y_{sec} - \alpha\Delta\,y_{\Delta}`
  is concave in a (v is the indirect utility after retrade), maximised where
  :math:`v_W = y_{sec}/(\lambda\beta\pi_s)`; with :math:`v_W(W) = (W/D(p))^{-\gamma}`,
  :math:`W^* = D(p)\,(y_{sec}/(\lambda\beta\pi_s))^{-1/\gamma}`, then clipped to the
  collateral constraint (13) :math:`a \ge -p(z)R_s k` and the security bound a_max.

Collateral k and the fundamental z index rows (consistency of the conditional
lotteries, and the exchanges), so they stay on grids -- but only the pricing pass
ever touches the full (k, z) product, as vectorized numpy over arrays of shape
(n_k, n_z); the LP holds only the columns that were profitable at some point.

When no bundle has a positive reduced cost (to ``tol``), the restricted solution is
optimal for the LP over *every* bundle with k and z on their grids and a and c0
anywhere in their ranges: that is the certificate this module adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grids import CollateralGrids
from .model import CollateralEconomy
from .program2 import Program2, TypeColumns, bundle_table, make_type_columns

#: Relative spacing of the t = 0 consumption points added around each c*.
C_PIN = 1e-7

#: Columns added per (type, state) and round at most: the best by reduced cost.
MAX_NEW_PER_BLOCK = 300


@dataclass
class Pricing:
    """Result of one pricing pass."""

    max_rc: float  # largest reduced cost over all bundles (welfare units)
    new: list  # per type: (c10 points, c20 points, per state (k_idx, z_idx, a))
    n_new: int


def initial_columns(econ: CollateralEconomy, grids: CollateralGrids) -> list:
    """A feasible start: t = 0 consumption on the c grids, and for each type and state
    only the no-trade bundle (k = 0, the no-trade exchange, a = 0) plus a = 0 at k = 0
    in every exchange."""
    out = []
    k0 = int(np.argmin(np.abs(grids.k)))
    for h in range(econ.H):
        x1 = []
        for s in range(econ.S):
            zi = np.arange(grids.z[s].size)
            x1.append(bundle_table(econ, grids, h, s, np.full(zi.size, k0), zi, np.zeros(zi.size)))
        out.append(make_type_columns(econ, grids.c0[0], grids.c0[1], grids.k, x1))
    return out


def price(prog: Program2, row_dual: np.ndarray, weights, tol: float, a_max: float, candidates=None) -> Pricing:
    """Best bundle of every block at the duals; collect those with reduced cost > tol.

    ``candidates``: optional per-type :class:`TypeColumns` enumerating explicit grid
    bundles (:func:`~.program2.type_columns`). Pricing then scans exactly those --
    the master's t = 0 points are already the whole c grid -- so column generation
    solves the grid LP itself, without building it (tested equal to it).
    """
    econ, grids, lp = prog.econ, prog.grids, prog.lp
    rb = lp.row_blocks
    y = row_dual
    u = econ.utility
    g = econ.gamma
    alpha = econ.share
    max_rc = -np.inf
    new, n_new = [], 0
    yg = (y[rb["good1"].start], y[rb["good2"].start])
    for h in range(econ.H):
        lam = weights[h]
        c_new = []
        for l in range(2 if candidates is None else 0):
            yprob = y[rb["prob"].index(h, l)]
            if yg[l] <= 0:
                c_new.append(np.zeros(0))
                continue
            cstar = (lam / yg[l]) ** (1.0 / g)
            rc = lam * alpha[h] * u.u1(cstar) - alpha[h] * yg[l] * cstar - yprob
            max_rc = max(max_rc, float(rc))
            have = prog.columns[h].c10 if l == 0 else prog.columns[h].c20
            # c* with neighbours at relative distance C_PIN: the dual of good l is then
            # pinned to the marginal utility at c* within O(C_PIN), not only to the
            # secant slopes between distant points (a lottery LP's duals at a kink)
            near = np.any(np.isclose(have, cstar, rtol=0.5 * C_PIN, atol=0))
            c_new.append(cstar * (1.0 + C_PIN * np.array([-1.0, 0.0, 1.0])) if rc > tol or not near
                         else np.zeros(0))
        x1_new = []
        for s in range(econ.S):
            if candidates is None:
                ki, zi, a, rc = best_security(econ, grids, y, rb, h, s, lam, a_max)
            else:
                ki, zi, a, rc = enumerated_security(econ, y, rb, h, s, lam, candidates[h].x1[s], grids.k.size)
            max_rc = max(max_rc, float(rc.max(initial=-np.inf)))
            sel = np.nonzero(rc > tol)[0]
            if sel.size > MAX_NEW_PER_BLOCK:
                sel = sel[np.argsort(-rc[sel])[:MAX_NEW_PER_BLOCK]]
            x1_new.append((ki[sel], zi[sel], a[sel]))
            n_new += sel.size
        c_new += [np.zeros(0)] * (2 - len(c_new))
        n_new += sum(c.size for c in c_new)
        new.append((c_new[0], c_new[1], x1_new))
    return Pricing(max_rc=max_rc, new=new, n_new=n_new)


def best_security(econ, grids, y, rb, h, s, lam, a_max, cons=True):
    """For every (k, z) of the grids: the reduced-cost-maximising a and its reduced cost.

    Vectorized over the (n_k, n_z) product; returns flat (k_idx, z_idx, a, rc).
    ``cons=False`` leaves out the dual of the conditional-lottery row (k points the LP
    does not have: priced with their k-marginal column, whose -1 cancels it).
    """
    kg, zg = grids.k, grids.z[s]
    u = econ.utility
    g = econ.gamma
    al = econ.share[h]
    bp = econ.beta * econ.prob[s]
    p = u.spot_price(zg)[None, :]
    R = econ.R[s]
    e1, e2 = econ.e1[h, s]
    k = kg[:, None]
    W0 = e1 + p * (e2 + R * k)
    floor = -p * R * k
    ysec = y[rb[f"sec[{s}]"].slice][None, :]
    yr = y[rb[f"rights[{s}]"].slice][None, :]
    nk = kg.size
    ycons = y[rb["cons"].index(np.full(nk, h), np.full(nk, s), np.arange(nk))][:, None] if cons else 0.0
    D = 1.0 + p ** (1.0 - 1.0 / g)
    with np.errstate(divide="ignore", invalid="ignore"):
        Wstar = np.where(ysec > 0, D * (ysec / (lam * bp)) ** (-1.0 / g), np.inf)
    a = np.clip(Wstar - W0, floor, max(a_max, 0.0))
    a = np.maximum(a, floor)
    W = W0 + a
    delta = econ.discrepancy(h, s, k, zg[None, :])
    rc = lam * al * bp * u.indirect(W, p) - ycons - al * a * ysec - al * delta * yr
    ki, zi = np.meshgrid(np.arange(nk), np.arange(zg.size), indexing="ij")
    return ki.ravel(), zi.ravel(), a.ravel(), rc.ravel()


def enumerated_security(econ, y, rb, h, s, lam, st, nk, cons=True):
    """Reduced costs of explicit state bundles ``st`` (a :func:`~.program2.bundle_table`),
    vectorized: ``lam alpha beta pi_s v - y_cons[k] - alpha (a y_sec[z] + Delta y_rights[z])``
    (``cons=False``: without y_cons, as in :func:`best_security`)."""
    al = econ.share[h]
    ycons = y[rb["cons"].index(np.full(nk, h), np.full(nk, s), np.arange(nk))] if cons else np.zeros(nk)
    ysec = y[rb[f"sec[{s}]"].slice]
    yr = y[rb[f"rights[{s}]"].slice]
    ki, zi, a = st["k_idx"], st["z_idx"], st["a"]
    rc = (lam * al * econ.beta * econ.prob[s] * st["util"] - ycons[ki] - al * a * ysec[zi]
          - al * st["delta"] * yr[zi])
    return ki, zi, a, rc


def merge(econ, grids, cols: list, pricing: Pricing) -> list:
    """Add priced columns to the restricted master's column sets (duplicates dropped).

    Append-only: every old column keeps its position within its block and new ones
    follow, so :func:`column_map` can carry primal vectors and bases to the new LP.
    """
    out = []
    for h, tc in enumerate(cols):
        c10n, c20n, x1n = pricing.new[h]
        x1 = []
        for s, st in enumerate(tc.x1):
            ki = np.concatenate([st["k_idx"], x1n[s][0]])
            zi = np.concatenate([st["z_idx"], x1n[s][1]])
            a = np.concatenate([st["a"], x1n[s][2]])
            key = np.stack([ki, zi, np.round(a, 12)], axis=1)
            _, first = np.unique(key, axis=0, return_index=True)
            n_old = st["a"].size
            keep = np.concatenate([np.arange(n_old), np.sort(first[first >= n_old])])  # every old one stays
            fresh = ~_isin_rows(key[keep[n_old:]], key[:n_old])
            keep = np.concatenate([keep[:n_old], keep[n_old:][fresh]])
            x1.append(bundle_table(econ, grids, h, s, ki[keep], zi[keep], a[keep]))
        out.append(make_type_columns(econ, append_new(tc.c10, c10n), append_new(tc.c20, c20n), grids.k, x1))
    return out


def _isin_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which rows of ``a`` occur in ``b`` (both (n, 3) keys)."""
    if not a.size or not b.size:
        return np.zeros(a.shape[0], bool)
    both = np.unique(np.concatenate([b, a]), axis=0, return_inverse=True)[1].ravel()
    return np.isin(both[b.shape[0]:], both[:b.shape[0]])


def append_new(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``old`` followed by the points of ``new`` not already in it (relative 1e-13)."""
    new = np.unique(np.asarray(new, float))
    fresh = ~np.isclose(new[:, None], old[None, :], rtol=1e-13, atol=0).any(axis=1) if old.size else np.ones(new.size, bool)
    return np.concatenate([old, new[fresh]])


def column_map(old: Program2, new: Program2) -> np.ndarray:
    """Position in ``new`` of every column of ``old`` (built from :func:`merge`'s
    append-only column sets: each block keeps its old columns first)."""
    out = np.empty(old.lp.A.shape[1], dtype=np.int64)
    for name, ob in old.lp.col_blocks.items():
        nb = new.lp.col_blocks[name]
        out[ob.slice] = nb.start + np.arange(ob.size)
    return out


def map_basis(old: Program2, new: Program2, basis):
    """Carry a HiGHS basis of the previous restricted master to the enlarged one.

    Rows are identical (same grids); old columns keep their status at their new
    positions (:func:`column_map`); new columns start nonbasic at zero. Returns a
    ``highspy.HighsBasis`` or None when it cannot be mapped.
    """
    import highspy

    old_status = np.array(basis.col_status, dtype=object)
    if old_status.size != old.lp.A.shape[1] or len(basis.row_status) != new.lp.A.shape[0]:
        return None
    status = np.full(new.lp.A.shape[1], highspy.HighsBasisStatus.kLower, dtype=object)
    status[column_map(old, new)] = old_status
    out = highspy.HighsBasis()
    out.col_status = list(status)
    out.row_status = list(basis.row_status)
    out.valid = True
    return out


__all__ = ["initial_columns", "price", "merge", "column_map", "map_basis", "append_new", "best_security", "Pricing", "TypeColumns"]
