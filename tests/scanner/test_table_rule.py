"""table_rule end to end through `ledgerguard scan`: joins, templates, one finding per subject."""

from __future__ import annotations

import textwrap

from conftest import policy_pack, run_findings

TABLES = {
    "identities": [
        {"person_id": "P1", "name": "张三", "status": "departed", "departure_date": "2026-10-31"},
        {"person_id": "P2", "name": "李四", "status": "active"},
    ],
    "accounts": [
        {"system": "erp", "account_id": "zhangsan", "person_id": "P1", "display_name": "Zhang",
         "enabled": "true", "last_login_at": "2026-11-20T09:00:00+08:00"},
        {"system": "erp", "account_id": "lisi", "person_id": "P2", "display_name": "Li", "enabled": "true"},
        {"system": "erp", "account_id": "old", "person_id": "P1", "display_name": "Old", "enabled": "false"},
    ],
    "grants": [
        {"system": "erp", "account_id": "old", "role": "gl_admin", "granted_at": "2025-01-01"},
        {"system": "erp", "account_id": "old", "role": "gl_poster", "granted_at": "2025-01-01"},
        {"system": "erp", "account_id": "lisi", "role": "gl_admin", "granted_at": "2026-01-01"},
    ],
}


def rule(pid: str, params: str, severity: str = "high") -> str:
    return f"id: {pid}\nkind: table_rule\ntitle: t\nseverity: {severity}\nparams:\n" + "".join(
        f"  {line}\n" for line in textwrap.dedent(params).strip().splitlines())


def scan(cli, make_snapshot, write_yaml, tmp_path, *rules, tables=TABLES):
    snap = make_snapshot(tables, timezone="Asia/Shanghai")
    pack = write_yaml("p.yaml", policy_pack(*rules))
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", out)
    return result, run_findings(out)


def test_identity_join_on_accounts_and_templates(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, rule("TR-1", """
        table: accounts
        where: enabled and identity.status == "departed" and days_since(identity.departure_date) > 7
        message: "{display_name} of {identity.name} left on {identity.departure_date}"
    """))
    assert result.exit_code == 1
    (f,) = doc["findings"]
    assert f["subject"] == "account:erp:zhangsan"  # the default subject of accounts
    assert f["person_id"] == "P1" and f["code"] == "row_matched"
    assert f["message"] == "Zhang of 张三 left on 2026-10-31"
    assert f["evidence"]["identity.status"] == "departed" and f["evidence"]["matched_rows"] == 1


def test_account_and_identity_joins_on_grants_with_key(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, rule("TR-2", """
        table: grants
        where: not account.enabled and identity.status == "departed"
        message: "{identity.name} keeps {role} on disabled {account_id}"
        subject: "person:{account.person_id}"
        key: "{role}"
        code: leftover_grant
    """))
    assert result.exit_code == 1
    got = sorted((f["subject"], f["key"], f["code"], f["message"]) for f in doc["findings"])
    assert got == [("person:P1", "gl_admin", "leftover_grant", "张三 keeps gl_admin on disabled old"),
                   ("person:P1", "gl_poster", "leftover_grant", "张三 keeps gl_poster on disabled old")]
    assert len({f["id"] for f in doc["findings"]}) == 2


def test_several_rows_of_one_subject_make_one_finding(cli, make_snapshot, write_yaml, tmp_path):
    _, doc = scan(cli, make_snapshot, write_yaml, tmp_path, rule("TR-3", """
        table: grants
        where: matches(role, "gl_*") and granted_at < date("2026-01-01")
        message: "{account_id} holds old grants"
        severity: medium
    """.replace("severity: medium\n", "")))
    (f,) = doc["findings"]
    assert f["subject"] == "account:erp:old" and f["evidence"]["matched_rows"] == 2


def test_unknown_column_makes_the_policy_error_not_pass(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, rule("TR-4", """
        table: accounts
        where: enabled and cost_centre == "X"
        message: "{account_id}"
    """), rule("TR-5", """
        table: archives
        where: fiscal_year < 2000
        message: "{archive_id}"
    """))
    assert result.exit_code == 3
    status = {p["id"]: (p["status"], p["error"]) for p in doc["policies"]}
    assert status["TR-4"][0] == "error" and "unknown column 'cost_centre'" in status["TR-4"][1]
    assert status["TR-5"][0] == "error" and "archives" in status["TR-5"][1]  # table not in the snapshot


def test_extra_columns_are_usable(cli, make_snapshot, write_yaml, tmp_path):
    tables = {**TABLES, "accounts": [{**r, "cost_centre": cc} for r, cc in zip(
        TABLES["accounts"], ["CC1", "CC9", ""], strict=True)]}
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, rule("TR-6", """
        table: accounts
        where: cost_centre not in ["CC1", "CC2"] or cost_centre is null
        message: "{account_id} is in cost centre '{cost_centre}'"
    """, severity="low"), tables=tables)
    assert result.exit_code == 0  # low < high
    assert sorted(f["message"] for f in doc["findings"]) == [
        "lisi is in cost centre 'CC9'", "old is in cost centre ''"]


def test_schema_requires_table_where_message(cli, write_yaml):
    result = cli("validate", write_yaml("p.yaml", policy_pack(rule("TR-7", "table: accounts\nwhere: enabled"))))
    assert result.exit_code == 2 and "'message' is a required property" in result.stderr
    result = cli("validate", write_yaml("q.yaml", policy_pack(rule("TR-8", "table: mystery\nwhere: x\nmessage: m"))))
    assert result.exit_code == 2 and "table 'mystery' has no default subject" in result.stderr


def test_a_message_in_two_languages(cli, make_snapshot, write_yaml, tmp_path):
    """The author's Chinese message is what a Chinese report shows; findings.json keeps the
    English one as `message` and the others under `messages`."""
    r = rule("R-ZH", """
        table: accounts
        where: identity.status == "departed" and enabled
        message: {en: "{account_id} of {identity.name} is enabled", zh: "{identity.name} 的账号 {account_id} 仍启用"}
    """)
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, r)
    assert result.exit_code == 1
    (f,) = doc["findings"]
    assert f["message"] == "zhangsan of 张三 is enabled" and f["messages"] == {"zh": "张三 的账号 zhangsan 仍启用"}
    out = tmp_path / "zh"
    assert cli("report", "--findings", tmp_path / "out" / "findings.json", "--format", "html", "--out", out,
               "--lang", "zh").exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "张三 的账号 zhangsan 仍启用" in page and "zhangsan of 张三 is enabled" not in page


def test_a_mistake_in_the_chinese_message_is_located(cli, write_yaml):
    pack = write_yaml("p.yaml", policy_pack(rule("R-ZH", """
        table: accounts
        where: enabled
        message: {en: "{account_id}", zh: "{nosuch"}
    """)))
    result = cli("validate", pack)
    lines = pack.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "{nosuch" in text)
    column = lines[line - 1].index("{nosuch") + 1  # the place of the unclosed brace in the zh text
    assert result.exit_code == 2
    assert f"p.yaml:{line}:{column}: in the template: '{{' without a closing '}}'" in result.output
