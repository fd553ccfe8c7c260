"""A labelled sparse LP: blocks of columns and rows, assembled into one CSC matrix.

The engine knows nothing about economics. An economy adds *column blocks* (a lottery
over bundles of one type, say) and *row blocks* (a family of linear "moment"
constraints such as clearing in exchange z_s), then adds coefficients as flat numpy
index arrays. :meth:`LPBuilder.build` stacks everything into one ``scipy.sparse``
CSC matrix once; no Python loop ever runs over grid points.

Conventions (every backend converts to these):

* The problem is ``max c'x  s.t.  row_lb <= A x <= row_ub,  col_lb <= x <= col_ub``.
* ``row_dual[r] = d(optimal value)/d(bound of row r)``: the shadow value of one more
  unit of the resource in row r. On a binding ``<=`` row of a maximisation it is
  >= 0; on an equality row it has either sign.
* ``col_dual[j] = c_j - A[:, j]' row_dual`` (reduced cost). Dual feasibility of the
  maximisation: ``col_dual <= 0`` where ``x_j`` is at its lower bound 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import xarray as xr


@dataclass
class Block:
    """A contiguous range of columns or rows with labels.

    A *dense* block is the full product of ``coords`` (C order). A *ragged* block has
    one entry per element in ``labels`` (a dict of equal-length arrays), for bundle
    sets that are not a product (e.g. only bundles satisfying a collateral constraint).

    Row blocks carry what the economy declares about them for the infeasibility
    diagnosis (:mod:`.diagnose`): ``exact`` rows define the lotteries (probabilities sum
    to one, ...) and are never relaxed; ``hint`` says what to change when the family
    conflicts.
    """

    name: str
    start: int
    size: int
    coords: dict = field(default_factory=dict)
    labels: dict | None = None
    exact: bool = False
    hint: str | None = None

    @property
    def stop(self) -> int:
        return self.start + self.size

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def shape(self) -> tuple:
        return tuple(len(v) for v in self.coords.values())

    @property
    def dims(self) -> tuple:
        return tuple(self.coords)

    def index(self, *idx) -> np.ndarray:
        """Global positions of dense-block elements given one index array per dim."""
        if self.labels is not None:
            raise TypeError(f"block {self.name} is ragged; use block.start + element index")
        return self.start + np.ravel_multi_index(tuple(np.asarray(i) for i in idx), self.shape)

    def all(self) -> np.ndarray:
        return np.arange(self.start, self.stop)

    def to_dataarray(self, values: np.ndarray, name: str | None = None) -> xr.DataArray:
        """Values of this block (dense blocks only) as a labelled DataArray."""
        v = np.asarray(values)[self.slice]
        if self.labels is not None:
            return xr.DataArray(v, dims=("element",), name=name or self.name)
        return xr.DataArray(v.reshape(self.shape), coords=self.coords, dims=self.dims, name=name or self.name)


@dataclass
class LP:
    """An assembled LP in the engine's conventions (see module docstring)."""

    c: np.ndarray
    A: sp.csc_matrix
    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    col_blocks: dict
    row_blocks: dict
    build_s: float = 0.0
    offset: float = 0.0

    @property
    def shape(self):
        return self.A.shape

    @property
    def stats(self) -> dict:
        return {"rows": int(self.A.shape[0]), "cols": int(self.A.shape[1]), "nnz": int(self.A.nnz)}


class LPBuilder:
    """Collect labelled blocks and coefficient triplets, then :meth:`build` one CSC LP."""

    def __init__(self):
        self._t0 = time.perf_counter()
        self.col_blocks: dict[str, Block] = {}
        self.row_blocks: dict[str, Block] = {}
        self._c, self._clb, self._cub = [], [], []
        self._rlb, self._rub = [], []
        self._ri, self._ci, self._v = [], [], []
        self.ncols = 0
        self.nrows = 0

    # -- blocks -------------------------------------------------------------------
    def add_cols(self, name, cost, coords=None, labels=None, lb=0.0, ub=np.inf) -> Block:
        """Add a column block; ``cost`` is its objective coefficients (flat or dense-shaped)."""
        cost = np.asarray(cost, dtype=float).ravel()
        blk = Block(name, self.ncols, cost.size, dict(coords or {}), labels)
        if labels is None and coords and int(np.prod(blk.shape)) != cost.size:
            raise ValueError(f"column block {name}: cost has {cost.size} entries, coords give {blk.shape}")
        self._add(self.col_blocks, blk)
        self._c.append(cost)
        self._clb.append(np.broadcast_to(np.asarray(lb, float), cost.shape))
        self._cub.append(np.broadcast_to(np.asarray(ub, float), cost.shape))
        self.ncols += cost.size
        return blk

    def add_rows(self, name, coords=None, lb=0.0, ub=0.0, size=None, exact=False, hint=None) -> Block:
        """Add a row block with bounds ``lb <= A x <= ub`` (equality when lb == ub).

        ``exact``: the rows define the lotteries and stay exact in the infeasibility
        diagnosis; ``hint``: what to change when this family conflicts (see :class:`Block`)."""
        coords = dict(coords or {})
        n = size if size is not None else int(np.prod([len(v) for v in coords.values()])) if coords else 1
        blk = Block(name, self.nrows, n, coords, exact=exact, hint=hint)
        self._add(self.row_blocks, blk)
        self._rlb.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        self._rub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self.nrows += n
        return blk

    def add_terms(self, rows, cols, vals):
        """Add coefficients ``A[rows, cols] += vals`` (global positions, broadcast)."""
        rows, cols, vals = np.broadcast_arrays(np.asarray(rows), np.asarray(cols), np.asarray(vals, dtype=float))
        self._ri.append(rows.ravel())
        self._ci.append(cols.ravel())
        self._v.append(vals.ravel())

    @staticmethod
    def _add(registry, blk):
        if blk.name in registry:
            raise ValueError(f"duplicate block name {blk.name!r}")
        registry[blk.name] = blk

    # -- assembly -----------------------------------------------------------------
    def build(self) -> LP:
        """Stack all triplets into one CSC matrix (duplicates summed, zeros dropped)."""
        ri = np.concatenate(self._ri) if self._ri else np.zeros(0, int)
        ci = np.concatenate(self._ci) if self._ci else np.zeros(0, int)
        v = np.concatenate(self._v) if self._v else np.zeros(0)
        A = sp.csc_matrix((v, (ri, ci)), shape=(self.nrows, self.ncols))
        A.sum_duplicates()
        A.eliminate_zeros()
        return LP(
            c=np.concatenate(self._c),
            A=A,
            col_lb=np.concatenate(self._clb),
            col_ub=np.concatenate(self._cub),
            row_lb=np.concatenate(self._rlb),
            row_ub=np.concatenate(self._rub),
            col_blocks=self.col_blocks,
            row_blocks=self.row_blocks,
            build_s=time.perf_counter() - self._t0,
        )


@dataclass
class LPSolution:
    """A backend's answer in the engine's conventions; only built for optimal solves."""

    status: str
    objective: float
    x: np.ndarray
    row_dual: np.ndarray
    col_dual: np.ndarray
    solve_s: float
    backend: str
    row_activity: np.ndarray | None = None
    basis: object = None
    info: dict = field(default_factory=dict)

    def dual_objective(self, lp: LP) -> float:
        """b'y + bound terms of the dual; equals the primal objective at optimum (strong duality)."""
        return dual_objective(lp, self.row_dual, self.col_dual)


def dual_objective(lp: LP, y: np.ndarray, d: np.ndarray) -> float:
    """Dual objective of the maximisation at row duals y and reduced costs d = c - A'y:
    each row contributes its binding bound times y (the upper bound where y > 0, the lower
    where y < 0), each column its binding bound times d; infinite bounds contribute 0."""
    rb = np.where(y > 0, lp.row_ub, lp.row_lb)
    rb = np.where(np.isfinite(rb), rb, 0.0)
    cb = np.where(d > 0, lp.col_ub, lp.col_lb)
    cb = np.where(np.isfinite(cb), cb, 0.0)
    return float(rb @ y + cb @ d) + lp.offset
