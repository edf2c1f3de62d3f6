"""Imports run one way (issue 19): read from the source (AST), so a rule breaks here before it breaks a page.

Module-level imports are what loading a module runs; an import inside a function runs only when it is called,
and one under `if TYPE_CHECKING:` never runs. The rules say which of the two they mean."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(path): path.read_text() for folder in ("core", "dashboard")
           for path in sorted((ROOT / folder).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def imports(source: str, known: set[str], package: str = "") -> tuple[set[str], set[str]]:
    """The modules `source` imports: (at module level, anywhere). A name imported from a package counts as its
    submodule when that is a module in `known` (`from core import interrupts`); relative imports resolve
    against `package`."""
    top, anywhere = set(), set()

    def visit(node: ast.AST, at_top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # a type only: never runs
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            anywhere.update(names)
            if at_top:
                top.update(names)
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, at_top and not nested)

    visit(ast.parse(source), True)
    return top, anywhere


def graph(sources: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    known = set(sources)
    packages = {name.rpartition(".")[0] for name in known}
    edges = {name: imports(text, known, name if name in packages else name.rpartition(".")[0])
             for name, text in sources.items()}
    return {name: top for name, (top, _) in edges.items()}, {name: every for name, (_, every) in edges.items()}


def reaches(top: dict[str, set[str]], start: str) -> set[str]:
    """Every module loading `start` loads (module-level imports, followed through the modules in `top`)."""
    seen, todo = set(), [start]
    while todo:
        for imported in top.get(todo.pop(), ()):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def _root(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def violations(sources: dict[str, str]) -> list[str]:
    """Each broken rule, as a sentence naming the module."""
    top, anywhere = graph(sources)
    core = [name for name in sources if _root(name) == "core"]
    found = [f"{name} imports core.__main__ (the CLI)" for name in core
             if name != "core.__main__" and "core.__main__" in anywhere[name]]
    found += [f"{name} imports streamlit" for name in core if any(_root(m) == "streamlit" for m in anywhere[name])]
    found += [f"{name} loads the trainer (core.train)" for name in core if name.startswith("core.attacks")
              and ("core.train" in anywhere[name] or "core.train" in reaches(top, name))]
    found += [f"{name} loads torch when a page imports it" for name in sources if _root(name) == "dashboard"
              and any(_root(m) in ("torch", "torchvision") for m in reaches(top, name) | top[name])]
    core_top = {name: {m for m in top[name] if m in top and _root(m) == "core"} for name in core}
    found += [f"{name} is in an import cycle (module level)" for name in core if name in reaches(core_top, name)]
    return found


def test_the_import_rules_hold():
    assert violations(SOURCES) == []


def _with(module: str, source: str) -> dict[str, str]:
    return {**SOURCES, module: source}


@pytest.mark.parametrize(("sources", "expected"), [
    (_with("core.figures", "def f():\n    from core.__main__ import build_parser\n"),
     "core.figures imports core.__main__"),
    (_with("core.stats", "import streamlit as st\n"), "core.stats imports streamlit"),
    (_with("core.attacks.miface", "from core.train import Trainer\n"), "core.attacks.miface loads the trainer"),
    (_with("core.prior", "from core.train import Callback\n"), "core.attacks.inversion loads the trainer"),
    (_with("core.gallery", "import torch\n"), "dashboard.loaders loads torch"),
    (_with("core.files", "from core.store import Store\n"), "core.files is in an import cycle"),
    (_with("core.attacks.gmi", "from . import base\nfrom ..models import TargetNet\n"), None),
])
def test_each_rule_fails_when_broken(sources, expected):
    """The same check on a copy of the sources with one module rewritten; the last case is relative imports
    that break nothing."""
    found = violations(sources)
    if expected is None:
        assert found == []
    else:
        assert any(expected in sentence for sentence in found), found


def test_a_type_only_import_does_not_count():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.train import Callback\n"
    assert imports(source, set(SOURCES)) == ({"typing"}, {"typing"})
