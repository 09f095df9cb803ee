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
from .base import KINDS, PolicyKind, account_subject, blank, concat_findings, emit

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
        """One finding per (rule, conflicting subject), in rule order. The conflicting subjects'
        rows are a few hundred, so their evidence is gathered in plain Python: there, each
        pandas call would cost more than the work it does."""
        rules = self.params["rules"]
        at = np.flatnonzero(np.isin(sid, np.concatenate([sids.to_numpy() for _, sids, _, _ in found])))
        rows = _with_subjects(perms.rows.iloc[at], self.params["level"])
        account, subject, role, permission = (rows[c].tolist() for c in ("account", "subject", "role", "permission"))
        person = rows["person_id"].astype(object).where(rows["person_id"].notna(), None).tolist()
        of: dict[int, list[int]] = {}  # subject code → its rows (positions in ``rows``, ascending)
        for i, s in enumerate(sid[at].tolist()):
            of.setdefault(s, []).append(i)

        def side(name: str, ids: list[int]) -> dict[str, list[str]]:
            return {f"{name}_permissions": sorted({permission[i] for i in ids}),
                    f"{name}_via": sorted({f"{account[i]}/{role[i]} → {permission[i]}" for i in ids})}

        out = []
        for n, sids, left, right in found:
            on_left, on_right = left[at], right[at]
            for s in sids.tolist():
                lefts, rights = [i for i in of[s] if on_left[i]], [i for i in of[s] if on_right[i]]
                first = lefts[0]  # the subject and person of the finding: its first left row's
                out.append({"subject": subject[first], "person_id": person[first], "rule": rules[n]["id"],
                            "rule_name": rules[n].get("name") or rules[n]["id"],
                            **side("left", lefts), **side("right", rights),
                            "accounts": sorted({account[i] for i in lefts + rights})})
        found_rows = pd.DataFrame(out)
        named = _names(ctx, found_rows["person_id"])
        who = [f"{name} ({pid})" if isinstance(name, str) else subj
               for name, pid, subj in zip(named, found_rows["person_id"], found_rows["subject"], strict=True)]
        message = [f"{w} holds both sides of {f['rule']} '{f['rule_name']}': {', '.join(f['left_permissions'])}"
                   f" and {', '.join(f['right_permissions'])}" for w, f in zip(who, out, strict=True)]
        evidence = ["rule", "rule_name", "left_permissions", "left_via", "right_permissions", "right_via", "accounts"]
        return emit(found_rows, code="incompatible_duties", subject=found_rows["subject"],
                    person_id=found_rows["person_id"], message=pd.Series(message, index=found_rows.index),
                    key=found_rows["rule"], evidence={k: found_rows[k] for k in evidence})


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
