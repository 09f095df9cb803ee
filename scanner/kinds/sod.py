"""segregation_of_duties — nobody holds both sides of an incompatible pair (SPEC §5, §5.1).

A rule names two lists of permission globs, ``left`` and ``right``. A subject conflicts
when it holds a permission matching ``left`` and a *different* permission matching
``right`` (one permission that happens to match both globs is not a pair of duties).

* ``level: person`` (default): the permissions of all of a person's **enabled**
  accounts, in every system, are pooled through ``accounts.person_id`` — the clerk who
  enters vouchers in the ERP and approves them through a second account is caught.
  An enabled account without a person_id cannot be pooled and is judged on its own
  (its subject is then the account); orphan_account reports the missing link.
* ``level: account``: each enabled account is judged on its own.

Permissions are the effective ones of ``Context.account_permissions``: roles expanded
through role_permissions, with ``deny`` entries removed. One finding per subject and
rule (``key`` = rule id); evidence names the permissions, the account/role pairs and
the accounts that give each side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..context import ACCOUNT, Context, glob_mask
from .base import KINDS, PolicyKind, account_subject, blank, concat_findings, emit, group_lists

_GLOBS = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}


@KINDS.register("segregation_of_duties")
class SegregationOfDuties(PolicyKind):
    subject = "person (level person; an account without person_id: account) or account (level account)"
    tables = ("accounts", "grants", "role_permissions")
    codes = {
        "incompatible_duties": "one subject holds permissions of both sides of a rule (key = rule id)",
    }
    params_schema = {
        "type": "object",
        "required": ["rules"],
        "properties": {
            "rules": {
                "type": "array", "minItems": 1,
                "description": "Incompatible pairs: {id, name, left: [permission globs], right: [permission globs]}.",
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "left", "right"],
                    "properties": {
                        "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                        "name": {"type": "string", "minLength": 1},
                        "left": _GLOBS,
                        "right": _GLOBS,
                    },
                },
            },
            "level": {"enum": ["person", "account"], "default": "person",
                      "description": "person: pool all enabled accounts of a person across systems; "
                                     "account: judge each account alone."},
        },
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[tuple[tuple, str]]:
        seen: set[str] = set()
        problems = []
        for i, rule in enumerate(params.get("rules") or []):
            if rule["id"] in seen:
                problems.append((("rules", i, "id"), f"duplicate rule id {rule['id']!r}"))
            seen.add(rule["id"])
        return problems

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        perms = ctx.shared("sod.enabled_permissions", lambda: _enabled_permissions(ctx))
        if perms.empty:
            return concat_findings([])
        level = self.params["level"]
        perms = perms.assign(sid=perms[f"{level}_code"])
        names = ctx.shared("identities.names", lambda: self._names(ctx))
        return concat_findings([self._rule(perms, level, rule, names) for rule in self.params["rules"]])

    @staticmethod
    def _names(ctx: Context) -> pd.Series:
        ids = ctx.optional("identities")
        if ids is None:
            return pd.Series(dtype="str")
        ids = ids.drop_duplicates("person_id")
        return pd.Series(ids["name"].to_numpy(), index=ids["person_id"].to_numpy())

    def _rule(self, perms: pd.DataFrame, level: str, rule: dict[str, Any], names: pd.Series) -> pd.DataFrame:
        # subjects are grouped by integer code (sid); their texts are built for conflicts only
        left = perms[glob_mask(perms["permission"], rule["left"])]
        right = perms[glob_mask(perms["permission"], rule["right"])]
        if left.empty or right.empty:
            return concat_findings([])
        lp = left.groupby("sid", sort=False)["permission"].agg(["nunique", "first"])
        rp = right.groupby("sid", sort=False)["permission"].agg(["nunique", "first"])
        both = lp.join(rp, how="inner", suffixes=("_l", "_r"))
        # a single permission matching both sides is not two duties
        same_one = (both["nunique_l"] == 1) & (both["nunique_r"] == 1) & (both["first_l"] == both["first_r"])
        sids = both.index[~same_one]
        if sids.empty:
            return concat_findings([])
        # evidence is built only for the conflicting subjects (few)
        left, right = (_with_subjects(part[part["sid"].isin(sids)], level) for part in (left, right))
        rows = left.drop_duplicates("sid").set_index("sid").loc[sids, ["subject", "person_id"]].reset_index(drop=True)
        hit = pd.Index(rows["subject"])
        ev: dict[str, pd.Series] = {}
        for side, part in (("left", left), ("right", right)):
            via = part["account"] + "/" + part["role"].astype("str") + " → " + part["permission"]
            ev[f"{side}_permissions"] = group_lists(part["subject"], part["permission"]).reindex(hit)
            ev[f"{side}_via"] = group_lists(part["subject"], via).reindex(hit)
        both_sides = pd.concat([left, right])
        ev["accounts"] = group_lists(both_sides["subject"], both_sides["account"]).reindex(hit)
        ev = {k: pd.Series(v.to_numpy(), index=rows.index) for k, v in ev.items()}
        rule_name = rule.get("name") or rule["id"]
        who = rows["subject"].copy()
        # as text: mapping through an empty lookup (no identities table) yields float NaN
        named = rows["person_id"].map(names).astype(object)
        has_name = named.notna()
        who[has_name] = named[has_name] + " (" + rows.loc[has_name, "person_id"].astype("str") + ")"
        message = (who + " holds both sides of " + rule["id"] + " '" + rule_name + "': "
                   + ev["left_permissions"].str.join(", ") + " and " + ev["right_permissions"].str.join(", "))
        return emit(
            rows, code="incompatible_duties", subject=rows["subject"], person_id=rows["person_id"],
            message=message, key=rule["id"],
            evidence={"rule": pd.Series(rule["id"], index=rows.index),
                      "rule_name": pd.Series(rule_name, index=rows.index), **ev},
        )


def _enabled_permissions(ctx: Context) -> pd.DataFrame:
    """Enabled accounts' permissions with an integer code for each subject level: the
    account, and the person (the account where there is no person_id)."""
    perms = ctx.account_permissions
    perms = perms[perms["enabled"]]
    account = pd.factorize(perms[ACCOUNT])[0]
    no_person = blank(perms["person_id"]).to_numpy()
    person = pd.factorize(perms["person_id"].where(~no_person))[0]
    return perms.assign(account_code=account,
                        person_code=np.where(no_person, person.max(initial=-1) + 1 + account, person))


def _with_subjects(perms: pd.DataFrame, level: str) -> pd.DataFrame:
    """Rows of ``_enabled_permissions`` with their texts: ``account`` and ``subject``."""
    account = account_subject(perms)
    if level == "account":
        return perms.assign(account=account, subject=account)
    person = account.where(blank(perms["person_id"]), "person:" + perms["person_id"].astype("str"))
    return perms.assign(account=account, subject=person)
