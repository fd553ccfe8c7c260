"""Everything ``segex`` prints, pinned from the committed code before the collateral/liquidity refactor.

Each case reruns the command recorded in ``tests/pinned/<case>.json`` in this process
(``segex.cli.main``, stdout via capsys; or a README "From Python" example), strips wall times and
certificate residuals exactly as ``tests/make_pinned.py`` did when it wrote the pin, and compares:
the exit code exactly, the JSON structure (same keys, same list lengths) exactly, strings and bools
exactly, numbers to ``rtol=1e-6, atol=1e-8``.

Why that tolerance: the LPs are deterministic (the same input gives bitwise the same output, run
to run and in any order — checked when pinning), so the tolerance only has to absorb float
reassociation in refactored sums and HiGHS's 1e-9 primal/dual feasibility tolerance (a vertex
that is re-reached by a slightly different path can move its values by that much). A real change
of LP vertex, price or allocation is far larger than 1e-6 relative.

Pins come from HEAD only (see make_pinned.py); never re-pin from a working tree to make this pass.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_pinned", _HERE / "make_pinned.py")
pinned = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_pinned", pinned)
_spec.loader.exec_module(pinned)

# Tolerance, see the module docstring: float reassociation and HiGHS's 1e-9 feasibility
# tolerance only; a real change in vertex, price or allocation is far larger.
RTOL = pinned.RTOL  # 1e-6
ATOL = pinned.ATOL  # 1e-8
MAX_REPORTED = 30

# Cases that take more than ~5 s (2-core machine; idle / under load when pinned): kt_env3 66-119 s,
# kt_env1 9-17 s, kt_env1_colgen 6-12 s, readme_collateral 9-13 s, kt_env2 4-9.5 s,
# fgt_liquidity 4.3-7.4 s, readme_liquidity 4.3-6.6 s. The rest take 0.3-3.7 s.
SLOW = {"kt_env3", "kt_env1", "kt_env1_colgen", "readme_collateral", "kt_env2", "fgt_liquidity",
        "readme_liquidity"}


def _params():
    return [pytest.param(c, id=c, marks=[pytest.mark.slow] if c in SLOW else []) for c in pinned.CASES]


def _short(v, n=160):
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


@pytest.mark.parametrize("case", _params())
def test_pinned(case, capsys, monkeypatch):
    pin = pinned.load_pin(case)
    monkeypatch.chdir(pinned.REPO)  # the recorded commands use paths relative to the repository root
    if case in pinned.CLI_CASES:
        argv = pinned.CLI_CASES[case]
        assert argv == pin["argv"], f"case table and pin disagree on the command: {argv} vs {pin['argv']}"
        capsys.readouterr()
        import segex.cli

        rc = segex.cli.main(list(argv))
        out = pinned.parse_cli_stdout(capsys.readouterr().out)
    else:
        rc, out = pinned.run_case(case)

    new = pinned.drop_paths(pinned.strip(out), set(pin["stripped"]["run_to_run"]))
    diffs = pinned.compare(pin["output"], new)
    problems = []
    if rc != pin["exit_code"]:
        problems.append(f"exit code: pinned {pin['exit_code']}, now {rc}")
    if diffs:
        problems.append(f"{len(diffs)} entries differ (rtol={RTOL}, atol={ATOL}); "
                        f"first {min(len(diffs), MAX_REPORTED)}:")
        problems += [f"  {p}: pinned {_short(a)}, now {_short(b)}" for p, a, b in diffs[:MAX_REPORTED]]
    if problems:
        pytest.fail(f"{case} ({pin['command'].splitlines()[0]}) differs from its pin "
                    f"(commit {pin['pinned_from']['commit'][:10]}):\n" + "\n".join(problems), pytrace=False)


def test_every_pin_has_a_case():
    files = {p.stem for p in pinned.PIN_DIR.glob("*.json")}
    assert files == set(pinned.CASES), f"pins without a case: {files - set(pinned.CASES)}; " \
                                       f"cases without a pin: {set(pinned.CASES) - files}"


def test_compare_catches_changes():
    """The comparison itself: tolerance, structure, strings, notes with numbers."""
    base = {"a": 1.0, "b": [1, 2], "s": "x", "t": True, "n": None,
            "certificate": {"c": {"passed": True, "tol": 1e-7, "note": "primal -2.315271226, dual -2.315271226"}}}
    same = {"a": 1.0 + 5e-7, "b": [1, 2], "s": "x", "t": True, "n": None,
            "certificate": {"c": {"passed": True, "tol": 1e-7, "note": "primal -2.315271227, dual -2.315271225"}}}
    assert pinned.compare(base, same) == []
    for path, change in [("$.a", {"a": 1.0 + 2e-6}), ("$.b (length)", {"b": [1, 2, 3]}), ("$.s", {"s": "y"}),
                         ("$.t", {"t": False}), ("$.n", {"n": 0.0}), ("$.x", {"x": 1})]:
        assert path in [d[0] for d in pinned.compare(base, base | change)], path
    note = {"certificate": {"c": {"passed": True, "tol": 1e-7, "note": "primal -2.3, dual -2.4"}}}
    assert pinned.compare(base, base | note)
    assert pinned.strip({"lp": {"rows": 3, "solve_s": 1.0}, "certificate": {"passed": True, "x": {
        "residual": 1e-12, "tol": 1e-9, "passed": True}}}) == {
        "lp": {"rows": 3}, "certificate": {"passed": True, "x": {"tol": 1e-9, "passed": True}}}
