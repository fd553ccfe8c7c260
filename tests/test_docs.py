"""The documentation site (``docs/``, ``mkdocs.yml``) cannot drift from the code:

* it builds with ``mkdocs build --strict`` (a broken link, a missing snippet, an API entry
  griffe cannot find or render, any warning fails), with this checkout first on the path;
* every page's examples run as written, in order, in one interpreter per page whose working
  directory is a temporary one holding the repository's ``grids/``: each ```python block,
  and each ```bash block preceded by ``<!-- run -->`` (with ``segex`` this checkout's
  ``python -m segex``, under ``set -e``: a command that fails or is not certified fails);
* every ``segex ...`` command in a shell block of the docs and of README.md parses with the
  command line's own parser, and the grid files and examples it names exist; every grid file
  written out in a ```toml block validates;
* the JSON keys, netCDF variables and LP keys each economy's page lists (tables after a
  ``<!-- keys: KIND ECONOMY[/CONCEPT] ... -->`` comment) are exactly those a solve produces;
* the API reference has an entry for every module of the packages it covers.

The README's own Python blocks are run by tests/test_readme.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<marker><!-- run -->\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```", re.S | re.M)
KEYS = re.compile(r"^<!-- keys: (?P<kind>json|netcdf|lp) (?P<targets>[\w/ ]+?) -->\n(?P<table>(?:\|.*\n)+)", re.M)
#: Fence languages a page may use; only python (and bash after <!-- run -->) are executed, so a
#: python example fenced any other way would silently escape the tests.
LANGUAGES = {"python", "bash", "toml", "text", "json"}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.parts)


def _blocks(path: Path) -> list[dict]:
    """Every fenced block of a Markdown file: line, language, code, marked to run."""
    text = path.read_text(encoding="utf-8")
    return [{"line": text.count("\n", 0, m.start("code")) + 1, "lang": m.group("lang"), "code": m.group("code"),
             "run": bool(m.group("marker"))} for m in FENCE.finditer(text)]


# ------------------------------------------------------------------------------------ the build
def test_the_docs_build_strict(tmp_path):
    """``mkdocs build --strict`` into a temporary directory: no warning at all."""
    import importlib.util

    missing = [m for m in ("mkdocs", "material", "mkdocstrings_handlers.python", "pymdownx")
               if importlib.util.find_spec(m.split(".")[0]) is None]
    assert not missing, f"the docs build needs {missing}: python -m pip install '.[test]' (the test extra has them)"
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                       env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "WARNING" not in r.stderr, r.stderr[-4000:]
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    from segex.cli import parser

    for action in parser()._actions:  # the CLI page is generated from the parser: every subcommand is there
        for name in getattr(action, "choices", None) or ():
            assert f"segex {name}" in cli, name
    assert "--time-limit" in cli and "--workers" in cli
    for png in (ROOT / "examples").glob("*.png"):
        assert (site / "figures" / png.name).is_file(), png.name
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "segex.api.solve" in api and "Results" in api
    api = (site / "api" / "economies" / "index.html").read_text(encoding="utf-8")
    assert all(f"segex.economies.{e}.plot" in api for e in ("collateral", "liquidity", "incomplete_markets"))
    _works_offline(site)


def _works_offline(site: Path) -> None:
    """Every page loads its scripts, stylesheets and fonts from the site itself (MathJax is
    vendored, the theme uses the system's fonts), and MathJax's fonts are where it looks."""
    outside = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(?:https?:)?//[^"]*"[^>]*>')
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        loads = [m.group(0) for m in outside.finditer(text) if "<script" in m.group(0) or "stylesheet" in m.group(0)
                 or "preconnect" in m.group(0)]
        assert not loads, f"{page.relative_to(site)} loads from outside the site: {loads}"
    mathjax = site / "javascripts" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file() and (mathjax / "LICENSE").is_file()
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) == 23
    liquidity = (site / "economies" / "liquidity" / "index.html").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in liquidity and "javascripts/mathjax/tex-chtml.js" in liquidity


# --------------------------------------------------------------------------------- the examples
def _pages_with_examples():
    out = []
    for page in _pages():
        blocks = [b for b in _blocks(page) if b["lang"] == "python" or b["run"]]
        if blocks:
            slow = any("solve(" in b["code"] or b["lang"] == "bash" for b in blocks)
            out.append(pytest.param(page, id=str(page.relative_to(DOCS)), marks=[pytest.mark.slow] if slow else []))
    return out


DRIVER = textwrap.dedent('''
    import json, os, subprocess, sys, traceback
    blocks = json.load(open(sys.argv[1]))
    ns = {"__name__": "__main__"}
    for b in blocks:
        where = f"{b['page']}:{b['line']}"
        print(f"--- {where} ({b['lang']})", flush=True)
        if b["lang"] == "python":
            try:
                exec(compile(b["code"], where, "exec"), ns)
            except BaseException:
                traceback.print_exc()
                sys.exit(f"FAILED: the python block at {where}")
        else:
            script = "set -eo pipefail\\nsegex() { \\"$SEGEX_PYTHON\\" -m segex \\"$@\\"; }\\n" + b["code"]
            r = subprocess.run(["bash", "-c", script], env={**os.environ, "SEGEX_PYTHON": sys.executable})
            if r.returncode:
                sys.exit(f"FAILED: the bash block at {where} exited {r.returncode}")
''')


@pytest.mark.parametrize("page", _pages_with_examples())
def test_the_examples_of_a_page_run(page, tmp_path):
    blocks = [{**b, "page": str(page.relative_to(ROOT))} for b in _blocks(page) if b["lang"] == "python" or b["run"]]
    (tmp_path / "grids").symlink_to(ROOT / "grids", target_is_directory=True)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "driver.py").write_text(DRIVER)
    r = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "blocks.json")], cwd=tmp_path,
                       env=_env(), capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-5000:]}"


def test_every_code_block_is_executed_or_plainly_not_code():
    """A block is python (run), bash (run after <!-- run -->, else its segex commands are
    parsed), or toml / text / json (data); anything else would escape the tests."""
    for page in _pages():
        for b in _blocks(page):
            assert b["lang"] in LANGUAGES, f"{page.relative_to(ROOT)}:{b['line']}: fence '{b['lang']}'"
            assert not b["run"] or b["lang"] == "bash", f"{page.relative_to(ROOT)}:{b['line']}: <!-- run --> on non-bash"


def _commands():
    """(where, argv) of every ``segex`` command line in the shell blocks of the docs and README."""
    out = []
    for page in [*_pages(), ROOT / "README.md"]:
        for b in _blocks(page):
            if b["lang"] != "bash":
                continue
            for i, line in enumerate(b["code"].splitlines()):
                for part in re.split(r"&&|;|\|", line):
                    try:
                        tokens = shlex.split(part, comments=True)
                    except ValueError:
                        continue
                    tokens = tokens[:tokens.index(">")] if ">" in tokens else tokens
                    if tokens and tokens[0] in ("segex", "python") and (tokens[0] == "segex" or tokens[1:2] != ["-m"]):
                        out.append((f"{page.relative_to(ROOT)}:{b['line'] + i}", tokens))
    return out


def test_the_shell_commands_parse():
    from segex.cli import parser

    commands = _commands()
    assert len([c for c in commands if c[1][0] == "segex"]) >= 20
    for where, argv in commands:
        if argv[0] == "python":  # python examples/x.py or python benchmarks/x.py: the script exists
            script = next((a for a in argv[1:] if a.endswith(".py")), None)
            assert script is None or (ROOT / script).is_file(), (where, argv)
            continue
        try:
            parser().parse_args(argv[1:])
        except SystemExit as exc:  # --help / --version
            assert exc.code in (0, None), (where, argv)
        except Exception as exc:  # the CLI's usage error
            raise AssertionError(f"{where}: {shlex.join(argv)}: {exc}") from None
        for arg in argv[1:]:
            if arg.startswith("grids/"):
                assert (ROOT / arg).is_file(), (where, arg)


def test_the_grid_file_examples_are_valid():
    """Every ```toml block of the docs and README that is a grid file (``economy = ...``)
    validates as one (blocks that include a file from grids/ are that file)."""
    import tomllib

    from segex.io.config import parse_spec

    checked = 0
    for page in [*_pages(), ROOT / "README.md"]:
        for b in _blocks(page):
            if b["lang"] == "toml" and re.search(r"^economy\s*=", b["code"], re.M) and "--8<--" not in b["code"]:
                try:
                    parse_spec(tomllib.loads(b["code"]))
                except Exception as exc:
                    raise AssertionError(f"{page.relative_to(ROOT)}:{b['line']}: {exc}") from None
                checked += 1
    assert checked >= 3


# ----------------------------------------------------------------------------- documented keys
#: One or more solves per economy on its fastest grid files; the keys documented must be
#: exactly the union of what they produce.
RUNS = {
    "collateral": [("kt_env2.toml", {}), ("kt_env2.toml", {"concepts": ["segregated"], "tol": 1e-6})],
    "incomplete_markets": [("kt_incomplete.toml", {}), ("kt_incomplete.toml", {"concepts": ["segregated"], "tol": 1e-3})],
    "liquidity": [("fgt_discount.toml", {"concepts": ["SP1", "SP2", "CE3", "SP3", "segregated"]})],
    "diamond_dybvig": [("kt_diamond_dybvig.toml", {})],
    "default_reserves": [("pv_baseline.toml", {})],
}
#: Dicts keyed by exchange id: their keys are data, not documented names.
BY_ID = {"shares", "Delta", "by_exchange", "details"}
#: Keys documented that only some solves produce (none of the RUNS does), and when.
CONDITIONAL = {("collateral", "refinement.path[].note"): "a step whose continuum did not solve or certify"}


def _paths(d: dict, prefix: str = "") -> set[str]:
    """``a``, ``a.b``, ``a[].b``, ``by_exchange.<id>.b`` of a JSON object."""
    out = set()
    for key, value in d.items():
        path = f"{prefix}{key}"
        out.add(path)
        if key in BY_ID and isinstance(value, dict):
            inner = [v for v in value.values() if isinstance(v, dict)]
            for v in inner:
                out |= _paths(v, f"{path}.<id>.")
        elif isinstance(value, dict):
            out |= _paths(value, f"{path}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for v in value:
                out |= _paths(v, f"{path}[].")
    return out


def _actual(kind: str, solved: list, concept: str | None) -> set[str]:
    out = set()
    for res in solved:
        if kind == "lp":
            out |= _paths(res.lp or {})
        elif concept in res:
            if kind == "json":
                out |= _paths(res[concept].to_dict())
            else:
                out |= {str(v) for v in res[concept].to_dataset().variables}
    return out


def _documented_tables() -> list[tuple[str, str, str | None, set[str], str]]:
    """(kind, economy, concept or None, documented keys, where) of every keys table."""
    found = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for m in KEYS.finditer(text):
            rows = m.group("table").splitlines()[2:]  # header and separator
            keys = {k for row in rows for k in re.findall(r"`([^`]+)`", row.split("|")[1])}
            line = text.count("\n", 0, m.start()) + 1
            for target in m.group("targets").split():  # economy or economy/concept
                economy, _, concept = target.partition("/")
                found.append((m.group("kind"), economy, concept or None, keys, f"{page.relative_to(ROOT)}:{line}"))
    return found


def test_every_economy_documents_its_keys():
    from segex.registry import economies

    tables = {(kind, economy, concept) for kind, economy, concept, _, _ in _documented_tables()}
    for name, econ in economies().items():
        if econ.main_lp:  # an economy solved without an LP has no lp keys
            assert ("lp", name, None) in tables, name
        for concept in econ.concept_names:
            assert {("json", name, concept), ("netcdf", name, concept)} <= tables, (name, concept)
    assert set(RUNS) == set(economies())


@pytest.mark.slow
@pytest.mark.parametrize("economy", sorted(RUNS))
def test_the_documented_keys_are_the_solved_ones(economy):
    """Per economy one set of solves (RUNS); every table of its keys must list exactly
    what they produce."""
    import segex

    solved = [segex.solve(ROOT / "grids" / f, **kw) for f, kw in RUNS[economy]]
    problems = []
    for kind, econ, concept, documented, where in _documented_tables():
        if econ != economy:
            continue
        actual = _actual(kind, solved, concept)
        assert actual, (where, kind, concept)
        actual |= {key for (e, key) in CONDITIONAL if e == economy and key in documented}
        if documented != actual:
            problems.append(f"{where} ({kind} {concept or ''}): documented but not produced: "
                            f"{sorted(documented - actual)}; produced but not documented: {sorted(actual - documented)}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------- API reference
def test_the_api_reference_covers_every_module():
    """Every module of segex.markets, segex.engine and segex.backends, and every economy
    package, has a ``::: module`` entry in docs/api/."""
    entries = {m for page in (DOCS / "api").glob("*.md")
               for m in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M)}
    expected = {"segex", "segex.registry", "segex.api.load", "segex.api.solve", "segex.api.open", "segex.api.Results"}
    for pkg in ("markets", "engine", "backends"):
        expected |= {f"segex.{pkg}.{p.stem}" for p in (ROOT / "segex" / pkg).glob("*.py") if p.stem != "__init__"}
    expected |= {f"segex.economies.{p.name}" for p in (ROOT / "segex" / "economies").iterdir()
                 if (p / "__init__.py").is_file()}
    assert expected <= entries, sorted(expected - entries)
