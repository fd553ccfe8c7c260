"""KT 2.2 grid files (segex.economies.incomplete_markets.spec): the shipped file loads, and
every bad input is a SpecError naming its TOML field (also run through the CLI by
tests/test_cli_bad_input.py)."""

from __future__ import annotations


import numpy as np
import pytest
from spec_edit import DROP, edit

from segex.economies.incomplete_markets.grids import MarketGrids
from segex.errors import SpecError
from segex.io.config import parse_spec

BASE = {"economy": "incomplete_markets", "beta": 1.0, "prob": [0.5, 0.5], "payoffs": [[1.0, 1.0]],
        "types": [{"share": 0.5, "gamma": 0.5, "endowment": [[3, 1], [4, 1], [1, 2]]},
                  {"share": 0.5, "gamma": 3.0, "endowment": [[1, 3], [2, 3], [3, 4]]}],
        "grid": {"p": {"n": 5}, "theta": {"n": 5}, "family": {"n": 5}}}
_DROP = DROP


def _with(**changes):
    return edit(BASE, **changes)


#: (parsed grid file, field the SpecError names, a phrase of its message)
BAD_INCOMPLETE = [
    (_with(payoffs=_DROP), "payoffs", "missing required key"),
    (_with(payoffs=[[1.0, 1.0, 1.0]]), "payoffs", "must hold 2 numbers"),
    (_with(payoffs=[[1.0, 1.0], [2.0, 2.0]]), "payoffs", "redundant"),
    (_with(payoffs=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), "payoffs", "only 2 states"),
    (_with(payoffs=[[0.0, 0.0]]), "payoffs[0]", "pays nothing"),
    (_with(payoffs=[[1.0, float("nan")]]), "payoffs", "finite"),
    (_with(prob=_DROP), "prob", "missing required key"),
    (_with(prob=[0.5, 0.6]), "prob", "off by"),
    (_with(types__0__gamma=_DROP), "types[0].gamma", "missing required key"),
    (_with(types__1__gamma=-1.0), "types[1].gamma", "must be positive"),
    (_with(types__1__gamma="3"), "types[1].gamma", "must be a number"),
    (_with(types__0__endowment=[[3, 1], [4, 1]]), "types[0].endowment", "needs 3 rows"),
    (_with(types__0__endowment=[[3, 1], [4, 0], [1, 2]]), "types[0].endowment", "positive"),
    (_with(types__0__share=0.4), "types[*].share", "off by"),
    (_with(types__0__gama=0.5), "types[0].gama", "did you mean 'gamma'"),
    (_with(gamma=2.0), "gamma", "unknown key"),
    (_with(grid__z={"n": 5}), "grid.z", "unknown key"),
    (_with(grid__p={"min": 2.0, "max": 3.0, "n": 5}), "grid.p", "no-trade spot price"),
    (_with(grid__p={"min": 0.0, "max": 3.0, "n": 5, "spacing": "linear"}), "grid.p", "positive"),
    (_with(grid__p=[{"n": 5}, {"n": 5}, {"n": 5}]), "grid.p", "one per state"),
    (_with(grid__theta={"min": 0.5, "max": 1.0, "n": 5}), "grid.theta", "theta = 0"),
    (_with(grid__c={"min": 2.0, "max": 3.0, "n": 5}), "grid.c", "cannot hold"),
    (_with(grid__c={"min": 0.0, "max": 5.0, "n": 11, "spacing": "linear"}), "grid.c",
     "utility at c = 0 is -inf for CRRA gamma = 3 >= 1"),
    (_with(grid__family={"radius": -1.0}), "grid.family.radius", "positive"),
    (_with(grid__family={"n": 1}), "grid.family.n", "integer >= 2"),
    (_with(grid__family={"size": 3}), "grid.family.size", "unknown key"),
    (_with(grid__family=3), "grid.family", "must be a table"),
    (_with(solve__concepts=["SP3"]), "solve.concepts", "unknown solution concept"),
    (_with(solve__weights=[1.0]), "solve.weights", "one Pareto weight per type"),
    (_with(solve__method="colgen"), "solve.method", "unknown key"),
]


@pytest.mark.parametrize("data, field, phrase", BAD_INCOMPLETE)
def test_bad_input_names_the_field(data, field, phrase):
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert err.value.field == field, str(err.value)
    assert phrase in str(err.value)


def test_base_loads_and_grids_hold_no_trade():
    spec = parse_spec(BASE)
    econ, g = spec.economy, spec.build_grids()
    assert spec.solve.concepts == ("externality", "segregated") and spec.solve.weights == "negishi"
    assert all(np.any(np.isclose(t, 0.0)) for t in g.theta)
    for h in range(econ.H):
        assert all(np.any(np.isclose(g.c0[i], econ.e0[h, i])) for i in range(2))
    fam = g.family_theta  # without an equilibrium to centre on, the clearing family is centred at no trade
    assert fam.shape == (25, 2, 1) and np.isclose(np.median(fam[:, 0, 0]), 0.0)  # 5 portfolios x 5 compositions
    assert np.allclose(np.unique(g.family.composition[:, 0]), 1 / (1 + np.exp(-np.linspace(-1, 1, 5))))


def test_clearing_family_clears():
    spec = parse_spec(BASE)
    econ = spec.economy
    center = np.array([[0.5], [-0.5]])
    g = MarketGrids.build(econ, p={"n": 3}, theta={"n": 3}, family={"n": 7, "radius": 0.3},
                          insert={"theta": center})
    z = g.family.composition  # 7 portfolios x 5 compositions, each member clearing with its own
    assert g.family_p.shape == (35, 2) and np.allclose(z.sum(axis=1), 1.0)
    assert np.allclose(np.einsum("kh,khj->kj", z, g.family_theta), 0.0, atol=1e-14)
    for s in range(econ.S):
        hold = np.stack([econ.e1[None, :, s, 0] + g.family_theta @ econ.payoffs[:, s],
                         np.broadcast_to(econ.e1[None, :, s, 1], g.family_theta.shape[:2])], -1) * z[:, :, None]
        excess, _ = econ.spot_excess(hold, g.family_p[:, s])
        assert np.abs(excess).max() < 1e-12
