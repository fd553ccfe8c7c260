"""``segex check`` for PV's concepts: the certificate recomputed from a saved result.

For autarky, GED and RR the saved prices (q, K) and choices (sigma, theta, phi) are re-read,
the deliveries, consumption and welfare recomputed from the economy, and the full certificate
of :mod:`.certify` re-run on them (including the independent best responses); each recomputed
array must match the saved one. For thresholds the concept is re-solved (it needs no solver
state) and each value compared.
"""

from __future__ import annotations

import numpy as np

from ...certificate import MATCH_TOL, Certificate


def recheck(spec, ds, concept: str) -> Certificate:
    if concept == "thresholds":
        return _thresholds(spec, ds)
    return _equilibrium(spec, ds, concept)


def _equilibrium(spec, ds, concept) -> Certificate:
    from .exact import equilibrium_at

    econ = spec.economy.with_(reserve=0.0) if concept in ("autarky", "GED") else spec.economy
    eq = equilibrium_at(econ, concept, float(ds["q"]), ds["K"].values, ds["sigma"].values, ds["theta"].values,
                        ds["phi"].values, market=concept != "autarky")
    cert = eq.certificate
    for name in ("D", "x", "w"):
        saved = ds[name].values
        cert.add(f"{name}_recomputed", float(np.abs(getattr(eq, name) - saved).max() / (1 + np.abs(saved).max())),
                 MATCH_TOL, f"{name} recomputed from the saved prices and choices vs the saved {name}")
    return cert


def _thresholds(spec, ds) -> Certificate:
    from .thresholds import solve_thresholds

    t = solve_thresholds(spec.economy)
    cert = t.certificate
    for i, key in enumerate(ds["threshold"].values):
        got, saved = getattr(t, str(key)), float(ds["value"].values[i])
        if got is None or not np.isfinite(saved):
            cert.add(f"{key}_recomputed", 0.0 if (got is None) == (not np.isfinite(saved)) else np.inf, MATCH_TOL)
        else:
            cert.match(str(key), got, saved)
    return cert
