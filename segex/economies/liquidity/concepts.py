"""The solution concepts of FGT (SP1, SP2, CE3, SP3) and of Kilenthong–Townsend Section 3
(``externality``, ``segregated``) for one economy, each a certified result object with
``to_dict()`` (the JSON of ``segex solve``) and ``to_dataset()``.

=============  ====================================================================
SP1            types observable (closed form, :func:`.reduced.sp1`)
SP2            types private, no hidden trades: lottery LP on a consumption grid
CE3            competitive equilibrium with private markets, R = R-hat (Prop. 2)
SP3            hidden types and hidden trades, one private market for everybody:
               the lottery LP with ``exchanges="common"``, refined to ``tol``
segregated     SP3 with Kilenthong–Townsend's segregated exchanges: rights to trade
               at each R, assigned by the lottery and priced (``P_Delta``)
externality    KT's name for the unregulated equilibrium with retrade (= CE3)
=============  ====================================================================
"""

from __future__ import annotations

import numpy as np

from . import reduced
from .lottery import LotteryGrids, refine_sp2, refine_sp3, solve_sp2, solve_sp3
from .model import LiquidityEconomy

FGT_CONCEPTS = ("SP1", "SP2", "CE3", "SP3", "segregated")
KT_CONCEPTS = ("externality", "segregated")

#: The LP of SP3 with one market cannot beat the continuum; it may fall short of FGT's
#: reduced problem (22)-(23) by its grid error, which refinement drives to ``tol``. A
#: certificate check allows 10 tol (refinement stops on the change between two steps,
#: not on the distance to the limit), never less than HiGHS's 1e-7 relative gap.
CONTINUUM_SLACK = 10.0


def solve_concept(econ: LiquidityEconomy, concept: str, grids: LotteryGrids | None = None,
                  c_grid: np.ndarray | None = None, tol: float | None = None, backend: str = "highs",
                  progress: bool = False):
    """One concept's certified result (module table). ``grids`` are the exchanges and
    incomes of the lottery LPs (default :meth:`LotteryGrids.around`); ``tol``, when set,
    refines them (:func:`.lottery.refine_sp3`); ``c_grid`` is SP2's consumption grid;
    ``progress``: the refinement's bar (:mod:`segex.progress`)."""
    if concept == "SP1":
        return reduced.certified(econ, reduced.sp1(econ))
    if concept in ("CE3", "externality"):
        return reduced.certified(econ, reduced.ce3(econ))
    if concept == "SP2":
        if tol is None:
            return solve_sp2(econ, c_grid, backend=backend)
        return refine_sp2(econ, tol, c_grid=c_grid, backend=backend, progress=progress)
    if concept in ("SP3", "segregated"):
        exchanges = "common" if concept == "SP3" else "segregated"
        grids = grids or LotteryGrids.around(econ)
        if tol is None:
            res = solve_sp3(econ, grids, exchanges=exchanges, backend=backend)
        else:
            res = refine_sp3(econ, tol, exchanges=exchanges, grids=grids, backend=backend, progress=progress)
        if exchanges == "common":
            gap = reduced.sp3(econ).welfare - res.welfare
            res.certificate.add("continuum_gap", max(-gap, 0.0) if tol is None else abs(gap),
                                1e-7 if tol is None else max(CONTINUUM_SLACK * tol, 1e-7),
                                f"FGT's reduced SP3 (22)-(23) minus the LP's welfare = {gap:.3g}; the LP may not exceed "
                                "it" + ("" if tol is None else ", and refined it must reach it"))
        return res
    raise ValueError(f"unknown concept {concept!r}")


# ---------------------------------------------------------------------------------- registry entry points
def solve_registered(spec, options, concept: str, progress=False):
    """One concept of a parsed grid file (``segex solve``): the file's grids and SP2's
    consumption grid, the run's tol and backend; KT Section 3's results in KT's symbols."""
    from .diamond_dybvig import KTResult
    from .lottery import consumption_grid

    res = solve_concept(spec.economy, concept, grids=spec.build_grids(),
                        c_grid=consumption_grid(spec.economy, spec.grid.get("c")), tol=options.tol,
                        backend=options.backend, progress=progress)
    return KTResult(res) if spec.kind == "diamond_dybvig" else res

