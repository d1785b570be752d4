"""The package's shape, checked: layers import one way only, no import cycles, imports at the top, small units.

docs/architecture.md explains the layers; `LAYERS` below is the order it states. A module may import its own
layer and the layers before it, never one after it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.common import ROOT

PACKAGE = ROOT / "autoreward"

#: The layers, lowest first: every module of `autoreward` belongs to the first entry its name starts with.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("autoreward.errors", "autoreward.io", "autoreward.paths", "autoreward.__init__"),
    ("autoreward.llm",),
    ("autoreward.env",),
    ("autoreward.reward",),
    ("autoreward.intrinsic",),
    ("autoreward.calm",),
    ("autoreward.annotate",),
    ("autoreward.train",),
    ("autoreward.evaluate",),
    ("autoreward.synth",),
    ("autoreward.bench",),
    ("autoreward.report",),
    ("autoreward.cli",),
)
#: Third-party modules that may be imported inside a function: heavy and needed by few paths.
LAZY_ALLOWED = frozenset({"litellm", "openai", "matplotlib", "ray", "tensorboard", "pygments"})
#: Imports of our own heavy modules kept inside one function, with the reason (each is a process that must stay light).
LAZY_SITES = {
    "autoreward.train.worker:_answer": "stable_baselines3 imports torch, which the walled env workers never load "
                                       "unless the trainer asks whether an env is wrapped",
    "autoreward.cli.synth:cmd_iterate": "the loop imports torch, SB3 and the envs (about 4 s): a missing LLM key is "
                                        "told before that, at once (tests/llm/test_credentials.py)",
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: Functions allowed to be longer: argparse tables (one `add_argument` per option, nothing else).
LONG_FUNCTIONS_ALLOWED = frozenset({f"autoreward.cli.parser:{name}" for name in (
    "build_parser", "_train_commands", "_synth_commands", "_calm_commands", "_add_bench_parser")})


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path = PACKAGE) -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(root.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str], is_package: bool) -> set[str]:
    """The package's own modules that `name` imports (anywhere in it: a lazy import is a dependency too)."""
    found = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    known = set(trees)
    packages = {name for name in trees if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()}
    return {name: imported(name, tree, known, name in packages) for name, tree in trees.items()}


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    if module == "autoreward":
        return 0
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
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
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                  for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def late_imports(trees: dict[str, ast.Module]) -> list[str]:
    """Imports inside functions, except of the heavy optional libraries in LAZY_ALLOWED."""
    late = []
    for name, tree in trees.items():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    roots = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    roots = ["autoreward" if node.level else (node.module or "").split(".")[0]]
                else:
                    continue
                if f"{name}:{function.name}" in LAZY_SITES:
                    continue
                late += [f"{name}:{function.name} line {node.lineno} imports {root}"
                         for root in roots if root not in LAZY_ALLOWED]
    return sorted(set(late))


def long_units(trees: dict[str, ast.Module], root: Path = PACKAGE) -> list[str]:
    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and f"{name}:{node.name}" not in LONG_FUNCTIONS_ALLOWED:
                    found.append(f"{name}:{node.name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    for path in sorted(root.rglob("*.py")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_MODULE_LINES:
            found.append(f"{module_name(path)} has {count} lines (at most {MAX_MODULE_LINES})")
    return found


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    return modules()


def test_no_import_cycles(trees):
    assert cycles(import_graph(trees)) == []


def test_layers_import_downward_only(trees):
    assert upward_imports(import_graph(trees)) == []


def test_imports_sit_at_the_top_of_modules(trees):
    assert late_imports(trees) == []


def test_no_module_or_function_is_too_long(trees):
    assert long_units(trees) == []


def test_the_checks_fail_on_a_cycle_an_upward_import_and_a_late_import(tmp_path):
    """The checks above can fail: a package with a cycle, an upward import and a lazy import is caught."""
    fake = tmp_path / "autoreward"
    (fake / "env").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "errors.py").write_text("")
    (fake / "env" / "__init__.py").write_text("")
    (fake / "env" / "a.py").write_text("from autoreward.env import b\n")
    (fake / "env" / "b.py").write_text("from . import a\nfrom autoreward.cli import main\n")
    (fake / "cli.py").write_text("def main():\n    import numpy\n")
    found = {module_name(path, fake): ast.parse(path.read_text()) for path in fake.rglob("*.py")}
    graph = {name: imported(name, tree, set(found), name in {"autoreward", "autoreward.env"})
             for name, tree in found.items()}
    assert cycles(graph) == [["autoreward.env.a", "autoreward.env.b"]]
    assert upward_imports(graph) == ["autoreward.env.b (layer 2) imports autoreward.cli (layer 12)"]
    assert late_imports(found) == ["autoreward.cli:main line 2 imports numpy"]

