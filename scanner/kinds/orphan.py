"""orphan_account — every account answers to a known person (SPEC §5, §5.1).

An account whose ``person_id`` is empty (``no_person``) or names nobody in identities
(``unknown_person``) is an orphan, unless its ``account_type`` is in ``allow_types``
[service] (case-insensitive). Such accounts are judged by their owner instead: an
empty ``owner_person_id`` (``no_owner``), an owner unknown to identities
(``unknown_owner``) or an owner whose status is departed (``owner_departed``).
Disabled accounts are judged too (an orphan left behind is still a door), unless
``enabled_only`` is set. Built-in accounts (``account_type: builtin``: the ones the
product itself creates, such as AD's Administrator, Guest and krbtgt) belong to no
person and are not orphans; the other kinds still judge them.
"""

from __future__ import annotations

from ..context import Context, isin
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import (
    KINDS,
    SYSTEMS_PARAM,
    PolicyKind,
    account_subject,
    blank,
    concat_findings,
    emit_checks,
    in_systems,
    text,
)


@KINDS.register("orphan_account")
class OrphanAccount(PolicyKind):
    subject = "account"
    tables = ("accounts", "identities")
    joins = frozenset({"_accounts", "identities", "people", "person_rows"})
    codes = {
        "no_person": "person_id is empty",
        "unknown_person": "person_id names no one in identities",
        "no_owner": "an allowed-type (service) account has no owner_person_id",
        "unknown_owner": "owner_person_id names no one in identities",
        "owner_departed": "the owner of an allowed-type (service) account has departed",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "allow_types": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": ["service"],
                            "description": "account_type values that need an owner instead of a person."},
            "enabled_only": {"type": "boolean", "default": False,
                             "description": "Judge enabled accounts only."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        acc = ctx.table("accounts")
        among = acc["enabled"].to_numpy(dtype=bool) if self.params["enabled_only"] else np.ones(len(acc), dtype=bool)
        rows, systems = in_systems(acc, self.params["systems"], among)
        rows = rows[(acc["account_type"] != "builtin").to_numpy()[rows]]
        acc = acc[["system", "account_id", "person_id", "account_type", "owner_person_id", "enabled"]].take(rows)
        self.cover(len(acc), "accounts of the listed systems (built-in accounts are no one's)", systems=systems)
        if acc.empty:
            return concat_findings([])
        allowed = [t.lower() for t in self.params["allow_types"]]
        kind = acc["account_type"]
        types = pd.unique(kind.dropna())  # each distinct type folded once, not 174k texts
        owned = isin(kind, [t for t in types if str(t).strip().lower() in allowed])
        no_person, no_owner = blank(acc["person_id"]), blank(acc["owner_person_id"])
        # looked up where an owner is named (a few service accounts), missing elsewhere
        owner_status = ctx.of_person(acc.loc[~no_owner, "owner_person_id"], "status").reindex(acc.index)
        checks = [
            ("no_person", ~owned & no_person, " has no person_id"),
            ("unknown_person", ~owned & ~no_person & (ctx.person_rows("accounts")[rows] < 0),
             lambda r: " belongs to person_id " + text(r["person_id"]) + ", who is not in identities"),
            ("no_owner", owned & no_owner, lambda r: " is a " + text(r["account_type"]) + " account without an owner"),
            ("unknown_owner", owned & ~no_owner & owner_status.isna(),
             lambda r: " is owned by " + text(r["owner_person_id"]) + ", who is not in identities"),
            ("owner_departed", owned & (owner_status == "departed"),
             lambda r: " is owned by " + text(r["owner_person_id"]) + ", who has departed"),
        ]
        # the checks' rows selected and emitted at once (emit_checks): a row selection of the
        # 1.7M accounts at size L took ~30 ms a check, however few rows it kept
        return emit_checks(acc, checks, subject=account_subject, person_id="person_id",
                           head=lambda r: account_subject(r).str.slice(8),
                           evidence={**{c: acc[c] for c in ("person_id", "account_type", "owner_person_id", "enabled")},
                                     "owner_status": owner_status})
