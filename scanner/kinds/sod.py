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

from dataclasses import dataclass, field
from typing import Any

from ..context import ACCOUNT, Context, glob_match, isin
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, concat_findings, findings_frame

_GLOBS = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}


@KINDS.register("segregation_of_duties")
class SegregationOfDuties(PolicyKind):
    subject = "person (level person; an account without person_id: account) or account (level account)"
    tables = ("accounts", "grants", "role_permissions")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "account_permissions",
                       "sod.enabled_permissions", "sod.known_permissions"})
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

    def permission_globs(self) -> list[str]:
        """A role matters only through the permissions of either side of a rule it gives (or a deny)."""
        return [g for rule in self.params["rules"] for g in (*rule["left"], *rule["right"])]

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        perms = ctx.shared("sod.enabled_permissions", lambda: _enabled_permissions(ctx))
        level = self.params["level"]
        self._cover(ctx, perms)
        # every rule's conflicts first, as subject codes; then texts and evidence for all of
        # them at once (a handful of subjects: per-rule pandas calls would cost more)
        found = []
        for n, rule in enumerate(self.params["rules"]):
            left, right = perms.matching(rule["left"]), perms.matching(rule["right"])
            sids = _conflicting(*perms.pairs(level), left, right)
            if len(sids):
                found.append((n, sids, left, right))
        return self._findings(ctx, perms, found) if found else concat_findings([])

    def _cover(self, ctx: Context, perms: EnabledPermissions) -> None:
        """Subjects examined, and per rule how many permissions of the snapshot (role_permissions)
        its two sides match together — 0 when either side matches none: such a rule can never
        find a conflict."""
        known = ctx.shared("sod.known_permissions",
                           lambda: [str(p) for p in pd.unique(ctx.table("role_permissions")["permission"].dropna())])

        def matched(globs: list[str]) -> int:
            return sum(glob_match(p, globs) for p in known)

        rules = {}
        for rule in self.params["rules"]:
            left, right = matched(rule["left"]), matched(rule["right"])
            rules[rule["id"]] = left + right if left and right else 0
        level = self.params["level"]
        self.cover(perms.examined[level], f"{level}s holding permissions through enabled accounts",
                   decisive="rules", rules=rules)

    def _findings(self, ctx: Context, perms: EnabledPermissions,
                  found: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
        """One finding per (rule, conflicting subject), in rule order, then in order of each
        subject's first row on the rule's left. The conflicting subjects' rows are a few
        hundred, so their evidence is gathered in plain Python: there, each pandas call would
        cost more than the work it does."""
        rules, level = self.params["rules"], self.params["level"]
        sid = perms.subject[level]
        at = np.flatnonzero(np.isin(sid, np.concatenate([sids for _, sids, _, _ in found])))
        rows = perms.rows.take(at)
        system, account_id, role, permission = (rows[c].astype(object).tolist()
                                                for c in ("system", "account_id", "role", "permission"))
        person = rows["person_id"].to_numpy(dtype=object, na_value=None).tolist()
        account = [f"account:{s}:{a}" for s, a in zip(system, account_id, strict=True)]
        subject = account if level == "account" else [
            a if p is None or not p.strip() else f"person:{p}" for a, p in zip(account, person, strict=True)]
        of: dict[int, list[int]] = {}  # subject code → its rows (positions in ``rows``, ascending)
        for i, s in enumerate(sid[at].tolist()):
            of.setdefault(s, []).append(i)
        code = perms.permission[at]

        def side(name: str, ids: list[int]) -> dict[str, list[str]]:
            return {f"{name}_permissions": sorted({permission[i] for i in ids}),
                    f"{name}_via": sorted({f"{account[i]}/{role[i]} → {permission[i]}" for i in ids})}

        out = []
        for n, sids, left, right in found:
            on_left, on_right = np.append(left, False)[code].tolist(), np.append(right, False)[code].tolist()
            sides = [([i for i in of[s] if on_left[i]], [i for i in of[s] if on_right[i]]) for s in sids.tolist()]
            for lefts, rights in sorted(sides, key=lambda lr: lr[0][0]):
                first = lefts[0]  # the subject and person of the finding: its first left row's
                out.append({"subject": subject[first], "person_id": person[first], "rule": rules[n]["id"],
                            "rule_name": rules[n].get("name") or rules[n]["id"],
                            **side("left", lefts), **side("right", rights),
                            "accounts": sorted({account[i] for i in lefts + rights})})
        named = _names(ctx, [f["person_id"] for f in out])
        drop = ("subject", "person_id")
        none = [None] * len(out)
        return findings_frame(
            code=["incompatible_duties"] * len(out), subject=[f["subject"] for f in out],
            person_id=[f["person_id"] for f in out],
            message=[f"{f['subject'] if name is None else f'{name} ({pid})'} holds both sides of {f['rule']}"
                     f" '{f['rule_name']}': {', '.join(f['left_permissions'])} and {', '.join(f['right_permissions'])}"
                     for f, name, pid in zip(out, named, (f["person_id"] for f in out), strict=True)],
            evidence=[{k: v for k, v in f.items() if k not in drop} for f in out],
            key=[f["rule"] for f in out], severity=none, messages=none)


@dataclass(frozen=True)
class EnabledPermissions:
    """The effective permissions of enabled accounts (``rows``, from
    ``Context.account_permissions``) with, per row, the code of its permission (an index
    into ``permissions``; -1 for none) and of its subject at each level: the account, and
    the person (the account where there is no person_id). Shared by every SoD policy."""

    rows: pd.DataFrame
    permissions: list[str]
    permission: np.ndarray
    subject: dict[str, np.ndarray]
    #: per level: how many distinct subjects
    examined: dict[str, int]
    _pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def matching(self, globs: list[str]) -> np.ndarray:
        """Which of ``permissions`` match a glob (each distinct permission is matched once)."""
        return np.array([glob_match(p, globs) for p in self.permissions], dtype=bool)

    def pairs(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (subject, permission) codes of ``level`` (rows without a permission
        left out): what a rule's sides are counted over."""
        if level not in self._pairs:
            width = len(self.permissions) + 1
            pairs = pd.unique(self.subject[level].astype("int64") * width + (self.permission + 1))  # (by hash)
            pairs = pairs[pairs % width != 0]
            self._pairs[level] = (pairs // width, pairs % width - 1)
        return self._pairs[level]
def _enabled_permissions(ctx: Context) -> EnabledPermissions:
    perms = ctx.account_permissions
    perms = perms[perms["enabled"]].reset_index(drop=True)
    account = pd.factorize(perms[ACCOUNT])[0]
    no_person = blank(perms["person_id"]).to_numpy()
    person = pd.factorize(perms["person_id"].where(~no_person))[0]
    codes, permissions = pd.factorize(perms["permission"])
    subject = {"account": account, "person": np.where(no_person, person.max(initial=-1) + 1 + account, person)}
    return EnabledPermissions(perms, [str(p) for p in permissions], codes, subject,
                              {level: int(np.count_nonzero(np.bincount(s))) for level, s in subject.items()})


def _conflicting(subject: np.ndarray, permission: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Subject codes holding a permission of each side (``left``, ``right``: which permission
    codes match it), from the distinct (subject, permission) pairs; a single permission
    matching both sides is not two duties."""
    if not left.any() or not right.any():
        return np.array([], dtype="int64")
    n = int(subject.max(initial=-1)) + 1
    on_left, on_right = left[permission], right[permission]
    lcount, rcount = (np.bincount(subject[on], minlength=n) for on in (on_left, on_right))
    # with one permission on each side, the sum of the side's codes is that permission
    lsum, rsum = (np.bincount(subject[on], weights=permission[on], minlength=n) for on in (on_left, on_right))
    return np.flatnonzero((lcount > 0) & (rcount > 0) & ~((lcount == 1) & (rcount == 1) & (lsum == rsum)))


def _names(ctx: Context, person_ids: list[str | None]) -> list[str | None]:
    """The names ``Context.people`` gives ``person_ids``: those of each person's first
    identities row. The identities rows of these few hundred people are found by one hash
    lookup (``Context.people`` would sort out a whole table's repeats first)."""
    ids = ctx.optional("identities")
    if ids is None:
        return [None] * len(person_ids)
    at = np.flatnonzero(isin(ids["person_id"], [p for p in person_ids if p is not None]).to_numpy())
    name: dict[str, str | None] = {}
    for p, n in zip(ids["person_id"].take(at).tolist(), ids["name"].take(at).to_numpy(dtype=object, na_value=None)
                    .tolist(), strict=True):
        name.setdefault(p, n)
    return [name.get(p) if p is not None else None for p in person_ids]
