r"""A planner's lottery LP as the market machinery reads it: who owns which column, what it
is worth, which rows are prices and which define the lotteries.

Every economy with segregated exchanges solves a Pareto program of the same shape
(KT Program 2, eqs. 47-55; its 2.2 analogue; FGT's SP3 with rights):

.. math:: \max_x \sum_h \lambda^h \alpha^h \sum_{j \in h} u_j x_j \quad\text{s.t.}\quad
          A_{\text{priced}}\, x \;\{=,\le\}\; b, \qquad A^h_{\text{lottery}} x^h = 1^h,\; x \ge 0,

where the columns of type h are its lottery's bundles (or the marginals and conditional
lotteries of a separable form), the *priced* rows are resources, securities per exchange
and rights to trade per exchange (coefficients per capita times alpha^h), and the lottery
rows say each type's probabilities sum to one. :class:`PlannerLP` records that reading;
everything here is written once for every economy:

* **prices** (dual convention of :mod:`segex.engine.lp`: ``y_r = dW*/db_r``): every priced
  row's dual over the numeraire row's, so each is a price in units of the numeraire (good 1
  at t = 0); :meth:`PlannerLP.prices` returns them per labelled row block
  (``Q``, ``P_Delta`` of every exchange, ``p0``...), as the blocks' own coordinates;
* **the price of a bundle** (KT eq. 57): ``P_j = sum_{r priced} A_rj y_r / (alpha^h y_num)``
  -- the per-capita value of what the column takes from every priced row;
* **wealth**: the value of the type's endowment, ``sum_r e^h_r y_r / y_num`` over the
  resource rows it is endowed in;
* **transfers** (Negishi): ``T^h = sum_{j in h} P_j x_j - wealth^h``, the lump sum type h
  would need to afford its lottery; zero for every type is the equilibrium without
  transfers;
* **budget rows in the duals** (for the dual face LP): by complementary slackness the
  expenditure of type h in welfare units is ``lambda^h alpha^h U^h(x) - sum(lottery-row
  duals of h)``, so ``T^h y_num alpha^h`` is linear in y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..engine.lp import LP
from ..errors import SolveError


@dataclass
class PlannerLP:
    """The planner's LP and its reading (module docstring).

    Attributes
    ----------
    lp : the assembled LP (its objective is reset by :meth:`set_weights`).
    col_type : (n,) the type owning each column.
    col_util : (n,) each column's unweighted expected-utility coefficient.
    share : (H,) population shares alpha^h.
    numeraire : index of the row whose dual is the unit of account.
    endowment : (H, m) per-capita endowment of each type in row units (non-zero only in
        the resource rows it owns); ``endowment @ y / y_num`` is its wealth.
    lottery_type : (m,) for each lottery row the type whose probabilities it sums, -1 for
        priced rows.
    weights : (H,) the Pareto weights of the current objective.
    col_trade : optional (n,) a column's trade volume, the tie-break among equilibria
        (least trade: within an exchange the split of securities is otherwise
        indeterminate).
    """

    lp: LP
    col_type: np.ndarray
    col_util: np.ndarray
    share: np.ndarray
    numeraire: int
    endowment: np.ndarray
    lottery_type: np.ndarray
    weights: np.ndarray
    col_trade: np.ndarray | None = None

    def __post_init__(self):
        self.priced = self.lottery_type < 0
        A = self.lp.A.tocsc()
        self._A_priced = A[np.nonzero(self.priced)[0], :].T.tocsr()  # (n, m_priced)
        self.set_weights(self.weights)

    @property
    def H(self) -> int:
        return self.share.size

    def set_weights(self, weights) -> None:
        """The objective sum_h lambda^h alpha^h U^h for new Pareto weights (rows unchanged)."""
        w = np.asarray(weights, dtype=float)
        self.weights = w
        self.lp.c = (w * self.share)[self.col_type] * self.col_util

    # ------------------------------------------------------------------ prices
    def unit(self, y: np.ndarray) -> float:
        """The numeraire row's dual: welfare per unit of account. Positive at any optimum
        (more of the numeraire good cannot lower welfare); anything else is a solver fault."""
        u = float(y[self.numeraire])
        if not u > 0:
            raise SolveError("dual_error", f"the shadow value of the numeraire is {u:.3g}, not positive")
        return u

    def prices(self, y: np.ndarray) -> dict:
        """{row-block name: its duals over the numeraire's} for every priced block."""
        u = self.unit(y)
        return {name: y[blk.slice] / u for name, blk in self.lp.row_blocks.items()
                if np.all(self.priced[blk.slice])}

    def bundle_prices(self, y: np.ndarray) -> np.ndarray:
        """(n,) P_j of every column in numeraire units per unit of probability (KT eq. 57)."""
        return (self._A_priced @ y[self.priced]) / (self.share[self.col_type] * self.unit(y))

    def wealth(self, y: np.ndarray) -> np.ndarray:
        """(H,) value of each type's endowment at the prices y, in numeraire units."""
        return self.endowment @ y / self.unit(y)

    def expenditures(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """((H,) expenditure, (H,) wealth, (n,) bundle prices) of the lotteries x at y."""
        P = self.bundle_prices(y)
        return np.bincount(self.col_type, P * x, minlength=self.H), self.wealth(y), P

    def transfers(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(H,) T^h = expenditure - wealth: the lump sum each type needs (0 in equilibrium)."""
        spend, wealth, _ = self.expenditures(x, y)
        return spend - wealth

    def utilities(self, x: np.ndarray) -> np.ndarray:
        """(H,) expected utility U^h of each type's lottery."""
        return np.bincount(self.col_type, self.col_util * x, minlength=self.H)

    def budget_rows(self, x: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """Every type's budget at x as linear equations ``B y = rhs`` in the duals y
        (module docstring): ``B_h y = -sum_r b_r y_r (h's lottery rows) - alpha^h e^h . y``,
        ``rhs_h = -lambda^h alpha^h U^h(x)``. Returns (B (H, m), rhs (H,))."""
        m = self.lp.A.shape[0]
        # complementary slackness: sum_{j in h} x_j A_j'y = sum over h's lottery rows of y_r b_r
        # (b_r = 1 for a probability row, 0 for a consistency row such as "this conditional
        # lottery's mass equals that marginal's") plus the priced rows' terms
        lot = np.nonzero((self.lottery_type >= 0) & (self.lp.row_lb != 0))[0]
        L = sp.csr_matrix((-self.lp.row_lb[lot], (self.lottery_type[lot], lot)), shape=(self.H, m))
        E = sp.csr_matrix(-self.share[:, None] * self.endowment)
        return (L + E).tocsr(), -self.weights * self.share * self.utilities(x)

    def masses(self, x: np.ndarray, col_group: np.ndarray, n_groups: int) -> np.ndarray:
        """(H, n_groups) population mass alpha^h x of each type in each group of columns
        (an exchange), ``col_group`` -1 for columns in none."""
        on = col_group >= 0
        out = np.zeros((self.H, n_groups))
        np.add.at(out, (self.col_type[on], col_group[on]), self.share[self.col_type[on]] * x[on])
        return out


def lottery_rows(lp: LP, families, col_type: np.ndarray) -> np.ndarray:
    """(m,) ``lottery_type`` of :class:`PlannerLP`: for the rows of the named lottery
    families the type of the columns they sum (each such row holds one type's columns),
    -1 elsewhere."""
    out = np.full(lp.A.shape[0], -1)
    A = lp.A.tocsr()
    rows = [np.arange(blk.start, blk.stop) for name, blk in lp.row_blocks.items() if name.split("[")[0] in families]
    rows = np.concatenate(rows) if rows else np.zeros(0, int)
    first = A.indptr[rows]
    held = A.indptr[rows + 1] > first
    out[rows[held]] = col_type[A.indices[first[held]]]
    return out
