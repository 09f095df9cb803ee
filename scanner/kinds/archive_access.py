"""archive_access — archives used only by people who hold an archive permission at the time.

会计档案管理办法 第十三条 (查阅、复制、借出 need approval and a register) and DA/T 94-2022
(利用 controls): every ``access_log`` event of the judged ``actions`` (view, download,
print, export) needs the actor to hold, at the event's instant, a permission matching
``permissions`` (globs, default ``archive.*``) through a grant that was given on or
before the event (``granted_at`` empty = always), had not expired (``expires_at``)
and sat on an account not yet disabled (``disabled_at``). Role denies are honoured
(``Context.account_permissions``). DA/T 70 安全性/过程安全性.

The actor is a person_id, or ``system:account_id`` (the account's person is used).
Access by departed people is revoke_on_departure's (activity after departure); it
is not repeated here. Borrow events are archive_borrowing's.
"""

from __future__ import annotations

from ..context import ACCOUNT, Context, glob_mask, isin, pairs, positions
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, Words, blank, emit_where, glob_counts, text

ACTIONS = ["view", "download", "print", "export"]


@KINDS.register("archive_access")
class ArchiveAccess(PolicyKind):
    subject = "access event (access:EVENT_ID)"
    tables = ("access_log", "accounts", "grants", "role_permissions")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "account_permissions"})
    codes = {"access_without_permission": "an archive used by someone holding no archive permission at the time"}
    dat70 = {"access_without_permission": "安全性/过程安全性"}
    params_schema = {
        "type": "object",
        "properties": {
            "permissions": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": ["archive.*"],
                            "description": "Permissions (globs) that allow using archives."},
            "actions": {"type": "array", "items": {"enum": ACTIONS}, "default": ACTIONS,
                        "description": "access_log actions judged."},
        },
    }

    def permission_globs(self) -> list[str]:
        """A role matters only through the archive permissions it gives (or a deny): the grants
        of other roles are never read."""
        return list(self.params["permissions"])

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        log = ctx.table("access_log")
        events = log[Words(log["action"]).where(lambda w: w in self.params["actions"])]
        person = self._person(ctx, text(events["actor"]))
        perms = ctx.account_permissions
        self.cover(len(events), f"archive events ({', '.join(self.params['actions'])})",
                   permissions=glob_counts(perms["permission"], self.params["permissions"], distinct=True))
        holders = self._holders(ctx, perms)
        # each event with each grant its person held an archive permission through: pairs of
        # codes of the holders' people (an event of anyone else pairs with nothing)
        people = holders["person_id"].unique()
        event, grant = pairs(positions(person, people), positions(holders["person_id"], people))
        at = events["at"].array.take(event)
        granted, expires, disabled = (holders[c].array.take(grant) for c in ("granted_at", "expires_at", "disabled_at"))
        ok = ((granted.isna() | (granted <= at)) & (expires.isna() | (expires > at))
              & (disabled.isna() | (disabled > at)))
        bad = np.ones(len(events), dtype=bool)
        bad[event[ok]] = False
        rows = events.assign(person=person)
        return emit_where(rows, pd.Series(bad, index=events.index), code="access_without_permission",
                          subject=lambda r: "access:" + text(r["event_id"]), person_id="person",
                          message=lambda r: text(r["actor"]) + " " + text(r["action"]) + " archive "
                          + text(r["archive_id"]) + " on " + text(r["at"]) + " without an archive permission "
                          "at that time", evidence=["archive_id", "actor", "action", "at"])

    @staticmethod
    def _person(ctx: Context, actor: pd.Series) -> pd.Series:
        """Each actor as a person: ``system:account_id`` → that account's person (when it has
        one), anything else the actor itself. Only accounts whose id follows a colon of some
        actor can be named so: their keys alone are built as text (not 174k of them)."""
        refs = pd.unique(actor[actor.str.contains(":", regex=False)])
        suffixes = {a[i + 1:] for a in refs for i, c in enumerate(a) if c == ":"}
        if not suffixes:  # every actor a person_id (the bench's log): no lookup
            return actor
        accounts = ctx.table("accounts")
        named = accounts[isin(accounts["account_id"], list(suffixes)).to_numpy()]
        found = named["person_id"].array.take(positions(actor, text(named["system"]) + ":" + text(named["account_id"])),
                                              allow_fill=True)
        found = pd.Series(found, index=actor.index)
        return found.where(found.notna() & (found != ""), actor)

    def _holders(self, ctx: Context, perms: pd.DataFrame) -> pd.DataFrame:
        """The grants through which an account holds a permission of ``permissions`` (role and
        account as in ``account_permissions``, so denies count), with the account's person and
        ``disabled_at``; grants of accounts without a person are left out. Only the grants of
        the few roles that carry such a permission are read and keyed (not 386k at size M)."""
        held = perms[glob_mask(perms["permission"], self.params["permissions"])][[ACCOUNT, "role"]].drop_duplicates()
        grants = ctx.table("grants")
        grants = grants[isin(grants["role"], held["role"].unique()).to_numpy()]
        grants = grants[["role", "granted_at", "expires_at"]].assign(**{ACCOUNT: ctx.account_codes(grants)})
        accounts = ctx.keyed("accounts")
        holders = grants.merge(held, on=[ACCOUNT, "role"])
        row = ctx.account_rows(holders[ACCOUNT])
        holders = holders[row >= 0].assign(**{c: accounts[c].array.take(row[row >= 0])
                                              for c in ("person_id", "disabled_at")})
        return holders[~blank(holders["person_id"]).to_numpy()]
