"""Hidden types and hidden trades: Farhi–Golosov–Tsyvinski (2007), "A Theory of Liquidity
and Regulation of Financial Intermediation", and Kilenthong–Townsend Section 3's
Diamond–Dybvig economy with retrade. The economy (:mod:`.model`); FGT's reduced problem
with SP1 and CE3 (:mod:`.reduced`); the closed forms rebuilt from the appendix
(:mod:`.closed_forms`); SP2 and SP3 as lottery LPs with truth-telling rows and exchanges
indexed by the private-market rate (:mod:`.lottery`); every solution concept as a
certified result (:mod:`.concepts`); KT Section 3 in KT's symbols (:mod:`.diamond_dybvig`);
grid files (:mod:`.spec`) and ``segex check`` (:mod:`.recheck`)."""

from ...registry import Concept, Economy, ReportLayout, register
from .concepts import FGT_CONCEPTS, KT_CONCEPTS, solve_concept
from .lottery import LotteryGrids, refine_sp2, refine_sp3, solve_sp2, solve_sp3
from .model import FAMILIES, LiquidityEconomy

_HERE = __name__
_SOLVE = f"{_HERE}.concepts:solve_registered"
_SUMMARY = {
    "SP1": "types observable (FGT eq. 2), closed form",
    "SP2": "types private, no hidden trades (FGT eq. 7): lottery LP with truth-telling rows",
    "CE3": "competitive equilibrium with private markets, R = R-hat (FGT Proposition 2)",
    "SP3": "hidden types and hidden trades, one private market (FGT (28)-(30)): the optimal liquidity regulation",
    "segregated": "SP3 with KT's segregated exchanges: rights to trade at each rate, priced",
    "externality": "the unregulated equilibrium with retrade, p = 1/R-hat (KT Section 3; = CE3)",
}

#: The text report's headings (segex.report): FGT's and KT Section 3's keys alike.
_REPORT = ReportLayout(
    sections=(("rates", ("p", "R", "R_hat", "R_over_R_hat")),
              ("allocation", ("I", "liquidity", "short_share")),
              ("regulation", ("regulation", "exchanges_structure")),
              ("incentives", ("binding_ic",)),
              ("welfare", ("welfare", "welfare_gain"))),
    per_type=("c1", "c2", "R_by_type"),
    columns={"exchanges": ("R", "p", "mass", "P_Delta", "pinned", "Delta"),
             "refinement": ("step", "rows", "cols", "welfare", "R", "liquidity", "change")},
    titles={"exchanges": "active exchanges"},  # only the active ones are listed
)


def _economy(name, summary, parse, concepts, default, example):
    return Economy(name=name, summary=summary, parse=f"{_HERE}.spec:{parse}",
                   concepts=tuple(Concept(c, _SOLVE, _SUMMARY[c]) for c in concepts), default_concepts=default,
                   recheck=f"{_HERE}.recheck:recheck", grids=f"{_HERE}.spec:build_grids",
                   main_lp=("segregated", "SP3", "SP2"), example=example,
                   starter=f"{_HERE}:starter_{name}.toml", plot=f"{_HERE}.plot:plot", report=_REPORT)


register(_economy("liquidity", "Farhi-Golosov-Tsyvinski: liquidity regulation with hidden types and hidden trades",
                  "parse_fgt", FGT_CONCEPTS, ("SP1", "SP2", "CE3", "SP3"), "grids/fgt_discount.toml"))
register(_economy("diamond_dybvig", "KT Section 3: Diamond-Dybvig with retrade and segregated exchanges by spot price",
                  "parse_dd", KT_CONCEPTS, KT_CONCEPTS, "grids/kt_diamond_dybvig.toml"))

__all__ = ["FAMILIES", "FGT_CONCEPTS", "KT_CONCEPTS", "LiquidityEconomy", "LotteryGrids", "refine_sp2",
           "refine_sp3", "solve_concept", "solve_sp2", "solve_sp3"]
