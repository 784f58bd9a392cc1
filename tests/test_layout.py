"""The layout promises of the style guide, checked on the source: apps depend one way, and
only the store package spells Redis key names."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
    return found


def test_accounts_catalog_and_config_know_nothing_of_recommendations():
    for folder in ("accounts", "catalog", "config"):
        wrong = {path for path, module in _imports(folder) if module == "recommendations"}
        assert not wrong, wrong


def test_config_imports_no_app():
    apps = {"accounts", "catalog", "recommendations"}
    wrong = {(path, module) for path, module in _imports("config") if module in apps}
    assert not wrong, wrong


def test_only_the_store_package_spells_redis_key_parts():
    spelled = []
    for path in (ROOT / "recommendations").rglob("*.py"):
        if "store" in path.relative_to(ROOT / "recommendations").parts[:1]:
            continue
        text = path.read_text()
        spelled += [
            f"{path.name}: {part}" for part in (":live:", ":meta:", ":card:") if part in text
        ]
    assert not spelled, spelled
