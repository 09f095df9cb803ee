"""`gate` and the new change columns: a proposed change is not yet due for verification, but a
change proposed inside the period-close freeze is a finding (unless marked as an emergency)."""

from __future__ import annotations

import json
import textwrap

from gateorg import write_org

from conftest import policy_pack

PACK = policy_pack("""
id: CHG-002
kind: change_approval
title: Changes are verified by a second person
severity: high
params: {actions: [], verify_actions: [grant, revoke, disable], verify_within_days: 1}
""", """
id: FRZ-001
kind: period_close_freeze
title: No permission changes at period close
severity: high
params: {period: month, freeze_business_days: 2}
""")
CHANGE = """\
changes:
  - {action: grant, system: erp, account_id: sunqi, role: gl_reviewer,
     request_id: REQ-1041, requested_by: P2, approved_by: P3}
"""


def run_gate(cli, tmp_path, as_of: str, change_text: str = CHANGE) -> tuple[int, dict, str]:
    snap, _ = write_org(tmp_path / "org")
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    change = tmp_path / "change.yaml"
    change.write_text(textwrap.dedent(change_text), encoding="utf-8")
    out = tmp_path / f"out-{as_of}"
    result = cli("gate", "--snapshot", snap, "--change", change, "--policies", pack, "--as-of", as_of, "--out", out)
    return result.exit_code, json.loads((out / "findings.json").read_text(encoding="utf-8")), result.output


def test_unverified_proposal_passes_outside_the_freeze(cli, tmp_path):
    # 2026-11-26 is the business day before the last two of November (27th, 30th)
    code, doc, output = run_gate(cli, tmp_path, "2026-11-26")
    assert code == 0, output
    assert doc["findings"] == []


def test_proposal_inside_the_freeze_fails_at_its_line(cli, tmp_path):
    code, doc, output = run_gate(cli, tmp_path, "2026-11-27")
    assert code == 1, output
    (f,) = doc["findings"]
    assert (f["policy_id"], f["code"], f["subject"]) == ("FRZ-001", "change_in_freeze", "change:change-1")
    assert f["location"]["line"] == 2 and f["evidence"]["judged_on"] == "2026-11-27"
    assert "is proposed for 2026-11-27" in f["message"]


def test_emergency_and_planned_verifier(cli, tmp_path):
    change = """\
    changes:
      - {action: grant, system: erp, account_id: sunqi, role: gl_reviewer, emergency: true,
         request_id: REQ-1041, requested_by: P2, approved_by: P3, verified_by: P2}
    """
    code, doc, output = run_gate(cli, tmp_path, "2026-11-27", change)
    assert code == 1, output
    # exempt from the freeze; but the planned verifier is the requester, who performs it
    assert {(f["policy_id"], f["code"]) for f in doc["findings"]} == {("CHG-002", "verifier_is_performer")}


def test_change_file_rejects_a_non_boolean_emergency(cli, tmp_path):
    change = tmp_path / "change.yaml"
    change.write_text("changes:\n  - {action: disable, system: erp, account_id: sunqi, emergency: maybe}\n",
                      encoding="utf-8")
    result = cli("validate", change)
    assert result.exit_code == 2 and "change.yaml:2" in result.output, result.output
