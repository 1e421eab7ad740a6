"""Import rules of the repository, read from the syntax tree of its own source (no import runs):
arrows point inward (services -> libs -> generated protos; tools may drive services).

- a service never imports another service's package;
- libs/ import no service package;
- nothing imports a service's `service` module (it only assembles: `vigie_core` finds it by
  its entry point, never by an import);
- no `domain/` module imports an I/O or ML framework;
- no import circle between the modules of one package.

Every import statement counts, also one inside a function or under `if TYPE_CHECKING:`: a
deferred import hides a circle, it does not remove it. A failure names each offending import as
`file:line -> module`. The checker itself is tested on small trees written to tmp_path, so a rule
that could never fail would be caught here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where importable source lives: services/<svc>/src, libs/<lib>/src, tools/<tool>/src,
# deploy/<component>/src. Tests are not scanned (a component test may build a service).
SOURCE_ROOTS = ("services/*/src", "libs/*/src", "tools/*/src", "deploy/*/src")
FRAMEWORKS = frozenset({
    "confluent_kafka", "aiokafka", "faust", "mode", "grpc", "grpc_health", "grpc_reflection",
    "grpc_status", "torch", "torchvision", "ultralytics", "av", "cv2", "sqlalchemy", "aiohttp",
})


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file, relative to the tree's root
    line: int
    target: str  # absolute module name, `pkg.mod` or `pkg.mod.Name`

    def __str__(self) -> str:
        return f"{self.path}:{self.line} -> {self.target}"


@dataclass
class Tree:
    """The modules of a source tree and what each imports."""

    root: Path
    modules: dict[str, Path]  # module name -> file (relative to root)
    imports: dict[str, list[Import]]  # module name -> its imports, in file order
    services: frozenset[str]  # top-level packages under services/*/src

    def __repr__(self) -> str:
        return f"Tree({self.root}, {len(self.modules)} modules)"

    @classmethod
    def read(cls, root: Path) -> Tree:
        modules: dict[str, Path] = {}
        services: set[str] = set()
        for pattern in SOURCE_ROOTS:
            for src in sorted(root.glob(pattern)):
                for file in sorted(src.rglob("*.py")):
                    parts = file.relative_to(src).with_suffix("").parts
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    if parts:
                        modules[".".join(parts)] = file.relative_to(root)
                if pattern.startswith("services/"):
                    services.update(p.name for p in src.iterdir() if (p / "__init__.py").exists())
        tree = cls(root, modules, {}, frozenset(services))
        tree.imports = {name: list(dict.fromkeys(tree._imports_of(name))) for name in modules}
        return tree

    def _imports_of(self, name: str) -> Iterator[Import]:
        path = self.modules[name]
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse((self.root / path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(path, node.lineno, alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:
                    # `from pkg import mod` imports the module pkg.mod, `from mod import Name` mod
                    child = f"{module}.{alias.name}"
                    yield Import(path, node.lineno, child if child in self.modules else module)

    def all_imports(self) -> Iterator[tuple[str, Import]]:
        for name, imports in self.imports.items():
            for imp in imports:
                yield name, imp


def top(module: str) -> str:
    return module.split(".")[0]


def service_imports_another_service(tree: Tree) -> list[Import]:
    return [imp for name, imp in tree.all_imports()
            if top(name) in tree.services and top(imp.target) in tree.services
            and top(imp.target) != top(name)]


def lib_imports_a_service(tree: Tree) -> list[Import]:
    return [imp for _, imp in tree.all_imports()
            if imp.path.parts[0] == "libs" and top(imp.target) in tree.services]


def imports_a_service_module(tree: Tree) -> list[Import]:
    return [imp for name, imp in tree.all_imports()
            if top(imp.target) in tree.services
            and imp.target.split(".")[1:2] == ["service"]
            and name != f"{top(imp.target)}.service"]


def domain_imports_a_framework(tree: Tree) -> list[Import]:
    return [imp for name, imp in tree.all_imports()
            if "domain" in name.split(".")[1:] and top(imp.target) in FRAMEWORKS]


def import_circles(tree: Tree) -> list[Import]:
    """One circle per strongly connected group of modules of one package (Tarjan), given as
    the imports that close it; a package's `__init__` and its own children do not count as a
    circle (importing a.b runs a/__init__.py first anyway)."""
    edges: dict[str, dict[str, Import]] = {name: {} for name in tree.modules}
    for name, imp in tree.all_imports():
        target = imp.target if imp.target in tree.modules else imp.target.rpartition(".")[0]
        if (target in tree.modules and target != name and top(target) == top(name)
                and not name.startswith(f"{target}.") and not target.startswith(f"{name}.")):
            edges[name].setdefault(target, imp)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                groups.append([v, *group])

    for v in sorted(edges):
        if v not in index:
            visit(v)
    found = []
    for group in groups:
        members = set(group)
        # walk the group until a module comes back: the imports since its first visit are a circle
        visited: list[str] = []
        path: list[Import] = []
        v = min(group)
        while v not in visited:
            visited.append(v)
            v, imp = next((w, i) for w, i in sorted(edges[v].items()) if w in members)
            path.append(imp)
        found.extend(path[visited.index(v):])
    return found


RULES: dict[str, Callable[[Tree], list[Import]]] = {
    "a service imports another service": service_imports_another_service,
    "a lib imports a service": lib_imports_a_service,
    "something imports a service's service.py": imports_a_service_module,
    "a domain module imports an I/O or ML framework": domain_imports_a_framework,
    "an import circle inside a package": import_circles,
}


def report(rule: str, found: list[Import]) -> str:
    return f"{rule}:\n" + "\n".join(f"  {imp}" for imp in found)


@pytest.fixture(scope="module")
def repository() -> Tree:
    return Tree.read(ROOT)


def test_the_repository_is_read(repository: Tree) -> None:
    """Guards the rules against passing on nothing: every service, lib and tool is found."""
    assert {"vigie_ingest", "vigie_detect", "vigie_face", "vigie_rules",
            "vigie_alerts"} <= repository.services
    assert {"vigie_core", "vigie_eval", "vigie_ingest.service"} <= set(repository.modules)
    assert any("domain" in name for name in repository.modules)
    assert sum(len(i) for i in repository.imports.values()) > 1000


@pytest.mark.parametrize("rule", RULES)
def test_rule_holds(repository: Tree, rule: str) -> None:
    found = RULES[rule](repository)
    assert not found, report(rule, found)


# --- the checker itself, on synthetic trees -------------------------------------------------

CLEAN = {
    "libs/core/src/vigie_core/__init__.py": "",
    "libs/core/src/vigie_core/bus.py": "import asyncio\n",
    "libs/core/src/vigie_core/service.py": "from vigie_core import bus\n",
    "services/a/src/vigie_a/__init__.py": "",
    "services/a/src/vigie_a/__main__.py": "from vigie_core.cli import main\n",
    "services/a/src/vigie_a/domain/__init__.py": "",
    "services/a/src/vigie_a/domain/model.py": "import numpy as np\nfrom .rules import R\n",
    "services/a/src/vigie_a/domain/rules.py": "from dataclasses import dataclass\n",
    "services/a/src/vigie_a/app.py": "from vigie_a.domain import model\n",
    "services/a/src/vigie_a/adapters/__init__.py": "from .kafka import Handler\n",
    "services/a/src/vigie_a/adapters/kafka.py": "import confluent_kafka\nfrom ..app import run\n",
    "services/a/src/vigie_a/service.py": (
        "from vigie_core.service import Service\nfrom vigie_a import app\n"
        "from vigie_a.adapters.kafka import Handler\n"),
    "services/b/src/vigie_b/__init__.py": "",
    "services/b/src/vigie_b/service.py": "import grpc\nfrom vigie_core import bus\n",
    "tools/eval/src/vigie_eval/__init__.py": "import vigie_a.app\n",  # a tool may drive services
}

# (rule, file, its text, the import a failure must name)
VIOLATIONS = [
    ("a service imports another service", "services/b/src/vigie_b/app.py",
     "import os\nfrom vigie_a.domain.model import M\n", "vigie_b/app.py:2 -> vigie_a.domain.model"),
    ("a lib imports a service", "libs/core/src/vigie_core/runtime.py",
     "def f():\n    import vigie_b\n", "vigie_core/runtime.py:2 -> vigie_b"),
    ("something imports a service's service.py", "services/a/src/vigie_a/adapters/grpc_api.py",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..service import S\n",
     "adapters/grpc_api.py:3 -> vigie_a.service"),
    ("something imports a service's service.py", "tools/eval/src/vigie_eval/run.py",
     "from vigie_a import service\n", "vigie_eval/run.py:1 -> vigie_a.service"),
    ("a domain module imports an I/O or ML framework", "services/a/src/vigie_a/domain/io.py",
     "import torch.nn\n", "domain/io.py:1 -> torch.nn"),
    ("a domain module imports an I/O or ML framework", "services/a/src/vigie_a/domain/io.py",
     "from grpc import aio\n", "domain/io.py:1 -> grpc"),
    ("an import circle inside a package", "services/a/src/vigie_a/domain/rules.py",
     "def later():\n    from vigie_a.domain.model import M\n",
     "domain/rules.py:2 -> vigie_a.domain.model"),
]


def write(root: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return Tree.read(root)


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    tree = write(tmp_path, CLEAN)
    assert tree.services == {"vigie_a", "vigie_b"}
    for rule, check in RULES.items():
        assert check(tree) == [], rule


@pytest.mark.parametrize(("rule", "file", "text", "named"), VIOLATIONS,
                         ids=[f"{v[0]}: {v[3]}" for v in VIOLATIONS])
def test_a_forbidden_import_is_caught(tmp_path: Path, rule: str, file: str, text: str,
                                      named: str) -> None:
    tree = write(tmp_path, {**CLEAN, file: text})
    found = [str(imp) for imp in RULES[rule](tree)]
    assert any(named in f for f in found), found
    others = [r for r, check in RULES.items() if r != rule and check(tree)]
    assert others == [], f"also reported by {others}"


def test_a_circle_is_named_by_every_import_closing_it(tmp_path: Path) -> None:
    tree = write(tmp_path, {
        **CLEAN,
        "services/a/src/vigie_a/app.py": "from vigie_a.domain import model\n",
        "services/a/src/vigie_a/domain/rules.py": "import vigie_a.app\n",
    })
    found = {str(imp).replace("\\", "/") for imp in import_circles(tree)}
    assert found == {
        "services/a/src/vigie_a/app.py:1 -> vigie_a.domain.model",
        "services/a/src/vigie_a/domain/model.py:2 -> vigie_a.domain.rules",
        "services/a/src/vigie_a/domain/rules.py:1 -> vigie_a.app",
    }
