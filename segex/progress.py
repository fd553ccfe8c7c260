"""Progress of the phases of a solve that can take more than a few seconds -- the Negishi
search, refinement rounds, fee intervals, certificates that solve LPs, sweeps -- as one
mechanism: a tqdm bar on stderr with counts, and an ETA where the number of steps is known.

A bar appears only after :data:`DELAY` seconds (a quick phase prints nothing) and leaves no
line behind when it ends; lines a phase reports along the way (a refinement step) go above it
(:meth:`Bar.write`). ``Bar(..., enabled=False)`` is silent and costs nothing: tqdm is not even
imported. Solvers take ``progress: bool``; ``segex solve`` and ``segex sweep`` enable it only
when stderr is a terminal and neither ``--quiet`` nor ``--verbose`` is given (stdout, and so
``--json``, never sees it).
"""

from __future__ import annotations

import sys

#: Seconds a phase runs before its bar appears.
DELAY = 2.0


class Bar:
    """A progress bar on stderr (module docstring): ``update(n, **postfix)``,
    ``set_postfix(**values)``, ``write(line)`` and ``close()``; a context manager."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "LP", enabled: bool = True):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=desc, total=total, unit=unit, leave=False, delay=DELAY, file=sys.stderr,
                             dynamic_ncols=True)

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1, **postfix) -> None:
        """``n`` more steps done; ``postfix``: values shown after the counts (a residual)."""
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)

    def set_postfix(self, **values) -> None:
        """Values shown after the counts from the next update on (not before :data:`DELAY`)."""
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def write(self, line: str) -> None:
        """A line on stderr above the bar (nothing when the bar is disabled)."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Bar", "DELAY"]
