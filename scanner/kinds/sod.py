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

from ..context import ACCOUNT, Context, glob_mask, isin
from ..lazy import numpy as np
from ..lazy import pandas as pd
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
        self._cover(ctx, perms)
        if perms.rows.empty:
            return concat_findings([])
        sid = perms.subject[self.params["level"]]
        # every rule's conflicts first, as integer codes; then texts and evidence for all of
        # them at once (a handful of subjects: per-rule pandas calls would cost more)
        found = []
        for n, rule in enumerate(self.params["rules"]):
            left, right = perms.matching(rule["left"]), perms.matching(rule["right"])
            sids = _conflicting(sid, perms.permission, left, right)
            if len(sids):
                found.append((n, sids, left, right))
        return self._findings(ctx, perms, sid, found) if found else concat_findings([])

    def _cover(self, ctx: Context, perms: EnabledPermissions) -> None:
        """Subjects examined, and per rule how many permissions of the snapshot (role_permissions)
        its two sides match together — 0 when either side matches none: such a rule can never
        find a conflict."""
        known = ctx.table("role_permissions")["permission"]

        def matched(globs: list[str]) -> int:
            return int(known[glob_mask(known, globs)].nunique())

        rules = {}
        for rule in self.params["rules"]:
            left, right = matched(rule["left"]), matched(rule["right"])
            rules[rule["id"]] = left + right if left and right else 0
        examined = len(np.unique(perms.subject[self.params["level"]]))
        self.cover(examined, f"{self.params['level']}s holding permissions through enabled accounts",
                   decisive="rules", rules=rules)

    def _findings(self, ctx: Context, perms: EnabledPermissions, sid: np.ndarray,
                  found: list[tuple[int, pd.Index, np.ndarray, np.ndarray]]) -> pd.DataFrame:
        """One finding per (rule, conflicting subject), in rule order."""
        rules = self.params["rules"]
        sides, order = [], []
        for n, sids, left, right in found:
            pick = np.isin(sid, sids)
            sides += [pd.DataFrame({"at": np.flatnonzero(mask & pick), "rule": n, "side": side})
                      for side, mask in (("left", left), ("right", right))]
            order.append(pd.DataFrame({"rule": n, "sid": sids.to_numpy()}))
        hits = pd.concat(sides, ignore_index=True)
        at = hits["at"].to_numpy()
        part = _with_subjects(perms.rows.iloc[at].reset_index(drop=True).assign(
            sid=sid[at], rule=hits["rule"].to_numpy(), side=hits["side"].to_numpy()), self.params["level"])
        part["key"] = part["rule"].astype("str") + "\x1f" + part["subject"]
        first = part[part["side"] == "left"].drop_duplicates(["rule", "sid"])
        rows = pd.concat(order, ignore_index=True).merge(
            first[["rule", "sid", "subject", "person_id", "key"]], on=["rule", "sid"], how="left", sort=False)
        hit = pd.Index(rows["key"])
        ev: dict[str, pd.Series] = {}
        for side in ("left", "right"):
            p = part[part["side"] == side]
            via = p["account"] + "/" + p["role"].astype("str") + " → " + p["permission"]
            ev[f"{side}_permissions"] = group_lists(p["key"], p["permission"]).reindex(hit)
            ev[f"{side}_via"] = group_lists(p["key"], via).reindex(hit)
        ev["accounts"] = group_lists(part["key"], part["account"]).reindex(hit)
        ev = {k: pd.Series(v.to_numpy(), index=rows.index) for k, v in ev.items()}
        rule_id = pd.Series([rules[n]["id"] for n in rows["rule"]], index=rows.index, dtype="str")
        rule_name = pd.Series([rules[n].get("name") or rules[n]["id"] for n in rows["rule"]], index=rows.index,
                              dtype="str")
        who = rows["subject"].copy()
        named = _names(ctx, rows["person_id"])
        has_name = named.notna()
        who[has_name] = named[has_name] + " (" + rows.loc[has_name, "person_id"].astype("str") + ")"
        message = (who + " holds both sides of " + rule_id + " '" + rule_name + "': "
                   + ev["left_permissions"].str.join(", ") + " and " + ev["right_permissions"].str.join(", "))
        return emit(
            rows, code="incompatible_duties", subject=rows["subject"], person_id=rows["person_id"],
            message=message, key=rule_id, evidence={"rule": rule_id, "rule_name": rule_name, **ev},
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


def _conflicting(sid: np.ndarray, permission: np.ndarray, left: np.ndarray, right: np.ndarray) -> pd.Index:
    """Subject codes holding a permission of each side, in order of appearance on the left
    (the order findings come out in); a single permission matching both sides is not two duties."""
    if not left.any() or not right.any():
        return pd.Index([], dtype="int64")
    ls, lcount, lfirst = _per_subject(sid[left], permission[left])
    rs, rcount, rfirst = _per_subject(sid[right], permission[right])
    common, li, ri = np.intersect1d(ls, rs, assume_unique=True, return_indices=True)
    conflict = common[~((lcount[li] == 1) & (rcount[ri] == 1) & (lfirst[li] == rfirst[ri]))]
    subjects, first_at = np.unique(sid[left], return_index=True)
    return pd.Index(conflict[np.argsort(first_at[np.searchsorted(subjects, conflict)], kind="stable")])


def _per_subject(sid: np.ndarray, permission: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per subject code (sorted): how many distinct permissions, and the smallest one."""
    width = int(permission.max()) + 2
    pairs = np.unique(sid.astype("int64") * width + (permission + 1))
    subjects, start, count = np.unique(pairs // width, return_index=True, return_counts=True)
    return subjects, count, pairs[start] % width - 1


def _names(ctx: Context, person_ids: pd.Series) -> pd.Series:
    """The names ``Context.people`` gives ``person_ids``."""
    if ctx.optional("identities") is None:
        return pd.Series(None, index=person_ids.index, dtype=object)
    ids = ctx.people[isin(ctx.people["person_id"], person_ids.dropna())]
    return person_ids.map(pd.Series(ids["name"].to_numpy(), index=ids["person_id"].to_numpy())).astype(object)


def _with_subjects(perms: pd.DataFrame, level: str) -> pd.DataFrame:
    """Rows of ``_enabled_permissions`` with their texts: ``account`` and ``subject``."""
    account = account_subject(perms)
    if level == "account":
        return perms.assign(account=account, subject=account)
    person = account.where(blank(perms["person_id"]), "person:" + perms["person_id"].astype("str"))
    return perms.assign(account=account, subject=person)
