"""Hidden types and hidden trades: Farhi–Golosov–Tsyvinski (2007), "A Theory of Liquidity
and Regulation of Financial Intermediation", and Kilenthong–Townsend Section 3's
Diamond–Dybvig economy with retrade. The economy (:mod:`.model`); FGT's reduced problem
with SP1 and CE3 (:mod:`.reduced`); the closed forms rebuilt from the appendix
(:mod:`.closed_forms`); SP2 and SP3 as lottery LPs with truth-telling rows and exchanges
indexed by the private-market rate (:mod:`.lottery`); every solution concept as a
certified result (:mod:`.concepts`); KT Section 3 in KT's symbols (:mod:`.diamond_dybvig`)."""

from .concepts import FGT_CONCEPTS, KT_CONCEPTS, solve_concept
from .lottery import LotteryGrids, refine_sp2, refine_sp3, solve_sp2, solve_sp3
from .model import FAMILIES, LiquidityEconomy

__all__ = ["FAMILIES", "FGT_CONCEPTS", "KT_CONCEPTS", "LiquidityEconomy", "LotteryGrids", "refine_sp2",
           "refine_sp3", "solve_concept", "solve_sp2", "solve_sp3"]
