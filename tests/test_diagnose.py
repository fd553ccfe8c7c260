"""Infeasible LPs are explained by the constraint families that conflict (a phase-1
relaxation with a slack per row, the lottery rows kept exact), with what to change."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segex.backends import solve
from segex.economies.collateral import CollateralGrids, solve_segregated
from segex.economies.collateral.kt import environment1
from segex.economies.collateral.program2 import build_program2
from segex.economies.liquidity import LiquidityEconomy, LotteryGrids, solve_sp3
from segex.engine.diagnose import conflicting_families, relaxation
from segex.engine.lp import LPBuilder
from segex.errors import SolveError


def _toy(cap_ub, floor_lb):
    """One lottery over two bundles with a cap and a floor on the same moment."""
    b = LPBuilder()
    x = b.add_cols("x", [1.0, 2.0])
    lot = b.add_rows("lottery", lb=1.0, ub=1.0, exact=True)
    cap = b.add_rows("cap", lb=-np.inf, ub=cap_ub)
    floor = b.add_rows("floor", lb=floor_lb, ub=np.inf)
    b.add_terms(lot.start, x.all(), 1.0)
    b.add_terms(cap.start, x.all(), [1.0, 3.0])
    b.add_terms(floor.start, x.all(), [1.0, 3.0])
    return b.build()


def test_the_conflicting_families_are_named():
    # moment m = x1 + 3 x2 in [1, 3]; cap m <= 2 (row scale 3), floor m >= 4 (scale 5). The
    # cheapest scaled violation is (m - 2)/3 + (4 - m)/5, least at m = 2: the floor, by 2/5
    fam = conflicting_families(_toy(cap_ub=2.0, floor_lb=4.0), solve)
    assert list(fam) == ["floor"] and fam["floor"] == pytest.approx(0.4, rel=1e-7)
    assert conflicting_families(_toy(cap_ub=2.5, floor_lb=2.0), solve) == {}  # feasible: nothing to blame


def test_infeasible_solve_says_which_families_and_what_to_change():
    with pytest.raises(SolveError) as err:
        solve(_toy(cap_ub=2.0, floor_lb=4.0))
    assert err.value.status == "infeasible"
    assert "constraint families that cannot all hold" in str(err.value)
    assert "cap" in str(err.value) or "floor" in str(err.value)


@pytest.mark.parametrize("exchanges", ["common", "segregated"])
def test_liquidity_grid_without_an_affordable_income(exchanges):
    """Every income on the grid costs more than the endowment: the resources row is to blame,
    and the message says to lower the income grid."""
    e = LiquidityEconomy.create([0.5, 1.5], [0.5, 0.5], "discount", gamma=1.0, R_hat=1.5)
    with pytest.raises(SolveError) as err:
        solve_sp3(e, LotteryGrids(R=np.array([1.5, 1.6]), I=np.array([3.0, 4.0])), exchanges=exchanges)
    msg = str(err.value)
    assert "resources" in msg and "grid.I" in msg and "lottery (" not in msg
    assert "\n" not in msg


def _env1_grids_without(what):
    """KT Environment 1's grids, broken past spec validation: the good-1 grid above every
    endowment (good 1 cannot clear at t = 0), or z grids above the no-trade fundamental
    (every type's discrepancy is positive, so rights to trade cannot clear)."""
    e = environment1()
    g = CollateralGrids.build(e, c={"n": 11}, k={"n": 5}, z={"n": 5}, a={"n": 5})
    if what == "good1":
        return e, dataclasses.replace(g, c0=(np.array([3.5, 4.0, 5.0]), g.c0[1]))
    return e, dataclasses.replace(g, z=(np.array([1.5, 2.0]),))


@pytest.mark.parametrize("family, hint", [("good1", "the c and k grids must hold"),
                                          ("rights", "the z grid must hold the no-trade fundamental")])
def test_collateral_grid_names_the_family_not_the_probabilities(family, hint):
    """The probability rows (prob, cons) are declared exact: the relaxation has no slack on
    them, and the culprit named is the clearing family the grid breaks."""
    e, grids = _env1_grids_without(family)
    lp = build_program2(e, grids).lp
    relaxed, n = relaxation(lp)
    slack = relaxed.A[:, n:].tocsr()
    for name in ("prob", "cons"):
        assert lp.row_blocks[name].exact
        assert slack[lp.row_blocks[name].slice].nnz == 0
    assert list(conflicting_families(lp, solve)) == [family]
    with pytest.raises(SolveError) as err:
        solve_segregated(e, grids, weights=[1.0, 1.0])
    msg = str(err.value)
    assert f"{family} (violation" in msg and hint in msg
    assert "prob (" not in msg and "cons (" not in msg
