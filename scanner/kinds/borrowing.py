"""archive_borrowing — the borrow register (借阅登记) is complete and kept.

会计档案管理办法 第十三条: archives lent out need approval and a register, and come
back on time. ``borrows`` (borrow_id, archive_id, borrower, approved_by, borrowed_at,
due_at, returned_at) is the register. DA/T 70 安全性/过程安全性.

* ``borrow_unapproved``: no ``approved_by``;
* ``borrow_self_approved``: approved by the borrower;
* ``borrow_overdue``: not returned and ``due_at``'s date is before the as-of date
  (at the limit is fine, §5.1);
* ``borrow_unregistered``: an ``access_log`` event with action ``borrow`` that no
  register entry of the same archive and borrower matches within ``match_days`` of
  its date.
"""

from __future__ import annotations

from ..context import Context
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, concat_findings, emit_where, text


def _borrow(r: pd.DataFrame) -> pd.Series:
    return "borrow " + text(r["borrow_id"]) + " of archive " + text(r["archive_id"]) + " by " + text(r["borrower"])


@KINDS.register("archive_borrowing")
class ArchiveBorrowing(PolicyKind):
    subject = "borrow:BORROW_ID; access:EVENT_ID"
    tables = ("borrows", "access_log")
    codes = {
        "borrow_unapproved": "a borrow without approved_by",
        "borrow_self_approved": "a borrow approved by the borrower",
        "borrow_overdue": "not returned after due_at",
        "borrow_unregistered": "an access_log borrow event with no register entry",
    }
    dat70 = dict.fromkeys(codes, "安全性/过程安全性")
    params_schema = {
        "type": "object",
        "properties": {
            "match_days": {"type": "integer", "minimum": 0, "default": 1,
                           "description": "Days between a borrow event and its register entry's borrowed_at."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        b = ctx.table("borrows")
        self.cover(len(b) + int((ctx.table("access_log")["action"].astype("str").str.strip().str.lower()
                                 == "borrow").sum()), "borrows in the register and borrow events")
        borrower, approver = text(b["borrower"]).str.strip(), text(b["approved_by"]).str.strip()
        overdue = b["returned_at"].isna() & b["due_at"].notna() & (ctx.days_since(b["due_at"]) > 0)
        subject = lambda r: "borrow:" + text(r["borrow_id"])  # noqa: E731
        evidence = ["archive_id", "borrower", "approved_by", "borrowed_at", "due_at", "returned_at"]
        checks = [
            ("borrow_unapproved", blank(b["approved_by"]), lambda r: _borrow(r) + " has no approval"),
            ("borrow_self_approved", ~blank(b["approved_by"]) & (borrower == approver),
             lambda r: _borrow(r) + " was approved by the borrower"),
            ("borrow_overdue", overdue,
             lambda r: _borrow(r) + " was due " + text(r["due_at"]) + " and is not returned"),
        ]
        parts = [emit_where(b, mask, code=code, subject=subject, person_id="borrower", message=message,
                            evidence=evidence) for code, mask, message in checks]
        parts.append(self._unregistered(ctx, b))
        return concat_findings(parts)

    def _unregistered(self, ctx: Context, b: pd.DataFrame) -> pd.DataFrame:
        log = ctx.table("access_log")
        events = log[log["action"].astype("str").str.strip().str.lower() == "borrow"]
        if events.empty:
            return concat_findings([])
        ev = pd.DataFrame({"_row": events.index, "archive_id": text(events["archive_id"]).to_numpy(),
                           "borrower": text(events["actor"]).to_numpy(), "day": ctx.local_day(events["at"]).to_numpy()})
        reg = pd.DataFrame({"archive_id": text(b["archive_id"]), "borrower": text(b["borrower"]),
                            "bday": ctx.local_day(b["borrowed_at"])})
        both = ev.merge(reg, on=["archive_id", "borrower"])
        near = (both["day"] - both["bday"]).abs() <= pd.Timedelta(days=self.params["match_days"])
        matched = np.isin(events.index, both.loc[near, "_row"].to_numpy())
        return emit_where(events, pd.Series(~matched, index=events.index), code="borrow_unregistered",
                          subject=lambda r: "access:" + text(r["event_id"]), person_id="actor",
                          message=lambda r: text(r["actor"]) + " borrowed archive " + text(r["archive_id"]) + " on "
                          + text(r["at"]) + " with no entry in the borrow register",
                          evidence=["archive_id", "actor", "at"])
