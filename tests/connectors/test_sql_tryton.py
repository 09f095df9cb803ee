"""The Tryton profile against real trytond 8.2 databases, on SQLite and on PostgreSQL.

tryton_build.py creates the database through trytond itself (users, groups with
parents, deactivated groups, an administrator, employees) and records what trytond's
own ``ModelAccess.get_access`` answers for each user; the snapshot must say the same.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from connector_helpers import write_sources
from pgserver import SUPERUSER_PASSWORD

HR = """person_id,name,position,status,departure_date
P0001,张三,会计,active,
P0002,李四,出纳,active,
P0003,赵六,会计,departed,2026-11-30
"""


def read(snap, table):
    return pd.read_csv(snap / f"{table}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def tryton(request, tmp_path, monkeypatch):
    """(sources entry settings, access.json) for a real trytond database of each backend."""
    if request.param == "sqlite":
        db = request.getfixturevalue("tryton_db")
        template = request.getfixturevalue("tryton_sqlite_template")
        return {"url": f"sqlite:///{db}"}, json.loads((template / "access.json").read_text())
    pg = request.getfixturevalue("tryton_pg")
    monkeypatch.setenv("LG_TRYTON_PW", SUPERUSER_PASSWORD)
    return {"url": pg.url, "password_env": "LG_TRYTON_PW"}, json.loads((pg.folder / "access.json").read_text())


def collect(tmp_path, cli, settings: dict[str, str], extra=""):
    (tmp_path / "hr.csv").write_text(HR, encoding="utf-8")
    lines = "\n          ".join(f"{k}: {v}" for k, v in settings.items())
    src = write_sources(tmp_path, f"""
        - name: fin
          kind: sql
          profile: tryton
          {lines}
          {extra}
        - {{name: hr, kind: file, path: hr.csv, table: identities}}
        """, timezone="Asia/Shanghai")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    return tmp_path / "snap", r


def test_each_users_rights_are_what_trytond_answers(tryton, tmp_path, cli):
    settings, access = tryton
    snap, _ = collect(tmp_path, cli, settings)
    grants, perms = read(snap, "grants"), read(snap, "role_permissions")
    native = perms[(perms.permission == perms.native_permission) & ~perms.permission.str.startswith("menu.")]
    effective = grants.merge(native, on=["system", "role"])
    derived = tuple(f"{m}." for m in access["derived"])  # access trytond takes from another model
    narrow = {f"{m}.{p}" for m in access["narrow_defaults"] for p in ("read", "write", "create", "delete")}
    for login, answer in access["users"].items():
        ours = {p for p in effective[effective.account_id == login].permission if not p.startswith(derived)}
        theirs = {p for p in answer if not p.startswith(derived)}
        if login in ("admin", "boss"):
            # an administrator: every right of every ruled model; trytond's defaults are
            # narrower only for singletons and table queries (over-reported, never hidden)
            assert theirs <= ours and ours - theirs <= narrow, login
        else:
            assert ours == theirs, login
    assert len(access["users"]["lisi"]) > 50  # the comparison really covered rights


def test_groups_parents_administrator_and_people(tryton, tmp_path, cli):
    settings, _ = tryton
    snap, _ = collect(tmp_path, cli, settings)
    acc = read(snap, "accounts").set_index("account_id")
    assert acc.loc["boss", "account_type"] == "admin" and acc.loc["root", "account_type"] == "service"
    assert acc.loc["zhangsan", "account_type"] == "personal"
    # users are linked to people the way Tryton does: user → employee → party code
    assert acc.loc["zhangsan", "person_id"] == "P0001" and acc.loc["zhaoliu", "person_id"] == "P0003"
    assert acc.loc["boss", "person_id"] == ""
    assert acc.loc["zhangsan", "last_login_at"].endswith("+00:00")
    grants = read(snap, "grants")
    held = set(zip(grants.account_id, grants.role, strict=True))
    assert ("boss", "@administrator") in held
    assert ("zhangsan", "Old Auditors") not in held  # deactivated, no active parent: nothing
    # deactivated, but its parent Party Administration is active: trytond still grants it
    assert ("zhangsan", "Legacy Party Admins") in held
    perms = read(snap, "role_permissions")
    book = perms[perms.role == "Bookkeepers"]
    assert "account.move.write" in set(book.permission)  # inherited from its parent Accounting
    assert book[book.permission == "account.move.write"].description.str.contains(
        "inherited from group Accounting").all()
    assert "party.category.write" in set(perms[perms.role == "Legacy Party Admins"].permission)
    assert "res.user.write" not in set(perms[perms.role == "Legacy Party Admins"].permission)
    assert set(perms[perms.role == "Old Auditors"].permission) == set()
    # the native permission stays beside each duty it maps to
    duty = perms[(perms.role == "Payment") & (perms.permission == "cash.payment")]
    assert set(duty.native_permission) == {"account.payment.create", "account.payment.write",
                                           "account.payment.delete", "account.payment.group.write"}
    manifest = json.loads((snap / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["unmapped_permissions"] == []  # the shipped map covers every right of this database


def test_scan_finds_the_planted_departure_sod_and_mfa_violations(tryton, tmp_path, cli):
    settings, _ = tryton
    snap, _ = collect(tmp_path, cli, settings)
    r = cli("scan", "--snapshot", snap, "--as-of", "2026-12-10", "--format", "json", "--out", tmp_path / "out")
    assert r.exit_code in (1, 3), r.output
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]
    got = {(f["policy_id"], f["subject"]) for f in findings}
    assert ("ACC-001", "account:fin:zhaoliu") in got  # departed 2026-11-30, still enabled
    # lisi: Payment (cash.payment) + Bookkeepers → Accounting (posting): made through res.user/res.group
    assert ("SOD-001", "person:P0002") in got
    assert ("MFA-001", "account:fin:boss") in got  # administrator without a second factor
    assert ("SOD-001", "person:P0001") not in got  # zhangsan posts but does not pay


def test_source_duties_override_and_unmapped_permissions(tryton_db, tmp_path, cli):
    snap, r = collect(tmp_path, cli, {"url": f"sqlite:///{tryton_db}"}, extra="""duties:
            "ir.attachment.create": [archive.keep]
            "account.payment.*": null
          queries:
            role_permissions: >-
              SELECT g.name AS role, 'stock.move.write' AS permission FROM res_group g
              UNION ALL SELECT 'Cashiers', 'ir.attachment.create'""".replace(": null", ": []"))
    perms = read(snap, "role_permissions")
    assert ("Cashiers", "archive.keep", "ir.attachment.create") in set(
        zip(perms.role, perms.permission, perms.native_permission, strict=True))
    manifest = json.loads((snap / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["unmapped_permissions"] == ["stock.move.write"]
    assert "fin: 1 native permissions map to no duty" in r.output and "stock.move.write" in r.output


def test_a_utc_midnight_keeps_its_time(tryton_pg, tmp_path, cli, monkeypatch):
    """A timestamp at exactly 00:00:00 is not shortened to a date (which would be read in
    the snapshot timezone, 8 hours early in Asia/Shanghai)."""
    import pg8000.native

    con = pg8000.native.Connection("postgres", host="127.0.0.1", port=tryton_pg.server.port,
                                   password=SUPERUSER_PASSWORD, database="lgtest", timeout=5)
    con.run("UPDATE ir_session SET create_date = '2026-12-06 00:00:00'")
    con.close()
    monkeypatch.setenv("LG_TRYTON_PW", SUPERUSER_PASSWORD)
    snap, _ = collect(tmp_path, cli, {"url": tryton_pg.url, "password_env": "LG_TRYTON_PW"})
    logins = read(snap, "logins")
    assert set(logins[logins.success == "1"]["at"]) == {"2026-12-06T00:00:00+00:00"}
