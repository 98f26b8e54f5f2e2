"""The layers point one way (issue 12.1): the import graph, read with ``ast``, as data.

Every ``.py`` under ``minidl/`` and ``plugins/*/<package>/`` is parsed; each ``import``
and ``from ... import`` becomes an edge, at module level and inside functions alike (so
does the book layer's ``first_party("minidl_x.y", ...)``, an import by name).
Importing ``a.b.c`` also runs the packages ``a.b`` (when it is not an ancestor of the
importer, which is running already), so those count as edges too. Imports under
``if TYPE_CHECKING:`` never run: they are held to the layer directions but left out of
the cycle check.

Layers, lowest first (PLAN.md): **core** (``minidl.*`` but the ones below), then
**components** (``minidl.default_plugins.*`` and the first-party plugins ``minidl_*``),
then the **book** layer ``minidl.d2l.*``; ``minidl.cli.*`` imports core only and the
author kit ``minidl.testing`` core and the default plugins.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target``, at ``line``; ``lazy``: inside a function;
    ``typing``: under ``if TYPE_CHECKING:`` (never runs)."""

    source: str
    target: str
    line: int
    lazy: bool = False
    typing: bool = False


# -- reading the graph ------------------------------------------------------------------
def module_files(repo: Path = REPO) -> dict[str, Path]:
    """Module name -> file, for minidl/ and every first-party plugin package."""
    roots = [repo / "minidl", *sorted(p for p in (repo / "plugins").glob("*/*") if (p / "__init__.py").is_file())]
    files = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _lazy_import(node: ast.AST) -> ast.Import | None:
    """``first_party("minidl_x.y", ...)`` (:mod:`minidl.d2l.lazy`), read as ``import minidl_x.y``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "first_party"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return ast.Import(names=[ast.alias(name=node.args[0].value)], lineno=node.lineno)
    return None


def _imports(tree: ast.AST) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import node with (inside a function, under TYPE_CHECKING)."""
    def walk(node: ast.AST, lazy: bool, typing: bool) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
        for child in ast.iter_child_nodes(node):
            call = _lazy_import(child)
            if call is not None:
                yield call, lazy, typing
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, lazy, typing
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), lazy, True)
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), lazy, typing)
            else:
                inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from walk(child, inner, typing)
    return walk(tree, False, False)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(name: str, known: Mapping[str, Path], importer: str) -> list[str]:
    """``name`` and the packages above it that importing it runs, among ``known`` modules."""
    parts = name.split(".")
    found = []
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if candidate in known and not (importer == candidate or importer.startswith(candidate + ".")):
            found.append(candidate)
    return found


def import_graph(files: Mapping[str, Path] | None = None,
                 sources: Mapping[str, str] | None = None) -> list[Edge]:
    """The edges among ``files`` (or in-memory ``sources``: module -> code)."""
    files = module_files() if files is None and sources is None else (files or {})
    texts = dict(sources) if sources is not None else {m: p.read_text(encoding="utf-8") for m, p in files.items()}
    packages = {m for m, p in files.items() if p.name == "__init__.py"} | {
        m for m in texts if any(o.startswith(m + ".") for o in texts)}
    edges = []
    for module, text in texts.items():
        for node, lazy, typing in _imports(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _resolve(module, module in packages, node)
                # from pkg import sub: sub is a module when known, else a name of pkg
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in texts else base for a in node.names]
            for name in names:
                for target in _targets(name, texts, module):
                    edges.append(Edge(module, target, node.lineno, lazy, typing))
    return sorted(set(edges), key=lambda e: (e.source, e.target, e.line))


# -- the rules ---------------------------------------------------------------------------
def layer_of(module: str) -> str:
    """``core``, ``defaults``, ``plugin:<package>``, ``book``, ``cli``, ``kit`` or ``other``."""
    def under(prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    if module.startswith("minidl_"):
        return "plugin:" + module.split(".")[0]
    for prefix, layer in (("minidl.d2l", "book"), ("minidl.cli", "cli"), ("minidl.default_plugins", "defaults"),
                          ("minidl.testing", "kit")):
        if under(prefix):
            return layer
    return "core" if under("minidl") else "other"


ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "defaults": {"core", "defaults"},
    "plugin": {"core", "defaults"},  # and the plugin itself, never another first-party plugin
    "book": {"core", "defaults", "plugin", "book"},
    "cli": {"core", "cli"},
    "kit": {"core", "defaults", "kit"},
}


def violations(edges: Iterable[Edge]) -> list[str]:
    """Each import that points the wrong way, as a line naming both modules (one line per
    import statement: its most specific target)."""
    bad: dict[tuple[str, int], tuple[str, str]] = {}
    for edge in edges:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source == "other" or target == "other" or source == target:
            continue
        kind, target_kind = source.split(":")[0], target.split(":")[0]
        if target_kind not in ALLOWED[kind]:
            line = f"{edge.source}:{edge.line} imports {edge.target} ({source} -> {target})"
        elif kind == "book" and target_kind == "plugin" and not edge.lazy and not edge.typing:
            line = (f"{edge.source}:{edge.line} imports the first-party plugin {edge.target} "
                    f"at module level; import it inside the function that needs it")
        else:
            continue
        key = (edge.source, edge.line)
        if key not in bad or len(edge.target) > len(bad[key][0]):
            bad[key] = (edge.target, line)
    return [line for _, line in sorted(bad.values(), key=lambda item: item[1])]


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (runtime edges only)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if not edge.typing:
            graph.setdefault(edge.source, set()).add(edge.target)
            graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


# -- the tree ----------------------------------------------------------------------------
def test_the_graph_covers_the_tree():
    modules = module_files()
    assert {"minidl", "minidl.d2l", "minidl.trainer", "minidl.default_plugins.notebook",
            "minidl_classify.plugin", "minidl_concise.plugin", "minidl_optim.plugin"} <= set(modules)
    targets = {edge.target for edge in import_graph()}
    assert "minidl.errors" in targets and "minidl.trainer" in targets


def test_imports_point_one_way():
    bad = violations(import_graph())
    assert not bad, "imports against the layers of PLAN.md:\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# -- the checks themselves, on synthetic graphs ------------------------------------------
def _graph(**sources: str) -> list[Edge]:
    return import_graph(sources={name.replace("__", "."): text for name, text in sources.items()})


CLEAN = {
    "minidl": "from minidl.errors import MinidlError\n",
    "minidl__errors": "",
    "minidl__functional": "import torch\nfrom minidl.errors import MinidlError\n",
    "minidl__default_plugins": "",
    "minidl__default_plugins__notebook": "def f():\n    from minidl.functional import sgd\n",
    "minidl__d2l": "from minidl.functional import sgd\nfrom minidl.default_plugins import notebook\n"
                   "def g():\n    import minidl_classify.plugin\n",
    "minidl_classify": "",
    "minidl_classify__plugin": "from minidl.default_plugins.notebook import f\nfrom . import shapes\n",
    "minidl_classify__shapes": "",
}


def test_a_clean_synthetic_graph_passes():
    edges = _graph(**CLEAN)
    assert ("minidl_classify.plugin", "minidl_classify.shapes") in {(e.source, e.target) for e in edges}
    assert violations(edges) == [] and cycles(edges) == []


@pytest.mark.parametrize(("module", "code", "expected"), [
    ("minidl__functional", "def f():\n    import minidl.d2l\n", "(core -> book)"),
    ("minidl__functional", "from minidl.default_plugins import notebook\n", "(core -> defaults)"),
    ("minidl__default_plugins__notebook", "from minidl import d2l\n", "(defaults -> book)"),
    ("minidl__default_plugins__notebook", "import minidl_classify.plugin\n", "(defaults -> plugin:minidl_classify)"),
    ("minidl_classify__plugin", "def f():\n    from minidl.d2l import sgd\n", "(plugin:minidl_classify -> book)"),
    ("minidl_classify__plugin", "import minidl_concise\n", "(plugin:minidl_classify -> plugin:minidl_concise)"),
    ("minidl__d2l", "import minidl_classify.plugin\n", "at module level"),
    ("minidl__cli", "from minidl.d2l import sgd\n", "(cli -> book)"),
    ("minidl__cli", "import minidl.default_plugins.notebook\n", "(cli -> defaults)"),
])
def test_a_forbidden_import_fails(module, code, expected):
    sources = {**CLEAN, "minidl_concise": "", "minidl__cli": "", module: code}
    bad = violations(_graph(**sources))
    assert len(bad) == 1 and expected in bad[0], bad


def test_a_cycle_fails_even_through_a_function_or_a_package():
    sources = {**CLEAN, "minidl__errors": "def f():\n    import minidl.functional\n"}
    assert cycles(_graph(**sources)) == [["minidl.errors", "minidl.functional"]]
    # importing minidl.d2l.x runs minidl.d2l: the package is part of the cycle
    sources = {**CLEAN, "minidl__d2l__linear": "", "minidl__d2l": "import minidl.d2l.linear\nimport minidl.x\n",
               "minidl__x": "def f():\n    from minidl.d2l.linear import y\n"}
    assert cycles(_graph(**sources)) == [["minidl.d2l", "minidl.x"]]


def test_the_book_layers_lazy_plugin_imports_are_edges():
    edges = _graph(**{**CLEAN, "minidl__d2l": "def g():\n    return first_party('minidl_classify.plugin', 'x')\n"})
    assert [(e.target, e.lazy) for e in edges if e.source == "minidl.d2l"] == [
        ("minidl_classify", True), ("minidl_classify.plugin", True)]
    real = [e for e in import_graph() if e.source == "minidl.d2l.fashion_mnist" and e.target.startswith("minidl_")]
    assert real and all(e.lazy for e in real)


def test_type_checking_imports_are_not_cycles_but_keep_their_direction():
    sources = {**CLEAN, "minidl__errors": "if TYPE_CHECKING:\n    import minidl.functional\n"}
    assert cycles(_graph(**sources)) == []
    sources = {**CLEAN, "minidl__errors": "if TYPE_CHECKING:\n    import minidl.d2l\n"}
    assert violations(_graph(**sources)) == ["minidl.errors:2 imports minidl.d2l (core -> book)"]
