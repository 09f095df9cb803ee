"""Build a real trytond database (SQLite or PostgreSQL) and ask trytond who may do what.

Run as a script so trytond's global configuration never leaks into the pytest process:

    python tryton_build.py build  DB_URI FOLDER   # create the database, write FOLDER/access.json
    python tryton_build.py access DB_URI FOLDER   # only (re)write FOLDER/access.json

``DB_URI`` is trytond's ``[database] uri`` (``sqlite://`` with the file in FOLDER, or
``postgresql://user:pw@127.0.0.1:PORT/``); the database is called ``lgtest``.

``build`` activates account_payment (with account, company, party, currency) through
``trytond-admin``; then the trytond API creates records as an administrator would, so
who/when columns (create_uid, create_date) are filled by trytond itself:

- ``zhangsan`` (employee P0001): Accounting (posts journal entries) and two deactivated
  groups: "Old Auditors" (no parent: gives nothing) and "Legacy Party Admins" (parent
  Party Administration: trytond still grants the parent's rights through it)
- ``lisi`` (P0002): Payment and "Bookkeepers", whose parent is Accounting — posting and
  paying, the SoD conflict planted through trytond's own admin model
- ``zhaoliu`` (P0003, departed in the test's HR file): still active, Accounting, logs in
- ``wangwu``: deactivated user; ``boss``: the ``administrator`` flag, no group
- ``admin``: created by trytond-admin

``access.json`` is what trytond answers for every user and every model that has an
access rule: ``ModelAccess.get_access`` under a transaction of that user, plus the
models whose access trytond derives from another model (``__access__``) and those
whose default access is narrower than "everything" (singletons, table queries).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

DB = "lgtest"
MODULES = "account_payment"


def configure(uri: str, folder: Path) -> Path:
    conf = folder / "trytond.conf"
    conf.write_text(f"[database]\nuri = {uri}\npath = {folder}\n")
    if uri.startswith("sqlite"):
        (folder / f"{DB}.sqlite").touch()
    return conf


def admin(conf: Path, folder: Path) -> None:
    (folder / "adminpass").write_text("admin-pass\n")
    env = {**os.environ, "TRYTONPASSFILE": str(folder / "adminpass")}
    tool = Path(sys.executable).with_name("trytond-admin")
    for args in (["--all", "--email", "admin@example.test"], ["-u", MODULES, "--activate-dependencies"]):
        done = subprocess.run([str(tool), "-c", str(conf), "-d", DB, *args], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"trytond-admin {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def pool_for(conf: Path):
    from trytond import config

    config.update_etc(str(conf))
    from trytond.pool import Pool

    Pool.start()
    pool = Pool(DB)
    pool.init()
    return pool


def populate(pool) -> None:
    from trytond.transaction import Transaction

    with Transaction().start(DB, 0, context={}) as tx:
        User, Group = pool.get("res.user"), pool.get("res.group")
        Access, MenuGroup = pool.get("ir.model.access"), pool.get("ir.ui.menu-res.group")
        Menu, ModelData = pool.get("ir.ui.menu"), pool.get("ir.model.data")
        Session, Attempt = pool.get("ir.session"), pool.get("res.user.login.attempt")
        Party, Currency = pool.get("party.party"), pool.get("currency.currency")
        Company, Employee = pool.get("company.company"), pool.get("company.employee")
        admin_user, = User.search([("login", "=", "admin")])
        group = {name: Group(ModelData.get_id(module, xml_id)) for name, module, xml_id in [
            ("accounting", "account", "group_account"), ("payment", "account_payment", "group_payment"),
            ("party_admin", "party", "group_party_admin")]}
        with Transaction().set_user(admin_user.id):
            cny, = Currency.create([{"name": "Yuan Renminbi", "code": "CNY", "symbol": "¥"}])
            company_party, *people = Party.create([
                {"name": "LG Test Co"}, {"name": "张三", "code": "P0001"},
                {"name": "李四", "code": "P0002"}, {"name": "赵六", "code": "P0003"}])
            company, = Company.create([{"party": company_party.id, "currency": cny.id}])
            employees = Employee.create([{"party": p.id, "company": company.id} for p in people])
            auditors, legacy, bookkeepers, cashiers = Group.create([
                {"name": "Old Auditors", "active": False},
                {"name": "Legacy Party Admins", "active": False, "parent": group["party_admin"].id},
                {"name": "Bookkeepers", "parent": group["accounting"].id},
                {"name": "Cashiers"},
            ])
            Access.create([
                {"model": "res.user", "group": auditors.id, "perm_read": True, "perm_write": True},
                {"model": "ir.attachment", "group": cashiers.id, "perm_read": True, "perm_create": True},
            ])
            MenuGroup.create([{"menu": Menu(ModelData.get_id("res", "menu_user_form")).id,
                               "group": bookkeepers.id}])

            def staff(login, name, employee, groups, **extra):
                return {"login": login, "name": name, "companies": [("add", [company.id])],
                        "company": company.id, "employees": [("add", [employee.id])],
                        "employee": employee.id, "groups": [("add", [g.id for g in groups])], **extra}

            zhang, _li, zhao, _wang, _boss = User.create([
                staff("zhangsan", "张三", employees[0],
                      [group["accounting"], auditors, legacy], email="zhangsan@example.test"),
                staff("lisi", "李四", employees[1], [group["payment"], bookkeepers, cashiers]),
                staff("zhaoliu", "赵六", employees[2], [group["accounting"]]),
                {"login": "wangwu", "name": "王五", "active": False},
                {"login": "boss", "name": "Boss", "administrator": True},
            ])
            tx.commit()
        for user in (zhang, zhao):
            with Transaction().set_user(user.id):
                Session.create([{}])  # the user logs in: trytond records the session
        Attempt.add("lisi", device_cookie=None)  # a failed login
        tx.commit()


def write_access(pool, folder: Path) -> None:
    """What trytond itself says each user may do, per model that has an access rule."""
    from trytond.model import ModelSingleton
    from trytond.transaction import Transaction

    with Transaction().start(DB, 0, context={}):
        User, Access = pool.get("res.user"), pool.get("ir.model.access")
        models = sorted({a.model for a in Access.search([])})
        derived = sorted(m for m in models if pool.get(m).__access__)
        # models whose trytond default (what an administrator gets) is not every right
        narrow = sorted(m for m in models if issubclass(pool.get(m), ModelSingleton)
                        or callable(getattr(pool.get(m), "table_query", None)))
        users = {u.login: u.id for u in User.search([("login", "!=", "root")])}
    answer = {}
    for login, uid in sorted(users.items()):
        with Transaction().start(DB, uid, context={}):
            access = Access.get_access(models)
        answer[login] = sorted(f"{m}.{p}" for m, perms in access.items() for p, ok in perms.items() if ok)
    answer = {"derived": derived, "narrow_defaults": narrow, "users": answer}
    (folder / "access.json").write_text(json.dumps(answer, indent=1))


def main(action: str, uri: str, folder: str) -> None:
    root = Path(folder)
    conf = configure(uri, root)
    if action == "build":
        admin(conf, root)
    pool = pool_for(conf)
    if action == "build":
        populate(pool)
    write_access(pool, root)


if __name__ == "__main__":
    main(*sys.argv[1:])
