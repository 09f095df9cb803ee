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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..context import ACCOUNT, Context, glob_mask, isin
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
        if perms.rows.empty:
            return concat_findings([])
        level = self.params["level"]
        return concat_findings([self._rule(ctx, perms, level, rule) for rule in self.params["rules"]])

    def _rule(self, ctx: Context, perms: EnabledPermissions, level: str, rule: dict[str, Any]) -> pd.DataFrame:
        # subjects and permissions are matched and grouped as integer codes; texts are
        # built for the conflicting subjects only
        sid = perms.subject[level]
        left, right = perms.matching(rule["left"]), perms.matching(rule["right"])
        if not left.any() or not right.any():
            return concat_findings([])
        both = _per_subject(sid[left], perms.permission[left]).join(
            _per_subject(sid[right], perms.permission[right]), how="inner", suffixes=("_l", "_r"))
        # a single permission matching both sides is not two duties
        same_one = (both["count_l"] == 1) & (both["count_r"] == 1) & (both["first_l"] == both["first_r"])
        sids = both.index[~same_one]
        if sids.empty:
            return concat_findings([])
        pick = np.isin(sid, sids)
        left, right = (_with_subjects(perms.rows[side & pick].assign(sid=sid[side & pick]), level)
                       for side in (left, right))
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
        named = _names(ctx, rows["person_id"])
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


@dataclass(frozen=True)
class EnabledPermissions:
    """The effective permissions of enabled accounts (``rows``, from
    ``Context.account_permissions``) with, per row, the code of its permission (an index
    into ``permissions``; -1 for none) and of its subject at each level: the account, and
    the person (the account where there is no person_id). Shared by every SoD policy."""

    rows: pd.DataFrame
    permissions: pd.Series
    permission: np.ndarray
    subject: dict[str, np.ndarray]

    def matching(self, globs: list[str]) -> np.ndarray:
        """Rows whose permission matches a glob; each distinct permission is matched once."""
        return np.append(glob_mask(self.permissions, globs).to_numpy(), False)[self.permission]


def _enabled_permissions(ctx: Context) -> EnabledPermissions:
    perms = ctx.account_permissions
    perms = perms[perms["enabled"]].reset_index(drop=True)
    account = pd.factorize(perms[ACCOUNT])[0]
    no_person = blank(perms["person_id"]).to_numpy()
    person = pd.factorize(perms["person_id"].where(~no_person))[0]
    codes, permissions = pd.factorize(perms["permission"])
    return EnabledPermissions(
        perms, pd.Series(permissions, dtype="str"), codes,
        {"account": account, "person": np.where(no_person, person.max(initial=-1) + 1 + account, person)})


def _per_subject(sid: np.ndarray, permission: np.ndarray) -> pd.DataFrame:
    """Per subject code, in order of appearance: how many distinct permissions, and one of them."""
    distinct = pd.DataFrame({"sid": sid, "permission": permission}).drop_duplicates()
    grouped = distinct.groupby("sid", sort=False)["permission"]
    return pd.DataFrame({"count": grouped.size(), "first": grouped.first()})


def _names(ctx: Context, person_ids: pd.Series) -> pd.Series:
    """The identities' names of ``person_ids`` (the first row of a person_id counting)."""
    ids = ctx.optional("identities")
    if ids is None:
        return pd.Series(None, index=person_ids.index, dtype=object)
    ids = ids[isin(ids["person_id"], person_ids.dropna())].drop_duplicates("person_id")
    return person_ids.map(pd.Series(ids["name"].to_numpy(), index=ids["person_id"].to_numpy())).astype(object)


def _with_subjects(perms: pd.DataFrame, level: str) -> pd.DataFrame:
    """Rows of ``_enabled_permissions`` with their texts: ``account`` and ``subject``."""
    account = account_subject(perms)
    if level == "account":
        return perms.assign(account=account, subject=account)
    person = account.where(blank(perms["person_id"]), "person:" + perms["person_id"].astype("str"))
    return perms.assign(account=account, subject=person)
