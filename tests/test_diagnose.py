"""Infeasible LPs are explained by the constraint families that conflict (a phase-1
relaxation with a slack per row, the lottery rows kept exact), with what to change."""

from __future__ import annotations

import numpy as np
import pytest

from segex.backends import solve
from segex.economies.liquidity import LiquidityEconomy, LotteryGrids, solve_sp3
from segex.engine.diagnose import conflicting_families
from segex.engine.lp import LPBuilder
from segex.errors import SolveError


def _toy(cap_ub, floor_lb):
    """One lottery over two bundles with a cap and a floor on the same moment."""
    b = LPBuilder()
    x = b.add_cols("x", [1.0, 2.0])
    lot = b.add_rows("lottery", lb=1.0, ub=1.0)
    cap = b.add_rows("cap", lb=-np.inf, ub=cap_ub)
    floor = b.add_rows("floor", lb=floor_lb, ub=np.inf)
    b.add_terms(lot.start, x.all(), 1.0)
    b.add_terms(cap.start, x.all(), [1.0, 3.0])
    b.add_terms(floor.start, x.all(), [1.0, 3.0])
    return b.build()


def test_the_conflicting_families_are_named():
    # moment m = x1 + 3 x2 in [1, 3]; cap m <= 2 (row scale 3), floor m >= 4 (scale 5). The
    # cheapest scaled violation is (m - 2)/3 + (4 - m)/5, least at m = 2: the floor, by 2/5
    fam = conflicting_families(_toy(cap_ub=2.0, floor_lb=4.0))
    assert list(fam) == ["floor"] and fam["floor"] == pytest.approx(0.4, rel=1e-7)
    assert conflicting_families(_toy(cap_ub=2.5, floor_lb=2.0)) == {}  # feasible: nothing to blame


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
