"""What every solution concept's result shares beyond the protocol
(:class:`segex.registry.Result`): a one-line summary for people.

``print(result)`` or the REPL shows a status line and the headline numbers::

    segregated: certified (12 checks), LP 192×78150 (228575 nnz) 7.6 s; p0 = 1.9913, K = 0.584, welfare = -2.3153

instead of the dataclass dump of every array. A result class inherits
:class:`ResultMixin` (dataclasses with ``repr=False``, so the dataclass does not write its
own ``__repr__``), names its concept (``CONCEPT``, or a ``concept`` / ``name``
attribute) and picks its headline numbers (``HEADLINE``: keys of ``to_dict()``; by
default the first scalar numbers there), or overrides :meth:`~ResultMixin.headline`
where ``to_dict()`` is costly.
"""

from __future__ import annotations

import math

#: How many scalar numbers of ``to_dict()`` the default headline shows.
HEADLINE_SIZE = 4


class ResultMixin:
    """``__str__`` / ``__repr__`` as one status line (module docstring)."""

    CONCEPT: str = ""
    HEADLINE: tuple = ()

    @property
    def concept_name(self) -> str:
        """The concept this result solves (its JSON key)."""
        for attr in ("concept", "name"):
            v = getattr(self, attr, None)
            if isinstance(v, str) and v:
                return v
        return self.CONCEPT or type(self).__name__

    def headline(self) -> dict:
        """The few numbers a reader looks at first: ``HEADLINE`` keys of ``to_dict()``, or
        its first scalar numbers; values that do not apply (NaN) are left out."""
        d = {k: v for k, v in self.to_dict().items() if isinstance(v, str) or _is_number(v) and math.isfinite(v)}
        keys = self.HEADLINE or [k for k, v in d.items() if _is_number(v)][:HEADLINE_SIZE]
        return {k: d[k] for k in keys if k in d}

    def summary(self, concept: str | None = None) -> str:
        """One line: concept, certificate, LP size and time, headline numbers."""
        return status_line(self, concept or self.concept_name)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary()}>"


def status_line(result, concept: str) -> str:
    """``concept: certified (n checks), LP rows×cols (nnz nnz) t s; key = value, ...`` for any
    result of the protocol; never raises (a repr must not)."""
    parts = [f"{concept}: {certificate_status(getattr(result, 'certificate', None))}"]
    lp = getattr(result, "lp", None)
    if isinstance(lp, dict) and lp.get("rows") is not None:
        parts[0] += f", {lp_status(lp)}"
    try:
        numbers = result.headline() if hasattr(result, "headline") else {}
    except Exception as exc:  # a summary must never fail; say why the numbers are missing
        numbers = {}
        parts[0] += f" (no headline numbers: {type(exc).__name__})"
    if numbers:
        parts.append(", ".join(f"{k} = {_fmt(v)}" for k, v in numbers.items()))
    return "; ".join(parts)


def certificate_status(cert) -> str:
    """``certified (12 checks)``, ``NOT certified: a, b failed (of 12 checks)`` or ``no certificate``."""
    if cert is None:
        return "no certificate"
    if hasattr(cert, "checks"):
        n, failed = len(cert.checks), list(cert.failed())
    else:  # a plain dict {"passed": ..., check: {"passed": ...}}
        checks = {k: v for k, v in dict(cert).items() if isinstance(v, dict)}
        n, failed = len(checks), [k for k, v in checks.items() if not v.get("passed", True)]
    if not failed:
        return f"certified ({n} checks)"
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"NOT certified: {shown} failed (of {n} checks)"


def lp_status(lp: dict) -> str:
    """``LP 192×78150 (228575 nnz) 7.6 s`` (build plus solve time)."""
    seconds = sum(v for v in (lp.get("build_s"), lp.get("solve_s")) if isinstance(v, (int, float)))
    nnz = f" ({lp['nnz']} nnz)" if lp.get("nnz") is not None else ""
    return f"LP {lp.get('rows')}×{lp.get('cols')}{nnz} {seconds:.1f} s"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v) -> str:
    return v if isinstance(v, str) else f"{v:.5g}"


__all__ = ["ResultMixin", "certificate_status", "lp_status", "status_line"]
