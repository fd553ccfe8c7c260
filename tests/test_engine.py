"""The LP engine and its backends: assembly, dual sign conventions, backend agreement,
warm starts, error statuses. Fast (a few seconds): only tiny LPs and a 220-column
Program 2.

Tolerances used below, and why:

* Textbook LPs (exact rational optimum, nondegenerate): 1e-9 absolute on x, duals and
  objective. HiGHS simplex and cvxpy->HiGHS land on the exact vertex (errors ~1e-15);
  CLARABEL is an interior-point method run to gap 1e-10, so its iterates are ~1e-9
  off the vertex: it gets 1e-6.
* Program 2, objective across backends: 1e-7 relative -- the certificate's own
  duality-gap tolerance (segex.certificate.TOL); both solvers run with 1e-9
  feasibility tolerances, so any larger gap is a modelling difference, not noise.
* Program 2, prices on *active* exchanges: 1e-6 absolute on p0 and P_Delta (numeraire
  units, prices are O(1)). A price is a ratio of two duals each accurate to ~1e-9,
  and IPM duals carry ~1e-8 error; 1e-6 leaves head room and is still far below any
  economically meaningful price difference. Inactive exchanges are not compared:
  their duals are not unique (any fee keeping every type out is optimal).
* Warm vs cold HiGHS: 1e-9 relative on the objective (both runs end in a simplex
  basis with 1e-9 tolerances; the same vertex value up to round-off).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from segex.backends import solve
from segex.backends.cvxpy_backend import solve_cvxpy
from segex.backends.highs import HighsSession, solve_highs
from segex.certificate import Certificate, lp_checks
from segex.economies.collateral import CollateralEconomy, CollateralGrids
from segex.economies.collateral.program2 import build_program2
from segex.engine import LP, LPBuilder
from segex.errors import SolveError

INF = np.inf


def make_lp(c, A, row_lb, row_ub, col_lb=None, col_ub=None) -> LP:
    A = sp.csc_matrix(np.asarray(A, dtype=float))
    n = A.shape[1]
    return LP(
        c=np.asarray(c, float),
        A=A,
        col_lb=np.zeros(n) if col_lb is None else np.asarray(col_lb, float),
        col_ub=np.full(n, INF) if col_ub is None else np.asarray(col_ub, float),
        row_lb=np.asarray(row_lb, float),
        row_ub=np.asarray(row_ub, float),
        col_blocks={},
        row_blocks={},
    )


# ---------------------------------------------------------------------------- fixtures
def wyndor(form: str = "le") -> tuple[LP, np.ndarray]:
    """Hillier–Lieberman's Wyndor LP: max 3x + 5y s.t. x <= 4, 2y <= 12, 3x + 2y <= 18.

    Optimum x = (2, 6), value 36, basis {x, y, slack_1} all strictly positive, so the
    vertex is nondegenerate and the duals are unique: (0, 3/2, 1). ``form`` writes the
    same LP with the second row as ``-2y >= -12`` ("ge": its dual d value / d lb is
    -3/2) and the third as a ranged row ``0 <= 3x + 2y <= 18`` (dual 1).
    Returns (lp, expected engine row duals).
    """
    if form == "le":
        return make_lp([3, 5], [[1, 0], [0, 2], [3, 2]], [-INF] * 3, [4, 12, 18]), np.array([0.0, 1.5, 1.0])
    return (make_lp([3, 5], [[1, 0], [0, -2], [3, 2]], [-INF, -12, 0], [4, INF, 18]),
            np.array([0.0, -1.5, 1.0]))


def equality_lp() -> tuple[LP, np.ndarray]:
    """max -x1 - 2 x2 s.t. x1 + x2 = 4, x3 - x2 = -1, x >= 0.

    x2 >= 1 from the second row, value -4 - x2: optimum x = (3, 1, 0), value -5, basis
    {x1, x2} nondegenerate. Duals (d value / d b): -1 (one more unit of x1 costs 1) and
    +1 (b2 -> 0 allows x2 = 0). Reduced cost of x3: 0 - (0, 1).(-1, +1) = -1.
    """
    return make_lp([-1, -2, 0], [[1, 1, 0], [0, -1, 1]], [4, -1], [4, -1]), np.array([-1.0, 1.0])


@pytest.fixture(scope="module")
def econ():
    # Kilenthong–Townsend Environment 1 (two types, one state)
    return CollateralEconomy.create([0.5, 0.5], [[[3, 3], [1, 1]], [[1, 1], [3, 3]]])


@pytest.fixture(scope="module")
def grids(econ):
    return CollateralGrids.build(econ, c={"n": 15}, k={"min": 0, "max": 2, "n": 5},
                                 z={"min": 0.6, "max": 1.0, "n": 5}, a={"min": -1, "max": 1, "n": 3})


def read_back(prog, y):
    """(p0, P_Delta per state) from row duals, as segregated.read_prices does."""
    rb = prog.lp.row_blocks
    g1 = y[rb["good1"].start]
    return y[rb["good2"].start] / g1, [y[rb[f"rights[{s}]"].slice] / g1 for s in range(prog.econ.S)]


def active_exchanges(prog, x, tol=1e-7):
    """Per state, a bool (n_z,) mask: some column of some type in exchange z has x > tol."""
    out = []
    for s in range(prog.econ.S):
        act = np.zeros(prog.grids.z[s].size, bool)
        for h in range(prog.econ.H):
            st = prog.columns[h].x1[s]
            xs = x[prog.block(f"x1[{h},{s}]").slice]
            act[st["z_idx"][xs > tol]] = True
        out.append(act)
    return out


def assert_same_prices(prog, sol_a, sol_b, tol=1e-6):
    p0a, Pa = read_back(prog, sol_a.row_dual)
    p0b, Pb = read_back(prog, sol_b.row_dual)
    assert p0a == pytest.approx(p0b, abs=tol)
    act = active_exchanges(prog, sol_a.x)
    assert any(a.any() for a in act)
    for s, a in enumerate(act):
        np.testing.assert_allclose(Pa[s][a], Pb[s][a], atol=tol, rtol=0)


def normalised_dual_range(lp: LP, opt: float, rows, norm_row: int) -> np.ndarray:
    """Range of y_r / y_norm over the optimal dual face of max c'x, Ax = b, x >= 0.

    Face: A'y >= c, b'y <= opt. The ratio is linear-fractional; with u = t y,
    u_norm = 1 (Charnes–Cooper) it is the LP  min/max u_r  s.t.  A'u >= t c,
    b'u <= t opt, t >= 0. Returns (len(rows), 2) of [min, max].
    """
    m, n = lp.A.shape
    b = lp.row_ub
    gap = 1e-9 * (1 + abs(opt))
    top = sp.hstack([lp.A.T, sp.csr_matrix(-lp.c.reshape(-1, 1))])
    mid = sp.hstack([sp.csr_matrix(b.reshape(1, -1)), sp.csr_matrix([[-(opt + gap)]])])
    e = np.zeros((1, m + 1))
    e[0, norm_row] = 1
    M = sp.vstack([top, mid, sp.csr_matrix(e)]).tocsc()
    col_lb = np.full(m + 1, -INF)
    col_lb[-1] = 0
    out = np.zeros((len(rows), 2))
    for i, r in enumerate(rows):
        for j, sgn in enumerate((-1.0, 1.0)):
            cc = np.zeros(m + 1)
            cc[r] = sgn
            face = LP(c=cc, A=M, col_lb=col_lb, col_ub=np.full(m + 1, INF),
                      row_lb=np.r_[np.zeros(n), -INF, 1.0], row_ub=np.r_[np.full(n, INF), 0.0, 1.0],
                      col_blocks={}, row_blocks={})
            try:
                out[i, j] = sgn * solve_highs(face).objective
            except SolveError as exc:
                assert exc.status == "unbounded"
                out[i, j] = sgn * INF
    return out


# --------------------------------------------------------------------- LPBuilder assembly
def test_builder_dense_and_ragged_blocks():
    b = LPBuilder()
    r1 = b.add_rows("r1", lb=1.0, ub=1.0)
    r2 = b.add_rows("r2", coords={"z": [0.5, 0.7, 0.9]}, lb=-INF, ub=[1.0, 2.0, 3.0])
    dense = b.add_cols("d", np.arange(6.0).reshape(2, 3), coords={"i": [10, 20], "j": ["a", "b", "c"]})
    rag = b.add_cols("g", [7.0, 8.0], labels={"k_idx": np.array([0, 2])}, ub=5.0)
    # duplicates are summed: two terms on (r1, d[1,2]), and a term cancelled to zero is dropped
    b.add_terms(r1.start, dense.index(1, 2), 1.5)
    b.add_terms(r1.start, dense.index(1, 2), 2.5)
    b.add_terms(r2.start + np.arange(3), dense.index(0, np.arange(3)), [1.0, 2.0, 3.0])
    b.add_terms(r2.start + 2, rag.all(), [4.0, -1.0])
    b.add_terms(r2.start + 2, rag.start + 1, 1.0)  # cancels the -1.0
    lp = b.build()

    assert lp.shape == (4, 8)
    assert (dense.start, dense.stop, dense.shape, dense.dims) == (0, 6, (2, 3), ("i", "j"))
    assert (rag.start, rag.size) == (6, 2)
    assert dense.index(1, 2) == 5
    np.testing.assert_array_equal(dense.index([0, 1], [1, 0]), [1, 3])
    with pytest.raises(TypeError):
        rag.index(0)
    A = lp.A.toarray()
    assert A[0, 5] == 4.0
    np.testing.assert_array_equal(A[1:, :3], np.diag([1.0, 2.0, 3.0]))
    assert A[3, 6] == 4.0 and A[3, 7] == 0.0
    assert lp.A.nnz == 5  # the cancelled entry is not stored
    assert lp.stats == {"rows": 4, "cols": 8, "nnz": 5}
    np.testing.assert_array_equal(lp.c, [0, 1, 2, 3, 4, 5, 7, 8])
    np.testing.assert_array_equal(lp.col_ub, [INF] * 6 + [5, 5])
    np.testing.assert_array_equal(lp.row_lb, [1, -INF, -INF, -INF])
    np.testing.assert_array_equal(lp.row_ub, [1, 1, 2, 3])
    assert set(lp.col_blocks) == {"d", "g"} and set(lp.row_blocks) == {"r1", "r2"}
    assert r2.slice == slice(1, 4)

    da = dense.to_dataarray(np.arange(8.0) * 10)
    assert da.dims == ("i", "j") and da.shape == (2, 3)
    assert list(da.coords["i"].values) == [10, 20] and list(da.coords["j"].values) == ["a", "b", "c"]
    assert float(da.sel(i=20, j="c")) == 50.0
    dg = rag.to_dataarray(np.arange(8.0))
    assert dg.dims == ("element",) and list(dg.values) == [6.0, 7.0]


def test_builder_rejects_bad_blocks():
    b = LPBuilder()
    b.add_cols("x", [1.0, 2.0])
    with pytest.raises(ValueError):
        b.add_cols("x", [1.0])
    with pytest.raises(ValueError):
        b.add_cols("y", [1.0, 2.0, 3.0], coords={"i": [0, 1]})


# -------------------------------------------------------------------- HiGHS sign convention
@pytest.mark.parametrize("form", ["le", "ge-ranged"])
def test_highs_duals_textbook(form):
    lp, y_expected = wyndor(form)
    sol = solve_highs(lp)
    assert sol.objective == pytest.approx(36.0, abs=1e-9)
    np.testing.assert_allclose(sol.x, [2.0, 6.0], atol=1e-9)
    np.testing.assert_allclose(sol.row_dual, y_expected, atol=1e-9)
    np.testing.assert_allclose(sol.col_dual, [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(sol.col_dual, lp.c - lp.A.T @ sol.row_dual, atol=1e-12)
    cert = Certificate()
    lp_checks(cert, lp, sol.x, sol.row_dual)
    assert cert.passed, str(cert)
    assert cert.checks["duality_gap"].residual < 1e-12
    assert sol.dual_objective(lp) == pytest.approx(36.0, abs=1e-9)
    # a mis-signed dual vector is caught by the certificate
    bad = Certificate()
    lp_checks(bad, lp, sol.x, -sol.row_dual)
    assert not bad.passed


@pytest.mark.parametrize("backend", ["highs", "cvxpy"])
def test_row_dual_is_derivative_of_value(backend):
    """Finite differences: row_dual[r] = d value / d (binding bound of r), by definition."""
    lp, _ = wyndor("ge-ranged")
    base = solve(lp, backend=backend)
    eps = 1e-3  # the basis stays optimal for |eps| < 2 on every row, so the difference is exact
    for r in range(lp.A.shape[0]):
        pert = make_lp(lp.c, lp.A.toarray(), lp.row_lb.copy(), lp.row_ub.copy())
        bound = pert.row_ub if base.row_dual[r] > 0 else pert.row_lb
        if not np.isfinite(bound[r]):  # non-binding row: dual 0, nothing to perturb
            assert base.row_dual[r] == pytest.approx(0.0, abs=1e-9)
            continue
        bound[r] += eps
        fd = (solve(pert, backend=backend).objective - base.objective) / eps
        assert fd == pytest.approx(base.row_dual[r], abs=1e-6)


def test_highs_duals_equality_lp():
    lp, y_expected = equality_lp()
    sol = solve_highs(lp)
    assert sol.objective == pytest.approx(-5.0, abs=1e-9)
    np.testing.assert_allclose(sol.x, [3.0, 1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(sol.row_dual, y_expected, atol=1e-9)
    np.testing.assert_allclose(sol.col_dual, [0.0, 0.0, -1.0], atol=1e-9)
    cert = Certificate()
    lp_checks(cert, lp, sol.x, sol.row_dual)
    assert cert.passed, str(cert)


# --------------------------------------------------------------------- cvxpy vs HiGHS
@pytest.mark.parametrize("solver,tol", [(None, 1e-9), ("CLARABEL", 1e-6)])
@pytest.mark.parametrize("which", ["le", "ge-ranged", "equality"])
def test_cvxpy_agrees_with_highs_small(which, solver, tol):
    lp, y_expected = equality_lp() if which == "equality" else wyndor(which)
    h = solve_highs(lp)
    v = solve_cvxpy(lp, solver=solver)
    assert v.backend == "cvxpy" and v.status == "optimal"
    assert v.objective == pytest.approx(h.objective, abs=tol)
    np.testing.assert_allclose(v.x, h.x, atol=tol)
    np.testing.assert_allclose(v.row_dual, h.row_dual, atol=tol)
    np.testing.assert_allclose(v.row_dual, y_expected, atol=tol)
    np.testing.assert_allclose(v.col_dual, h.col_dual, atol=tol)
    assert v.info["compile_s"] >= 0 and v.solve_s >= 0


def test_cvxpy_agrees_with_highs_program2(econ, grids):
    prog = build_program2(econ, grids, [1.0, 1.0])
    h = solve_highs(prog.lp)
    v = solve(prog.lp, backend="cvxpy")  # default solver: HiGHS through cvxpy
    assert v.info["solver"] == "HIGHS"
    assert v.objective == pytest.approx(h.objective, rel=1e-7)
    assert_same_prices(prog, h, v)
    cert = Certificate()
    lp_checks(cert, prog.lp, np.maximum(v.x, 0), v.row_dual)
    assert cert.passed, str(cert)


def test_cvxpy_interior_point_agrees_on_unique_prices(econ, grids):
    """A genuinely different algorithm (CLARABEL, interior point) at weights where two
    exchanges are active: P_Delta there is unique (dual face range ~0) and agrees."""
    prog = build_program2(econ, grids, [1.5, 0.5])
    h = solve_highs(prog.lp)
    v = solve_cvxpy(prog.lp, solver="CLARABEL")
    assert v.objective == pytest.approx(h.objective, rel=1e-7)
    act = active_exchanges(prog, h.x)[0]
    assert act.sum() == 2
    assert_same_prices(prog, h, v)


def test_single_active_exchange_fee_not_unique(econ, grids):
    """At equal weights only one exchange is active and its P_Delta is *not* unique:
    the optimal dual face spans an interval of fees. cvxpy->HiGHS matches the HiGHS
    vertex (same algorithm), an interior-point solver may return another point of the
    face; both are certified optimal, and p0 (unique) agrees."""
    prog = build_program2(econ, grids, [1.0, 1.0])
    lp, rb = prog.lp, prog.lp.row_blocks
    h = solve_highs(lp)
    act = np.nonzero(active_exchanges(prog, h.x)[0])[0]
    assert act.size == 1
    rows = [rb["good2"].start, rb["rights[0]"].start + act[0]]
    rng = normalised_dual_range(lp, h.objective, rows, rb["good1"].start)
    assert rng[0, 1] - rng[0, 0] < 1e-6  # p0 unique
    assert rng[1, 1] - rng[1, 0] > 0.1  # P_Delta on the active exchange is an interval
    v = solve_cvxpy(lp, solver="CLARABEL")
    for sol in (h, v):
        cert = Certificate()
        lp_checks(cert, lp, np.maximum(sol.x, 0), sol.row_dual)
        assert cert.passed, str(cert)
        p0, P = read_back(prog, sol.row_dual)
        assert p0 == pytest.approx(read_back(prog, h.row_dual)[0], abs=1e-6)
        assert rng[1, 0] - 1e-6 <= P[0][act[0]] <= rng[1, 1] + 1e-6


# ------------------------------------------------------------------------- warm start
def test_warm_start_matches_cold(econ, grids):
    prog = build_program2(econ, grids, [1.0, 1.0])
    session = HighsSession(prog.lp, solver="ipm")
    first = session.run()
    assert first.status == "optimal"
    prog.set_weights([1.5, 0.5])
    session.set_cost(prog.lp.c)
    warm = session.run()
    cold = solve_highs(prog.lp)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert warm.objective != pytest.approx(first.objective, rel=1e-6)  # the weights did change the LP
    assert_same_prices(prog, warm, cold)
    cert = Certificate()
    lp_checks(cert, prog.lp, warm.x, warm.row_dual)
    assert cert.passed, str(cert)


# -------------------------------------------------------------------------- failures
def infeasible_lp():
    return make_lp([1, 1], [[1, 1]], [-INF], [-1])  # x1 + x2 <= -1, x >= 0


def unbounded_lp():
    return make_lp([1, 0], [[1, -1]], [-INF], [1])  # max x1, x1 - x2 <= 1


@pytest.mark.parametrize("backend,opts", [("highs", {}), ("highs", {"presolve": "off"}), ("cvxpy", {}),
                                          ("cvxpy", {"solver": "CLARABEL"})])
def test_infeasible_and_unbounded_status(backend, opts):
    with pytest.raises(SolveError) as exc:
        solve(infeasible_lp(), backend=backend, **opts)
    assert exc.value.status == "infeasible"
    with pytest.raises(SolveError) as exc:
        solve(unbounded_lp(), backend=backend, **opts)
    assert exc.value.status in ("unbounded", "infeasible_or_unbounded")


def test_stopped_on_a_limit_is_an_error_not_a_solution():
    """A solve stopped by a limit raises with the status named and what to change; no
    LPSolution that looks valid comes back (a time limit of 0 stops before the first
    iteration, on any machine)."""
    from segex.economies.collateral import CollateralGrids
    from segex.economies.collateral.program2 import build_program2
    from segex.economies.collateral.synthetic import random_economy

    e = random_economy(2, 1, seed=0)
    prog = build_program2(e, CollateralGrids.build(e, c={"n": 15}, k={"n": 5}, z={"n": 5}, a={"n": 5}))
    with pytest.raises(SolveError) as exc:
        solve(prog.lp, backend="highs", time_limit=0.0)
    assert exc.value.status == "time_limit"
    assert "time limit" in str(exc.value) and "coarsen the grids or raise the limit" in str(exc.value)


def test_time_limit_is_per_lp_solve_not_per_session():
    """HiGHS's run clock keeps counting across the warm re-solves of one instance; the
    limit must apply to each solve. Warm re-solves at many Pareto weights whose total
    time is several times the limit, each far below it: none may stop."""
    from segex.backends.highs import HighsSession
    from segex.economies.collateral import CollateralGrids
    from segex.economies.collateral.program2 import build_program2
    from segex.economies.collateral.synthetic import random_economy

    e = random_economy(3, 1, seed=2)
    prog = build_program2(e, CollateralGrids.build(e, c={"n": 15}, k={"n": 5}, z={"n": 5}, a={"n": 5}))
    weights = np.random.default_rng(0).uniform(0.5, 2.0, (400, 3))

    def runs(session, n):
        times = []
        for w in weights[:n]:
            prog.set_weights(w)
            session.set_cost(prog.lp.c)
            times.append(session.run().solve_s)
        return np.array(times)

    times = runs(HighsSession(prog.lp), 400)
    limit = 4 * times.max()
    n = int(np.searchsorted(np.cumsum(times), 3 * limit)) + 1  # runs that take 3 limits in total
    assert n <= 400, "calibration: the runs are too uneven for this test"
    runs(HighsSession(prog.lp, time_limit=limit), n)


@pytest.mark.parametrize("backend", ["highs", "cvxpy"])
def test_empty_model(backend):
    lp = LP(c=np.zeros(0), A=sp.csc_matrix((1, 0)), col_lb=np.zeros(0), col_ub=np.zeros(0),
            row_lb=np.zeros(1), row_ub=np.zeros(1), col_blocks={}, row_blocks={})
    with pytest.raises(SolveError) as exc:
        solve(lp, backend=backend)
    assert exc.value.status == "model_empty"


# ------------------------------------------------------------------- solver options
def test_presolve_and_solver_choice_same_objective(econ, grids):
    prog = build_program2(econ, grids, [1.0, 1.0])
    ref = solve_highs(prog.lp).objective
    for presolve in ("on", "off"):
        for solver in ("ipm", "simplex"):
            sol = solve_highs(prog.lp, presolve=presolve, solver=solver)
            # 1e-9 relative: every run ends at an optimal basis (IPM with crossover)
            assert sol.objective == pytest.approx(ref, rel=1e-9), (presolve, solver)


def test_certificate_prints_an_exact_check_that_passed():
    """A check with tol 0 and residual 0 (an exact equality) prints; it used to divide by
    zero (issue 14: print(sp3.certificate) in the README crashed)."""
    from segex.certificate import Certificate

    cert = Certificate()
    cert.add("exact", 0.0, 0.0)
    cert.add("close", 1e-10, 1e-9)
    assert str(cert) == "passed (2 checks; worst residual/tol = 0.1)"
    cert.add("broken", 1e-3, 0.0)
    assert str(cert).startswith("FAILED: broken")


def test_python_m_segex_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "segex", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "solve" in out.stdout
