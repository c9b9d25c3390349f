"""The package reads one way: no import cycles, imports at the top, physics apart from the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dplrepro"


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute names of the ``dplrepro`` modules an import statement imports."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "dplrepro"]
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "dplrepro":
        return []
    # ``from package import module`` imports the module too
    return [target] + [f"{target}.{a.name}" for a in node.names]


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the ``dplrepro`` modules it imports anywhere (module level or inside functions)."""
    paths = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= {d for d in _resolve(name, path.name == "__init__.py", node) if d in paths}
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring the edges from
    a package's ``__init__`` to its own submodules (re-exports, not dependencies)."""
    edges = {m: {d for d in deps if not (m.count(".") < d.count(".") and d.startswith(m + "."))}
             for m, deps in graph.items()}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "dplrepro"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "sub" / "b.py").write_text("from ..c import h\n")
    (pkg / "c.py").write_text("from .sub import a\n")
    graph = import_graph(pkg)
    assert graph["dplrepro.sub.a"] == {"dplrepro.sub.b"}
    assert cycles(graph) == [["dplrepro.c", "dplrepro.sub.a", "dplrepro.sub.b"]]
    (pkg / "c.py").write_text("x = 1\n")
    assert cycles(import_graph(pkg)) == []


def test_no_import_cycle_inside_dplrepro():
    found = cycles(import_graph())
    assert found == [], f"import cycles (counting imports inside functions): {found}"


def _late_imports(path: Path) -> list[int]:
    """Line numbers of module-level imports that follow other statements (docstring,
    ``__future__`` and ``__all__``/constants before imports are not allowed either)."""
    body = ast.parse(path.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    seen_other, late = False, []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if seen_other:
                late.append(node.lineno)
        else:
            seen_other = True
    return late


def test_no_imports_in_the_middle_of_a_module():
    late = {str(p.relative_to(PACKAGE)): lines for p in PACKAGE.rglob("*.py") if (lines := _late_imports(p))}
    assert late == {}


@pytest.mark.parametrize("layer, forbidden", [
    ("dplrepro.physics", ("dplrepro.nets", "dplrepro.experiments", "dplrepro.train", "dplrepro.book",
                          "dplrepro.chapters", "dplrepro.calibrate")),
    ("dplrepro.nets", ("dplrepro.experiments", "dplrepro.book", "dplrepro.chapters")),
    ("dplrepro.data", ("dplrepro.nets", "dplrepro.experiments", "dplrepro.train", "dplrepro.book")),
    ("dplrepro.experiments", ("dplrepro.book", "dplrepro.chapters", "dplrepro.cli")),
])
def test_layers_import_downwards_only(layer, forbidden):
    """Physics knows no networks; nothing below the book runner executes notebooks."""
    bad = {m: sorted(d for d in deps if d.startswith(forbidden))
           for m, deps in import_graph().items() if m == layer or m.startswith(layer + ".")}
    assert {m: d for m, d in bad.items() if d} == {}


#: The layers of the package docstring, top (imported by everything) to bottom (imports everything).
LAYERS = (
    ("dplrepro.utils", "dplrepro.cache", "dplrepro.metrics", "dplrepro.losses", "dplrepro.evidence", "dplrepro.data.errors"),
    ("dplrepro.physics",),
    ("dplrepro.data",),
    ("dplrepro.nets", "dplrepro.train"),
    ("dplrepro.calibrate",),
    ("dplrepro.results",),
    ("dplrepro.experiments",),
    ("dplrepro.chapters", "dplrepro.comparison", "dplrepro.performance", "dplrepro.plots"),
    ("dplrepro.book",),
    ("dplrepro.cli", "dplrepro.__main__"),
)


def _layer(module: str) -> int:
    best, level = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, level = len(p), i
    return level


def test_every_module_imports_only_layers_above_it():
    graph = import_graph()
    unplaced = sorted(m for m in graph if m != "dplrepro" and _layer(m) is None)
    assert unplaced == [], "place these modules in LAYERS (and the package docstring)"
    upward = sorted(f"{m} -> {d}" for m, deps in graph.items() if m != "dplrepro" for d in deps
                    if d != "dplrepro" and _layer(d) > _layer(m))
    assert upward == []


def test_physics_uses_only_the_data_errors_of_the_data_layer():
    deps = {d for m, ds in import_graph().items() if m.startswith("dplrepro.physics") for d in ds}
    assert {d for d in deps if d.startswith("dplrepro.data")} <= {"dplrepro.data", "dplrepro.data.errors"}


def test_no_library_module_runs_notebooks():
    """Only the book runner (``dplrepro.book``) imports papermill."""
    runners = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "papermill" for n in names):
                runners.append(str(path.relative_to(PACKAGE)))
    assert runners == ["book.py"]
