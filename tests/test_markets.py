"""The shared market machinery (segex.markets) against what each economy computes by hand:
the planner's read-back of bundle prices, wealth and transfers equals KT eq. (57) term by term;
the budgets in the duals are the transfers by complementary slackness (also through
consistency rows with a zero right-hand side); the least-fee selection returns prices that
still support the allocation with the same transfers."""

from __future__ import annotations

import numpy as np
import pytest

from segex.economies.collateral.grids import CollateralGrids
from segex.economies.collateral.kt import environment1
from segex.economies.collateral.program2 import build_program2, bundle_prices, expenditures, read_prices
from segex.markets.equilibrium import PlannerOracle, least_fee_prices, solve_planner

#: HiGHS's feasibility and optimality tolerances are 1e-9 on an O(1)-scaled problem.
TOL = 1e-8


@pytest.fixture(scope="module")
def solved():
    econ = environment1()
    g = CollateralGrids.build(econ, c={"n": 21}, k={"min": 0.0, "max": 2.5, "n": 11}, z={"min": 0.6, "max": 1.0, "n": 9},
                              a={"min": -1.0, "max": 1.0, "n": 9})
    prog = build_program2(econ, g, weights=np.array([0.8, 1.2]))
    eq = solve_planner(prog.planner, weights=np.array([0.8, 1.2]))
    return econ, prog, eq


def test_read_back_is_eq_57(solved):
    econ, prog, eq = solved
    pl, y, x = prog.planner, eq.y, eq.x
    pr = read_prices(prog, y)
    assert np.allclose(pl.bundle_prices(y), bundle_prices(prog, pr.p0, pr.Q, pr.P_delta), rtol=1e-12, atol=1e-12)
    spend, wealth, _ = expenditures(prog, x, pr)
    spend2, wealth2, _ = pl.expenditures(x, y)
    assert np.allclose(spend2, spend, rtol=1e-12) and np.allclose(wealth2, wealth, rtol=1e-12)
    assert pl.prices(y)["good2"][0] == pytest.approx(pr.p0, rel=1e-14)


def test_budget_rows_are_the_transfers(solved):
    """B y - rhs = alpha^h y_num T^h at optimal duals, with the conditional-lottery rows
    (cons: right-hand side 0) left out and the probability rows weighted by their 1."""
    econ, prog, eq = solved
    pl, y, x = prog.planner, eq.y, eq.x
    B, rhs = pl.budget_rows(x)
    assert np.allclose(B @ y - rhs, pl.share * pl.unit(y) * pl.transfers(x, y), atol=TOL)
    assert not np.any(B[:, prog.lp.row_blocks["cons"].slice].toarray())


def test_least_fee_prices_still_support_x(solved):
    econ, prog, eq = solved
    pl = prog.planner
    rights = np.concatenate([prog.lp.row_blocks[f"rights[{s}]"].all() for s in range(econ.S)])
    pt = least_fee_prices(PlannerOracle(pl), eq.x, eq.point, rights)
    y = pt.state.sol.row_dual
    rc = pl.lp.c - pl.lp.A.T @ y
    scale = np.abs(pl.lp.c).max()
    assert rc.max() <= TOL * scale and np.abs(rc[eq.x > 1e-12]).max() <= TOL * scale
    assert np.allclose(pl.transfers(eq.x, y), pl.transfers(eq.x, eq.y), atol=TOL)
    assert np.abs(y[rights]).sum() <= np.abs(eq.y[rights]).sum() + TOL
