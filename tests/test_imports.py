"""The package's import structure: every module imports on its own; segex's own import
graph (top-level and function-level imports alike) has no cycle; the engine imports no
backend or economy, the backends no economy; economics modules load no solver when
imported; and no private name (``_name``) is used across modules.

The graph is read statically with :mod:`ast`. An edge ``a -> b`` is any import statement
in module ``a`` that names module ``b`` (``from .b import x``, ``from . import b``,
``import segex.b``, ``from ..pkg import x`` -> the package ``pkg``), wherever it sits.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "segex"

#: Solvers an economics module may import only inside the functions that use them.
SOLVERS = ("cvxpy", "highspy", "segex.backends.highs", "segex.backends.cvxpy_backend")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _within(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


@dataclass(frozen=True)
class Import:
    """One name an import statement brings in: the module it resolves to (the longest
    segex module it names, or the external top-level module), the imported name if it
    is not a module itself, where it is and whether it runs when the module is imported."""

    source: str
    target: str
    name: str | None
    line: int
    top_level: bool


def _package_of(mod: str) -> str:
    return mod if MODULES[mod].name == "__init__.py" else mod.rpartition(".")[0]


def _resolve(dotted: str) -> tuple[str, str | None]:
    """(module, attribute or None) for ``dotted``: the longest prefix that is a segex
    module; outside segex, the top-level package."""
    if not _within(dotted, "segex"):
        return dotted.split(".")[0], None
    head, rest = dotted, []
    while head and head not in MODULES:
        head, _, last = head.rpartition(".")
        rest.insert(0, last)
    return head, (rest[0] if rest else None)


def _imports(mod: str, tree: ast.Module) -> list[Import]:
    out = []

    def visit(node, top):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target, name = _resolve(alias.name)
                out.append(Import(mod, target, name, node.lineno, top))
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = _package_of(mod).split(".")
                base = base[:len(base) - (node.level - 1)]
                where = ".".join(base + ([node.module] if node.module else []))
            else:
                where = node.module
            for alias in node.names:
                target, name = _resolve(f"{where}.{alias.name}")
                out.append(Import(mod, target, name, node.lineno, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return out


TREES = {mod: ast.parse(path.read_text(), str(path)) for mod, path in MODULES.items()}
IMPORTS = [imp for mod, tree in TREES.items() for imp in _imports(mod, tree)]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line}"


# ------------------------------------------------------------------------- importable alone
#: A clean interpreter that has imported only third-party libraries (never cvxpy or highspy)
#: forks one child per module: each child imports that module alone, as a fresh interpreter
#: would, without paying numpy/scipy/xarray's start-up every time.
ZYGOTE = r"""
import json, os, sys
import numpy, scipy.sparse, scipy.optimize, scipy.linalg, xarray  # noqa: F401  (shared start-up)
for line in sys.stdin:
    mod = line.strip()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            __import__(mod)
            out = {"ok": True, "solvers": [m for m in ("cvxpy", "highspy") if m in sys.modules]}
        except BaseException as exc:
            import traceback
            out = {"ok": False, "error": traceback.format_exc()[-2000:]}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    print(data.decode(), flush=True)
"""


@pytest.fixture(scope="module")
def zygote():
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


@pytest.mark.parametrize("mod", list(MODULES))
def test_module_imports_alone(mod, zygote):
    """Importing ``mod`` first, in an interpreter holding no segex module, works, and an
    economics or engine module loads no solver on the way."""
    import json

    zygote.stdin.write(mod + "\n")
    zygote.stdin.flush()
    out = json.loads(zygote.stdout.readline())
    assert out["ok"], out.get("error")
    if _within(mod, "segex.economies") or _within(mod, "segex.engine"):
        assert not out["solvers"], f"importing {mod} loaded {out['solvers']}"


def test_the_zygote_holds_no_segex_module():
    code = ZYGOTE.split("for line in sys.stdin")[0] + "print(sorted(m for m in sys.modules if m.startswith(('segex', 'cvxpy', 'highspy'))))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr


# ------------------------------------------------------------------------- no cycle
def _graph() -> dict[str, set[str]]:
    g = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.target in MODULES and imp.target != imp.source:
            g[imp.source].add(imp.target)
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through every strongly connected component with more than one module
    (Tarjan's algorithm, then a shortest path back to the component's first module)."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(g)))
    for v in sorted(g):
        if v not in index:
            strong(v)
    out = []
    for comp in comps:
        start = min(comp)
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            nxt = sorted(w for w in g[path[-1]] if w in comp)
            if start in nxt:
                out.append(path + [start])
                break
            for w in nxt:
                if w not in seen:
                    seen.add(w)
                    paths.append(path + [w])
    return out


def _edge_lines(a: str, b: str) -> str:
    return ", ".join(_where(i) for i in IMPORTS if i.source == a and i.target == b)


def test_import_graph_has_no_cycle():
    bad = []
    for cycle in _cycles(_graph()):
        steps = "; ".join(f"{a} -> {b} ({_edge_lines(a, b)})" for a, b in zip(cycle, cycle[1:]))
        bad.append(f"cycle {' -> '.join(cycle)}: {steps}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------- layering
@pytest.mark.parametrize("layer, forbidden", [("segex.engine", ("segex.backends", "segex.economies")),
                                              ("segex.backends", ("segex.economies",))])
def test_layers_import_nothing_above_them(layer, forbidden):
    bad = [f"{_where(i)}: {i.source} imports {i.target}" for i in IMPORTS
           if _within(i.source, layer) and any(_within(i.target, f) for f in forbidden)]
    assert not bad, "\n".join(bad)


def test_economics_modules_import_no_solver_at_import_time():
    bad = [f"{_where(i)}: {i.source} imports {i.target} at module level" for i in IMPORTS
           if _within(i.source, "segex.economies") and i.top_level and any(_within(i.target, s) for s in SOLVERS)]
    assert not bad, "\n".join(bad)


def test_the_backends_dispatcher_loads_backends_lazily():
    bad = [f"{_where(i)}: {i.target}" for i in IMPORTS
           if i.source == "segex.backends" and i.top_level and _within(i.target, "segex.backends") and i.target != i.source]
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------- private names
def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def _module_aliases(mod: str, tree: ast.Module) -> dict[str, str]:
    """Local names bound to segex modules by the module's imports (``import segex.a as x``,
    ``from . import lottery as lot``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    out[alias.asname] = alias.name
                elif not alias.asname and _within(alias.name, "segex"):
                    out["segex"] = "segex"
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for imp in _imports(mod, ast.Module(body=[node], type_ignores=[])):
                if imp.name is None and imp.target in MODULES:
                    alias = next(a for a in node.names if imp.target.endswith("." + a.name))
                    out[alias.asname or alias.name] = imp.target
    return out


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _private_uses() -> list[str]:
    out = []
    for imp in IMPORTS:
        if _within(imp.target, "segex") and imp.target != imp.source and _private(imp.name):
            out.append(f"{_where(imp)}: {imp.source} imports {imp.target}.{imp.name}")
    for mod, tree in TREES.items():
        aliases = _module_aliases(mod, tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                dotted = _dotted(node.value)
                if dotted is None:
                    continue
                head, _, rest = dotted.partition(".")
                if head not in aliases:
                    continue
                target = aliases[head] + ("." + rest if rest else "")
                if target in MODULES and target != mod:
                    out.append(f"{MODULES[mod].relative_to(ROOT)}:{node.lineno}: {mod} uses {target}.{node.attr}")
    return out


def test_no_private_name_crosses_modules():
    bad = _private_uses()
    assert not bad, "\n".join(bad)


def test_the_checks_see_what_they_should():
    """The static reading finds a known edge, a function-level import and a private use."""
    edges = {(i.source, i.target, i.top_level) for i in IMPORTS}
    assert ("segex.backends.highs", "segex.engine.diagnose", True) in edges
    assert ("segex.backends", "segex.backends.highs", False) in edges
    tree = ast.parse("from .lottery import _x\nfrom . import lottery as lot\nlot._y()\n")
    mod = "segex.economies.liquidity.concepts"
    found = [i for i in _imports(mod, tree) if _private(i.name)]
    assert [(i.target, i.name) for i in found] == [("segex.economies.liquidity.lottery", "_x")]
    assert _module_aliases(mod, tree) == {"lot": "segex.economies.liquidity.lottery"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
