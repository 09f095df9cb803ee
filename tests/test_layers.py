"""The folders are the architecture: imports point one way.

    policies    built-in packs (data); imports nothing of ledgerguard
    scanner     the shared core: snapshots, policies, kinds, engine, findings contract
    connectors  may use the core                 reports  may use the core
    app         the application on top: wires everything together (CLI, collect, demo)

Read from the source with ``ast`` (nothing is imported), so a lazy import inside a
function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policies", "scanner", "connectors", "reports", "app")
ALLOWED = {
    "policies": set(),
    "scanner": {"policies"},
    "connectors": {"scanner", "policies"},
    "reports": {"scanner", "policies"},
    "app": {"scanner", "connectors", "reports", "policies"},
}


def imported_packages(path: Path, package: str) -> dict[str, int]:
    """Top-level ledgerguard packages a module imports (absolute or relative), with a line each."""
    module = [package, *path.relative_to(ROOT / package).with_suffix("").parts]
    if module[-1] == "__init__":
        module.pop()
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[list[str]] = []
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                is_pkg = path.name == "__init__.py"
                base = module[: len(module) - node.level + (1 if is_pkg else 0)]
                names = [base + (node.module.split(".") if node.module else [])]
            elif node.module:
                names = [node.module.split(".")]
        for parts in names:
            if parts[0] == "ledgerguard" and len(parts) > 1:
                parts = parts[1:]
            elif parts[0] not in PACKAGES or node.__class__ is ast.Import:
                continue
            found.setdefault(parts[0], node.lineno)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "tests" in path.relative_to(ROOT / package).parts:
            continue
        for other, line in imported_packages(path, package).items():
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports ledgerguard.{other}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_relative_and_lazy_imports(tmp_path, monkeypatch):
    """The rule would pass vacuously if the reader missed imports: show it finds both kinds."""
    pkg = tmp_path / "scanner" / "kinds"
    pkg.mkdir(parents=True)
    mod = pkg / "x.py"
    mod.write_text("from ...reports import html\n\ndef f():\n    from ledgerguard.connectors import ldap\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imported_packages(mod, "scanner") == {"reports": 1, "connectors": 4}
