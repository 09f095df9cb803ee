"""Mutation fuzzing of every file ledgerguard reads, through the real CLI (issue 13).

Each test starts from a valid input (a policy pack, waivers, a sources file, a change
file, a snapshot manifest, a CSV table, an XLSX sheet, a findings.json, a
ledgerguard.yaml), applies a few seeded mutations — inserted hostile tokens (deep
nesting, ``1e309``, ``2026-02-30``, NUL, newline + ``::error ::``, escapes), deleted
or duplicated spans — and runs the command that reads it. Whatever the input, the
tool must:

- exit 0, 1, 2 or 3 — never a traceback, never "internal error";
- on exit 2 name the file of every problem, with its line where the file has lines;
- print nothing from the data that starts a GitHub workflow command at column 0 or
  carries a raw control character.

The run is derandomized and bounded (``LEDGERGUARD_FUZZ_EXAMPLES`` per input type, 60
by default, about 45 s for all of them); docs/testing.md shows a longer local run.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import policy_pack, write_snapshot_dir
from ledgerguard.app.cli import main

EXAMPLES = int(os.environ.get("LEDGERGUARD_FUZZ_EXAMPLES", "60"))
#: LEDGERGUARD_FUZZ_STATS=file.json: record every violation there instead of failing (for measuring)
STATS_FILE = os.environ.get("LEDGERGUARD_FUZZ_STATS")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

#: what a hostile or careless file holds: each token once made a parser misbehave
TOKENS = [
    "", "\x00", "\n", "\r\n", "\t", "'", '"', "{", "}", "[", "]", ": ", ",", "- ", "#", "&a ", "*a",
    "!!python/object/apply:os.system ['true']", "~", "null", "5", "-1", "0", "1e309", "2015.5", "NaN",
    "true", "[]", "{}", "2026-02-30", "2026-13-01", "2026-01-01T00:00:00+0", "2026-11-23T25:00:00",
    "[" * 3000, "{a: " * 3000, "- " * 3000, "\n::error ::x", "\x1b]0;title\x07", "\x1b[2J", "\u202e",
    "\ufeff", "张三", "x" * 5000, "metadata: 5", "params: 5", "params: {}", "\ud800",
]


#: random text: printable (control characters come from TOKENS, rarely, so deeper parsers get their turn)
PRINTABLE = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to four mutations at drawn places (line starts and after ': ' favoured)."""
    anchors = sorted({0, len(text)} | {m.end() for m in re.finditer(r"\n|: |, |\[|\{", text)})
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.sampled_from(anchors)) if draw(st.booleans()) else draw(st.integers(0, len(text)))
        at = min(at, len(text))
        op = draw(st.sampled_from(["value", "value", "insert", "replace", "delete", "duplicate"]))
        payload = draw(st.sampled_from(TOKENS) | st.sampled_from(TOKENS) | st.text(PRINTABLE, max_size=8))
        span = draw(st.integers(0, 40))
        if op == "value":  # one value swapped for another type or shape: `metadata: 5`, `fiscal_year: 1e309`
            values = [m.span() for m in re.finditer(r'(?<=: )[^,\n{}\[\]]+|(?<=,)[^,\n]*', text)]
            if values:
                start, end = draw(st.sampled_from(values))
                text = text[:start] + payload + text[end:]
        elif op == "insert":
            text = text[:at] + payload + text[at:]
        elif op == "replace":
            text = text[:at] + payload + text[at + span:]
        elif op == "delete":
            text = text[:at] + text[at + span:]
        else:
            text = text[:at] + text[at:at + span] * draw(st.integers(2, 5)) + text[at + span:]
    return text


# ----------------------------------------------------------------- valid seeds

TABLES = {
    "identities": [
        {"person_id": "P1", "name": "张三", "position": "出纳", "status": "departed", "departure_date": "2026-10-31"},
        {"person_id": "P2", "name": "李四", "position": "会计", "status": "active", "manager_id": "P1"},
    ],
    "accounts": [
        {"system": "erp", "account_id": "zhangsan", "person_id": "P1", "enabled": "true",
         "last_login_at": "2026-11-20T09:00:00+08:00", "mfa_enabled": "no"},
        {"system": "erp", "account_id": "lisi", "person_id": "P2", "enabled": "true", "account_type": "personal"},
    ],
    "grants": [{"system": "erp", "account_id": "zhangsan", "role": "cashier", "granted_at": "2025-01-01"},
               {"system": "erp", "account_id": "lisi", "role": "gl_reviewer"}],
    "role_permissions": [{"system": "erp", "role": "cashier", "permission": "cash.payment"},
                         {"system": "erp", "role": "gl_reviewer", "permission": "gl.voucher.approve"}],
    "archives": [{"archive_id": "A1", "category": "voucher", "fiscal_year": "2015", "created_at": "2016-01-05",
                  "size_bytes": "1024", "file_exists": "true", "hold": "false"}],
    "backups": [{"backup_id": "B1", "dataset": "erp", "finished_at": "2026-11-22T01:00:00+08:00",
                 "status": "success", "offsite": "true", "encrypted": "true", "size_bytes": "10"}],
}
POLICIES = policy_pack(
    "id: ACC-001\nkind: revoke_on_departure\ntitle: {en: Departed staff keep no account, zh: 离职}\n"
    "severity: critical\nreferences: [GB/T 22239]\n",
    "id: SOD-001\nkind: segregation_of_duties\ntitle: t\nseverity: high\n"
    "params:\n  rules: [{id: CASH-REVIEW, left: ['cash.*'], right: [gl.voucher.approve]}]\n",
    "id: ROLE-001\nkind: role_template\ntitle: t\nseverity: medium\n"
    "params:\n  templates:\n    出纳: {allowed_roles: [cashier]}\n",
    "id: TR-1\nkind: table_rule\ntitle: t\nseverity: low\nparams:\n  table: accounts\n"
    "  where: enabled and days_since(last_login_at) > 1\n  message: \"{account_id} idle\"\n",
    "id: RET-001\nkind: retention_period\ntitle: t\nseverity: high\n",
    "id: BAK-001\nkind: backup_frequency\ntitle: t\nseverity: high\n",
)
WAIVERS = ("waivers:\n  - policy: ACC-001\n    subject: \"account:erp:*\"\n    reason: handover of vouchers\n"
           "    approved_by: CFO Wang\n    expires: 2026-12-31\n")
CHANGE = ("changes:\n  - {action: grant, system: erp, account_id: lisi, role: cashier,\n"
          "     request_id: REQ-1, requested_by: P2, approved_by: P1, approved_at: 2026-11-20}\n"
          "  - action: modify\n    person_id: P2\n    position: 出纳\n    transfer_date: 2026-11-21\n")
SOURCES = ("timezone: Asia/Shanghai\nsources:\n  - name: hr\n    kind: file\n    path: hr.csv\n"
           "    table: identities\n    encoding: utf-8\n    columns: {工号: person_id, 姓名: name, 状态: status}\n"
           "    values:\n      状态: {在职: active, 离职: departed}\n    date_formats: ['%Y/%m/%d']\n"
           "  - name: roles\n    kind: file\n    path: roles.xlsx\n    table: grants\n")
HR_CSV = "工号,姓名,状态,departure_date\nP1,张三,离职,2026/10/31\nP2,李四,在职,\n"
CONFIG = ("policies: [policies.yaml]\nsnapshot: snapshot\nformats: [json, junit]\nout: out\nfail_on: high\n"
          "lang: zh\nas_of: 2026-11-23\n")
AS_OF = ("--as-of", "2026-11-23")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The valid inputs every mutation starts from, and a findings.json of a real scan."""
    root = tmp_path_factory.mktemp("fuzz-org")
    snap = write_snapshot_dir(root / "snapshot", TABLES, timezone="Asia/Shanghai",
                              taken_at="2026-11-23T02:00:00+08:00")
    pack = root / "policies.yaml"
    pack.write_text(POLICIES, encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", "--snapshot", str(snap), "--policies", str(pack),
                                       "--waivers", str(_write(root, "w.yaml", WAIVERS)), *AS_OF,
                                       "--out", str(root / "out")], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    return {"root": root, "snapshot": snap, "policies": pack, "findings": root / "out" / "findings.json"}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def _fresh(org: dict[str, Path]) -> Path:
    return Path(tempfile.mkdtemp(dir=org["root"]))


# ----------------------------------------------------------------- the properties

STATS: dict[str, dict] = {}
_WHOLE_FILE = ("no such file", "cannot read", "is larger than", "not a snapshot", "is missing", "not a ledgerguard",
               "findings file lacks", "not a readable XLSX", "manifest must be", "unsupported snapshot format")


def violations(out: str, code: int, files: list[Path], exception: BaseException | None = None,
               relative_ok: bool = False) -> list[str]:
    """What a run with output ``out`` (stdout and stderr) and exit ``code`` did wrong (empty when it behaved)."""
    found = []
    if exception is not None and not isinstance(exception, SystemExit):
        found.append(f"traceback: {type(exception).__name__}: {exception}")
    if code not in (0, 1, 2, 3):
        found.append(f"exit code {code}")
    if "Traceback (most recent call last)" in out:
        found.append("traceback printed")
    if "internal error" in out:
        found.append("internal error: " + next(ln for ln in out.splitlines() if "internal error" in ln)[:200])
    if re.search(r"(?m)^::(error|warning|notice|debug|group|add-mask|set-output|set-env|add-path|echo)\b"
                 r"(?![^\n]*title=ledgerguard)", out):  # gate's own annotations carry title=ledgerguard …
        found.append("workflow command at column 0")
    if re.search(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f\x9b]", out.replace("\x1b[", "")):
        found.append("raw control character printed")
    if code == 2:
        names = [str(f) for f in files]
        errors = [ln[len("error: "):] for ln in out.splitlines() if ln.startswith("error: ")]
        if not errors:
            found.append("exit 2 without a located error: " + out.strip()[-200:])
        for e in errors:
            named = next((n for n in names if e.startswith(n)), None)
            if named is None and relative_ok and not e.startswith(("/", "<")):
                continue  # a path written in ledgerguard.yaml, relative to it (snapshot: nit] → "nit]: …")
            if named is None:
                found.append(f"exit 2, no file named: {e[:200]}")
            elif not re.match(r":\d+|: /", e[len(named):]) and not any(w in e for w in _WHOLE_FILE) \
                    and not Path(named).is_dir():
                found.append(f"exit 2, no line: {e[:200]}")
    return found


def run(target: str, args: list[str], files: list[Path], cwd: Path | None = None) -> Result:
    """Run the CLI, check the properties; record them (LEDGERGUARD_FUZZ_STATS) or fail."""
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    started = time.monotonic()
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)
    seconds = time.monotonic() - started
    found = violations(result.output, result.exit_code, files, result.exception, relative_ok=cwd is not None)
    if STATS_FILE:
        s = STATS.setdefault(target, {"inputs": 0, "violations": {}, "slowest": 0.0})
        s["inputs"] += 1
        s["slowest"] = max(s["slowest"], round(seconds, 2))
        for v in found:
            key = v.split(":")[0]
            s["violations"].setdefault(key, []).append(v[:300])
        Path(STATS_FILE).write_text(json.dumps(STATS, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        assert not found, f"{target}: {found}\n--- output:\n{result.output[-2000:]}"
    return result


# ----------------------------------------------------------------- one test per input type

@FUZZ
@given(text=mutated(POLICIES))
def test_policy_pack(org, text):
    pack = _write(_fresh(org), "p.yaml", text)
    run("policies", ["scan", "--snapshot", org["snapshot"], "--policies", pack, *AS_OF, "--out",
                     pack.parent / "out"], [pack, org["snapshot"]])


@FUZZ
@given(text=mutated(WAIVERS))
def test_waivers(org, text):
    w = _write(_fresh(org), "w.yaml", text)
    run("waivers", ["scan", "--snapshot", org["snapshot"], "--policies", org["policies"], "--waivers", w, *AS_OF,
                    "--out", w.parent / "out"], [w])


@FUZZ
@given(text=mutated(CHANGE))
def test_change_file(org, text):
    c = _write(_fresh(org), "change.yaml", text)
    run("changes", ["gate", "--snapshot", org["snapshot"], "--policies", org["policies"], "--change", c, *AS_OF,
                    "--format", "json,github", "--out", c.parent / "out"], [c])


def _roles_xlsx(path: Path, rows: list[list]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    wb.close()


@FUZZ
@given(text=mutated(SOURCES), hr=mutated(HR_CSV))
def test_sources_file(org, text, hr):
    folder = _fresh(org)
    s = _write(folder, "sources.yaml", text)
    _write(folder, "hr.csv", hr)
    _roles_xlsx(folder / "roles.xlsx", [["system", "account_id", "role"], ["erp", "lisi", "cashier"]])
    run("sources/validate", ["validate", s], [s])
    if not re.search(r"ldap|sql|archive|backup", text):  # no network, no other folders
        run("sources/collect", ["collect", "--sources", s, "--out", folder / "snap"], [s, folder / "snap"])


# an XLSX cell cannot hold NaN or infinity (xlsxwriter refuses them), so the fuzz does not write them
CELLS = st.one_of(st.text(max_size=20), st.sampled_from(TOKENS[:40]),
                  st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**70, 2**70),
                  st.booleans(), st.datetimes(), st.dates())


@FUZZ
@given(rows=st.lists(st.lists(CELLS, max_size=6), max_size=8),
       header=st.lists(st.sampled_from(["system", "account_id", "role", "granted_at", "expires_at", "x", ""]),
                       max_size=6))
def test_xlsx_table(org, rows, header):
    folder = _fresh(org)
    _roles_xlsx(folder / "roles.xlsx", [header, *rows])
    s = _write(folder, "sources.yaml", "sources:\n  - {name: roles, kind: file, path: roles.xlsx, table: grants}\n")
    run("xlsx", ["collect", "--sources", s, "--out", folder / "snap"], [s, folder / "snap", folder / "roles.xlsx"])


def _snapshot_copy(org: dict[str, Path]) -> Path:
    import shutil

    return Path(shutil.copytree(org["snapshot"], _fresh(org) / "snapshot"))


@FUZZ
@given(data=st.data())
def test_manifest(org, data):
    snap = _snapshot_copy(org)
    manifest = json.loads((snap / "manifest.json").read_text(encoding="utf-8"))
    manifest["sources"] = [{"name": "hr", "kind": "file", "status": "ok", "tables": ["identities"]},
                           {"name": "bak", "kind": "file", "status": "error", "error": "timeout", "tables": ["x"]}]
    _write(snap, "manifest.json", data.draw(mutated(json.dumps(manifest, ensure_ascii=False, indent=1))))
    run("manifest", ["scan", "--snapshot", snap, "--policies", org["policies"], *AS_OF, "--out", snap.parent / "o"],
        [snap])


@FUZZ
@given(table=st.sampled_from(sorted(TABLES)), data=st.data())
def test_csv_table(org, table, data):
    snap = _snapshot_copy(org)
    csv = snap / f"{table}.csv"
    _write(snap, csv.name, data.draw(mutated(csv.read_text(encoding="utf-8"))))
    run("csv", ["scan", "--snapshot", snap, "--policies", org["policies"], *AS_OF, "--format", "json,sarif,junit,csv",
                "--out", snap.parent / "o"], [snap])


@FUZZ
@given(data=st.data())
def test_findings_json(org, data):
    text = data.draw(mutated(org["findings"].read_text(encoding="utf-8")))
    f = _write(_fresh(org), "findings.json", text)
    run("findings/report", ["report", "--findings", f, "--format", "json,sarif,junit,csv,github,gitlab,html",
                            "--out", f.parent / "o"], [f])
    run("findings/baseline", ["scan", "--snapshot", org["snapshot"], "--policies", org["policies"], "--baseline", f,
                              *AS_OF, "--out", f.parent / "o2"], [f])


@FUZZ
@given(text=mutated(CONFIG))
def test_config_file(org, text):
    folder = _fresh(org)
    import shutil

    shutil.copytree(org["snapshot"], folder / "snapshot")
    shutil.copy(org["policies"], folder / "policies.yaml")
    cfg = _write(folder, "ledgerguard.yaml", text)
    run("ledgerguard.yaml", ["scan"], [cfg, Path("ledgerguard.yaml"), Path("snapshot"), Path("policies.yaml"),
                                       Path("out")], cwd=folder)


def test_properties_catch_what_they_should(org: dict[str, Path]) -> None:
    """The checker itself: a column-0 workflow command and a bare exit 2 are violations."""
    absent = org["root"] / "absent.yaml"
    bad = CliRunner().invoke(main, ["validate", str(absent)])
    assert bad.exit_code == 2 and violations(bad.output, 2, [absent]) == []
    assert violations(bad.output, 2, []) != []
    assert violations("ok\n::error ::x\n", 0, []) == ["workflow command at column 0"]
    assert violations("::error file=c.yaml,line=5,title=ledgerguard SOD-001::SoD conflict\n", 1, []) == []
    assert violations("error: x.yaml: bad\n", 2, [Path("x.yaml")]) == ["exit 2, no line: x.yaml: bad"]
