"""The whole set of fees that support a solution: a degenerate lottery LP's duals are not
unique, so an exchange's fee is one point of an interval, and this computes the interval.

A price system is a dual vector y of the planner's LP at the solution's weights with
``A_j'y >= c_j`` for every bundle j (no bundle gains) and equality where x_j > 0
(complementary slackness); in an equilibrium also every type's budget balanced at x
(:meth:`PlannerLP.budget_rows`). Prices are in numeraire units, ``y_r / y_num`` -- a ratio,
so the range of one of them is a linear-fractional program; with Charnes-Cooper variables
``v = y / y_num``, ``t = 1 / y_num >= 0`` it is the LP ``A'v >= c t`` (= where x > 0),
``v_num = 1``, ``B v = rhs t``, solved twice per price (min and max of ``v_r``) in one HiGHS
session that only changes its objective (:class:`DualFace`). Every other price moves with
it: for an active exchange the interval is the set of its fees at which the same allocation
is still an equilibrium, for an inactive one the fees at which nobody wants to enter.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..engine.lp import LP
from ..errors import SolveError
from .equilibrium import reraise_limit
from .planner import PlannerLP

#: the face is searched within |v| <= BOX times the largest normalised dual
BOX = 1e4
#: how many times the box may be widened (x BOX each) while another price holds it: up
#: to 1e12 times its starting size. A count, not a comparison of box sizes: ``big * BOX * BOX <
#: BOX**2 * big0`` holds or fails by one rounding of big0, so a third widening came and
#: went with the duals' last digits (HiGHS got it, cvxpy's duals did not: NaN ends)
WIDENINGS = 3
#: dual-feasibility rows added per round (the most violated first)
ROWS_PER_ROUND = 256


class DualFace:
    """The numeraire-normalised optimal dual face of a planner's LP at x, in Charnes-Cooper
    variables (v, t) (module docstring).

    Dual feasibility has one row per bundle (tens of thousands) of which few can bind,
    so rows are generated lazily: start from the bundles binding at the solver's duals;
    after each solve add the :data:`ROWS_PER_ROUND` most violated bundles and re-solve,
    warm, in the same HiGHS session (the row set only grows, shared by all objectives).
    Measured (KT Env 1, 166,800 bundles, 81 exchanges): 14.5 s; a tolerance-1e-4 start
    20 s, all rows at once 51 s (78,150 bundles).
    """

    #: a bundle's reduced cost may be this far below zero (relative to max|c|) at a
    #: supporting price system: HiGHS's dual feasibility tolerance
    SLACK = 1e-9

    def __init__(self, planner: PlannerLP, x, y, equilibrium: bool):
        lp = planner.lp
        self.m = lp.A.shape[0]
        self.At = lp.A.T.tocsr()
        self.c = lp.c
        self.eq = x > 1e-12
        g1 = planner.numeraire
        t0 = 1.0 / y[g1]
        cmax = max(1.0, np.abs(lp.c).max())
        rc = self.c - self.At @ y
        # tolerances in (v, t) units, no tighter than the solver's own duals meet them
        # (so that they, scaled, are a feasible point of the face LP)
        onsup = np.abs(rc[self.eq]).max() if self.eq.any() else 0.0
        self.feas = 2 * t0 * max(self.SLACK * cmax, rc.max(), onsup)
        # held bundles much tighter: their reduced costs add up in the budgets
        self.feas_eq = 2 * t0 * max(1e-12 * cmax, onsup)
        # a box keeps every restricted LP bounded (a dropped row may be what bounds it);
        # a fee at the box with no row violated is reported as unbounded; another price
        # at the box may be cutting the face, so the box is then widened (x BOX, up to WIDENINGS times)
        self.big = self.big0 = BOX * max(1.0, np.abs(y * t0).max())
        self.widened = 0
        self.rows = np.nonzero(self.eq | (rc >= -self.feas / t0))[0]
        gr = np.zeros((1, self.m + 1))
        gr[0, g1] = 1.0
        fixed, lo, hi = [sp.csr_matrix(gr)], [1.0], [1.0]
        if equilibrium:
            B, rhs = planner.budget_rows(x)
            # v units are numeraire x population share: budgets to 1e-9 of wealth
            btol = np.maximum(2 * t0 * np.abs(B @ y - rhs), 1e-9 * planner.share * planner.wealth(y))
            fixed.append(sp.hstack([B, -rhs[:, None]]).tocsr())
            lo += list(-btol)
            hi += list(btol)
        self.fixed, self.fixed_lo, self.fixed_hi = sp.vstack(fixed).tocsr(), np.asarray(lo), np.asarray(hi)
        self.session = None

    def _feasibility_rows(self, r):
        """Rows ``A_j'v - c_j t >= -feas`` (and <= feas where x_j > 0) of bundles r."""
        A = sp.hstack([self.At[r], -self.c[r][:, None]]).tocsr()
        eq = self.eq[r]
        return A, np.where(eq, -self.feas_eq, -self.feas), np.where(eq, self.feas_eq, np.inf)

    def _build(self, solver="simplex"):
        from ..backends.highs import HighsSession

        Af, lbf, ubf = self._feasibility_rows(self.rows)
        A = sp.vstack([Af, self.fixed]).tocsc()
        lb = np.concatenate([lbf, self.fixed_lo])
        ub = np.concatenate([ubf, self.fixed_hi])
        lp = LP(c=np.zeros(self.m + 1), A=A, col_lb=np.concatenate([np.full(self.m, -self.big), [0.0]]),
                col_ub=np.full(self.m + 1, self.big), row_lb=lb, row_ub=ub, col_blocks={}, row_blocks={})
        self.session = HighsSession(lp, solver=solver, presolve="off")

    def _run(self, cost):
        """Solve with objective ``cost``: warm; if HiGHS stops short (numerical trouble
        from an inherited basis), cold from scratch, then by IPM. None if all fail."""
        for attempt in ("warm", "cold", "ipm"):
            if attempt != "warm":
                self._build(solver="ipm" if attempt == "ipm" else "simplex")
            self.session.set_cost(cost)
            try:
                return self.session.run().x
            except SolveError as err:
                reraise_limit(err)
        return None

    def range(self, i: int) -> tuple[float, float]:
        """(min, max) of v_i = y_i / y_good1 over the face (+-inf where unbounded)."""
        return tuple(v for v, _ in self.extremes(i))

    def extremes(self, i: int):
        """[(min v_i, its (v, t)), (max v_i, its (v, t))]; the duals there are v / t."""
        out = []
        for sign in (-1.0, 1.0):  # the engine maximises
            cost = np.zeros(self.m + 1)
            cost[i] = sign
            last = None  # v_i before the box was last widened
            while True:
                if self.session is None:
                    self._build()
                v = self._run(cost)
                if v is None:  # HiGHS could not solve it, cold or by IPM: unknown
                    out.append((np.nan, None))
                    break
                gap = self.At @ v[:-1] - self.c * v[-1]
                gap[self.rows] = 0.0
                viol = np.nonzero(gap < -self.feas)[0]  # (rows in the LP are not re-checked)
                viol = viol[np.argsort(gap[viol])[:ROWS_PER_ROUND]]  # the most violated
                if viol.size == 0:
                    at_box = np.abs(v) >= (1 - 1e-9) * self.big
                    if at_box[i]:
                        out.append((sign * np.inf, v))
                    elif not at_box.any():
                        out.append((v[i], v))
                    elif last is not None and abs(v[i] - last) <= 1e-9 * (1.0 + abs(v[i])):
                        # another price holds the box, but a box BOX times wider left this one
                        # where it was. The optimum of an LP in its box size B is concave and
                        # nondecreasing in B; equal at B and BOX*B, it is constant for every
                        # larger box, so the unboxed face has the same end (the price at the
                        # box is free, e.g. an inactive exchange's fee, and does not cut this one)
                        out.append((v[i], v))
                    elif self.widened < WIDENINGS:  # another price holds the box: widen it
                        last = v[i]
                        self.big *= BOX
                        self.widened += 1
                        self.session = None
                        continue
                    else:  # still cut by a box BOX**WIDENINGS times the first: not claimed
                        out.append((np.nan, v))
                    break
                self.rows = np.union1d(self.rows, viol)
                self.session.add_rows(*self._feasibility_rows(viol))
        return out
