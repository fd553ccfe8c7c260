"""The market machinery every economy with segregated exchanges shares, written once:

* :mod:`.planner` -- a planner's lottery LP read as types, utilities, priced rows and
  lottery rows (:class:`~segex.markets.planner.PlannerLP`): prices, bundle prices (KT eq.
  57), wealth, transfers;
* :mod:`.equilibrium` -- the Pareto program at given weights, the Negishi oracle and its
  primal and dual face LPs (the equilibrium without transfers);
* :mod:`.certify` -- LP optimality, clearing per row family, budgets and each type's own
  budget problem;
* :mod:`.fees` -- the interval of fees over every supporting price system;
* :mod:`.refine` -- refinement onto the support;
* :mod:`.incentives` -- truth-telling rows of a lottery LP.
"""
