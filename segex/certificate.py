"""Certificates: named checks, each a residual against a stated tolerance.

A certificate is attached to every solve. LP-level checks here are recomputed from
the matrix, the primal x and the duals y -- not copied from the solver's report --
so they also catch a backend that mis-signs or mis-orders its duals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine.lp import LP, dual_objective

#: Default tolerances and why:
TOL = {
    # HiGHS runs with feasibility tolerances 1e-9 on a problem scaled to O(1); a
    # residual 100x that still means "feasible"; anything near 1e-6 is a real defect.
    "primal_feasibility": 1e-7,
    "dual_feasibility": 1e-7,
    "complementary_slackness": 1e-7,
    # relative gap |c'x - b'y| / (sum_j |c_j x_j| + max|c_j|)
    "duality_gap": 1e-7,
}


#: ``segex check``: saved numbers are float64 written and read back exactly; recomputed sums
#: of many terms differ from the solve-time ones by rounding only: 1e-9 relative.
MATCH_TOL = 1e-9

#: Below this a scale is treated as zero (an all-zero row or objective).
FLOOR = 1e-300


@dataclass
class Check:
    residual: float
    tol: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.residual) and self.residual <= self.tol)

    @property
    def ratio(self) -> float:
        """residual / tol; an exact check (tol 0) passed with residual 0 counts 0."""
        if self.residual == 0:
            return 0.0
        return self.residual / self.tol if self.tol > 0 else np.inf


@dataclass
class Certificate:
    checks: dict = field(default_factory=dict)

    def add(self, name, residual, tol, note=""):
        self.checks[name] = Check(float(residual), float(tol), note)

    def match(self, name, recomputed, saved, tol=MATCH_TOL):
        """Check ``<name>_recomputed``: a number recomputed from a saved result equals the
        saved one, relative to 1 + |saved|."""
        self.add(f"{name}_recomputed", abs(recomputed - saved) / (1.0 + abs(saved)), tol,
                 f"recomputed {recomputed:.12g}, saved {saved:.12g}")

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks.values())

    def to_dict(self) -> dict:
        out = {"passed": self.passed}
        for k, c in self.checks.items():
            out[k] = {"residual": c.residual, "tol": c.tol, "passed": c.passed}
            if c.note:
                out[k]["note"] = c.note
        return out

    def failed(self) -> list:
        return [k for k, c in self.checks.items() if not c.passed]

    def __str__(self):
        if self.passed:
            worst = max((c.ratio for c in self.checks.values()), default=0.0)
            return f"passed ({len(self.checks)} checks; worst residual/tol = {worst:.2g})"
        return "FAILED: " + ", ".join(f"{k} (residual {self.checks[k].residual:.3g} > {self.checks[k].tol:.1g})"
                                      for k in self.failed())


# ------------------------------------------------------------------------------ grid edges
#: A lottery putting more than this probability on a grid's outermost point (or an
#: exchange there) binds the grid. HiGHS's primal feasibility tolerance is 1e-9 on these
#: O(1)-scaled LPs, so a probability below ~1e-9 is rounding; 1e-7 is 100x that and far
#: below any mass that moves an answer.
EDGE_MASS = 1e-7
#: A point beyond a grid's end "would enter" when its reduced cost exceeds the LP's own
#: dual-feasibility tolerance (relative to max|c|); below it the solver could not tell.
GAIN_TOL = TOL["dual_feasibility"]


@dataclass(frozen=True)
class GridEdge:
    """The probability a solution puts on the two outermost points of one grid (or one
    piece of it), for :func:`add_edge_checks`.

    ``grid`` is the grid file's key ("grid.z"), the check is ``edge.<grid>``; ``part``
    names a piece of it ("state 2", "good 1") or is ""; ``lo``, ``hi`` are the grid's
    lowest and highest points (or how far refinement may extend it); ``mass`` is (at lo,
    at hi), the largest probability any type's lottery puts there or beyond
    (:func:`edge_mass`); ``bound`` is, per end, why moving past it cannot gain -- a
    natural bound of the economy (c >= 0; no more storage than the economy holds; no
    exchange beyond it can clear), a choice made continuous -- or None: the end binds.
    ``gain`` is, per end where the economy can price it from the LP's duals, the reduced
    cost (relative to max|c|) of the next point outward at the end's own spacing, or
    None: an end with mass then binds only if that point would enter the LP (a reduced
    cost above :data:`GAIN_TOL`). A grid of one point is a value the grid file fixed,
    never an edge.
    """

    grid: str
    lo: float
    hi: float
    mass: tuple
    part: str = ""
    bound: tuple = (None, None)
    gain: tuple = (None, None)


def edge_mass(values, prob, lo: float, hi: float) -> tuple[float, float]:
    """(probability at or below ``lo``, at or above ``hi``) of the support points
    ``values`` (n,) with probabilities ``prob`` (n,) or (types, n): the largest over
    types. "At" is to 1e-12 of the grid's scale (points are stored as floats)."""
    values = np.asarray(values, float)
    prob = np.atleast_2d(np.asarray(prob, float))
    eps = 1e-12 * max(1.0, abs(lo), abs(hi))
    low = (prob * (values <= lo + eps)).sum(-1).max(initial=0.0)
    high = (prob * (values >= hi - eps)).sum(-1).max(initial=0.0)
    return float(low), float(high)


def add_edge_checks(cert: Certificate, edges, tol: float = EDGE_MASS) -> None:
    """One check ``edge.<grid>`` per grid named in ``edges`` (:class:`GridEdge`): the
    residual is the largest probability on an end that binds, so that the grid may cut
    off the optimum, and the note says which way to widen it.

    An end *binds* when a lottery puts more than ``tol`` on it (or beyond it), it is no
    natural ``bound``, and -- where the economy priced it (``gain``) -- the next point
    outward would enter the LP. Without a price, mass on an end that is not a natural
    bound is the criterion: it is what a grid that cuts the support looks like, at the
    cost of flagging an end a degenerate LP uses without needing it. Mass on an end
    that cannot bind is reported in the note, not counted."""
    for grid in dict.fromkeys(e.grid for e in edges):
        worst, widen, free, ranges = 0.0, [], [], []
        for e in (e for e in edges if e.grid == grid):
            where = f" ({e.part})" if e.part else ""
            if e.lo == e.hi:
                ranges.append(f"{e.lo:g}{where} (one point, fixed in the grid file)")
                continue
            ranges.append(f"[{e.lo:g}, {e.hi:g}]{where}")
            for m, end, way, why, gain in zip(e.mass, (e.lo, e.hi), ("below", "above"), e.bound, e.gain):
                if m <= tol:
                    continue
                if why is None and gain is not None and gain <= GAIN_TOL:
                    why = f"the next point out would not enter (reduced cost {gain:.2g} of max|c|)"
                if why is None:
                    worst = max(worst, m)
                    widen.append(f"probability {m:.3g} at or past {end:g}{where}: widen {grid} {way} {end:g}")
                else:
                    free.append(f"{m:.3g} at or past {end:g}{where} cannot bind: {why}")
        note = "; ".join(widen) if widen else f"no probability on a binding end of {grid} {', '.join(ranges)}"
        cert.add(f"edge.{grid}", worst, tol, note + "".join(f"; {f}" for f in free))


def lp_checks(cert: Certificate, lp: LP, x: np.ndarray, y: np.ndarray, prefix: str = "") -> None:
    """Primal/dual feasibility, complementary slackness and duality gap of (x, y).

    Convention (see :mod:`segex.engine.lp`): max c'x, y = d value / d bound,
    reduced cost d = c - A'y must be <= 0 at x_j = 0 (the only column bound used).
    """
    Ax = lp.A @ x
    # scales are the problem's own, so the checks do not depend on the economy's units: rows
    # against the LP's largest row magnitude (a bound, or the gross volume sum_j |A_rj x_j| of
    # a row such as market clearing whose bound is 0) -- HiGHS's feasibility tolerance is
    # absolute on the O(1)-scaled model, so per-row scales would be spuriously strict on
    # small rows; reduced costs against max|c_j|; the gap against the gross welfare terms
    # sum_j |c_j x_j| plus max|c_j| (the units-free form of the usual 1 + |c'x|). FLOOR keeps
    # an all-zero LP finite.
    volume = np.abs(lp.A) @ np.abs(x)
    bound = np.maximum(np.abs(np.where(np.isfinite(lp.row_ub), lp.row_ub, 0)),
                       np.abs(np.where(np.isfinite(lp.row_lb), lp.row_lb, 0)))
    scale = max(bound.max(initial=0.0), volume.max(initial=0.0), FLOOR)
    viol = np.maximum(np.maximum(lp.row_lb - Ax, Ax - lp.row_ub), 0) / scale
    pviol = max(viol.max(initial=0.0), (-x).max(initial=0.0))
    d = lp.c - lp.A.T @ y
    cscale = max(np.abs(lp.c).max(initial=0.0), FLOOR)
    dviol = np.maximum(d, 0).max(initial=0.0) / cscale
    cs = np.abs(x * d).max(initial=0.0) / cscale
    primal = float(lp.c @ x)
    dual = dual_objective(lp, y, d)
    gap = abs(primal - dual) / max(float(np.abs(lp.c * x).sum()) + abs(lp.offset) + cscale, FLOOR)
    cert.add(prefix + "primal_feasibility", pviol, TOL["primal_feasibility"],
             "max row violation / the LP's largest row magnitude")
    cert.add(prefix + "dual_feasibility", dviol, TOL["dual_feasibility"], "max positive reduced cost / max|c|")
    cert.add(prefix + "complementary_slackness", cs, TOL["complementary_slackness"], "max |x_j d_j| / max|c|")
    cert.add(prefix + "duality_gap", gap, TOL["duality_gap"], f"primal {primal:.10g}, dual {dual:.10g}")
