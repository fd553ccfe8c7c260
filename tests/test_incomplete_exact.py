"""KT Definition 4 (exogenous incomplete markets, eqs. 27-33), exact solver.

The conditions are recomputed here from the returned allocation and prices, independently of
the solver's own certificate: first-order conditions, budgets (29)-(30) and clearing (31)-(33)
to 1e-10; Pareto efficiency with complete markets (footnote 21); the identical-homothetic
closed form for spot prices; an independent re-solve of each consumer's problem; bad input;
and the one-type economy (autarky).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from segex.economies.incomplete_markets import exact
from segex.economies.incomplete_markets.exact import (IncompleteMarketsEquilibrium, solve_externality,
                                                      supporting_weights)
from segex.economies.incomplete_markets.model import IncompleteMarketsEconomy
from segex.errors import SegexError, SolveError, SpecError

TOL = 1e-10


def grid_file_economy():
    """KT 2.2's default (the grid file): two types, two states, one bond paying 1 in both."""
    return IncompleteMarketsEconomy.create(
        share=[0.5, 0.5], gamma=[0.5, 3.0],
        endowment=[[[3, 1], [4, 1], [1, 2]], [[1, 3], [2, 3], [3, 4]]],
        prob=[0.5, 0.5], payoffs=[[1.0, 1.0]], beta=1.0)


def h3s3j2_economy():
    """H = 3, S = 3, J = 2 (incomplete), distinct gammas incl. log, beta < 1, a security with a
    negative payoff."""
    return IncompleteMarketsEconomy.create(
        share=[0.25, 0.35, 0.4], gamma=[0.7, 1.0, 2.8],
        endowment=[[[2.0, 0.8], [1.5, 2.2], [0.6, 1.1], [2.4, 0.9]],
                   [[0.9, 1.7], [0.7, 0.9], [2.1, 1.6], [1.0, 1.8]],
                   [[1.3, 1.2], [2.0, 1.4], [1.2, 0.7], [0.8, 2.5]]],
        prob=[0.2, 0.5, 0.3], payoffs=[[1.0, 1.0, 1.0], [0.5, -0.2, 1.5]], beta=0.93)


def marginal(econ, h, c):
    return np.asarray(c, float) ** (-econ.gamma[h])


def assert_definition4(eq: IncompleteMarketsEquilibrium, tol=TOL):
    """Every condition of Definition 4, recomputed from the equilibrium's arrays."""
    e = eq.economy
    a, D, E = e.share, e.payoffs, e.aggregate
    for h in range(e.H):
        mu = marginal(e, h, eq.c0[h, 0])
        assert eq.mu[h] == pytest.approx(mu, rel=tol)
        # t = 0: u'(c20) = mu p0
        assert marginal(e, h, eq.c0[h, 1]) == pytest.approx(mu * eq.p0, rel=tol)
        # spot optimum (34): u'(c2s) = u'(c1s) p_s
        np.testing.assert_allclose(marginal(e, h, eq.c1[h, :, 1]), marginal(e, h, eq.c1[h, :, 0]) * eq.spot,
                                   rtol=tol)
        # securities: mu Q_j = beta sum_s pi_s D_js u'(c1s)
        rhs = e.beta * D @ (e.prob * marginal(e, h, eq.c1[h, :, 0]))
        np.testing.assert_allclose(mu * eq.Q, rhs, rtol=tol, atol=tol * np.abs(rhs).max())
        # budget (29) with equality
        m0 = e.e0[h, 0] + eq.p0 * e.e0[h, 1]
        assert eq.c0[h, 0] + eq.p0 * eq.c0[h, 1] + eq.Q @ eq.theta[h] == pytest.approx(m0, rel=tol)
        # spot trades and spot budgets (30)
        pre = e.e1[h] + np.stack([eq.theta[h] @ D, np.zeros(e.S)], axis=-1)
        np.testing.assert_allclose(eq.c1[h] - pre, eq.tau[h], atol=tol * E.max())
        np.testing.assert_allclose(eq.tau[h, :, 0] + eq.spot * eq.tau[h, :, 1], 0.0, atol=tol * E.max())
        # utility (27)
        assert eq.utility[h] == pytest.approx(e.lifetime_utility(h, eq.c0[h], eq.c1[h]), rel=tol)
    # clearing (31), (32), (33)
    np.testing.assert_allclose(a @ eq.c0, E[0], rtol=tol)
    np.testing.assert_allclose(a @ eq.theta, 0.0, atol=tol * max(1.0, np.abs(eq.theta).max()))
    np.testing.assert_allclose(np.einsum("h,hsl->sl", a, eq.c1), E[1:], rtol=tol)
    assert eq.welfare == pytest.approx(a @ eq.utility, rel=tol)


# ---------------------------------------------------------------------------- (a) Definition 4
@pytest.mark.parametrize("make", [h3s3j2_economy, grid_file_economy])
def test_definition4_conditions(make):
    eq = solve_externality(make())
    assert eq.certificate.passed, str(eq.certificate)
    for name, check in eq.certificate.checks.items():
        assert check.tol <= 1e-9, name
    assert_definition4(eq)
    assert np.abs(eq.theta).max() > 1e-3  # securities are actually traded


def test_grid_file_economy_numbers():
    """t = 0 aggregate endowment is (2, 2): every CRRA type splits wealth equally between the two
    goods at p0 = 1, so p0 = 1 exactly whatever the gammas. The bond is in zero net supply
    (equal shares: theta^1 = -theta^2) and type 1, as rich as type 2 at t = 0 but poorer at
    t = 1 at the equilibrium spot prices, buys it (saves)."""
    eq = solve_externality(grid_file_economy())
    assert eq.p0 == pytest.approx(1.0, rel=1e-12)
    assert eq.theta[0, 0] == pytest.approx(-eq.theta[1, 0], rel=1e-12)
    assert eq.theta[0, 0] > 0
    assert eq.Q.shape == (1,) and eq.spot.shape == (2,)
    w = supporting_weights(eq)
    assert w.sum() == pytest.approx(2.0) and np.all(w > 0)
    np.testing.assert_allclose(w / w.sum(), (1 / eq.mu) / (1 / eq.mu).sum(), rtol=1e-14)


def test_result_export():
    eq = solve_externality(h3s3j2_economy())
    d = json.loads(json.dumps(eq.to_dict()))
    assert set(d) == {"p0", "Q", "spot", "types", "welfare"}
    assert len(d["Q"]) == 2 and len(d["spot"]) == 3 and len(d["types"]) == 3
    for t in d["types"]:
        assert set(t) == {"c0", "c1", "theta", "utility"}
        assert len(t["c0"]) == 2 and len(t["theta"]) == 2
        assert np.shape(t["c1"]) == (3, 2)
    ds = eq.to_dataset()
    assert set(ds.dims) == {"type", "state", "good", "security"}
    assert ds["c1"].dims == ("type", "state", "good")
    assert ds["theta"].dims == ("type", "security")
    assert ds["Q"].dims == ("security",) and ds["spot"].dims == ("state",)
    for name in ("p0", "Q", "spot", "c0", "c1", "theta", "tau", "utility", "mu"):
        assert "units" in ds[name].attrs, name
    np.testing.assert_allclose(ds["c1"].values, eq.c1)
    assert eq.lp is None


# ---------------------------------------------------------------------------- (b) complete markets
@pytest.mark.parametrize("D", [np.eye(3), [[1.0, 0.3, 0.0], [0.2, 1.0, 0.5], [-0.4, 0.1, 1.2]]])
def test_complete_markets_pareto_efficient(D):
    """J = S, D invertible (footnote 21): the equilibrium is Pareto efficient, i.e. satisfies the
    planner's FOCs with weights 1/mu^h: u'^h(c_ls) / mu^h is the same for every type, for each
    good at t = 0 and in every state."""
    econ = IncompleteMarketsEconomy.create(
        share=[0.3, 0.3, 0.4], gamma=[0.6, 2.0, 4.0],
        endowment=[[[2.0, 1.0], [0.5, 2.0], [1.5, 0.7], [2.2, 2.0]],
                   [[1.0, 2.0], [2.5, 0.8], [0.6, 1.9], [1.1, 0.9]],
                   [[1.5, 1.5], [1.2, 1.4], [2.0, 1.0], [0.7, 1.6]]],
        prob=[0.3, 0.3, 0.4], payoffs=D, beta=0.95)
    eq = solve_externality(econ)
    assert eq.certificate.passed, str(eq.certificate)
    assert_definition4(eq)
    lam = supporting_weights(eq)
    # (H, 1 + S, 2) marginal utilities scaled by the Pareto weights
    scaled = np.stack([lam[h] * marginal(econ, h, np.concatenate([eq.c0[h][None], eq.c1[h]]))
                       for h in range(econ.H)])
    np.testing.assert_allclose(scaled, np.broadcast_to(scaled[0], scaled.shape), rtol=1e-8)


def test_incomplete_markets_not_efficient():
    """Control for the test above: with J < S and distinct gammas the cross-type MRS differ."""
    eq = solve_externality(h3s3j2_economy())
    e = eq.economy
    scaled = np.stack([marginal(e, h, eq.c1[h, :, 0]) / eq.mu[h] for h in range(e.H)])
    assert np.abs(scaled / scaled[0] - 1).max() > 1e-3


# ---------------------------------------------------------------------------- (c) identical gammas
def test_identical_gammas_closed_form():
    """Identical homothetic CRRA (gamma = 2.5 for all), J = 1 < S = 3: spot prices are set by
    aggregates alone, p_s = (E_1s / E_2s)**gamma (KT 2.2: no externality), p0 likewise, and the
    spot allocation is efficient within each state (every type's MRS equals p_s)."""
    g = 2.5
    econ = IncompleteMarketsEconomy.create(
        share=[0.2, 0.5, 0.3], gamma=[g, g, g],
        endowment=[[[2.0, 1.0], [0.5, 2.0], [1.5, 0.7], [2.2, 2.0]],
                   [[1.0, 2.0], [2.5, 0.8], [0.6, 1.9], [1.1, 0.9]],
                   [[1.5, 1.5], [1.2, 1.4], [2.0, 1.0], [0.7, 1.6]]],
        prob=[0.25, 0.35, 0.4], payoffs=[[1.0, 1.0, 1.0]], beta=0.9)
    eq = solve_externality(econ)
    assert eq.certificate.passed, str(eq.certificate)
    E = econ.aggregate
    np.testing.assert_allclose(eq.spot, (E[1:, 0] / E[1:, 1]) ** g, rtol=1e-12)
    assert eq.p0 == pytest.approx((E[0, 0] / E[0, 1]) ** g, rel=1e-12)
    mrs = np.stack([marginal(econ, h, eq.c1[h, :, 1]) / marginal(econ, h, eq.c1[h, :, 0]) for h in range(3)])
    np.testing.assert_allclose(mrs, np.broadcast_to(mrs[0], mrs.shape), rtol=1e-10)
    np.testing.assert_allclose(mrs[0], eq.spot, rtol=1e-10)
    # homothetic spot demand: every type consumes goods in the aggregate proportion
    np.testing.assert_allclose(eq.c1[..., 0] / eq.c1[..., 1], np.broadcast_to(E[1:, 0] / E[1:, 1], (3, 3)),
                               rtol=1e-10)


# ---------------------------------------------------------------------------- (d) consumer check
def test_consumer_check():
    eq = solve_externality(h3s3j2_economy())
    check = eq.certificate.checks["consumer_problem"]
    assert check.passed and check.tol == 1e-9
    gains = eq.consumer_check()
    assert gains.shape == (3,)
    assert gains.max() <= 1e-9
    assert gains.min() > -1e-7  # the independent re-solve actually reaches the optimum
    # teeth: claim a utility 1e-6 (relative) below the optimum and the re-solve beats it
    m0 = eq.economy.e0[:, 0] + eq.p0 * eq.economy.e0[:, 1]
    scale = np.maximum(np.abs(eq.utility), eq.mu * m0)
    low = dataclasses.replace(eq, utility=eq.utility - 1e-6 * scale)
    assert np.all(low.consumer_check() > 1e-7)


# ---------------------------------------------------------------------------- (e) bad input
def test_redundant_securities_rejected():
    with pytest.raises(SpecError) as info:  # when the economy is built, before any solve
        IncompleteMarketsEconomy.create(
            share=[0.5, 0.5], gamma=[0.5, 3.0],
            endowment=[[[3, 1], [4, 1], [1, 2]], [[1, 3], [2, 3], [3, 4]]],
            prob=[0.5, 0.5], payoffs=[[1.0, 1.0], [2.0, 2.0]])
    msg = str(info.value)
    assert info.value.field == "payoffs"
    assert "payoffs[1]" in msg and "redundant" in msg and "\n" not in msg and "Traceback" not in msg


def test_more_securities_than_states_rejected():
    with pytest.raises(SegexError, match=r"payoffs: .*3 securities but only 2 states.*payoffs\[2\]"):
        IncompleteMarketsEconomy.create(
            share=[1.0], gamma=[2.0], endowment=[[[1, 1], [1, 1], [2, 1]]],
            prob=[0.5, 0.5], payoffs=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def test_unsolved_raises_instead_of_returning(monkeypatch):
    """If the clearing system is not solved to tolerance the solver raises, saying what it reached."""
    monkeypatch.setattr(exact, "SOLVE_TOL", 0.0)  # unattainable
    econ = IncompleteMarketsEconomy.create(share=[0.5, 0.5], gamma=[0.5, 3.0],
                                           endowment=[[[3, 1], [4, 1]], [[1, 3], [2, 3]]],
                                           prob=[1.0], payoffs=[[1.0]])
    with pytest.raises(SolveError) as info:
        solve_externality(econ)
    assert info.value.status == "no_convergence"
    assert "residual" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------- (f) one type
def test_one_type_is_autarky():
    g, beta = 1.7, 0.9
    end = np.array([[[2.0, 1.0], [1.0, 3.0], [2.5, 0.5]]])
    econ = IncompleteMarketsEconomy.create(share=[1.0], gamma=[g], endowment=end, prob=[0.4, 0.6],
                                           payoffs=[[1.0, 0.5]], beta=beta)
    eq = solve_externality(econ)
    assert eq.certificate.passed, str(eq.certificate)
    np.testing.assert_allclose(eq.theta, 0.0, atol=1e-12)
    np.testing.assert_allclose(eq.c0, end[:, 0], rtol=1e-12)
    np.testing.assert_allclose(eq.c1, end[:, 1:], rtol=1e-12)
    np.testing.assert_allclose(eq.tau, 0.0, atol=1e-12)
    assert eq.p0 == pytest.approx((2.0 / 1.0) ** g, rel=1e-12)  # MRS at the endowment
    np.testing.assert_allclose(eq.spot, (end[0, 1:, 0] / end[0, 1:, 1]) ** g, rtol=1e-12)
    q = beta * np.array([0.4, 0.6]) * (end[0, 1:, 0] / end[0, 0, 0]) ** (-g)
    np.testing.assert_allclose(eq.Q, econ.payoffs @ q, rtol=1e-12)


# ---------------------------------------------------------------------------- Figure 1 sets
def test_figure1_feasible_sets_by_brute_force():
    """The shaded (unreachable) rectangles of figure.py against direct sampling: bundles reached
    by some theta in the delivery interval and some spot price p > 0 never fall in them, and
    every grid point marked reachable is reached by some sampled (theta, p) line."""
    from segex.economies.incomplete_markets.figure import feasible_sets

    fs = feasible_sets(n=21, grid=41)
    rng = np.random.default_rng(0)
    lo, hi = fs.theta_range
    assert (lo, hi) == (-1.0, 1.0) and list(fs.binding_state) == [0, 0]  # set by scarce state 1
    assert fs.shaded_fraction[0] == 0.0 and fs.shaded_fraction[1] > 0.2
    for s in range(2):
        W, H = fs.box[s]
        e1, e2 = fs.endowment[s]
        th = rng.uniform(lo, hi, 4000)
        p = np.exp(rng.uniform(-4, 4, 4000))
        tau2 = rng.uniform(-H, H, 4000)
        c1, c2 = e1 + fs.payoff[s] * th - p * tau2, e2 + tau2  # spot budget (30)
        inside = (c1 > 0) & (c1 < W) & (c2 > 0) & (c2 < H)
        for (x0, x1, y0, y1) in fs.unreachable[s]:
            assert not np.any(inside & (c1 > x0) & (c1 < x1) & (c2 > y0) & (c2 < y1))
        # a reachable grid point off the pre-trade line: the theta putting the pre-trade point
        # at its c1 +/- any positive amount in the right direction lies in the interval
        C1, C2 = np.meshgrid(fs.c1 * W, fs.c2 * H)
        above = C2 > e2
        need = (C1 - e1) / fs.payoff[s]  # theta whose pre-trade point has good 1 = C1
        ok = np.where(above, hi >= need, lo <= need) | (C2 == e2) & (need >= lo) & (need <= hi)
        np.testing.assert_array_equal(ok, fs.reachable[s])
        # the competitive spot locus: inside the box and on type 1's spot budget (30) at p_s
        loc, ps = fs.spot_locus[:, s], fs.spot_price[:, s]
        assert np.all(loc > 0) and np.all(loc < fs.box[s]) and np.all(ps > 0)
        np.testing.assert_allclose(loc[:, 0] + ps * loc[:, 1], e1 + fs.payoff[s] * fs.theta + ps * e2, rtol=1e-12)
