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

from ..context import ACCOUNT, Context, glob_mask, isin
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, emit_where, glob_counts, text

ACTIONS = ["view", "download", "print", "export"]


@KINDS.register("archive_access")
class ArchiveAccess(PolicyKind):
    subject = "access event (access:EVENT_ID)"
    tables = ("access_log", "accounts", "grants", "role_permissions")
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

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        log = ctx.table("access_log")
        events = log[log["action"].astype("str").str.strip().str.lower().isin(self.params["actions"])]
        accounts = ctx.keyed("accounts")
        actor = text(events["actor"])
        # the actor as a person: system:account_id → that account's person, else the actor itself.
        # Only accounts whose id follows a colon of some actor can be named so: their keys alone
        # are built as text (not 174k of them)
        refs = pd.unique(actor[actor.str.contains(":", regex=False)])
        suffixes = {a[i + 1:] for a in refs for i, c in enumerate(a) if c == ":"}
        named = accounts[isin(accounts["account_id"], list(suffixes)).to_numpy()]
        by_account = pd.Series(named["person_id"].to_numpy(),
                               index=text(named["system"]) + ":" + text(named["account_id"]))
        by_account = by_account[~by_account.index.duplicated()]
        person = actor.map(by_account).where(lambda s: s.notna() & (s != ""), actor)
        perms = ctx.account_permissions
        self.cover(len(events), f"archive events ({', '.join(self.params['actions'])})",
                   permissions=glob_counts(perms["permission"], self.params["permissions"], distinct=True))
        held = perms[glob_mask(perms["permission"], self.params["permissions"])][[ACCOUNT, "role"]].drop_duplicates()
        grants = ctx.keyed("grants")[[ACCOUNT, "role", "granted_at", "expires_at"]]
        # only grants of the few roles that carry such a permission can join: one hash lookup
        # narrows the 386k grants of bench size M before the two-column merge hashes them
        grants = grants[isin(grants["role"], held["role"].unique()).to_numpy()]
        holders = grants.merge(held, on=[ACCOUNT, "role"]).merge(
            accounts[[ACCOUNT, "person_id", "disabled_at"]], on=ACCOUNT)
        holders = holders[~blank(holders["person_id"])]
        # .array, not .to_numpy(): the latter turns tz-aware instants into Timestamp objects
        ev = pd.DataFrame({"_row": np.arange(len(events)), "person": person.array, "at": events["at"].array})
        both = ev.merge(holders, left_on="person", right_on="person_id")
        at = both["at"]
        ok = ((both["granted_at"].isna() | (both["granted_at"] <= at))
              & (both["expires_at"].isna() | (both["expires_at"] > at))
              & (both["disabled_at"].isna() | (both["disabled_at"] > at)))
        bad = np.ones(len(events), dtype=bool)
        bad[both.loc[ok, "_row"].to_numpy()] = False
        rows = events.assign(person=person)
        return emit_where(rows, pd.Series(bad, index=events.index), code="access_without_permission",
                          subject=lambda r: "access:" + text(r["event_id"]), person_id="person",
                          message=lambda r: text(r["actor"]) + " " + text(r["action"]) + " archive "
                          + text(r["archive_id"]) + " on " + text(r["at"]) + " without an archive permission "
                          "at that time", evidence=["archive_id", "actor", "action", "at"])
