"""Write ``tests/pinned/<case>.json``: every number ``segex`` prints today, for a refactor to be checked against.

Run it on the committed code only, from a clean worktree of HEAD::

    cd /work/main && git worktree add /tmp/segex-head HEAD      # once
    cp tests/make_pinned.py /tmp/segex-head/tests/
    cd /tmp/segex-head && PYTHONPATH=/tmp/segex-head python tests/make_pinned.py [--once] [CASE ...]
    cp /tmp/segex-head/tests/pinned/*.json /work/main/tests/pinned/

Each case runs ``segex.cli.main(argv)`` in this process with stdout captured (``--json`` prints one
JSON object), from the repository root (the grid paths are relative to it), or a README "From
Python" example. The output is stripped of what is not a result (:func:`strip`):

* wall times: every key ending in ``_s`` (``build_s``, ``solve_s``, ``certify_s``) or named
  ``seconds`` (Newton iterations, refinement path);
* certificate residuals: every check under a ``certificate`` key keeps its name, ``passed``,
  ``tol`` and ``note`` but loses ``residual`` (``certificate.passed`` is kept). Notes that quote
  numbers (the duality gap's objectives, the continuum gap) are compared number by number with
  the same tolerance as the values (see ``tests/test_pinned.py``).

Unless ``--once``, every case is run twice (all cases, then all again in reverse order, same
process) and any entry that differs between the two runs by more than the test's tolerance is
dropped as well and listed in the pin's ``stripped.run_to_run``; entries that differ bitwise but
within the tolerance are listed in ``stripped.run_to_run_within_tol`` and kept.

The same case table, runner and stripping are used by ``tests/test_pinned.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PIN_DIR = HERE / "pinned"

# Comparison tolerance (explained in tests/test_pinned.py).
RTOL = 1e-6
ATOL = 1e-8

# ------------------------------------------------------------------------------------------ cases
# name -> argv of ``segex`` (cwd: the repository root). Every grids/*.toml with its default command,
# then the variants the README lists that run in well under 20 s.
CLI_CASES = {
    "fgt_diamond_dybvig": ["solve", "grids/fgt_diamond_dybvig.toml", "--json"],
    "fgt_discount": ["solve", "grids/fgt_discount.toml", "--json"],
    "fgt_liquidity": ["solve", "grids/fgt_liquidity.toml", "--json"],
    "fgt_valuation_neutral": ["solve", "grids/fgt_valuation_neutral.toml", "--json"],
    "kt_diamond_dybvig": ["solve", "grids/kt_diamond_dybvig.toml", "--json"],
    "kt_env1": ["solve", "grids/kt_env1.toml", "--json"],
    "kt_env2": ["solve", "grids/kt_env2.toml", "--json"],
    "kt_env3": ["solve", "grids/kt_env3.toml", "--json"],
    "kt_env1_tol": ["solve", "grids/kt_env1.toml", "--json", "--tol", "1e-6"],
    "kt_env1_colgen": ["solve", "grids/kt_env1.toml", "--json", "--method", "colgen"],
    "kt_env2_tol": ["solve", "grids/kt_env2.toml", "--json", "--tol", "1e-6"],
    "fgt_discount_sp3_tol": ["solve", "grids/fgt_discount.toml", "--json", "--concept", "SP3", "--tol", "1e-6"],
}

README_COLLATERAL = '''\
import segex
from segex import CollateralEconomy, CollateralGrids
e = CollateralEconomy.create(share=[0.5, 0.5],
                             endowment=[[[3, 3], [1, 1]], [[1, 1], [3, 3]]],
                             prob=[1.0], R=[1.0], beta=1.0, gamma=2.0)
ex = segex.solve_externality(e)
print(ex.p0, ex.k, ex.certificate)
g = CollateralGrids.build(e, k={"min": 0, "max": 2.5, "n": 51}, z={"min": 0.6, "max": 1, "n": 41})
op = segex.solve_segregated(e, g)
print(op.to_dict()["p0"], op.certificate)'''

README_LIQUIDITY = '''\
import segex
e = segex.LiquidityEconomy.create(theta=[0.5, 1.5], prob=[0.5, 0.5], family="liquidity", gamma=2.0, R_hat=1.5)
sp3 = segex.solve_concept(e, "SP3", tol=1e-9)
print(sp3.R / e.R_hat, sp3.liquidity, sp3.certificate)
seg = segex.solve_concept(e, "segregated", tol=1e-9)
print(seg.to_dict()["exchanges"])'''


def _readme_collateral() -> dict:
    import segex
    from segex import CollateralEconomy, CollateralGrids

    e = CollateralEconomy.create(share=[0.5, 0.5], endowment=[[[3, 3], [1, 1]], [[1, 1], [3, 3]]],
                                 prob=[1.0], R=[1.0], beta=1.0, gamma=2.0)
    ex = segex.solve_externality(e)
    g = CollateralGrids.build(e, k={"min": 0, "max": 2.5, "n": 51}, z={"min": 0.6, "max": 1, "n": 41})
    op = segex.solve_segregated(e, g)
    return {
        "externality": {"p0": ex.p0, "k": ex.k, "certificate": ex.certificate.to_dict(),
                        "to_dict": ex.to_dict()},
        "segregated": {"p0": op.to_dict()["p0"], "certificate": op.certificate.to_dict(), "to_dict": op.to_dict()},
    }


def _readme_liquidity() -> dict:
    import segex

    e = segex.LiquidityEconomy.create(theta=[0.5, 1.5], prob=[0.5, 0.5], family="liquidity", gamma=2.0, R_hat=1.5)
    sp3 = segex.solve_concept(e, "SP3", tol=1e-9)
    seg = segex.solve_concept(e, "segregated", tol=1e-9)
    # Values only: the printed certificate is not pinned as text (it crashed with tol = 0 checks
    # when these were pinned; tests/test_engine.py now covers printing).
    return {
        "SP3": {"R_over_R_hat": sp3.R / e.R_hat, "liquidity": sp3.liquidity, "certificate": sp3.certificate.to_dict(),
                "to_dict": sp3.to_dict()},
        "segregated": {"exchanges": seg.to_dict()["exchanges"], "certificate": seg.certificate.to_dict(),
                       "to_dict": seg.to_dict()},
    }


PY_CASES = {
    "readme_collateral": (README_COLLATERAL, _readme_collateral),
    "readme_liquidity": (README_LIQUIDITY, _readme_liquidity),
}

CASES = list(CLI_CASES) + list(PY_CASES)


def command(case: str) -> str:
    if case in CLI_CASES:
        return "segex " + " ".join(CLI_CASES[case])
    return "python (README, From Python):\n" + PY_CASES[case][0]


# ------------------------------------------------------------------------------------- stripping
def is_volatile_key(key: str) -> bool:
    """Wall times: ``*_s`` (build_s, solve_s, certify_s) and ``seconds``."""
    return key.endswith("_s") or key == "seconds"


def plain(x):
    """JSON types (numpy arrays/scalars -> lists/numbers; non-finite floats -> None, as the CLI does)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return plain(x.tolist())
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return str(x)


def strip(x, in_certificate: bool = False, removed: set | None = None, path: str = "$"):
    """A copy of ``x`` without wall times and certificate residuals; ``removed`` collects the
    generic paths (list indices as ``[*]``) of what was dropped."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            p = f"{path}.{k}"
            if is_volatile_key(k) or (in_certificate and k == "residual"):
                if removed is not None:
                    removed.add(_generic(p))
                continue
            out[k] = strip(v, in_certificate or k == "certificate", removed, p)
        return out
    if isinstance(x, list):
        return [strip(v, in_certificate, removed, f"{path}[{i}]") for i, v in enumerate(x)]
    return x


def drop_paths(x, paths, path: str = "$"):
    """Remove entries whose generic path is in ``paths`` (run-to-run volatile, from the pin)."""
    if not paths:
        return x
    if isinstance(x, dict):
        return {k: drop_paths(v, paths, f"{path}.{k}") for k, v in x.items() if _generic(f"{path}.{k}") not in paths}
    if isinstance(x, list):
        return [drop_paths(v, paths, f"{path}[{i}]") for i, v in enumerate(x)]
    return x


def _generic(path: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", path)


# ------------------------------------------------------------------------------------ comparison
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _close(a, b) -> bool:
    return abs(a - b) <= ATOL + RTOL * abs(a)


def compare(pin, new, path: str = "$", diffs: list | None = None, key: str | None = None) -> list:
    """Every difference between ``pin`` and ``new`` as ``(path, pinned, new)``: dict keys and list
    lengths must match, strings/bools/None exactly, numbers to ``RTOL``/``ATOL``; a certificate
    ``note`` must have the same text with its quoted numbers equal to the same tolerance."""
    if diffs is None:
        diffs = []
    if isinstance(pin, dict) and isinstance(new, dict):
        for k in pin:
            if k not in new:
                diffs.append((f"{path}.{k}", pin[k], "<missing>"))
        for k in new:
            if k not in pin:
                diffs.append((f"{path}.{k}", "<missing>", new[k]))
        for k in pin:
            if k in new:
                compare(pin[k], new[k], f"{path}.{k}", diffs, k)
    elif isinstance(pin, list) and isinstance(new, list):
        if len(pin) != len(new):
            diffs.append((f"{path} (length)", len(pin), len(new)))
        for i, (a, b) in enumerate(zip(pin, new)):
            compare(a, b, f"{path}[{i}]", diffs)
    elif isinstance(pin, bool) or isinstance(new, bool):
        if not (isinstance(pin, bool) and isinstance(new, bool) and pin == new):
            diffs.append((path, pin, new))
    elif isinstance(pin, (int, float)) and isinstance(new, (int, float)):
        if not _close(pin, new):
            diffs.append((path, pin, new))
    elif isinstance(pin, str) and isinstance(new, str) and key == "note":
        if _NUM.sub("#", pin) != _NUM.sub("#", new) or not all(
                _close(float(a), float(b)) for a, b in zip(_NUM.findall(pin), _NUM.findall(new))):
            diffs.append((path, pin, new))
    elif pin != new or type(pin) is not type(new):
        diffs.append((path, pin, new))
    return diffs


def exact_diffs(a, b, path: str = "$", out: list | None = None) -> list:
    """Paths where ``a`` and ``b`` differ at all (bitwise), for the run-to-run check."""
    if out is None:
        out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            if k not in a or k not in b:
                out.append(f"{path}.{k}")
            else:
                exact_diffs(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(path)
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                exact_diffs(x, y, f"{path}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(path)
    return out


# ---------------------------------------------------------------------------------------- runner
def parse_cli_stdout(stdout: str):
    return json.loads(stdout)


def run_cli_captured(argv) -> tuple[int, str]:
    """``segex.cli.main(argv)`` from the repository root, stdout captured."""
    import segex.cli

    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(buf):
            rc = segex.cli.main(list(argv))
    finally:
        os.chdir(cwd)
    return rc, buf.getvalue()


def run_case(case: str) -> tuple[int | None, dict]:
    """(exit code or None for a Python example, output before stripping)."""
    if case in CLI_CASES:
        rc, out = run_cli_captured(CLI_CASES[case])
        return rc, parse_cli_stdout(out)
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return None, plain(PY_CASES[case][1]())
    finally:
        os.chdir(cwd)


def load_pin(case: str) -> dict:
    return json.loads((PIN_DIR / f"{case}.json").read_text())


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - provenance only
        return "unknown"


# ------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help=f"default: all ({', '.join(CASES)})")
    ap.add_argument("--once", action="store_true", help="one run per case (no run-to-run check)")
    args = ap.parse_args(argv)
    cases = args.cases or CASES
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown cases {unknown}")

    import segex

    segex_file = str(Path(segex.__file__).resolve())
    if not segex_file.startswith(str(REPO) + os.sep):
        sys.exit(f"segex imported from {segex_file}, not from {REPO}: set PYTHONPATH={REPO}")
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    print(f"segex {segex_file}, commit {commit}{' (tracked files MODIFIED)' if dirty else ''}", file=sys.stderr)

    runs: dict[str, list] = {c: [] for c in cases}
    passes = [cases] if args.once else [cases, list(reversed(cases))]
    for order in passes:
        for case in order:
            t = time.perf_counter()
            rc, raw = run_case(case)
            dt = time.perf_counter() - t
            removed: set = set()
            runs[case].append((rc, strip(raw, removed=removed), dt, removed))
            print(f"{case}: exit {rc}, {dt:.1f} s", file=sys.stderr, flush=True)

    PIN_DIR.mkdir(exist_ok=True)
    for case in cases:
        (rc, out, dt, removed), *rest = runs[case]
        unstable, within = set(), set()
        for rc2, out2, _, _ in rest:
            if rc2 != rc:
                sys.exit(f"{case}: exit code {rc} then {rc2}")
            for p, _, _ in compare(out, out2):
                unstable.add(_generic(p.removesuffix(" (length)")))
            within |= {_generic(p) for p in exact_diffs(out, out2)} - unstable
        pin = {
            "case": case,
            "command": command(case),
            "argv": CLI_CASES.get(case),
            "cwd": "repository root",
            "exit_code": rc,
            "pinned_from": {"commit": commit, "tracked_files_modified": bool(dirty), "segex": segex_file},
            "seconds_at_pinning": [round(r[2], 2) for r in runs[case]],
            "stripped": {
                "keys": sorted(removed),
                "rule": "keys ending in _s or named seconds (wall times); residual of every certificate check",
                "run_to_run": sorted(unstable),
                "run_to_run_within_tol": sorted(within),
            },
            "output": drop_paths(out, unstable),
        }
        (PIN_DIR / f"{case}.json").write_text(json.dumps(pin, indent=1, allow_nan=False) + "\n")
        print(f"{case}: wrote {PIN_DIR / (case + '.json')}; run-to-run dropped {sorted(unstable)}, "
              f"bitwise-only {sorted(within)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
