"""Finite grids for the collateral economy's lottery LP (KT Appendix A, footnote 24).

Every choice space is put on a finite grid:

* ``c0[l]`` -- t = 0 consumption of good l (geometric spacing: utility curvature is
  largest at small consumption, so equal *relative* steps equalise interpolation error);
* ``k`` -- collateral / storage, always containing 0 (the no-trade bundle);
* ``z[s]`` -- market fundamentals indexing the segregated exchanges of state s, always
  containing the no-trade fundamental ``E_1s / E_2s`` (every type at its endowment with
  k = 0 clears the rights market there, so the LP is feasible);
* ``a`` -- the value in good-1 units of the state-s security position
  ``a = theta_1s + p(z_s) theta_2s``; always contains 0.  The LP adds, for every
  (k, z), the point ``a = -p(z) R_s k`` where the collateral constraint (13) binds.

A grid is given by ``{min, max, n}`` (any key may be omitted to take the default) or
by explicit ``points``.  A grid whose range cannot hold the no-trade bundle, or a
consumption grid reaching c <= 0 (where CRRA utility is -inf), is a
:class:`~segex.errors.SpecError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpecError
from ...gridspec import axis as _grid
from ...io.validate import consumption_grid
from .model import CollateralEconomy

DEFAULT_N = {"c": 401, "k": 41, "z": 41, "a": 21}


@dataclass(frozen=True)
class CollateralGrids:
    """Grid points of every choice space; build with :meth:`build`."""

    c0: tuple[np.ndarray, np.ndarray]
    k: np.ndarray
    z: tuple[np.ndarray, ...]
    a: np.ndarray

    def sizes(self) -> dict:
        return {
            "c0_1": self.c0[0].size,
            "c0_2": self.c0[1].size,
            "k": self.k.size,
            "z": [zs.size for zs in self.z],
            "a": self.a.size,
        }

    @classmethod
    def build(cls, econ: CollateralEconomy, c=None, k=None, z=None, a=None) -> "CollateralGrids":
        """Grids from ``{min, max, n}`` or ``{points}`` specs; missing pieces take defaults.

        ``z`` may be one spec for all states or a list with one spec per state.
        """
        E = econ.aggregate
        e0 = econ.e0
        amin = econ.share.min()
        c_specs = c if isinstance(c, (list, tuple)) else [c, c]
        if len(c_specs) != 2:
            raise SpecError("grid.c", "give one spec for both goods or a list of two")
        c0 = []
        for l in range(2):
            lo_d = 0.1 * e0[:, l].min()
            hi_d = E[0, l] / amin
            name = "grid.c" if not isinstance(c, list) else f"grid.c[{l}]"
            c0.append(_grid(c_specs[l], name, lo_d, hi_d, DEFAULT_N["c"], geometric=True,
                            must_hold=e0[:, l], what=f"every type's t=0 endowment of good {l + 1}"))
            consumption_grid(c0[-1], name, econ.utility.gamma, c_specs[l], example_min=lo_d)
        kmax = E[0, 1] / amin
        kk = _grid(k, "grid.k", 0.0, kmax, DEFAULT_N["k"], must_hold=np.array([0.0]), what="k = 0 (no storage)",
                   insert=[0.0])
        if np.any(kk < 0):
            raise SpecError("grid.k", "collateral cannot be negative; set min = 0")
        z_specs = z if isinstance(z, (list, tuple)) else [z] * econ.S
        if len(z_specs) != econ.S:
            raise SpecError("grid.z", f"give one spec for all states or a list of {econ.S}, got {len(z_specs)}")
        zz = []
        for s in range(econ.S):
            z_aut = E[1 + s, 0] / E[1 + s, 1]
            z_lo = E[1 + s, 0] / (E[1 + s, 1] + econ.R[s] * E[0, 1])
            name = "grid.z" if not isinstance(z, (list, tuple)) else f"grid.z[{s}]"
            zs = _grid(z_specs[s], name, 0.9 * z_lo, 1.1 * z_aut, DEFAULT_N["z"],
                       must_hold=np.array([z_aut]), what=f"the no-trade fundamental z = {z_aut:.6g} of state {s + 1}",
                       insert=[z_aut])
            if np.any(zs <= 0):
                raise SpecError(name, "market fundamentals must be positive")
            zz.append(zs)
        amax = E[1:, 0].max()
        aa = _grid(a, "grid.a", -amax, amax, DEFAULT_N["a"], must_hold=np.array([0.0]),
                   what="a = 0 (no securities)", insert=[0.0])
        return cls(c0=(c0[0], c0[1]), k=kk, z=tuple(zz), a=aa)
