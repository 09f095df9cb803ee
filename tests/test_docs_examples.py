"""Every YAML example in docs/ and the README is a valid file of its type.

Each ```yaml block is recognised by its shape: a PolicyPack, a list of policies (wrapped
into a pack), a waivers / sources / changes file, a list of sources (wrapped into a
sources file), a config file, a policy unit test's expected.yaml, or a CI workflow (only
parsed: GitHub and GitLab check those). A block of no known shape fails the test, so a
new kind of example cannot slip past unvalidated. Policy examples are also scanned
against the demo company: none may end in error or produce ``unknown_category``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ledgerguard.app.cli import main
from ledgerguard.app.config import SCHEMA as CONFIG_SCHEMA
from ledgerguard.app.demo import build_tables
from ledgerguard.app.demo.org import TZ, ts
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.scan import resolve_now, run_scan
from ledgerguard.scanner.snapshot import TABLES, read_snapshot, write_snapshot

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
CI_KEYS = {"name", "on", "jobs", "repos", "stages", "access-snapshot", "access-gate", "include"}


def examples() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            line = text[: m.start()].count("\n") + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(1)))
    return out


def shape(data: object) -> str:
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        if all("id" in x and "kind" in x for x in data):
            return "policy-list"
        if all("name" in x and "kind" in x for x in data):
            return "source-list"
    if isinstance(data, dict):
        if data.get("kind") == "PolicyPack":
            return "pack"
        lists_of_records = any(isinstance(v, list) and v and isinstance(v[0], dict) for v in data.values())
        if set(data) <= set(CONFIG_SCHEMA["properties"]) and not lists_of_records:
            return "config"
        for key in ("waivers", "sources", "changes"):
            if key in data:
                return key
        if "must" in data or "must_not" in data:
            return "policy-test"
        if set(data) & CI_KEYS:
            return "ci"
    return "unknown"


def pack_text(policies: str) -> str:
    body = "\n".join("  " + line for line in policies.splitlines())
    head = "apiVersion: ledgerguard/v1\nkind: PolicyPack\nmetadata: {name: example, version: 1.0.0}\n"
    return f"{head}policies:\n{body}\n"


@pytest.fixture(scope="module")
def demo_snapshot(tmp_path_factory: pytest.TempPathFactory):
    day = dt.date(2026, 11, 23)
    path = write_snapshot(tmp_path_factory.mktemp("demo") / "snap", build_tables(day), timezone=TZ,
                          taken_at=ts(day, 0))
    return read_snapshot(path)


@pytest.mark.parametrize(("where", "text"), examples(), ids=[w for w, _ in examples()])
def test_docs_yaml_example_is_valid(where: str, text: str, tmp_path: Path, demo_snapshot) -> None:
    data = yaml.safe_load(text)
    kind = shape(data)
    assert kind != "unknown", f"{where}: an example of no known shape; teach this test what it is"
    if kind == "ci":
        return
    if kind == "policy-list":
        text = pack_text(text)
    elif kind == "source-list":
        text = "sources:\n" + "\n".join("  " + line for line in text.splitlines()) + "\n"
    name = {"config": "ledgerguard.yaml", "policy-test": "expected.yaml"}.get(kind, "example.yaml")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    # sources examples name hosts, files and variables of the reader's own site
    result = CliRunner().invoke(main, ["validate", "--schema-only", str(path)])
    assert result.exit_code == 0, f"{where}: {result.output}"
    if kind in ("pack", "policy-list"):
        doc = run_scan(demo_snapshot, load_packs([path]), resolve_now(None, demo_snapshot))
        assert [p["id"] for p in doc["policies"] if p["status"] == "error"] == [], where
        assert not [f for f in doc["findings"] if f["code"] == "unknown_category"], where


def test_the_snapshot_page_names_every_table_and_column() -> None:
    page = (ROOT / "docs" / "snapshot.md").read_text(encoding="utf-8")
    for table, columns in TABLES.items():
        row = next((line for line in page.splitlines() if line.startswith(f"| {table} |")), None)
        assert row is not None, table
        for col in columns:
            assert re.search(rf"\b{col.name}\b", row), (table, col.name)


def test_docs_cite_no_spec_users_do_not_have() -> None:
    for doc in DOCS:
        assert "SPEC" not in doc.read_text(encoding="utf-8"), doc.name
