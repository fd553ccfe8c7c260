"""HiGHS through highspy, fed the CSC matrix directly (no modelling layer).

Sign convention check (highspy 1.16, see tests/test_engine.py): for a *maximisation*
HiGHS reports ``row_dual = d(objective)/d(row bound)`` and ``col_dual = c - A'y``,
which is exactly the engine's convention, so no sign flip is applied here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

from ..engine.diagnose import explain_infeasible
from ..engine.lp import LP, LPSolution
from ..errors import SolveError

_BANNER_SILENCED = False


#: seconds per HiGHS run for sessions opened without their own (see :func:`time_limit`)
_TIME_LIMIT = None


@contextlib.contextmanager
def time_limit(seconds):
    """Every HiGHS run started inside stops after ``seconds`` (None: no limit); a run
    stopped by it raises :class:`SolveError` with status ``time_limit``. ``segex solve``
    sets it from ``solve.time_limit`` / ``--time-limit``."""
    global _TIME_LIMIT
    saved, _TIME_LIMIT = _TIME_LIMIT, seconds
    try:
        yield
    finally:
        _TIME_LIMIT = saved


#: whether HiGHS's own log is shown, on stderr (see :func:`solver_log`)
_LOG = False


@contextlib.contextmanager
def solver_log(enabled: bool = True):
    """Inside, every HiGHS instance (and the cvxpy backend's solver) writes its own log to
    stderr -- presolve, iterations, status -- instead of staying silent; stdout, and so
    ``--json``, is untouched. ``segex solve -v`` / ``segex.solve(..., verbose=True)``."""
    global _LOG
    saved, _LOG = _LOG, bool(enabled)
    try:
        yield
    finally:
        _LOG = saved


def solver_log_enabled() -> bool:
    """True inside :func:`solver_log`."""
    return _LOG


@contextlib.contextmanager
def stdout_to_stderr():
    """Inside, whatever a solver prints on stdout -- Python's or the C-level one -- goes to
    stderr (a solver's log must not corrupt ``--json``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def silent_highs():
    """A silent Highs instance (inside :func:`solver_log`: one logging to stderr). The first
    construction in a process prints a banner on the C-level stdout, which would corrupt
    ``--json`` output (and, on stderr, turn a one-line error into three): send it to the
    null device once."""
    global _BANNER_SILENCED
    import highspy

    if not _BANNER_SILENCED:
        sys.stdout.flush()
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _BANNER_SILENCED = True
    else:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    if _LOG:
        _log_to_stderr(h)
    return h


def _log_to_stderr(h) -> None:
    """HiGHS's log through its logging callback to Python's stderr (its console log would
    go to the C-level stdout). A highspy without callbacks logs to its console instead."""
    h.setOptionValue("output_flag", True)
    callback = getattr(h, "cbLogging", None)
    if callback is None:
        h.setOptionValue("log_to_console", True)
        return
    h.setOptionValue("log_to_console", False)
    callback.subscribe(lambda event: sys.stderr.write(event.message))


def _status_names():
    import highspy

    S = highspy.HighsModelStatus
    return {
        S.kOptimal: "optimal",
        S.kInfeasible: "infeasible",
        S.kUnbounded: "unbounded",
        S.kUnboundedOrInfeasible: "infeasible_or_unbounded",
        S.kTimeLimit: "time_limit",
        S.kIterationLimit: "iteration_limit",
        S.kObjectiveBound: "objective_bound",
        S.kObjectiveTarget: "objective_target",
        S.kSolutionLimit: "solution_limit",
        S.kInterrupt: "interrupted",
        S.kMemoryLimit: "memory_limit",
        S.kNotset: "not_set",
        S.kLoadError: "load_error",
        S.kModelError: "model_error",
        S.kPresolveError: "presolve_error",
        S.kSolveError: "solve_error",
        S.kPostsolveError: "postsolve_error",
        S.kModelEmpty: "model_empty",
        S.kUnknown: "unknown",
    }


#: Objectives whose largest coefficient is below this are lifted to O(1) (objective_scale).
LIFT_BELOW = 1e-2


def objective_scale(c: np.ndarray) -> float:
    """1 / max|c| when max|c| < LIFT_BELOW, else 1. HiGHS's dual tolerances (1e-9) are
    absolute: below 1e-2 they are looser than the certificate's 1e-7 relative to the
    objective, and CRRA 3 with endowments of 1e3 (utilities ~1e-6) came out up to 3.4e-3
    suboptimal (tests/test_properties.py); such an objective is passed at O(1) and the
    objective and duals are scaled back on return. Others are left alone: rescaling them
    changes which of many optimal vertices HiGHS returns (measured: KT Environment 3's
    polish path no longer converged with every objective rescaled to max|c| = 1)."""
    m = float(np.abs(c).max(initial=0.0))
    return 1.0 / m if 0 < m < LIFT_BELOW and np.isfinite(m) else 1.0


def to_highs_lp(lp: LP, c_scale: float = 1.0):
    """The engine LP as a ``highspy.HighsLp`` (column-wise CSC, maximise), its objective
    multiplied by ``c_scale``."""
    import highspy

    inf = highspy.kHighsInf
    A = lp.A.tocsc()
    hlp = highspy.HighsLp()
    hlp.num_col_ = int(A.shape[1])
    hlp.num_row_ = int(A.shape[0])
    hlp.col_cost_ = np.ascontiguousarray(lp.c * c_scale, dtype=np.float64)
    hlp.col_lower_ = np.where(np.isfinite(lp.col_lb), lp.col_lb, -inf).astype(np.float64)
    hlp.col_upper_ = np.where(np.isfinite(lp.col_ub), lp.col_ub, inf).astype(np.float64)
    hlp.row_lower_ = np.where(np.isfinite(lp.row_lb), lp.row_lb, -inf).astype(np.float64)
    hlp.row_upper_ = np.where(np.isfinite(lp.row_ub), lp.row_ub, inf).astype(np.float64)
    hlp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    # HiGHS wants int32 index arrays; a wrong dtype can fail silently, so cast explicitly
    hlp.a_matrix_.start_ = A.indptr.astype(np.int32)
    hlp.a_matrix_.index_ = A.indices.astype(np.int32)
    hlp.a_matrix_.value_ = A.data.astype(np.float64)
    hlp.sense_ = highspy.ObjSense.kMaximize
    hlp.offset_ = float(lp.offset) * c_scale
    return hlp


class HighsSession:
    """A HiGHS instance holding one LP, re-solved after objective changes.

    HiGHS keeps the optimal basis between runs, so a re-solve after
    :meth:`set_cost` is a warm-started simplex (Negishi steps change only the
    Pareto weights, i.e. the costs). Tested: warm and cold solves agree.
    """

    def __init__(self, lp: LP, presolve="choose", solver="choose", tol=1e-9, time_limit=None, threads=None,
                 diagnose=True):
        import highspy

        if lp.A.shape[1] == 0:
            raise SolveError("model_empty", "the LP has no columns; check the grids")
        self.lp = lp
        self.h = h = silent_highs()
        h.setOptionValue("presolve", presolve)
        h.setOptionValue("solver", solver)
        h.setOptionValue("primal_feasibility_tolerance", tol)
        h.setOptionValue("dual_feasibility_tolerance", tol)
        h.setOptionValue("random_seed", 0)
        if threads is not None:
            h.setOptionValue("threads", int(threads))
        # HiGHS's run clock keeps counting across the runs of one instance, so the
        # limit is re-based on it before every run (:meth:`run`): a limit per LP solve
        self.time_limit = _TIME_LIMIT if time_limit is None else time_limit
        self.c_scale = objective_scale(lp.c)
        self.diagnose = diagnose  # explain an infeasible LP (off for the diagnosis's own LP)
        if h.passModel(to_highs_lp(lp, self.c_scale)) == highspy.HighsStatus.kError:
            raise SolveError("load_error", "HiGHS rejected the model (check matrix dimensions and dtypes)")
        self.runs = 0

    def set_cost(self, c: np.ndarray) -> None:
        """Replace the objective; the next :meth:`run` warm-starts from the last basis."""
        c = np.ascontiguousarray(c, dtype=np.float64)
        self.lp.c = c
        n = c.size
        self.c_scale = objective_scale(c)  # a positive rescaling keeps the basis optimal-or-not
        self.h.changeColsCost(n, np.arange(n, dtype=np.int32), c * self.c_scale)
        if self.lp.offset:
            self.h.changeObjectiveOffset(float(self.lp.offset) * self.c_scale)
        if self.runs:
            # later runs: dual simplex from the kept basis (IPM would start cold)
            self.h.setOptionValue("solver", "simplex")

    def set_basis(self, basis) -> None:
        self.h.setBasis(basis)

    def add_rows(self, A, lb, ub) -> None:
        """Append rows (a sparse matrix over the LP's columns, row bounds); the next
        :meth:`run` warm-starts from the kept basis (lazy constraint generation)."""
        import scipy.sparse as sp

        import highspy

        A = sp.csr_matrix(A)
        lb, ub = np.asarray(lb, dtype=np.float64), np.asarray(ub, dtype=np.float64)
        status = self.h.addRows(A.shape[0], lb, ub, A.nnz, A.indptr[:-1].astype(np.int32),
                                A.indices.astype(np.int32), A.data.astype(np.float64))
        if status == highspy.HighsStatus.kError:
            raise SolveError("load_error", "HiGHS rejected the added rows (check their dimensions and dtypes)")
        lp = self.lp
        lp.A = sp.vstack([lp.A, A]).tocsc()
        lp.row_lb, lp.row_ub = np.concatenate([lp.row_lb, lb]), np.concatenate([lp.row_ub, ub])
        if self.runs:
            self.h.setOptionValue("solver", "simplex")

    def run(self) -> LPSolution:
        h = self.h
        if self.time_limit is not None:
            h.setOptionValue("time_limit", h.getRunTime() + float(self.time_limit))
        t0 = time.perf_counter()
        h.run()
        solve_s = time.perf_counter() - t0
        self.runs += 1
        name = _status_names().get(h.getModelStatus(), "unknown")
        if name != "optimal":
            message = _explain(name)
            if self.diagnose and name in ("infeasible", "infeasible_or_unbounded"):
                message = f"{message}; {explain_infeasible(self.lp, _phase1_solve)}"
            raise SolveError(name, message)
        sol = h.getSolution()
        info = h.getInfo()
        x = np.asarray(sol.col_value, dtype=float)
        y = np.asarray(sol.row_dual, dtype=float) / self.c_scale  # back to the economy's units
        d = np.asarray(sol.col_dual, dtype=float) / self.c_scale
        if x.size != self.lp.A.shape[1] or y.size != self.lp.A.shape[0] or not sol.dual_valid:
            raise SolveError("solve_error", "HiGHS reported optimal but returned no valid primal/dual vectors")
        return LPSolution(
            status=name,
            objective=float(info.objective_function_value) / self.c_scale,
            x=x,
            row_dual=y,
            col_dual=d,
            solve_s=solve_s,
            backend="highs",
            row_activity=np.asarray(sol.row_value, dtype=float),
            basis=h.getBasis(),
            info={
                "simplex_iterations": int(info.simplex_iteration_count),
                "ipm_iterations": int(info.ipm_iteration_count),
                "max_primal_infeasibility": float(info.max_primal_infeasibility),
                "max_dual_infeasibility": float(info.max_dual_infeasibility),
            },
        )


def solve_highs(lp: LP, warm_basis=None, **options) -> LPSolution:
    """Solve once with HiGHS; raise :class:`SolveError` unless the model status is optimal.

    Options (see :class:`HighsSession`): ``presolve`` "choose" | "on" | "off"
    (presolve can cost more than it saves on very wide lottery LPs; benchmarks/
    measures both), ``solver`` "choose" | "simplex" | "ipm" | "pdlp", ``tol``
    (primal and dual feasibility), ``time_limit``, ``threads``, ``diagnose`` (name the
    conflicting constraint families of an infeasible LP, default on). ``warm_basis`` is a
    ``highspy.HighsBasis`` from a solve of an LP with the same rows and columns.
    """
    session = HighsSession(lp, **options)
    if warm_basis is not None:
        session.set_basis(warm_basis)
    return session.run()


def _phase1_solve(lp: LP) -> LPSolution:
    """The diagnosis's relaxation, solved with presolve and not itself diagnosed."""
    return solve_highs(lp, presolve="on", diagnose=False)


def _explain(status: str) -> str:
    return {
        "infeasible": "no lottery on these grids satisfies every constraint",
        "unbounded": "the objective is unbounded; a grid point gives infinite utility (consumption at 0?)",
        "infeasible_or_unbounded": "HiGHS could not tell infeasible from unbounded; rerun with presolve off",
        "time_limit": "stopped at the time limit before optimality (solve.time_limit / --time-limit, seconds "
                      "per LP); coarsen the grids or raise the limit",
        "iteration_limit": "stopped at the iteration limit before optimality",
        "memory_limit": "ran out of memory; coarsen the grids",
    }.get(status, "the solver did not reach an optimal solution")
