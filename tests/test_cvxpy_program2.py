"""Program 2 written independently in cvxpy (segex.economies.collateral.cvxpy_model) has the same
optimum as segex's assembled LP: a test of the assembly by a second formulation.

Both are solved by HiGHS (dual simplex through highspy for segex; HiGHS through cvxpy
for the model), so the optima agree to the solvers' relative tolerance, 1e-9 of
|welfare| ~ 2 -- 1e-8 leaves room for the two problems' different scaling.
"""

from __future__ import annotations

import cvxpy as cp
import pytest

from segex.backends import solve
from segex.economies.collateral.cvxpy_model import program2_problem
from segex.economies.collateral import CollateralGrids
from segex.economies.collateral.kt import environment2, environment3
from segex.economies.collateral.program2 import build_program2


@pytest.mark.parametrize("env", [environment2, environment3])
def test_cvxpy_model_has_the_same_optimum(env):
    e = env()
    g = CollateralGrids.build(e, c={"n": 15}, k={"n": 7}, z={"n": 7}, a={"n": 5})
    w = [1.0 + 0.1 * h for h in range(e.H)]
    lp_value = solve(build_program2(e, g, weights=w).lp, backend="highs").objective
    problem, rows = program2_problem(e, g, weights=w)
    problem.solve(solver=cp.HIGHS)
    assert problem.status == cp.OPTIMAL
    assert problem.value == pytest.approx(lp_value, rel=1e-8, abs=1e-8)
    # prices too: p0 = y(52) / y(51), the same on both (sign conventions cancel)
    p0_cvxpy = rows["good2"].dual_value / rows["good1"].dual_value
    from segex.economies.collateral import solve_segregated

    r = solve_segregated(e, g, weights=w, equilibrium=False)
    assert p0_cvxpy == pytest.approx(r.prices.p0, rel=1e-6)
