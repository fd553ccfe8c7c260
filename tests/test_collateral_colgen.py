"""Column generation for Program 2 (segex.economies.collateral.colgen).

Column generation prices securities a and t = 0 consumption over a continuum (closed
form), so its optimum is that of the LP over *every* bundle with k and z on their grids.
Grid LPs over finer and finer a and c grids are restrictions of it: their optima must
rise toward the column-generation optimum and never exceed it.
"""

from __future__ import annotations

import numpy as np
import pytest

from segex.backends import solve
from segex.economies.collateral import CollateralGrids, solve_segregated
from segex.economies.collateral import colgen
from segex.economies.collateral.kt import environment1 as env1
from segex.economies.collateral.kt import environment2 as env2
from segex.economies.collateral.kt import environment3 as env3
from segex.economies.collateral.program2 import build_program2




@pytest.mark.parametrize("make,w", [(env1, [1.5, 0.5]), (env2, [1.2, 0.8])])
def test_colgen_bounds_every_grid_and_is_their_limit(make, w):
    e = make()
    kz = dict(k={"min": 0, "max": 2.0, "n": 9}, z={"min": 0.6, "max": 1.05, "n": 10})
    cg = solve_segregated(e, CollateralGrids.build(e, c={"n": 21}, a={"min": -1, "max": 1, "n": 3}, **kz),
                          weights=w, method="colgen", equilibrium=False, tol=1e-9)
    assert cg.certificate.passed, str(cg.certificate)
    # 1e-9: HiGHS's own dual feasibility tolerance, below which reduced costs are noise
    assert cg.certificate.checks["pricing.max_reduced_cost"].residual <= 1e-9
    v_cg = cg.objective
    vals = []
    for n_a, n_c in ((5, 51), (21, 201), (81, 801)):
        g = CollateralGrids.build(e, c={"n": n_c}, a={"min": -1, "max": 1, "n": n_a}, **kz)
        vals.append(solve(build_program2(e, g, np.asarray(w, float)).lp).objective)
    # every grid LP is a restriction of the column-generation LP (same k, z rows; a
    # and c0 on finite subsets of their ranges): never above it, to solver tolerance
    assert max(vals) <= v_cg + 1e-8
    # and refining a and c0 closes the gap (lottery interpolation error is O(h^2))
    gaps = [v_cg - v for v in vals]
    assert gaps[2] < gaps[1] < gaps[0]
    assert gaps[2] < 1e-4 * abs(v_cg)


MODERATE = dict(c={"n": 41}, k={"min": 0, "max": 2.0, "n": 21}, z={"min": 0.6, "max": 1.05, "n": 19},
                a={"min": -1, "max": 1, "n": 21})


@pytest.mark.parametrize("make,w", [(env1, [1.5, 0.5]), (env2, [1.2, 0.8])])
def test_colgen_over_the_grid_equals_the_full_grid_lp(make, w):
    """Column generation that prices the grid's own bundles ("colgen-grid") reaches the
    full grid LP's optimum without building it: same value (to the solvers' 1e-9
    tolerances), from a master a fraction of its size, with nothing left to price."""
    e = make()
    g = CollateralGrids.build(e, **MODERATE)
    full = build_program2(e, g, np.asarray(w, float))
    v_full = solve(full.lp).objective
    cg = solve_segregated(e, g, weights=w, method="colgen-grid", equilibrium=False, tol=1e-9)
    assert cg.certificate.passed, str(cg.certificate)
    assert cg.objective == pytest.approx(v_full, abs=1e-9)
    assert cg.lp["cols"] < 0.5 * full.lp.A.shape[1]


@pytest.mark.parametrize("make", [env1, env2])
def test_colgen_equilibrium_over_the_grid_equals_the_grid_equilibrium(make):
    """The Negishi search over a growing master lands on the grid LP's equilibrium:
    welfare, p0 and aggregate storage K as with every bundle in the LP. Env 2 is the
    degenerate case that needs column generation inside the search's evaluations."""
    e = make()
    g = CollateralGrids.build(e, **MODERATE)
    cg = solve_segregated(e, g, method="colgen-grid")
    full = solve_segregated(e, g, method="grid")
    assert cg.certificate.passed, str(cg.certificate)
    assert cg.objective == pytest.approx(full.objective, abs=1e-8)
    assert cg.prices.p0 == pytest.approx(full.prices.p0, rel=1e-6)
    assert cg.to_dict()["K"] == pytest.approx(full.to_dict()["K"], abs=1e-8)


def test_colgen_env2_equilibrium_is_certified():
    """KT Env 2 (two states, symmetric types) by column generation with a and c0
    continuous: certified, K within Env 2's grid error of the paper's 0.4200."""
    e = env2()
    r = solve_segregated(e, CollateralGrids.build(e, k={"n": 25}, z={"n": 19}, a={"n": 13}, c={"n": 101}),
                         method="colgen")
    assert r.certificate.passed, str(r.certificate)
    assert np.max(np.abs(r.lump_sum)) < 1e-7
    assert r.to_dict()["K"] == pytest.approx(0.42, abs=0.01)


def test_pricing_matches_explicit_reduced_costs():
    """The closed-form best a of colgen.best_security is at least as good as every a on a
    fine explicit grid, at the same duals (reduced costs computed as c - A'y)."""
    e = env1()
    g = CollateralGrids.build(e, c={"n": 21}, k={"min": 0, "max": 2, "n": 5}, z={"min": 0.7, "max": 1.0, "n": 4},
                              a={"min": -1, "max": 1, "n": 401})
    w = np.array([1.5, 0.5])
    prog = build_program2(e, g, w)
    y = solve(prog.lp).row_dual
    rc_all = prog.lp.c - prog.lp.A.T @ y
    rb = prog.lp.row_blocks
    for h in range(2):
        ki, zi, a, rc = colgen.best_security(e, g, y, rb, h, 0, w[h], g.a.max())
        blk = prog.block(f"x1[{h},0]")
        st = prog.columns[h].x1[0]
        best_grid = np.full((g.k.size, g.z[0].size), -np.inf)
        np.maximum.at(best_grid, (st["k_idx"], st["z_idx"]), rc_all[blk.slice])
        assert np.all(rc.reshape(best_grid.shape) >= best_grid - 1e-10)
        # and where the continuous optimum lies inside the grid's a range, a grid with
        # step 0.005 gets within O(step^2) of it
        inside = (a >= g.a.min()).reshape(best_grid.shape)
        assert np.max((rc.reshape(best_grid.shape) - best_grid)[inside]) < 1e-5


def test_colgen_equilibrium_is_certified():
    """Column generation with the Negishi search: an equilibrium without transfers whose
    prices admit no profitable bundle anywhere (a, c0 continuous)."""
    e = env1()
    g = CollateralGrids.build(e, c={"n": 21}, k={"min": 0, "max": 2.5, "n": 11}, z={"min": 0.6, "max": 1.0, "n": 9},
                              a={"min": -1, "max": 1, "n": 3})
    r = solve_segregated(e, g, method="colgen")
    assert r.certificate.passed, str(r.certificate)
    assert np.max(np.abs(r.lump_sum)) < 1e-7
    assert r.lp["colgen_rounds"] >= 2


@pytest.mark.slow
def test_colgen_env3_equilibrium():
    """Three types by column generation: certified (no profitable bundle anywhere, budgets
    balanced), with Table 5's two exchanges and type 1's mixture."""
    e = env3()
    g = CollateralGrids.build(e, k={"min": 0, "max": 12, "n": 49}, z={"min": 0.5, "max": 1.05, "n": 56},
                              a={"min": -3, "max": 3, "n": 13})
    r = solve_segregated(e, g, method="colgen")
    assert r.certificate.passed, str(r.certificate)
    d = r.to_dict()
    # on a grid the continuum's exchange z* may be a lottery over the two grid points
    # around it: cluster active exchanges within one grid step, compare mass-weighted z
    step = np.diff(g.z[0]).max() + 1e-12
    act = sorted((x["z"], x["mass"], x["id"]) for x in d["exchanges"] if x["active"])
    clusters = [[act[0]]]
    for a in act[1:]:
        (clusters[-1].append(a) if a[0] - clusters[-1][-1][0] <= step else clusters.append([a]))
    assert len(clusters) == 2
    zbar = [sum(z * m for z, m, _ in c) / sum(m for _, m, _ in c) for c in clusters]
    assert zbar[0] == pytest.approx(0.6113, abs=0.02) and zbar[1] == pytest.approx(0.8132, abs=0.02)
    low = {i for _, _, i in clusters[0]}
    assert sum(v for k, v in d["types"][0]["shares"].items() if k in low) == pytest.approx(0.1969, abs=0.02)
