"""Every ```python block of README.md runs as written, in a fresh interpreter whose working
directory is a temporary one holding the repository's ``grids/`` (so the examples' relative
paths work and the files they write land there), with this checkout first on the path.
Blocks that solve an economy take seconds and are marked slow.

The collateral example must print the command line's p0 for the same grid file (the README
says so): its output is compared with the pinned ``segex solve grids/kt_env1.toml --json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def _params():
    return [pytest.param(code, id=f"line{line}", marks=[pytest.mark.slow] if "solve(" in code else [])
            for line, code in _blocks()]


def run_block(code: str, cwd: Path) -> subprocess.CompletedProcess:
    (cwd / "grids").symlink_to(ROOT / "grids", target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_readme_has_python_examples():
    assert len(_blocks()) >= 3


@pytest.mark.parametrize("code", _params())
def test_readme_python_block_runs(code, tmp_path):
    r = run_block(code, tmp_path)
    assert r.returncode == 0, f"README block failed:\n{code}\n--- stderr ---\n{r.stderr[-3000:]}"
    if "grids/kt_env1.toml" in code:  # the same p0 as segex solve grids/kt_env1.toml
        pin = json.loads((ROOT / "tests" / "pinned" / "kt_env1.json").read_text())
        p0 = pin["output"]["segregated"]["p0"]
        assert f"{round(p0, 4)}" in r.stdout.splitlines(), (p0, r.stdout)


def test_readme_examples_use_only_public_names():
    """The examples reach segex through ``segex.<name>`` with names the package exports
    (``segex.open`` included), plus the documented registry module."""
    import segex

    for _, code in _blocks():
        for name in re.findall(r"\bsegex\.(\w+)", code):
            assert name in segex.__all__ or name in ("open", "registry", "economies", "load", "solve"), name
