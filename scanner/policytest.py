"""``ledgerguard test``: policy unit tests, like ``opa test`` for Rego (SPEC §5).

A test case is any folder holding ``expected.yaml``. It is run as a real scan:

* the snapshot: the ``snapshot/`` subfolder, or the case folder itself when it has a
  ``manifest.json``, or the folder named by ``snapshot:``;
* the policies: the files or folders listed in ``policies:`` (relative to the case;
  ``builtin`` means the built-in pack), else every other ``*.yaml`` of the folder;
* the waivers: ``waivers:`` or a ``waivers.yaml`` beside ``expected.yaml``;
* the as-of date: ``as_of:`` (else the snapshot's ``taken_at``).

``must`` lists findings that must appear, ``must_not`` findings that must not; each
is ``{policy, code, subject (glob), status, count}`` with only ``policy`` required.
A policy that ends in status ``error`` fails the case unless ``errors:`` names it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from .errors import InputError, LedgerguardError, Problem
from .yamlload import load_yaml, validate

EXPECTED = "expected.yaml"
_ID = {"type": "string", "minLength": 1}
_MATCHER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["policy"],
    "properties": {
        "policy": _ID,
        "code": _ID,
        "subject": _ID,
        "status": {"enum": ["open", "waived"]},
        "count": {"type": "integer", "minimum": 0},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "as_of": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}"},
        "snapshot": _ID,
        "policies": {"type": "array", "items": _ID, "minItems": 1},
        "waivers": _ID,
        "errors": {"type": "array", "items": _ID},
        "must": {"type": "array", "items": _MATCHER},
        "must_not": {"type": "array", "items": _MATCHER},
    },
    "anyOf": [{"required": ["must"]}, {"required": ["must_not"]}],
}


@dataclass
class CaseResult:
    path: Path
    status: str  # passed | failed | error
    failures: list[str] = field(default_factory=list)


@dataclass
class TestRun:
    cases: list[CaseResult]
    seconds: float

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.cases)

    @property
    def exit_code(self) -> int:
        """2 when a test file is bad, else 1 when a case failed, else 0."""
        if self.count("error"):
            return 2
        return 1 if self.count("failed") else 0


def discover(paths: list[str | Path]) -> list[Path]:
    """Case folders (holding expected.yaml) under the given paths, sorted, each once."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.name == EXPECTED:
            found.append(p.parent)
        elif p.is_dir():
            found.extend(e.parent for e in p.rglob(EXPECTED))
        else:
            raise InputError(Problem("no such test folder (or not an expected.yaml)", str(p)))
    unique = sorted(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise InputError(Problem(f"no test cases found (folders holding {EXPECTED})",
                                 ", ".join(str(p) for p in paths)))
    return unique


def run_tests(paths: list[str | Path]) -> TestRun:
    start = time.perf_counter()
    cases = [run_case(d) for d in discover(paths)]
    return TestRun(cases, time.perf_counter() - start)


def _find(case: Path, name: str, expected_file: str, what: str) -> Path:
    p = (case / name)
    if not p.exists():
        raise InputError(Problem(f"{what} {name!r} does not exist (relative to the case folder)", expected_file))
    return p


def run_case(case: Path) -> CaseResult:
    """Run one case; bad input → status error with the located messages."""
    from .policy import builtin_pack_path, load_packs
    from .scan import resolve_now, run_scan
    from .snapshot import read_snapshot
    from .waivers import load_waivers

    exp_file = str(case / EXPECTED)
    try:
        doc = load_yaml(case / EXPECTED)
        if not isinstance(doc.data, dict):
            raise InputError(Problem(f"{EXPECTED} must be a mapping with must / must_not", exp_file, 1, 1))
        problems = validate(doc, SCHEMA)
        if problems:
            raise InputError(problems)
        spec = doc.data
        if "snapshot" in spec:
            snap_dir = _find(case, spec["snapshot"], exp_file, "snapshot")
        elif (case / "snapshot").is_dir():
            snap_dir = case / "snapshot"
        elif (case / "manifest.json").is_file():
            snap_dir = case
        else:
            raise InputError(Problem("no snapshot: add a snapshot/ folder, a manifest.json, or "
                                     "'snapshot:'", exp_file))
        if "policies" in spec:
            policy_paths = [builtin_pack_path() if p == "builtin" else _find(case, p, exp_file, "policy path")
                            for p in spec["policies"]]
        else:
            policy_paths = sorted(p for p in case.iterdir() if p.suffix in (".yaml", ".yml")
                                  and p.name not in (EXPECTED, "waivers.yaml"))
            if not policy_paths:
                raise InputError(Problem("no policy files beside expected.yaml and no 'policies:'", exp_file))
        packs = load_packs(policy_paths)
        snapshot = read_snapshot(snap_dir)
        now = resolve_now(spec.get("as_of"), snapshot)
        waiver_file = (_find(case, spec["waivers"], exp_file, "waivers file") if "waivers" in spec
                       else case / "waivers.yaml")
        waivers = load_waivers([waiver_file], now.date()) if waiver_file.is_file() else None
        result = run_scan(snapshot, packs, now, waivers=waivers)
    except LedgerguardError as exc:
        problems = getattr(exc, "problems", None) or [Problem(str(exc))]
        return CaseResult(case, "error", [str(p) for p in problems])
    failures = _judge(spec, result)
    return CaseResult(case, "failed" if failures else "passed", failures)


def _matches(f: dict[str, Any], m: dict[str, Any]) -> bool:
    return (
        f["policy_id"] == m["policy"]
        and ("code" not in m or f["code"] == m["code"])
        and ("subject" not in m or fnmatchcase(f["subject"], m["subject"]))
        and ("status" not in m or f["status"] == m["status"])
    )


def _show(m: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in m.items()) + "}"


def _judge(spec: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    failures = []
    findings = doc["findings"]
    allowed_errors = set(spec.get("errors") or [])
    for p in doc["policies"]:
        if p["status"] == "error" and p["id"] not in allowed_errors:
            failures.append(f"policy {p['id']} could not be evaluated: {p['error']}")
    for m in spec.get("must") or []:
        hits = [f for f in findings if _matches(f, m)]
        if "count" in m:
            if len(hits) != m["count"]:
                failures.append(f"must: {_show(m)} — {len(hits)} findings match")
        elif not hits:
            near = [f"{f['code']} {f['subject']}" for f in findings if f["policy_id"] == m["policy"]][:5]
            seen = f" (policy {m['policy']} found: {'; '.join(near)})" if near else \
                f" (policy {m['policy']} found nothing)"
            failures.append(f"must: {_show(m)} — no such finding{seen}")
    for m in spec.get("must_not") or []:
        hits = [f for f in findings if _matches(f, m)]
        if hits:
            listed = "; ".join(f"{f['code']} {f['subject']}" for f in hits[:5])
            failures.append(f"must_not: {_show(m)} — found {len(hits)}: {listed}")
    return failures
