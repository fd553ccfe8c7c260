"""cvxpy cross-check backend: the engine LP rebuilt as a cvxpy problem.

This path exists to *cross-check* the direct HiGHS backend on small problems (a
second modelling route to the same numbers); it is not meant for production grids:
cvxpy's canonicalisation adds ~5-7x the segex build time and ~1.7x its Python memory
on top of the assembled LP, and through the cvxpy layer no warm start is kept
between solves (``benchmarks/bench_lp.py`` measures the first two). Tolerances are set to the
HiGHS backend's 1e-9 (see ``_DEFAULT_OPTS``).

Duals of degenerate LPs are not unique. With the default solver (HiGHS simplex via
cvxpy) the duals matched the HiGHS backend's vertex in every test; an interior-point solver such as
CLARABEL returns another point of the optimal dual face (e.g. a different fee
P_Delta on an exchange that is the only active one), equally certified by
:func:`segex.certificate.lp_checks`.

The problem is built *from the assembled* :class:`~segex.engine.LP` (not from the
economy), so both backends see exactly the same matrix:

* ``x = cp.Variable(n)``;
* rows with ``row_lb == row_ub`` as one constraint ``A_eq @ x == b``;
* the remaining finite upper bounds as ``A_le @ x <= ub`` and finite lower bounds as
  ``A_ge @ x >= lb`` (a ranged row appears in both; a free row in neither);
* finite column bounds as ``x[i] >= col_lb[i]`` / ``x[i] <= col_ub[i]``;
* objective ``Maximize(c @ x)`` (plus ``lp.offset``).

Dual sign convention (checked empirically with cvxpy 1.9.3 on the solvers HIGHS and
CLARABEL, on LPs whose duals are known in closed form; asserted in
``tests/test_engine.py`` against :func:`segex.backends.highs.solve_highs`):

* for ``Maximize``, the ``dual_value`` of ``A_le @ x <= ub`` is ``>= 0`` and equals
  ``d value / d ub`` -- already the engine convention;
* the ``dual_value`` of ``A_ge @ x >= lb`` is also reported ``>= 0`` (cvxpy treats
  every inequality as ``g(x) <= 0`` with a nonnegative multiplier), but raising ``lb``
  *tightens* the row, so ``d value / d lb = -dual_value``: **flipped** here;
* the ``dual_value`` of ``A_eq @ x == b`` (written in that order) equals
  ``d value / d b`` with either sign: kept as is. HiGHS reports the same number for
  an equality row, so the two backends agree with no flip on equalities.

So, relative to HiGHS (which reports ``d value / d bound`` on every row of a
maximisation), only cvxpy's ``>=`` rows differ in sign. (For a *minimisation* cvxpy
reports ``-d value / d b`` on equalities and ``+d value / d lb >= 0`` on ``>=`` rows:
it flips its equality duals when it turns ``Maximize`` into ``Minimize(-f)``, which is
why the equality rows need no flip here. This backend always maximises.) The engine
row dual of a ranged row is ``y_le - y_ge`` (at most one of them is nonzero at an
optimum). ``col_dual = c - A' row_dual`` is recomputed from the matrix, not read
from cvxpy.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from ..engine.lp import LP, LPSolution
from ..errors import SolveError

#: Default options per solver: tolerances matched to the HiGHS backend (1e-9
#: feasibility) so that cross-checks can be tight. Overridden by ``**opts``.
_DEFAULT_OPTS = {
    "HIGHS": {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9},
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10},
}


def _status_map(cp):
    return {
        cp.OPTIMAL: "optimal",
        cp.INFEASIBLE: "infeasible",
        cp.UNBOUNDED: "unbounded",
        cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
        cp.INFEASIBLE_INACCURATE: "infeasible_inaccurate",
        cp.UNBOUNDED_INACCURATE: "unbounded_inaccurate",
        getattr(cp, "INFEASIBLE_OR_UNBOUNDED", "infeasible_or_unbounded"): "infeasible_or_unbounded",
        cp.USER_LIMIT: "user_limit",
        cp.SOLVER_ERROR: "solve_error",
    }


_EXPLAIN = {
    "infeasible": "no point satisfies every constraint (cvxpy backend)",
    "unbounded": "the objective is unbounded above (cvxpy backend)",
    "infeasible_or_unbounded": "the solver could not tell infeasible from unbounded (cvxpy backend)",
    "optimal_inaccurate": "the solver stopped near, but not at, an optimum; tighten tolerances or use "
    "backend='highs'",
    "infeasible_inaccurate": "the solver found the problem probably infeasible (inaccurate)",
    "unbounded_inaccurate": "the solver found the problem probably unbounded (inaccurate)",
    "user_limit": "stopped at a user limit (time or iterations)",
    "solve_error": "the solver failed",
}


def default_solver() -> str:
    """``"HIGHS"`` when cvxpy can call it, else ``"CLARABEL"``."""
    import cvxpy as cp

    return "HIGHS" if "HIGHS" in cp.installed_solvers() else "CLARABEL"


def build_cvxpy(lp: LP):
    """The engine LP as ``(problem, x, constraints)``; ``constraints`` maps
    ``"eq" | "le" | "ge"`` to ``(cvxpy constraint or None, row indices)``."""
    import cvxpy as cp

    A = lp.A.tocsr()
    m, n = A.shape
    x = cp.Variable(n, name="x")
    lb = np.asarray(lp.row_lb, float)
    ub = np.asarray(lp.row_ub, float)
    eq = np.isfinite(lb) & np.isfinite(ub) & (lb == ub)
    le = np.nonzero(~eq & np.isfinite(ub))[0]
    ge = np.nonzero(~eq & np.isfinite(lb))[0]
    eq = np.nonzero(eq)[0]
    cons = {}
    constraints = []
    for name, rows, rhs in (("eq", eq, lb), ("le", le, ub), ("ge", ge, lb)):
        if rows.size == 0:
            cons[name] = (None, rows)
            continue
        expr = A[rows] @ x
        con = {"eq": lambda e, b: e == b, "le": lambda e, b: e <= b, "ge": lambda e, b: e >= b}[name](expr, rhs[rows])
        cons[name] = (con, rows)
        constraints.append(con)
    clb = np.asarray(lp.col_lb, float)
    cub = np.asarray(lp.col_ub, float)
    fl = np.nonzero(np.isfinite(clb))[0]
    fu = np.nonzero(np.isfinite(cub))[0]
    if fl.size == n:
        constraints.append(x >= clb)
    elif fl.size:
        constraints.append(x[fl] >= clb[fl])
    if fu.size == n:
        constraints.append(x <= cub)
    elif fu.size:
        constraints.append(x[fu] <= cub[fu])
    obj = cp.Maximize(np.asarray(lp.c, float) @ x + float(lp.offset))
    return cp.Problem(obj, constraints), x, cons


def solve_cvxpy(lp: LP, solver: str | None = None, **opts) -> LPSolution:
    """Solve ``lp`` through cvxpy (cross-check path for small problems).

    ``solver``: any cvxpy LP solver name; default ``"HIGHS"`` if cvxpy can use it,
    else ``"CLARABEL"``. ``**opts`` go to ``Problem.solve`` (solver options), on top
    of tolerances matched to the HiGHS backend. Raises :class:`SolveError` unless
    cvxpy reports ``optimal`` (``optimal_inaccurate`` is an error too).

    ``info``: ``compile_s`` (build the cvxpy problem and canonicalise it with
    ``get_problem_data``), ``solver``, ``cvxpy_status``, ``solver_time_s`` (the
    solver's own time), ``num_iters``, row counts by kind. ``solve_s`` is the wall
    time of ``prob.solve`` (the canonicalisation is cached by then, so this is mostly
    the solver plus cvxpy's unpacking of the solution).
    """
    import cvxpy as cp

    m, n = lp.A.shape
    if n == 0:
        raise SolveError("model_empty", "the LP has no columns; check the grids")
    solver = solver or default_solver()
    options = dict(_DEFAULT_OPTS.get(solver.upper(), {}))
    options.update(opts)

    if solver.upper() == "HIGHS":
        # the first HiGHS instance of a process prints a banner on C-level stdout;
        # let the HiGHS backend's silenced constructor take it (keeps --json clean)
        from .highs import silent_highs

        silent_highs()
    from .highs import solver_log_enabled, stdout_to_stderr

    log = solver_log_enabled()  # segex solve -v: cvxpy's and the solver's log, on stderr
    if log:
        options.setdefault("verbose", True)

    t0 = time.perf_counter()
    prob, x, cons = build_cvxpy(lp)
    try:
        prob.get_problem_data(solver)
    except cp.error.SolverError as exc:
        raise SolveError("load_error", f"cvxpy cannot pass the LP to {solver}: {exc}") from exc
    compile_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    try:
        with stdout_to_stderr() if log else contextlib.nullcontext():
            prob.solve(solver=solver, **options)
    except cp.error.SolverError as exc:
        raise SolveError("solve_error", f"{solver} via cvxpy failed: {exc}") from exc
    solve_s = time.perf_counter() - t1

    status = _status_map(cp).get(prob.status, str(prob.status))
    if status != "optimal":
        raise SolveError(status, _EXPLAIN.get(status, f"cvxpy status {prob.status!r}"))
    xv = np.asarray(x.value, dtype=float).ravel()

    # duals -> engine convention y = d value / d bound (see module docstring)
    y = np.zeros(m)
    for name, sign in (("eq", 1.0), ("le", 1.0), ("ge", -1.0)):
        con, rows = cons[name]
        if con is None:
            continue
        dv = con.dual_value
        if dv is None:
            raise SolveError("solve_error", f"{solver} via cvxpy returned no dual values")
        y[rows] += sign * np.asarray(dv, dtype=float).ravel()
    col_dual = np.asarray(lp.c, float) - lp.A.T @ y

    stats = prob.solver_stats
    return LPSolution(
        status="optimal",
        objective=float(prob.value),
        x=xv,
        row_dual=y,
        col_dual=col_dual,
        solve_s=solve_s,
        backend="cvxpy",
        row_activity=lp.A @ xv,
        info={
            "compile_s": compile_s,
            "solver": solver,
            "cvxpy_status": prob.status,
            "solver_time_s": getattr(stats, "solve_time", None),
            "num_iters": getattr(stats, "num_iters", None),
            "rows_eq": int(cons["eq"][1].size),
            "rows_le": int(cons["le"][1].size),
            "rows_ge": int(cons["ge"][1].size),
        },
    )


__all__ = ["solve_cvxpy", "build_cvxpy", "default_solver"]
