"""Build a real trytond SQLite database with users, groups, memberships and access rights.

Run as a script (``python tryton_build.py DIR``) so trytond's global configuration
never leaks into the pytest process. ``trytond-admin --all`` creates the schema; the
trytond API then creates records as an administrator would, so who/when columns
(create_uid, create_date) are filled by trytond itself.
"""

import os
import subprocess
import sys
from pathlib import Path

DB = "lgtest"


def main(folder: str) -> None:
    root = Path(folder)
    conf = root / "trytond.conf"
    conf.write_text(f"[database]\nuri = sqlite://\npath = {root}\n")
    (root / f"{DB}.sqlite").touch()
    (root / "adminpass").write_text("admin-pass\n")
    env = {**os.environ, "TRYTONPASSFILE": str(root / "adminpass")}
    admin = Path(sys.executable).with_name("trytond-admin")
    subprocess.run([str(admin), "-c", str(conf), "-d", DB, "--all", "--email", "admin@example.test"],
                   check=True, env=env, capture_output=True)

    from trytond import config

    config.update_etc(str(conf))
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(DB)
    pool.init()
    with Transaction().start(DB, 0, context={}) as tx:
        User, Group = pool.get("res.user"), pool.get("res.group")
        Access, MenuGroup = pool.get("ir.model.access"), pool.get("ir.ui.menu-res.group")
        Menu, ModelData = pool.get("ir.ui.menu"), pool.get("ir.model.data")
        Session, Attempt = pool.get("ir.session"), pool.get("res.user.login.attempt")
        admin_user, = User.search([("login", "=", "admin")])
        with Transaction().set_user(admin_user.id):
            accountants, cashiers = Group.create([{"name": "Accountants"}, {"name": "Cashiers"}])
            Access.create([
                {"model": "res.user", "group": accountants.id, "perm_read": True,
                 "perm_write": True, "perm_create": False, "perm_delete": False},
                {"model": "ir.attachment", "group": cashiers.id, "perm_read": True,
                 "perm_write": False, "perm_create": True, "perm_delete": False},
            ])
            menu = Menu(ModelData.get_id("res", "menu_user_form"))
            MenuGroup.create([{"menu": menu.id, "group": accountants.id}])
            zhang, _li, _wang = User.create([
                {"login": "zhangsan", "name": "张三", "email": "P0001@example.test",
                 "groups": [("add", [accountants.id])]},
                {"login": "lisi", "name": "李四", "groups": [("add", [cashiers.id, accountants.id])]},
                {"login": "wangwu", "name": "王五", "active": False},
            ])
            tx.commit()
        with Transaction().set_user(zhang.id):
            Session.create([{}])  # zhangsan logs in: trytond records the session
        Attempt.add("lisi", device_cookie=None)  # a failed login
        tx.commit()


if __name__ == "__main__":
    main(sys.argv[1])
