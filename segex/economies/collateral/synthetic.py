"""Seeded random collateral economies: benchmarks (issue 4's H = 10, S = 4 economy)
and property tests.

Every draw is a valid :class:`CollateralEconomy`: shares and probabilities from a
Dirichlet(2, ..., 2) (bounded away from zero), endowments uniform on [0.5, 3] (so that
types differ in what they have when, which is what makes them trade), storage returns
uniform on [0.8, 1.2], beta = 1 and KT's gamma = 2.
"""

from __future__ import annotations

import numpy as np

from .model import CollateralEconomy


def random_economy(H: int = 10, S: int = 4, seed: int = 0, gamma: float = 2.0) -> CollateralEconomy:
    """A random collateral economy with H types and S states, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(H, 2.0))
    prob = rng.dirichlet(np.full(S, 2.0))
    endowment = rng.uniform(0.5, 3.0, size=(H, 1 + S, 2))
    R = rng.uniform(0.8, 1.2, size=S)
    return CollateralEconomy.create(share=share, endowment=endowment, prob=prob, R=R, beta=1.0, gamma=gamma,
                                    name=f"synthetic H={H} S={S} seed={seed}")


__all__ = ["random_economy"]
