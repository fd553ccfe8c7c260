"""KT Figure 1: feasible sets in each state when markets are incomplete (KT 2.2, text after
Definition 5).

What the paper says
-------------------
"This example assumes the stereotypical debt contract that pays the same amount of good 1 in
each two states. However, in state s = 2, there is more of good 1 and good 2 overall. Then,
no matter what the price ratio p_s in state s = 2, certain regions cannot be reached. The
main point is that the scarcity in state s = 1 can affect the feasibility in state s = 2
because the markets are incomplete." Panel (b)'s caption: "A feasible set in state s = 2 when
only available security pays the same amount of good 1 in both states. The shaded areas are
not feasible." The figure itself is not in the extracted text, so it is rebuilt below from
the economics; what is drawn is stated precisely.

Derivation (two types, one security)
------------------------------------
Types h = 1, 2 with shares alpha^h; one security paying ``b_s > 0`` units of good 1 in state s
(``b_s = b`` for the debt contract). Type 1 holds ``theta``, type 2 ``-alpha^1 theta / alpha^2``
(clearing, eq. 32). Draw state s's Edgeworth box in type 1's per-capita coordinates,
``0 <= c^1_ls <= E_ls / alpha^1`` (type 2 gets the rest, ``(E_ls - alpha^1 c^1_ls) / alpha^2``).

1. *Pre-trade point.* After the security pays, type 1 holds
   ``a_s(theta) = (e^1_1s + b_s theta, e^1_2s)``: with the debt contract every state's point
   slides horizontally by the *same* ``b theta`` -- one instrument moves all states together.
2. *Spot trade.* At a spot price ``p_s > 0`` type 1 trades along its spot budget (30),
   ``tau_1 = -p_s tau_2``: the line through ``a_s(theta)`` with slope ``-1/p_s``; type 2's
   trade ``-alpha^1 tau / alpha^2`` satisfies its own (30) and clears (33). As ``p_s`` ranges
   over (0, inf) (with rights to trade an exchange can be chosen at any spot price, KT 2.2.1)
   the lines sweep the two open quadrants north-west and south-east of ``a_s(theta)``; the
   quadrants north-east and south-west cannot be reached at any positive price.
3. *Bond delivery.* The security is settled in good 1 before spot markets open, so each
   type's pre-trade good-1 holding must be non-negative in every state:
   ``e^1_1s + b_s theta >= 0`` and ``e^2_1s - alpha^1 b_s theta / alpha^2 >= 0`` for all s, i.e.

       theta in [theta_lo, theta_hi],  theta_lo = max_s -e^1_1s / b_s,
                                       theta_hi = min_s alpha^2 e^2_1s / (alpha^1 b_s).

   The bounds are set by the state where good 1 is scarce: that is how "scarcity in state 1
   affects feasibility in state 2". (Without this delivery constraint ``theta`` is unbounded,
   the pre-trade point can sit anywhere on the line ``c2 = e^1_2s`` -- even outside the box,
   with a type's spot wealth kept positive by selling good 2 -- and every point of every box
   is reachable; the paper's shaded regions need a bound on ``theta``, and this is the
   natural one.)
4. *Feasible set in state s* = union over ``theta in [theta_lo, theta_hi]`` of the
   reachable quadrants. With ``A_lo,s = e^1_1s + b_s theta_lo`` and ``A_hi,s = e^1_1s + b_s theta_hi``
   the ends of the segment of pre-trade points, a box point ``c`` is reachable iff
   ``c2 > e^1_2s and c1 <= A_hi,s``, or ``c2 < e^1_2s and c1 >= A_lo,s``, or
   ``c2 = e^1_2s and A_lo,s <= c1 <= A_hi,s``. Unreachable: the rectangles
   ``{c1 > A_hi,s, c2 > e^1_2s}`` (north-east) and ``{c1 < A_lo,s, c2 < e^1_2s}`` (south-west).
   In the scarce state the segment spans the box (nothing of positive area is shaded); in a
   state with more good 1 it does not, and the shaded rectangles are infeasible whatever
   ``p_s`` -- KT's panel (b). With complete markets (one security per state) each state's
   segment would span its own box and nothing would be shaded.

The figure also draws the *competitive spot locus*: for each ``theta`` in the interval, the
bundle type 1 ends with when ``p_s`` is the spot price that clears with type 2's demand
(:meth:`IncompleteMarketsEconomy.spot_clearing_price`, the two types' CRRA preferences) --
the one-dimensional set reachable without rights to trade, where ``p_s = p_s(theta, e)`` --
and the Definition 4 equilibrium (:func:`segex.economies.incomplete_markets.exact.solve_externality`)
on it when its ``theta`` respects the delivery bound (Definition 4 itself only requires
positive spot wealth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpecError
from .model import IncompleteMarketsEconomy

__all__ = ["FeasibleSets", "feasible_sets", "figure1_economy"]


def figure1_economy() -> IncompleteMarketsEconomy:
    """An economy with KT Figure 1's features: two types (equal shares), two equally likely
    states, one debt contract paying 1 unit of good 1 in both states, and more of both goods
    in state 2 (aggregate (1, 1.25) per capita in state 1, (2, 1.5) in state 2). Preferences as
    in KT 2.2's default (gamma 0.5 and 3)."""
    return IncompleteMarketsEconomy.create(
        share=[0.5, 0.5], gamma=[0.5, 3.0],
        endowment=[[[1.0, 1.0], [1.0, 2.0], [2.5, 1.0]],
                   [[1.0, 1.0], [1.0, 0.5], [1.5, 2.0]]],
        prob=[0.5, 0.5], payoffs=[[1.0, 1.0]], beta=1.0, name="kt_figure1")


@dataclass
class FeasibleSets:
    """Arrays behind KT Figure 1 (module docstring), all in type 1's per-capita coordinates.

    Attributes
    ----------
    box : (S, 2) width (good 1) and height (good 2) of each state's Edgeworth box, E_ls / alpha^1.
    endowment : (S, 2) type 1's endowment point in each state.
    payoff : (S,) the security's payoff b_s.
    theta_range : (2,) ``[theta_lo, theta_hi]`` allowed by good-1 delivery in every state.
    binding_state : (2,) the state (0-based) setting ``theta_lo`` and ``theta_hi``.
    pretrade : (S, 2, 2) ends ``[[A_lo, e2], [A_hi, e2]]`` of the segment of pre-trade points.
    unreachable : list over states of rectangles ``(c1_min, c1_max, c2_min, c2_max)`` that no
        ``theta`` in the range and no spot price ``p_s > 0`` reaches (empty ones dropped).
    shaded_fraction : (S,) share of the box's area that is unreachable.
    c1, c2 : (n1,), (n2,) grid of the boxes' unit square (multiply by ``box[s]``).
    reachable : (S, n2, n1) bool, the feasible set on that grid (tested point by point).
    theta : (n,) grid of ``theta`` over ``theta_range``.
    spot_price : (n, S) spot prices clearing each state at ``theta`` (competitive spot markets).
    spot_locus : (n, S, 2) type 1's consumption at those prices.
    """

    box: np.ndarray
    endowment: np.ndarray
    payoff: np.ndarray
    theta_range: np.ndarray
    binding_state: np.ndarray
    pretrade: np.ndarray
    unreachable: list
    shaded_fraction: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    reachable: np.ndarray
    theta: np.ndarray
    spot_price: np.ndarray
    spot_locus: np.ndarray


def _reachable(c1, c2, A_lo, A_hi, e2):
    """Feasibility test of step 4 (module docstring), elementwise."""
    return (((c2 > e2) & (c1 <= A_hi)) | ((c2 < e2) & (c1 >= A_lo))
            | ((c2 == e2) & (c1 >= A_lo) & (c1 <= A_hi)))


def feasible_sets(econ: IncompleteMarketsEconomy | None = None, n: int = 201, grid: int = 241) -> FeasibleSets:
    """Compute the feasible sets of KT Figure 1 for a two-type, one-security economy.

    Parameters
    ----------
    econ : IncompleteMarketsEconomy, optional
        H = 2 types, J = 1 security with positive payoffs; default :func:`figure1_economy`.
    n : number of ``theta`` values on the competitive spot locus.
    grid : points per side of the grid on which ``reachable`` is tabulated.
    """
    econ = figure1_economy() if econ is None else econ
    if econ.H != 2 or econ.J != 1:
        raise SpecError("types", f"the Figure 1 construction needs 2 types and 1 security, got H = {econ.H}, "
                                 f"J = {econ.J}")
    b = econ.payoffs[0]
    if np.any(b <= 0):
        raise SpecError("payoffs", f"the Figure 1 construction needs a security paying good 1 in every state, "
                                   f"got {b.tolist()}")
    a1, a2 = econ.share
    e = econ.e1  # (2, S, 2)
    S = econ.S
    box = econ.aggregate[1:] / a1  # (S, 2)
    lo_s = -e[0, :, 0] / b  # type 1 delivers at most its good 1
    hi_s = a2 * e[1, :, 0] / (a1 * b)  # type 2 delivers at most its good 1
    theta_lo, theta_hi = float(lo_s.max()), float(hi_s.min())
    binding = np.array([int(np.argmax(lo_s)), int(np.argmin(hi_s))])
    A_lo = e[0, :, 0] + b * theta_lo
    A_hi = e[0, :, 0] + b * theta_hi
    e2 = e[0, :, 1]
    pretrade = np.stack([np.stack([A_lo, e2], -1), np.stack([A_hi, e2], -1)], axis=1)  # (S, 2, 2)

    unreachable, frac = [], np.zeros(S)
    for s in range(S):
        W, Hh = box[s]
        rects = [(A_hi[s], W, e2[s], Hh), (0.0, A_lo[s], 0.0, e2[s])]
        rects = [r for r in rects if r[1] - r[0] > 1e-12 * W and r[3] - r[2] > 1e-12 * Hh]
        unreachable.append(rects)
        frac[s] = sum((r[1] - r[0]) * (r[3] - r[2]) for r in rects) / (W * Hh)

    u1 = np.linspace(0.0, 1.0, grid)
    u2 = np.linspace(0.0, 1.0, grid)
    reach = np.zeros((S, grid, grid), bool)
    for s in range(S):
        C1, C2 = np.meshgrid(u1 * box[s, 0], u2 * box[s, 1])
        reach[s] = _reachable(C1, C2, A_lo[s], A_hi[s], e2[s])

    # competitive spot locus: p_s clears with the other type's demand (p_s = p_s(theta, e))
    thetas = np.linspace(theta_lo, theta_hi, n)
    price = np.zeros((n, S))
    locus = np.zeros((n, S, 2))
    for i, th in enumerate(thetas):
        for s in range(S):
            hold = np.array([[a1 * (e[0, s, 0] + b[s] * th), a1 * e[0, s, 1]],
                             [a2 * (e[1, s, 0] - a1 * b[s] * th / a2), a2 * e[1, s, 1]]])
            p = econ.spot_clearing_price(hold)
            c1, c2, _, _ = econ.spot(0, s, np.array([th]), p)
            price[i, s] = p
            locus[i, s] = (c1, c2)
    return FeasibleSets(box=box, endowment=e[0].copy(), payoff=b.copy(),
                        theta_range=np.array([theta_lo, theta_hi]), binding_state=binding, pretrade=pretrade,
                        unreachable=unreachable, shaded_fraction=frac, c1=u1, c2=u2, reachable=reach,
                        theta=thetas, spot_price=price, spot_locus=locus)
