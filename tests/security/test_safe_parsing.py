"""Only safe parsers in the tree: YAML through yaml.safe_load (or the SafeLoader), never
yaml.load with another loader, unsafe_load, full_load; no pickle, marshal or shelve loads; no
eval or exec. Read from the syntax tree of every Python file of the repository, so a comment or
a string does not count and an alias (`from yaml import load`) does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ["libs", "services", "tools", "deploy", "tests", "bench", "scripts"]
SKIP = {"libs/proto/src/vigie"}  # generated protobuf code
UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load",
               "full_load_all"}
UNSAFE_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader",
                  "CUnsafeLoader"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
DESERIALISERS = {("pickle", "load"), ("pickle", "loads"), ("marshal", "load"),
                 ("marshal", "loads"), ("shelve", "open"), ("dill", "load"), ("dill", "loads")}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def problems_in(source: str, where: str) -> list[str]:
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> module.attr
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("yaml", "pickle", "marshal",
                                                                "shelve", "dill"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            full = aliases.get(_name(node), _name(node))
            module, _, attr = full.rpartition(".")
            if module == "yaml" and attr in UNSAFE_LOADERS:
                found.append(f"{where}:{node.lineno}: yaml.{attr}")
        if not isinstance(node, ast.Call):
            continue
        full = aliases.get(_name(node.func), _name(node.func))
        module, _, attr = full.rpartition(".")
        if module == "yaml" and attr in UNSAFE_YAML:
            loader = next((k.value for k in node.keywords if k.arg == "Loader"),
                          node.args[1] if len(node.args) > 1 else None)
            if loader is None or _name(loader).rpartition(".")[2] not in SAFE_LOADERS:
                found.append(f"{where}:{node.lineno}: yaml.{attr} without a safe loader")
        if (module, attr) in DESERIALISERS:
            found.append(f"{where}:{node.lineno}: {module}.{attr}")
        if full in ("eval", "exec"):
            found.append(f"{where}:{node.lineno}: {full}()")
    return found


def python_files() -> list[Path]:
    files = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if not any(relative.startswith(s) for s in SKIP) and "/.venv/" not in relative:
                files.append(path)
    return files


def test_the_tree_uses_safe_parsers_only():
    files = python_files()
    assert len(files) > 150  # the whole tree, not an empty glob
    found = [p for f in files for p in problems_in(f.read_text(encoding="utf-8"),
                                                   f.relative_to(ROOT).as_posix())]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source", [
    "import yaml\nyaml.load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)",
    "import yaml\nyaml.load(text, yaml.FullLoader)",
    "import yaml\nyaml.unsafe_load(text)",
    "import yaml\nyaml.full_load(text)",
    "from yaml import load\nload(text)",
    "from yaml import UnsafeLoader\nx = UnsafeLoader",
    "import pickle\npickle.loads(blob)",
    "eval(expression)",
])
def test_the_scan_catches_unsafe_parsing(source):
    assert problems_in(source, "example.py")


@pytest.mark.parametrize("source", [
    "import yaml\nyaml.safe_load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "import yaml\nfor e in yaml.parse(text, Loader=yaml.SafeLoader): pass",
    "x = 'yaml.load(text) in a string'",
])
def test_the_scan_lets_safe_parsing_through(source):
    assert not problems_in(source, "example.py")
