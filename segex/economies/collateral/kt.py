"""The example economies of Kilenthong & Townsend, Section 2.1.6 (Tables 1, 3, 4).

Common: u(c1, c2) = -1/c1 - 1/c2 (gamma = 2), beta = 1, R_s = 1. Endowment rows are
t = 0 then each state; columns are good 1, good 2. The same economies ship as
``grids/kt_env*.toml`` for the command line.
"""

from __future__ import annotations

from .model import CollateralEconomy


def environment1() -> CollateralEconomy:
    """Intertemporal smoothing (Table 1): H = 2, alpha = 1/2, S = 1."""
    return CollateralEconomy.create([0.5, 0.5], [[[3, 3], [1, 1]], [[1, 1], [3, 3]]], name="KT Environment 1")


def environment2() -> CollateralEconomy:
    """State-contingent securities (Table 3): H = 2, S = 2, pi = (1/2, 1/2)."""
    return CollateralEconomy.create([0.5, 0.5], [[[2, 2], [3, 3], [1, 1]], [[2, 2], [1, 1], [3, 3]]],
                                    prob=[0.5, 0.5], R=[1, 1], name="KT Environment 2")


def environment3() -> CollateralEconomy:
    """Heterogeneous borrowers and mixtures (Table 4): H = 3, alpha = 1/3, S = 1."""
    return CollateralEconomy.create(
        [1 / 3, 1 / 3, 1 / 3],
        [[[4.26, 11.5], [0.5, 0.5]], [[3.92, 0.5], [7, 5]], [[4.32, 0.5], [5, 7]]],
        name="KT Environment 3",
    )
