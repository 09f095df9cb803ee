"""The 四性检测 section (DA/T 70-2018): the four properties, item by item, from one findings document.

The items come from ``data/dat70.yaml``; which finding codes show an item comes from
the kinds themselves (``PolicyKind.dat70``), so the table never drifts from the code.
One *check* is a (policy, finding code) pair of a policy in the document whose kind
maps that code to the item. A check **fails** when it has open findings, **passes**
when its policy ran without any, and is **not checked** when its policy ended in
error or was skipped. An item no policy of the scan covers is shown as not checked,
with the catalogue's reason (nothing in a snapshot can show it) or the kinds that
would check it. HTML and Excel render the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ledgerguard.scanner.contract import Finding
from ledgerguard.scanner.kinds.base import KINDS

from .i18n import localized

CATALOGUE = Path(__file__).parent / "data" / "dat70.yaml"
RAN = ("pass", "fail")


@dataclass
class Check:
    policy_id: str
    kind: str
    code: str
    state: str  # pass | fail | not_checked
    findings: int


@dataclass
class Item:
    id: str
    property: str
    name: str
    check: str
    reason: str  # why not checked ("" when checked)
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.property}/{self.name}"

    def count(self, state: str) -> int:
        return sum(c.state == state for c in self.checks)

    @property
    def state(self) -> str:
        if self.count("fail"):
            return "fail"
        return "pass" if self.count("pass") else "not_checked"


@cache
def catalogue() -> dict[str, Any]:
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))


def item_codes() -> dict[str, list[tuple[str, str]]]:
    """Item label ("property/name") → the (kind, code) pairs that show it."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, kind in KINDS.items():
        for code, label in kind.dat70.items():
            out.setdefault(label, []).append((name, code))
    return out


def applies(doc: dict[str, Any]) -> bool:
    """The section is shown when the scan ran at least one policy of an archive kind."""
    kinds = {k for pairs in item_codes().values() for k, _ in pairs}
    return any(p.get("kind") in kinds for p in doc.get("policies") or [])


def table(doc: dict[str, Any], lang: str = "en") -> list[tuple[str, list[Item]]]:
    """[(property heading, its items)] in the catalogue's order."""
    codes = item_codes()
    open_by = {}
    for f in doc.get("findings") or []:
        if f.get("status", "open") == "open" and f.get("dat70"):
            open_by.setdefault((f["policy_id"], f.get("code")), []).append(f)
    policies = doc.get("policies") or []
    cat = catalogue()
    items = []
    for entry in cat["items"]:
        label = f"{entry['property']}/{entry['name']}"
        pairs = codes.get(label, [])
        item = Item(entry["id"], entry["property"], entry["name"], localized(entry.get("check"), lang), "")
        for p in policies:
            for kind, code in pairs:
                if p.get("kind") != kind:
                    continue
                found = open_by.get((p["id"], code), [])
                state = "not_checked" if p.get("status") not in RAN else "fail" if found else "pass"
                item.checks.append(Check(p["id"], kind, code, state, len(found)))
                item.findings.extend(found)
        if item.state == "not_checked":
            item.reason = _reason(entry, pairs, item.checks, lang)
        items.append(item)
    headings = [(p["name"], p["en"]) for p in cat["properties"]]
    return [(f"{zh} ({en})" if lang == "en" else zh, [i for i in items if i.property == zh]) for zh, en in headings]


def _reason(entry: dict[str, Any], pairs: list[tuple[str, str]], checks: list[Check], lang: str) -> str:
    if entry.get("unchecked"):
        return localized(entry["unchecked"], lang)
    if checks:  # policies of the right kind exist but none ran
        ids = ", ".join(sorted({c.policy_id for c in checks}))
        return f"policy {ids} did not run (error or skipped)" if lang == "en" else f"策略 {ids} 未运行(错误或跳过)"
    kinds = ", ".join(sorted({k for k, _ in pairs}))
    return (f"no policy of kind {kinds} in the scanned packs" if lang == "en"
            else f"所用策略包中没有 {kinds} 类策略")
