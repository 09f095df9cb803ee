"""kind: sql — generic SELECTs and the product profiles, on real databases.

Yonyou U8 and Kingdee K/3 WISE run against SQLite databases built with their published
table and column names; Tryton has its own file (test_sql_tryton.py, real trytond) and
so has Odoo (test_sql_odoo.py).
"""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
from connector_helpers import write_sources


def read(snap, table):
    return pd.read_csv(snap / f"{table}.csv", dtype=str, keep_default_na=False)


def make_db(path, script: str):
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()
    return path


def collect_profile(tmp_path, cli, db, profile, extra=""):
    src = write_sources(tmp_path, f"""
        - name: fin
          kind: sql
          url: sqlite:///{db.name}
          profile: {profile}
          {extra}
        """, timezone="Asia/Shanghai")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    return tmp_path / "snap"


U8 = """
CREATE TABLE UA_User (cUser_Id NVARCHAR(20), cUser_Name NVARCHAR(40), cPassword NVARCHAR(200),
  cDept NVARCHAR(40), cBelongGrp NVARCHAR(20), nState INT, iAdmin INT, cUserEmail NVARCHAR(60));
CREATE TABLE UA_Group (cGroup_Id NVARCHAR(20), cGroup_Name NVARCHAR(40));
CREATE TABLE UA_Role (cGroup_Id NVARCHAR(20), cUser_Id NVARCHAR(20));
CREATE TABLE UA_HoldAuth (cAcc_Id NVARCHAR(3), iYear SMALLINT, cUser_Id NVARCHAR(20),
  cAuth_Id NVARCHAR(20), iIsUser INT);
CREATE TABLE UA_Auth_lang (localeid NVARCHAR(10), cAuth_ID NVARCHAR(50), cAuth_Name NVARCHAR(100));
CREATE TABLE UA_Log (iLogId INT, cUser_Id NVARCHAR(20), cAcc_Id NVARCHAR(3), cSub_Id NVARCHAR(2),
  dInTime DATETIME, dOutTime DATETIME, cStation NVARCHAR(40));
INSERT INTO UA_User VALUES ('admin', '系统管理员', 'x', NULL, NULL, 0, 1, NULL),
  ('001', '张三', 'x', '财务部', NULL, 0, 0, NULL), ('002', '李四', 'x', '财务部', NULL, 1, 0, NULL),
  ('003', '王五', 'x', '财务部', NULL, NULL, 0, NULL);
INSERT INTO UA_Group VALUES ('R01', '出纳'), ('R02', '会计');
INSERT INTO UA_Role VALUES ('R01', '001'), ('R02', '002');
INSERT INTO UA_HoldAuth VALUES ('001', 2026, 'R01', 'GL0203', 0), ('001', 2026, 'R02', 'GL0201', 0),
  ('001', 2026, '003', 'GL0204', 1);
INSERT INTO UA_Log VALUES (1, '001', '001', 'GL', '2026-11-20 09:01:00', NULL, 'PC-01');
"""


def test_u8_profile(tmp_path, cli):
    db = make_db(tmp_path / "ufsystem.db", U8)
    snap = collect_profile(tmp_path, cli, db, "u8")
    acc = read(snap, "accounts").set_index("account_id")
    assert acc.loc["002", "enabled"] == "0" and acc.loc["003", "enabled"] == "1"  # NULL nState = normal
    assert acc.loc["admin", "account_type"] == "admin"
    assert acc.loc["001", "last_login_at"] == "2026-11-20 09:01:00"  # U8 stores local time
    grants = read(snap, "grants")
    assert sorted(zip(grants.account_id, grants.role, strict=True)) == [
        ("001", "出纳"), ("002", "会计"), ("003", "@003")]
    perms = read(snap, "role_permissions")
    perms = perms[perms.permission == perms.native_permission]  # the native rows (duties: the next test)
    assert sorted(zip(perms.role, perms.permission, perms.scope, strict=True)) == [
        ("@003", "u8.GL0204", "001"), ("会计", "u8.GL0201", "001"), ("出纳", "u8.GL0203", "001")]
    logins = read(snap, "logins")
    assert logins[["account_id", "source_ip"]].values.tolist() == [["001", "PC-01"]]


# UFSystem's authority names: UA_Auth_lang (localeid, cAuth_ID, cAuth_Name), shaped as in public
# U8 scripts; codes and names as listed by U8-ERP-CO-API
# (U8+ V18.0, checked against UA_Auth) — see docs/connectors.md, "U8 and K/3".
U8_DUTIES = U8 + """
INSERT INTO UA_Auth_lang VALUES ('zh-CN', 'GL0201', '填制凭证'), ('en-US', 'GL0201', 'Voucher Entry'),
  ('zh-CN', 'GL0203', '出纳签字'), ('zh-CN', 'GL0204', '审核凭证'), ('zh-CN', 'GL0208', '记账'),
  ('zh-CN', 'ZZ0101', '审核凭证'), ('zh-CN', 'ZZ0102', '自定义报表');
INSERT INTO UA_User VALUES ('004', '赵六', 'x', '财务部', NULL, 0, 0, NULL),
  ('005', '钱七', 'x', '财务部', NULL, 0, 0, NULL);
INSERT INTO UA_HoldAuth VALUES ('001', 2026, '004', 'GL0201', 1), ('001', 2026, '004', 'GL0204', 1),
  ('001', 2026, '005', 'GL0201', 1), ('001', 2026, '005', 'ZZ0101', 1), ('001', 2026, '005', 'ZZ0102', 1),
  ('001', 2026, '005', 'ZZ0103', 1);
"""


def test_u8_duty_map_finds_enter_and_approve_held_by_one_operator(tmp_path, cli):
    make_db(tmp_path / "ufsystem.db", U8_DUTIES)
    (tmp_path / "hr.csv").write_text("person_id,name,status\n001,张三,active\n002,李四,active\n"
                                     "003,王五,active\n004,赵六,active\n005,钱七,active\n", encoding="utf-8")
    link = 'derive: {accounts: {person_id: "{account_id}"}}'
    snap = collect_profile(tmp_path, cli, tmp_path / "ufsystem.db", "u8", extra=link + """
        - {name: hr, kind: file, path: hr.csv, table: identities}""")
    perms = read(snap, "role_permissions")
    duties = perms[perms.permission != perms.native_permission]
    got = {(r, p, n, name) for r, p, n, name in
           zip(duties.role, duties.permission, duties.native_permission, duties.permission_name, strict=True)}
    assert {("@004", "gl.voucher.enter", "u8.GL0201", "填制凭证"),
            ("@004", "gl.voucher.approve", "u8.GL0204", "审核凭证"),
            ("出纳", "cash.payment", "u8.GL0203", "出纳签字"),
            ("@005", "gl.voucher.approve", "u8.ZZ0101", "审核凭证")} <= got  # ZZ0101: by the name U8 gives it
    manifest = json.loads((snap / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["unmapped_permissions"] == ["u8.ZZ0102", "u8.ZZ0103"]  # neither code nor name is in the map
    r = cli("scan", "--snapshot", snap, "--as-of", "2026-12-10", "--format", "json", "--out", tmp_path / "out")
    assert r.exit_code in (1, 3), r.output  # 3: the pack's other policies need tables U8 has not
    found = {(f["policy_id"], f["subject"])
             for f in json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]}
    assert {("SOD-002", "person:004"), ("SOD-002", "person:005")} <= found  # 填制凭证 + 审核凭证
    assert ("SOD-002", "person:001") not in found


# K/3 WISE rights, shaped as Kingdee's own BOS export scripts write them (docs/connectors.md, "U8 and
# K/3"): t_ObjectAccessType lists each right of an object with its bit (FAccessMask) and, in
# FAccessUse, the bits it depends on (新增 3145728 = 查看's bit 2097152 + 1048576); the 查看 / 新增
# values of 塑胶子件收料申请单 are the script's, the other bits are made up in the same shape.
# t_AccessControl is read only through FAccessMask, as the public rights audits read it: its
# FAccessUse has no published meaning and is left out (zhangsan's 0 is no deny).
K3 = """
CREATE TABLE t_User (FUserID INT, FName NVARCHAR(80), FDescription NVARCHAR(255), FForbidden SMALLINT,
  FEmpID INT, FSID NVARCHAR(255));
CREATE TABLE t_Group (FGroupID INT, FUserID INT);
CREATE TABLE t_AccessControl (FUserID INT, FObjectType INT, FObjectID INT, FAccessMask INT, FAccessUse INT);
CREATE TABLE t_ObjectType (FObjectType INT, FObjectID INT, FName NVARCHAR(255), FDescription NVARCHAR(255));
CREATE TABLE t_ObjectAccessType (FObjectType INT, FObjectID INT, FIndex INT, FAccessMask INT, FAccessUse INT,
  FName NVARCHAR(255), FDescription NVARCHAR(255));
INSERT INTO t_ObjectType VALUES (1, 100, '总账_凭证', ''), (4100, 200000022, '塑胶子件收料申请单', '');
INSERT INTO t_ObjectAccessType VALUES (1, 100, 1, 2097152, 1048576, '查看', '查看'),
  (1, 100, 2, 131072, 3145728, '新增', '新增'), (1, 100, 3, 8192, 3145728, '审核', '审核'),
  (4100, 200000022, 1, 2097152, 1048576, '查看', '查看'), (4100, 200000022, 3, 131072, 3145728, '新增', '新增');
CREATE TABLE t_Log (FDate DATETIME, FUserID INT, FFunctionID NVARCHAR(80), FStatement INT,
  FDescription NVARCHAR(255), FMachineName NVARCHAR(80), FIPAddress NVARCHAR(40));
INSERT INTO t_User VALUES (1, 'Administrators', '系统管理员组', 0, NULL, NULL),
  (2, '财务组', '财务', 0, NULL, NULL), (16394, 'administrator', '管理员', 0, NULL, NULL),
  (16395, 'zhangsan', '张三', 0, 7, NULL), (16396, 'lisi', '李四', 1, 8, NULL);
INSERT INTO t_Group VALUES (1, 16394), (2, 16395), (2, 16396);
INSERT INTO t_AccessControl VALUES (2, 1, 100, 2097152 + 1048576 + 131072, 1),
  (16395, 1, 100, 2097152 + 1048576 + 8192, 0);
INSERT INTO t_Log VALUES ('2026-11-21 08:00:00', 16395, 'K3.Login', 0, '登录系统', 'PC-7', '10.0.0.7'),
  ('2026-11-21 08:05:00', 16395, 'GL.Voucher', 1, '新增凭证', 'PC-7', '10.0.0.7');
"""


def test_k3_profile_rights_from_the_mask_alone(tmp_path, cli):
    db = make_db(tmp_path / "k3.db", K3)
    snap = collect_profile(tmp_path, cli, db, "k3")
    acc = read(snap, "accounts").set_index("account_id")
    assert sorted(acc.index) == ["administrator", "lisi", "zhangsan"]  # groups are not accounts
    assert acc.loc["lisi", "enabled"] == "0" and acc.loc["zhangsan", "enabled"] == "1"
    grants = read(snap, "grants")
    assert sorted(zip(grants.account_id, grants.role, strict=True)) == [
        ("administrator", "Administrators"), ("lisi", "财务组"), ("zhangsan", "@zhangsan"),
        ("zhangsan", "财务组")]
    perms = read(snap, "role_permissions")
    perms = perms[perms.permission == perms.native_permission]
    # bit 1048576 is a dependency (FAccessUse of 查看 / 新增), not a right: no row of its own
    assert sorted(zip(perms.role, perms.permission, perms.permission_name, strict=True)) == [
        ("@zhangsan", "k3.1.100.1", "总账_凭证/查看"), ("@zhangsan", "k3.1.100.3", "总账_凭证/审核"),
        ("财务组", "k3.1.100.1", "总账_凭证/查看"), ("财务组", "k3.1.100.2", "总账_凭证/新增")]
    assert "effect" not in perms.columns  # K/3 stores no deny: every right held is allowed
    logins = read(snap, "logins")
    assert logins[["account_id", "at", "source_ip"]].values.tolist() == [
        ["zhangsan", "2026-11-21 08:00:00", "10.0.0.7"]]


K3_DUTIES = K3 + """
INSERT INTO t_User VALUES (3, '凭证组', '凭证录入与审核', 0, NULL, NULL), (16397, 'wangwu', '王五', 0, 9, NULL);
INSERT INTO t_Group VALUES (3, 16397);
INSERT INTO t_AccessControl VALUES (3, 1, 100, 2097152 + 1048576 + 131072 + 8192, 1),
  (16397, 4100, 200000022, 2097152 + 1048576, 1);
"""


def test_k3_rights_by_mask_and_the_duty_map_by_name(tmp_path, cli):
    make_db(tmp_path / "k3.db", K3_DUTIES)
    (tmp_path / "hr.csv").write_text("person_id,name,status\n7,张三,active\n8,李四,active\n9,王五,active\n",
                                     encoding="utf-8")
    link = 'derive: {accounts: {person_id: "{employee_id}"}}'
    snap = collect_profile(tmp_path, cli, tmp_path / "k3.db", "k3", extra=link + """
        - {name: hr, kind: file, path: hr.csv, table: identities}""")
    perms = read(snap, "role_permissions")
    group = perms[perms.role == "凭证组"]
    # one t_AccessControl row, one mask: 查看, 新增 and 审核 of 总账_凭证 (and their dependency bit)
    assert sorted(zip(group.permission, group.native_permission, group.permission_name, strict=True)) == [
        ("gl.account.debt.post", "k3.1.100.2", "总账_凭证/新增"),
        ("gl.account.expense.post", "k3.1.100.2", "总账_凭证/新增"),
        ("gl.account.revenue.post", "k3.1.100.2", "总账_凭证/新增"),
        ("gl.voucher.approve", "k3.1.100.3", "总账_凭证/审核"),
        ("gl.voucher.enter", "k3.1.100.2", "总账_凭证/新增"),
        ("k3.1.100.1", "k3.1.100.1", "总账_凭证/查看"),
        ("k3.1.100.2", "k3.1.100.2", "总账_凭证/新增"), ("k3.1.100.3", "k3.1.100.3", "总账_凭证/审核"),
        ("report.view", "k3.1.100.1", "总账_凭证/查看")]
    manifest = json.loads((snap / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["unmapped_permissions"] == ["k3.4100.200000022.1"]  # 塑胶子件收料申请单/查看: in no map
    r = cli("scan", "--snapshot", snap, "--as-of", "2026-12-10", "--format", "json", "--out", tmp_path / "out")
    assert r.exit_code in (1, 3), r.output
    found = {(f["policy_id"], f["subject"])
             for f in json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]}
    assert ("SOD-002", "person:9") in found  # 新增 and 审核 of 总账_凭证 through one group
    # zhangsan: 新增 through 财务组, 审核 held directly in a row whose FAccessUse is 0 (it was read
    # as a deny, which hid this conflict)
    assert ("SOD-002", "person:7") in found
    assert ("SOD-002", "person:8") not in found  # lisi: 新增 only


def test_k3_mask_bits_no_right_explains_fail_the_source_naming_the_row(tmp_path, cli):
    # bit 16 is listed for no right of 总账_凭证 (neither its FAccessMask nor its FAccessUse), and
    # object 1/999 has no t_ObjectAccessType rows at all: the profile cannot tell what they grant
    make_db(tmp_path / "k3.db", K3 + """
        INSERT INTO t_AccessControl VALUES (2, 1, 100, 2097152 + 16, 1), (16395, 1, 999, 4, 1);""")
    src = write_sources(tmp_path, """
        - {name: fin, kind: sql, url: "sqlite:///k3.db", profile: k3}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3, r.output
    assert ("source fin (sql) FAILED: table role_permissions: t_AccessControl row FUserID=2, FObjectType=1, "
            "FObjectID=100: column FAccessMask (2097168) has bits 16") in r.output
    assert "t_AccessControl row FUserID=16395, FObjectType=1, FObjectID=999: column FAccessMask (4) has bits 4" \
        in r.output


def test_generic_profile_and_query_override(tmp_path, cli):
    db = make_db(tmp_path / "fin.db", """
        CREATE TABLE users (uid TEXT, on_ INT, person TEXT);
        INSERT INTO users VALUES ('zs', 1, 'P1'), ('ls', 0, 'P2');
        CREATE TABLE roles (uid TEXT, r TEXT);
        INSERT INTO roles VALUES ('zs', 'cashier');
    """)
    snap = collect_profile(tmp_path, cli, db, "generic", extra="""queries:
            accounts: SELECT uid AS account_id, on_ AS enabled, person AS person_id FROM users
            grants: SELECT 'legacy' AS system, uid AS account_id, r AS role FROM roles
          system: finance""")
    acc = read(snap, "accounts")
    assert acc.values.tolist() == [["finance", "zs", "1", "P1"], ["finance", "ls", "0", "P2"]]
    assert read(snap, "grants").values.tolist() == [["legacy", "zs", "cashier"]]


def test_failures_are_isolated_and_reported(tmp_path, cli):
    make_db(tmp_path / "fin.db", "CREATE TABLE users (uid TEXT); INSERT INTO users VALUES ('a'), ('b');")
    src = write_sources(tmp_path, """
        - name: badsql
          kind: sql
          url: sqlite:///fin.db
          queries: {accounts: SELECT * FROM nope}
        - name: toobig
          kind: sql
          url: sqlite:///fin.db
          max_rows: 1
          queries: {grants: "SELECT 'x' AS system, uid AS account_id, 'r' AS role FROM users"}
        - name: nodb
          kind: sql
          url: sqlite:///missing.db
          queries: {accounts: SELECT 1}
        - name: good
          kind: sql
          url: sqlite:///fin.db
          queries: {logins: "SELECT 's' AS system, uid AS account_id, '2026-01-01' AS at FROM users"}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap", "--partial")
    assert r.exit_code == 3
    assert "source badsql (sql) FAILED: table accounts: no such table: nope" in r.output
    assert "source toobig (sql) FAILED: table grants: more than max_rows=1 rows" in r.output
    assert "FAILED: SQLite database" in r.output and "missing.db does not exist" in r.output
    assert not (tmp_path / "missing.db").exists()  # opened read-only: never created
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    status = {s["name"]: (s["status"], s["tables"]) for s in manifest["sources"]}
    assert status == {"badsql": ("error", ["accounts"]), "toobig": ("error", ["grants"]),
                      "nodb": ("error", ["accounts"]), "good": ("ok", ["logins"])}
    assert set(manifest["tables"]) == {"logins"}


def test_password_in_url_is_refused(tmp_path, cli):
    make_db(tmp_path / "fin.db", "CREATE TABLE t (x INT);")
    src = write_sources(tmp_path, """
        - name: fin
          kind: sql
          url: sqlite://reader:inline-pw@/fin.db
          queries: {accounts: SELECT 1}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 2  # refused when the sources file is read, at the url's line and column
    assert "sources.yaml:4:" in r.output
    assert "carries a password: give it with password_env or password_file" in r.output
    assert "inline-pw" not in r.output


def test_missing_password_sources_are_named_not_shown(tmp_path, cli):
    make_db(tmp_path / "fin.db", "CREATE TABLE t (x INT);")
    src = write_sources(tmp_path, """
        - {name: a, kind: sql, url: "sqlite:///fin.db", password_env: LG_NOT_SET_ANYWHERE,
           queries: {accounts: SELECT 1}}
        - {name: b, kind: sql, url: "sqlite:///fin.db", password_file: no/such.pw,
           queries: {accounts: SELECT 1}}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "source a (sql) FAILED: environment variable LG_NOT_SET_ANYWHERE (password_env) is not set" in r.output
    assert "source b (sql) FAILED: cannot read password_file" in r.output and "such.pw" in r.output
