"""The Odoo profile on PostgreSQL databases shaped like Odoo 16 and Odoo 19.

Odoo cannot run in this project's test environment (it is not installable from the
package registries here), so each database is built from Odoo's own model definitions
(odoo/addons/base/models — 16.0: res_users.py, ir_model.py, ir_module.py; 19.0:
res_groups.py, res_users.py, res_groups_privilege.py, ir_model.py): the tables and
columns the profile reads, with the ORM's storage (translated names as JSONB, many2many
tables ``res_groups_users_rel(gid, uid)`` and ``res_groups_implied_rel(gid, hid)``).
Up to 18 Odoo writes the implied groups into ``res_groups_users_rel`` itself
(``UsersImplied.write``); 19 keeps only the explicit ones there and computes the rest.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from connector_helpers import write_sources
from pgserver import SUPERUSER_PASSWORD

from ledgerguard.app.cli import main

SCHEMA = """
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, active boolean);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, partner_id integer NOT NULL,
  active boolean DEFAULT true, share boolean, company_id integer, password varchar,
  create_uid integer, create_date timestamp without time zone,
  write_uid integer, write_date timestamp without time zone);
CREATE TABLE ir_module_category (id serial PRIMARY KEY, name jsonb NOT NULL, parent_id integer,
  sequence integer, visible boolean, exclusive boolean);
CREATE TABLE res_groups (id serial PRIMARY KEY, name jsonb NOT NULL, {group_app} integer, share boolean,
  comment jsonb {extra_group_columns});{extra_tables}
CREATE TABLE res_groups_users_rel (gid integer NOT NULL, uid integer NOT NULL, PRIMARY KEY (gid, uid));
CREATE TABLE res_groups_implied_rel (gid integer NOT NULL, hid integer NOT NULL, PRIMARY KEY (gid, hid));
CREATE TABLE ir_model (id serial PRIMARY KEY, model varchar NOT NULL UNIQUE, name jsonb NOT NULL,
  state varchar, transient boolean);
CREATE TABLE ir_model_access (id serial PRIMARY KEY, name varchar NOT NULL, active boolean DEFAULT true,
  model_id integer NOT NULL, group_id integer, perm_read boolean, perm_write boolean,
  perm_create boolean, perm_unlink boolean);
CREATE TABLE ir_model_data (id serial PRIMARY KEY, name varchar NOT NULL, module varchar NOT NULL,
  model varchar NOT NULL, res_id integer, noupdate boolean);
CREATE TABLE res_users_log (id serial PRIMARY KEY, create_uid integer, create_date timestamp without time zone,
  write_uid integer, write_date timestamp without time zone);
"""

DATA = """
INSERT INTO res_partner (id, name, email) VALUES (1, 'OdooBot', NULL), (3, 'Mitchell Admin', 'admin@x'),
  (7, '张三', 'zhangsan@x'), (8, '李四', 'lisi@x'), (9, '赵六', 'zhaoliu@x');
INSERT INTO res_users (id, login, partner_id, active, share, create_date) VALUES
  (1, '__system__', 1, false, false, '2026-01-01 00:00:00'), (2, 'admin', 3, true, false, '2026-01-01 00:00:00'),
  (7, 'zhangsan', 7, true, false, '2026-03-01 08:00:00'), (8, 'lisi', 8, true, false, '2026-03-01 08:00:00'),
  (9, 'zhaoliu', 9, true, false, '2026-03-01 08:00:00');
INSERT INTO ir_module_category (id, name) VALUES (1, '{"en_US": "Sales", "zh_CN": "销售"}'),
  (2, '{"en_US": "Purchase", "zh_CN": "采购"}'), (3, '{"en_US": "Accounting"}'), (4, '{"en_US": "Administration"}');
INSERT INTO res_groups (id, name, {group_app}) VALUES
  (10, '{"en_US": "User: Own Documents Only"}', 1), (11, '{"en_US": "Administrator", "zh_CN": "管理员"}', 1),
  (20, '{"en_US": "User"}', 2), (21, '{"en_US": "Administrator", "zh_CN": "管理员"}', 2),
  (30, '{"en_US": "Billing"}', 3), (31, '{"en_US": "Billing Administrator"}', 3),
  (40, '{"en_US": "Settings"}', 4), (41, '{"en_US": "Access Rights"}', 4),
  (50, '{"en_US": "Cashier desk"}', NULL);
INSERT INTO ir_model_data (name, module, model, res_id) VALUES
  ('group_sale_salesman', 'sales_team', 'res.groups', 10), ('group_sale_manager', 'sales_team', 'res.groups', 11),
  ('group_purchase_user', 'purchase', 'res.groups', 20), ('group_purchase_manager', 'purchase', 'res.groups', 21),
  ('group_account_invoice', 'account', 'res.groups', 30), ('group_account_manager', 'account', 'res.groups', 31),
  ('group_system', 'base', 'res.groups', 40), ('group_erp_manager', 'base', 'res.groups', 41);
INSERT INTO res_groups_implied_rel VALUES (11, 10), (21, 20), (31, 30), (40, 41);
INSERT INTO ir_model (id, model, name) VALUES (100, 'sale.order', '{"en_US": "Sales Order"}'),
  (101, 'purchase.order', '{"en_US": "Purchase Order"}'), (102, 'account.move', '{"en_US": "Journal Entry"}'),
  (103, 'account.payment', '{"en_US": "Payments"}'), (104, 'res.partner', '{"en_US": "Contact"}'),
  (105, 'res.users', '{"en_US": "User"}'), (106, 'mrp.production', '{"en_US": "Production Order"}');
INSERT INTO ir_model_access (name, model_id, group_id, perm_read, perm_write, perm_create, perm_unlink, active)
VALUES ('sale.order salesman', 100, 10, true, true, true, false, true),
  ('sale.order manager', 100, 11, true, true, true, true, true),
  ('purchase.order user', 101, 20, true, true, true, false, true),
  ('purchase.order manager', 101, 21, true, true, true, true, true),
  ('account.move invoice', 102, 30, true, true, true, true, true),
  ('account.move old', 102, 11, true, true, true, true, false),
  ('account.payment desk', 103, 50, true, true, true, false, true),
  ('res.partner everyone', 104, NULL, true, false, false, false, true),
  ('res.users access rights', 105, 41, true, true, true, true, true),
  ('mrp.production everyone', 106, NULL, false, true, false, false, true);
INSERT INTO res_users_log (create_uid, create_date) VALUES (7, '2026-11-20 01:00:00'), (9, '2026-12-02 02:30:00');
"""

# explicit memberships; Odoo ≤ 18 also stores the implied ones, 19 does not
EXPLICIT = [(40, 2), (11, 7), (30, 8), (50, 8), (30, 9)]
IMPLIED = [(41, 2), (10, 7)]
# res_groups per version, as OCA/OpenUpgrade's upgrade_analysis.txt of base lists the changes
# between release branches (docs/connectors.md, "Odoo: groups, implied groups, versions"):
# 18.0 adds api_key_duration; 19.0 drops category_id, color and users (user_ids, same table),
# adds privilege_id -> res.groups.privilege (name: translated, category_id) and sequence.
VERSIONS = {
    "16": {"group_app": "category_id", "extra_group_columns": ", color integer", "extra_tables": "",
           "members": EXPLICIT + IMPLIED},
    "19": {"group_app": "privilege_id", "extra_group_columns": ", sequence integer, api_key_duration double precision",
           "extra_tables": """
CREATE TABLE res_groups_privilege (id serial PRIMARY KEY, name jsonb NOT NULL, category_id integer,
  description jsonb, placeholder jsonb, sequence integer);
INSERT INTO res_groups_privilege (id, name, category_id) VALUES (1, '{"en_US": "Sales"}', 1),
  (2, '{"en_US": "Purchase"}', 2), (3, '{"en_US": "Accounting"}', 3), (4, '{"en_US": "Administration"}', 4);""",
           "members": EXPLICIT},
}
HR = "person_id,name,position,status,departure_date\nzhangsan,张三,销售经理,active,\nlisi,李四,出纳,active,\n" \
     "zhaoliu,赵六,会计,departed,2026-11-30\nadmin,Mitchell Admin,系统管理员,active,\n"


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def odoo_db(request, pg_server):
    import pg8000.native

    name = f"odoo{request.param}"
    con = pg_server.connect()
    con.run(f"CREATE DATABASE {name}")
    con.close()
    con = pg8000.native.Connection("postgres", host="127.0.0.1", port=pg_server.port,
                                   password=SUPERUSER_PASSWORD, database=name, timeout=5)
    spec = VERSIONS[request.param]
    for statement in (SCHEMA.format(**spec) + DATA.replace("{group_app}", spec["group_app"])).split(";\n"):
        if statement.strip():
            con.run(statement)
    for gid, uid in spec["members"]:
        con.run(f"INSERT INTO res_groups_users_rel VALUES ({gid}, {uid})")
    con.close()
    return request.param, f"postgresql+pg8000://postgres@127.0.0.1:{pg_server.port}/{name}"


def read(snap, table):
    return pd.read_csv(snap / f"{table}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def snap(odoo_db, tmp_path_factory):
    """One snapshot per version, collected by the real CLI (the tests only read it)."""
    _, url = odoo_db
    tmp_path = tmp_path_factory.mktemp("odoo")
    (tmp_path / "hr.csv").write_text(HR, encoding="utf-8")
    src = write_sources(tmp_path, f"""
        - name: odoo
          kind: sql
          url: {url}
          password_env: LG_ODOO_PW
          profile: odoo
          derive: {{accounts: {{person_id: "{{_login}}"}}}}
        - {{name: hr, kind: file, path: hr.csv, table: identities}}
        """, timezone="Asia/Shanghai")
    r = CliRunner().invoke(main, ["collect", "--sources", str(src), "--out", str(tmp_path / "snap")],
                           env={"LG_ODOO_PW": SUPERUSER_PASSWORD}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return tmp_path / "snap"


def test_roles_are_xml_ids_with_real_names(snap, odoo_db):
    version, _ = odoo_db
    grants = read(snap, "grants")
    assert "{" not in "".join(grants.role) + "".join(grants.role_name)  # no JSON written as a name
    names = dict(zip(grants.role, grants.role_name, strict=True))
    # 19.0 keeps the application on res.groups.privilege, which the profile does not read yet
    assert names["sales_team.group_sale_manager"] == ("Administrator" if version == "19" else "Sales / Administrator")
    assert names["res.groups:50"] == "Cashier desk"  # made in the UI: no XML id
    perms = read(snap, "role_permissions")
    assert set(perms[perms.role == "purchase.group_purchase_manager"].role_name) == {
        "Administrator" if version == "19" else "Purchase / Administrator"}


def test_effective_groups_follow_implied_groups_in_every_version(snap, odoo_db):
    version, _ = odoo_db
    grants = read(snap, "grants")
    held = {(a, r): d for a, r, d in zip(grants.account_id, grants.role, grants.description, strict=True)}
    assert {r for a, r in held if a == "zhangsan"} == {
        "sales_team.group_sale_manager", "sales_team.group_sale_salesman", "@everyone"}
    if version == "19":  # not stored by Odoo 19: the profile closes over res_groups_implied_rel
        assert held[("zhangsan", "sales_team.group_sale_salesman")] == "implied by sales_team.group_sale_manager"
    assert ("admin", "base.group_erp_manager") in held
    effective = grants.merge(read(snap, "role_permissions"), on=["system", "role"])
    zhang = set(effective[effective.account_id == "zhangsan"].permission)
    # the Sales "Administrator" is not Purchase's: no purchase right leaks to a Sales user
    assert {"sale.order.unlink", "sale.order.write", "res.partner.read", "mrp.production.write"} <= zhang
    assert not any(p.startswith("purchase.") for p in zhang)
    assert "account.move.write" not in zhang  # that rule is inactive


def test_rules_without_a_group_apply_to_everyone(snap):
    grants, perms = read(snap, "grants"), read(snap, "role_permissions")
    assert set(grants[grants.role == "@everyone"].account_id) == {"admin", "zhangsan", "lisi", "zhaoliu"}
    everyone = perms[(perms.role == "@everyone") & (perms.permission == perms.native_permission)]
    assert set(everyone.permission) == {"res.partner.read", "mrp.production.write"}
    manifest = json.loads((snap / "manifest.json").read_text())
    odoo = next(s for s in manifest["sources"] if s["name"] == "odoo")
    assert odoo["unmapped_permissions"] == ["mrp.production.write"]


def test_scan_finds_the_planted_violations(snap, tmp_path, cli):
    r = cli("scan", "--snapshot", snap, "--as-of", "2026-12-10", "--format", "json", "--out", tmp_path / "out")
    assert r.exit_code in (1, 3), r.output
    got = {(f["policy_id"], f["subject"])
           for f in json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]}
    assert ("ACC-001", "account:odoo:zhaoliu") in got  # departed, still enabled, logged in after
    assert ("SOD-001", "person:lisi") in got  # Billing (posting) + Cashier desk (payments)
    assert ("MFA-001", "account:odoo:admin") in got  # Access Rights (res.users) without MFA
    assert ("SOD-001", "person:zhangsan") not in got
