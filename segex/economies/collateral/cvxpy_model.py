"""KT Program 2 written in cvxpy the way a cvxpy user would model it.

This is not segex's path (that is :func:`.program2.build_program2`
assembling one sparse matrix for HiGHS). It exists for two reasons:

* **a cross-check by an independent formulation**: constraints are written as cvxpy
  expressions over per-block variables (one probability vector per marginal lottery,
  one per state's conditional lottery), with sparse incidence matrices for the
  bundles' exchanges and collateral levels -- not from segex's matrix. The same
  optimum from both is a test of the assembly (``tests/test_cvxpy_program2.py``);
* **the benchmark's honest comparison** for "LP assembly versus building the same LP
  in cvxpy": :mod:`segex.backends.cvxpy_backend` hands cvxpy segex's finished matrix,
  which is cvxpy's best case; a user modelling in cvxpy pays for expression building
  and canonicalisation (``benchmarks/suite.py`` times both).

Bundle data (utilities, securities, discrepancies) come from the same numpy code as
segex's (:func:`.program2.type_columns`): the economics is shared, the modelling is not.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .program2 import type_columns


def _incidence(idx: np.ndarray, n: int, values=None) -> sp.csr_matrix:
    """(n, len(idx)) sparse matrix with ``values`` (default 1) at (idx[j], j)."""
    v = np.ones(idx.size) if values is None else values
    return sp.csr_matrix((v, (idx, np.arange(idx.size))), shape=(n, idx.size))


def program2_problem(econ, grids, weights=None, columns=None) -> tuple:
    """Program 2 (eqs. 47-55, separable form) as a cvxpy Problem, and its named
    constraints (``good1``, ``good2``, ``sec[s]``, ``rights[s]``)."""
    import cvxpy as cp

    H, S = econ.H, econ.S
    lam = np.ones(H) if weights is None else np.asarray(weights, float)
    alpha, E = econ.share, econ.aggregate
    cols = columns if columns is not None else [type_columns(econ, grids, h) for h in range(H)]
    nk = grids.k.size
    welfare, cons = 0, []
    good1 = good2 = 0
    sec = [0] * S
    rights = [0] * S
    for h, tc in enumerate(cols):
        x10 = cp.Variable(tc.c10.size, nonneg=True, name=f"c10[{h}]")
        x20 = cp.Variable(tc.c20.size, nonneg=True, name=f"c20[{h}]")
        xk = cp.Variable(nk, nonneg=True, name=f"k[{h}]")
        cons += [cp.sum(x10) == 1, cp.sum(x20) == 1, cp.sum(xk) == 1]  # (47)
        good1 += alpha[h] * (tc.c10 @ x10)
        good2 += alpha[h] * (tc.c20 @ x20 + tc.k @ xk)
        utility = tc.u_c10 @ x10 + tc.u_c20 @ x20
        for s, st in enumerate(tc.x1):
            x1 = cp.Variable(st["a"].size, nonneg=True, name=f"x1[{h},{s}]")
            cons.append(_incidence(st["k_idx"], nk) @ x1 == xk)  # the state-s lottery given k
            nz = grids.z[s].size
            sec[s] += alpha[h] * (_incidence(st["z_idx"], nz, st["a"]) @ x1)
            rights[s] += alpha[h] * (_incidence(st["z_idx"], nz, st["delta"]) @ x1)
            utility += econ.beta * econ.prob[s] * (st["util"] @ x1)
        welfare += lam[h] * alpha[h] * utility  # (50)
    named = {"good1": good1 == E[0, 0], "good2": good2 == E[0, 1]}  # (51), (52)
    for s in range(S):
        named[f"sec[{s}]"] = sec[s] == 0  # (53)
        named[f"rights[{s}]"] = rights[s] == 0  # (55)
    return cp.Problem(cp.Maximize(welfare), cons + list(named.values())), named
