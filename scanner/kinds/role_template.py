"""role_template — least privilege by position (SPEC §5, §5.1).

Judged per enabled account (``include_disabled`` adds disabled ones) of the ``systems``
whose ``person_id`` is a known identity, against the template of the person's current
``position``. A template key ``"*"`` is the template of every position without its own
(e.g. ``{allowed_roles: []}``: non-finance staff hold no finance role); without it,
such positions are not judged. Role patterns are globs over the role name, or over
``system:role`` when they contain a colon (``erp:cashier``, ``earchive:*``).

One finding per account and code, the roles/permissions involved listed in evidence:

* ``role_not_in_template``: roles matching none of ``allowed_roles``; a mover
  (``transfer_date`` set, ``previous_position`` has a template) may keep roles the
  previous template allows for ``transfer_grace_days`` days after the transfer
  (inclusive);
* ``forbidden_permission``: effective permissions (roles expanded through
  role_permissions, denies removed) matching ``forbidden_permissions`` or
  ``default_forbidden_permissions``; permissions that come only from roles a mover may
  still keep are not reported inside the grace;
* ``required_role_missing``: ``required_roles`` the account holds none of. A required
  role is required of the person's accounts **in the systems where that role exists**
  (role_permissions or grants name it there; SPEC §5.1): an account in a system that
  knows no such role is not judged for it, and a person with no judged account in any
  system where it exists is reported once, with subject ``person:ID``. A required
  ``system:role`` scopes the requirement to that system explicitly;
* ``too_many_roles``: more than ``max_roles`` distinct roles on the account (exactly
  ``max_roles`` is fine).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..context import ACCOUNT, PERSON, Context, code_rows, factorize, glob_mask, glob_match, in_order, isin
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, SYSTEMS_PARAM, PolicyKind, account_subject, concat_findings, emit_where, joined_per

_GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}, "default": []}
FALLBACK = "*"
#: column of ``RoleTemplate._judged``: the code of the account's person's position
POSITION = "_position"


def _who(rows: pd.DataFrame) -> pd.Series:
    """The account's name and position, which every finding's message starts with."""
    return rows["display_name"].fillna(rows["account_id"]) + " (" + rows["position"].astype("str") + ")"


def _role_match(system: str, role: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(f"{system}:{role}" if ":" in p else role, p) for p in patterns)


def _applies(system: str, pattern: str) -> bool:
    """A ``system:role`` pattern concerns only accounts of the systems its first part matches."""
    return ":" not in pattern or fnmatchcase(system, pattern.split(":", 1)[0])


def _known_roles(ctx: Context, systems: list[str]) -> pd.DataFrame:
    """Every distinct (system, role) of ``systems`` that grants or role_permissions name, as text
    (grants outside the snapshot's rows too: ``Snapshot.roles_elsewhere``, a gate's region)."""
    def known() -> pd.DataFrame:
        frames = [ctx.keyed_in("grants", systems)[["system", "role"]]]
        if ctx.optional("role_permissions") is not None:
            rp = ctx.table("role_permissions")[["system", "role"]]
            frames.append(rp[glob_mask(rp["system"], systems)])
        if ctx.snapshot.roles_elsewhere:
            elsewhere = pd.DataFrame(sorted(ctx.snapshot.roles_elsewhere), columns=["system", "role"], dtype="str")
            frames.append(elsewhere[glob_mask(elsewhere["system"], systems)])
        return pd.concat(frames, ignore_index=True).dropna().astype("str").drop_duplicates()

    return ctx.shared(f"roles.known:{sorted(systems)}", known)


def _distinct_roles(ctx: Context, systems: list[str]) -> pd.DataFrame:
    """The grants' (ACCOUNT, system, role) rows of ``systems``, the first of each (account,
    role), roles set: the pair as one integer (the account's position among the accounts times
    the roles, plus the role's code; both below the row count, so no overflow) whose repeats
    one int64 hash finds; a two-column drop_duplicates hashed the role text again. Only the
    grants of the policy's systems can meet a judged account (an account's system and
    account_id are never empty, so its code is never a grant's -1)."""
    grants = ctx.keyed_in("grants", systems)
    account, _ = pd.factorize(grants[ACCOUNT].to_numpy())
    role, roles = pd.factorize(grants["role"])  # -1: no role
    pair = account * (len(roles) + 1) + role
    first = (role >= 0) & ~pd.Series(pair).duplicated().to_numpy()
    return grants.loc[first, [ACCOUNT, "system", "role"]]


@KINDS.register("role_template")
class RoleTemplate(PolicyKind):
    subject = "account (account:SYSTEM:ID)"
    tables = ("identities", "accounts", "grants")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "account_permissions", "identities",
                       "people", "person_rows", "keyed_in", "roles.known", "grants.distinct_roles",
                       "role_template.judged"})
    codes = {
        "role_not_in_template": "roles the position's template does not allow",
        "forbidden_permission": "permissions the position (or every position) must not have",
        "required_role_missing": "required roles of the position the account lacks",
        "too_many_roles": "more distinct roles than max_roles",
    }
    params_schema = {
        "type": "object",
        "required": ["templates"],
        "properties": {
            "templates": {
                "type": "object", "minProperties": 1,
                "description": "position → {allowed_roles, required_roles, forbidden_permissions}; "
                               "key '*' = positions without a template of their own.",
                "additionalProperties": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "allowed_roles": {**_GLOBS, "description": "Role globs (or system:role)."},
                        "required_roles": {**_GLOBS, "description": "Role globs (or system:role)."},
                        "forbidden_permissions": {**_GLOBS, "description": "Permission globs."},
                    },
                },
            },
            "default_forbidden_permissions": {**_GLOBS, "description": "Permission globs forbidden "
                                              "to every judged position, added to its own list."},
            "transfer_grace_days": {"type": "integer", "minimum": 0, "default": 0,
                                    "description": "Days after transfer_date a mover may keep the "
                                                   "previous position's roles."},
            "max_roles": {"type": ["integer", "null"], "minimum": 1, "default": None,
                          "description": "Most distinct roles one account may hold (null: no limit)."},
            "systems": SYSTEMS_PARAM,
            "include_disabled": {"type": "boolean", "default": False,
                                 "description": "Judge disabled accounts too."},
        },
    }

    def _template(self, position: Any) -> dict[str, list[str]] | None:
        templates = self.params["templates"]
        t = templates.get(position) if isinstance(position, str) else None
        t = t if t is not None else templates.get(FALLBACK)
        return None if t is None else {"allowed_roles": [], "required_roles": [], "forbidden_permissions": [], **t}

    def _judged(self, ctx: Context) -> tuple[pd.DataFrame, list[str]]:
        """The judged accounts of known people with the identity columns findings use (each
        selection below would otherwise take all ~30 columns of accounts ⟕ identities), their
        ``position`` (findings make their subjects from system and account_id, for their rows
        only), its code (``POSITION``, an index into the positions returned beside; their number
        for none) and the person's row among the people (``PERSON``): the same for every policy
        of this kind with the same ``systems`` and ``include_disabled``, so joined once per scan.
        Callers select rows of it, never modify it.

        Each account's person is its row among the people (``person_rows``), and the people's
        positions are coded once: which positions have a template, and how many accounts each
        template judges, are then decided per distinct position (a pandas step over the 1M
        positions of the judged accounts at size L, as Python objects, cost ~30-80 ms each)."""
        def build() -> tuple[pd.DataFrame, list[str]]:
            acc = ctx.keyed("accounts")
            judged = glob_mask(acc["system"], self.params["systems"])
            if not self.params["include_disabled"]:
                judged &= acc["enabled"]
            rows = np.flatnonzero(judged.to_numpy(dtype=bool))
            person = ctx.person_rows("accounts")[rows]
            rows, person = rows[person >= 0], person[person >= 0]  # accounts of known people only
            acc = ctx.with_identity(
                acc[[ACCOUNT, "system", "account_id", "person_id", "display_name"]].take(rows),
                ctx.people[["person_id", "name", "position", "previous_position", "transfer_date"]], at=person)
            acc["position"] = acc["identity.position"].astype(object).where(acc["identity.position"].notna(), None)
            code, names = factorize(ctx.people["position"])
            acc[PERSON], acc[POSITION] = person, np.where(code < 0, len(names), code)[person]
            return acc, names
        return ctx.shared(f"role_template.judged:{sorted(self.params['systems'])}:{self.params['include_disabled']}",
                          build)

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        acc, names = self._judged(ctx)
        templates = self.params["templates"]
        # per distinct position (the last: none): judged at all, and the template it is judged by
        has = np.array([self._template(p) is not None for p in [*names, None]], dtype=bool)
        own = [p if p in templates and p != FALLBACK else FALLBACK for p in [*names, None]]
        code = acc[POSITION].to_numpy()
        acc = acc[has[code]]
        counts: dict[str, int] = {}
        for template, n in zip(own, np.bincount(code[has[code]], minlength=len(own)).tolist(), strict=True):
            counts[template] = counts.get(template, 0) + n
        exists = self._role_systems(ctx)
        self.cover(len(acc), "accounts of people whose position has a template", decisive="templates",
                   templates={t: counts.get(t, 0) for t in templates},
                   required_roles={r: len(s) for r, s in exists.items()})
        if acc.empty:
            return concat_findings([])
        prev_pos = acc["identity.previous_position"]
        in_grace = (acc["identity.transfer_date"].notna() & prev_pos.notna()
                    & prev_pos.isin(list(self.params["templates"]))
                    & (ctx.days_since(acc["identity.transfer_date"]) <= self.params["transfer_grace_days"]))
        acc["previous"] = prev_pos.astype(object).where(in_grace, None)
        systems = self.params["systems"]
        grants = ctx.shared(f"grants.distinct_roles:{sorted(systems)}", lambda: _distinct_roles(ctx, systems))
        # each grant's judged account (one row per account): a search of their codes, not a merge
        row = code_rows(in_order(acc[ACCOUNT].to_numpy()), grants[ACCOUNT])
        hit = np.flatnonzero(row >= 0)
        held = grants.take(hit).reset_index(drop=True).assign(
            position=acc["position"].array.take(row[hit]), previous=acc["previous"].array.take(row[hit]))
        held["allowed"], held["kept"] = self._role_verdicts(held)
        parts = [
            self._not_in_template(acc, held),
            self._forbidden(ctx, acc, held),
            self._required_missing(ctx, acc, held, exists),
            self._too_many(acc, held),
        ]
        return concat_findings(parts)

    def _role_verdicts(self, held: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """allowed / kept-by-grace of each held role, decided once per distinct (position,
        previous, system, role): the four columns packed into one integer code, no merge."""
        code = np.zeros(len(held), dtype="int64")
        vocabularies = []
        for c in ("position", "previous", "system", "role"):
            codes, uniques = pd.factorize(held[c], use_na_sentinel=False)
            code = code * len(uniques) + codes
            vocabularies.append(list(uniques))
        inverse, distinct = pd.factorize(code)  # a hash of the ~400k codes, not a sort

        def decoded(value: int) -> list:
            """The four values a code packs, read back from the columns' vocabularies."""
            out = []
            for vocabulary in reversed(vocabularies):
                value, at = divmod(value, len(vocabulary))
                out.append(vocabulary[at])
            return out[::-1]

        allowed, kept = [], []
        for pos, prev, system, role in map(decoded, distinct.tolist()):
            now_ok = _role_match(system, role, self._template(pos)["allowed_roles"])
            prev_t = self._template(prev) if isinstance(prev, str) else None
            allowed.append(now_ok)
            kept.append(not now_ok and prev_t is not None and _role_match(system, role, prev_t["allowed_roles"]))
        # bool even when empty: an empty object column would select columns, not rows
        return np.array(allowed, dtype=bool)[inverse], np.array(kept, dtype=bool)[inverse]

    def _not_in_template(self, acc: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
        bad = held[~held["allowed"] & ~held["kept"]]
        if bad.empty:
            return concat_findings([])
        per = joined_per(bad, [ACCOUNT], "role", "roles")
        return emit_where(acc.merge(per, on=ACCOUNT, sort=False), None, code="role_not_in_template",
                          subject=account_subject, person_id="person_id", evidence=["position", "roles"],
                          message=lambda r: _who(r) + " holds role(s) outside the position's template: " + r["roles"])

    def _forbidden(self, ctx: Context, acc: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
        default = self.params["default_forbidden_permissions"]
        patterns = sorted({*default, *(g for t in self.params["templates"].values()
                                       for g in t.get("forbidden_permissions") or ())})
        if not patterns:
            return concat_findings([])
        perms = ctx.account_permissions[[ACCOUNT, "role", "permission"]]
        # only permissions some template forbids can be findings: narrow before joining
        perms = perms[glob_mask(perms["permission"], patterns)]
        if perms.empty:  # each step below costs ~1-3 ms even on no rows (a gate's few accounts)
            return concat_findings([])
        held = held[isin(held[ACCOUNT], perms[ACCOUNT].unique())]  # the few accounts with such a permission
        perms = perms.merge(held[[ACCOUNT, "role", "position", "kept"]], on=[ACCOUNT, "role"], sort=False)
        # a permission any non-kept role grants is held for good; only grace-kept roles excuse it:
        # the rows whose (account, permission), packed into one integer, some non-kept row has
        account = pd.factorize(perms[ACCOUNT], use_na_sentinel=False)[0]
        permission, permissions = pd.factorize(perms["permission"], use_na_sentinel=False)
        pair = account * len(permissions) + permission
        perms = perms[np.isin(pair, pair[~perms["kept"].to_numpy(dtype=bool)])]
        if perms.empty:
            return concat_findings([])
        # forbidden or not: once per distinct (position, permission), both packed into one code
        # (an account without a position is never reported here)
        position, positions = pd.factorize(perms["position"])
        permission, permissions = pd.factorize(perms["permission"])
        pair = np.where((position < 0) | (permission < 0), -1, position * len(permissions) + permission)
        pairs, inverse = np.unique(pair, return_inverse=True)
        forbidden = [bool(p >= 0) and glob_match(
            permissions[p % len(permissions)],
            self._template(positions[p // len(permissions)])["forbidden_permissions"] + default) for p in pairs]
        bad = perms[np.array(forbidden, dtype=bool)[inverse.ravel()]]
        if bad.empty:
            return concat_findings([])
        per = joined_per(bad, [ACCOUNT], "permission", "permissions").merge(
            joined_per(bad, [ACCOUNT], "role", "via_roles"), on=ACCOUNT, sort=False)
        return emit_where(acc.merge(per, on=ACCOUNT, sort=False), None, code="forbidden_permission",
                          subject=account_subject, person_id="person_id",
                          evidence=["position", "permissions", "via_roles"],
                          message=lambda r: _who(r) + " holds forbidden permission(s) " + r["permissions"]
                          + " via " + r["via_roles"])

    def _role_systems(self, ctx: Context) -> dict[str, set[str]]:
        """Per required-role pattern, the systems of the policy's ``systems`` where a matching role
        exists (role_permissions or grants name it there): the only systems whose accounts are
        judged for it."""
        patterns = {r for t in self.params["templates"].values() for r in t.get("required_roles") or ()}
        if not patterns:
            return {}
        roles = _known_roles(ctx, self.params["systems"])
        return {p: {s for s, r in roles.itertuples(index=False) if _role_match(s, r, [p])} for p in sorted(patterns)}

    def _required_missing(self, ctx: Context, acc: pd.DataFrame, held: pd.DataFrame,
                          exists: dict[str, set[str]]) -> pd.DataFrame:
        """``exists``: ``_role_systems``, computed once per evaluation."""
        if not any(exists.values()):  # no template requires a role that exists (ROLE-001): nothing to look up
            return concat_findings([])
        parts = [self._person_without_system(acc, exists)]
        need = pd.DataFrame(
            [(pos, system, r) for pos in acc["position"].drop_duplicates()
             for r in self._template(pos)["required_roles"] for system in sorted(exists[r])],
            columns=["position", "system", "required"])
        if need.empty:  # no judged position requires a role (a gate's few accounts often): no joins
            return concat_findings(parts)
        need = (acc[[ACCOUNT, "system", "position"]].drop_duplicates(ACCOUNT)
                .merge(need, on=["position", "system"], sort=False))
        # which known (system, role) satisfies which pattern: once per distinct combination (the
        # roles any account holds are among them), then only the grants of those roles are joined
        combos = _known_roles(ctx, self.params["systems"]).merge(
            need[["system", "required"]].drop_duplicates(), on="system", sort=False)
        combos = combos[pd.Series([_role_match(s, r, [p]) for s, r, p in combos.itertuples(index=False)],
                                  index=combos.index, dtype=bool)]  # a bool mask even when empty
        held = held[isin(held["role"], combos["role"]).to_numpy()]
        have = held[[ACCOUNT, "system", "role"]].merge(combos, on=["system", "role"], sort=False)
        required = pd.Index(need["required"].unique())

        def pairs(rows: pd.DataFrame) -> np.ndarray:
            """Each row's (account, required) as one integer: the pattern's position among the
            needed ones packed with the account's code, so needed pairs are looked up, not joined."""
            return rows[ACCOUNT].to_numpy() * len(required) + required.get_indexer(rows["required"])

        lacking = need[~np.isin(pairs(need), pairs(have))]
        if not lacking.empty:
            per = joined_per(lacking, [ACCOUNT], "required", "missing_roles")
            parts.insert(0, emit_where(
                acc.merge(per, on=ACCOUNT, sort=False), None, subject=account_subject, code="required_role_missing",
                person_id="person_id", evidence=["position", "missing_roles"],
                message=lambda r: _who(r) + " lacks required role(s) " + r["missing_roles"]))
        return concat_findings(parts)

    def _person_without_system(self, acc: pd.DataFrame, exists: dict[str, set[str]]) -> pd.DataFrame:
        """Required roles for which a person has no judged account in any system where the
        role exists: one finding per person (``person:ID``), not one per unrelated account. A
        role that exists in no system of the policy's scope is a coverage warning instead."""
        person = pd.factorize(acc[PERSON].to_numpy())[0]  # (integers: one per person_id, hashed as such)
        _, first = np.unique(person, return_index=True)  # each person's first account, in order
        people = acc[["person_id", "position", "identity.name"]].iloc[first]
        # which systems each person has a judged account in: a people × systems table of booleans
        system_codes, systems = pd.factorize(acc["system"])
        has = np.zeros((len(people), len(systems)), dtype=bool)
        has[person, system_codes] = True
        parts = []
        position, positions = pd.factorize(people["position"], use_na_sentinel=False)
        for i, pos in enumerate(positions):
            of_pos = position == i
            for r in self._template(pos)["required_roles"]:
                if exists[r]:
                    lacks = of_pos & ~has[:, [j for j, s in enumerate(systems) if s in exists[r]]].any(axis=1)
                    parts.append(pd.DataFrame({"person_id": people["person_id"][lacks].to_numpy(), "required": r,
                                               "role_systems": ", ".join(sorted(exists[r]))}))
        lacking = pd.concat(parts, ignore_index=True) if parts else None
        if lacking is None or lacking.empty:
            return concat_findings([])
        per = joined_per(lacking, ["person_id"], "required", "missing_roles").merge(
            joined_per(lacking, ["person_id"], "role_systems", "systems_with_role", sep="; "),
            on="person_id", sort=False)
        frame = people.merge(per, on="person_id", sort=False)
        frame["subject"] = "person:" + frame["person_id"].astype("str")
        return emit_where(
            frame, None, code="required_role_missing", person_id="person_id",
            evidence=["position", "missing_roles", "systems_with_role"],
            message=lambda r: (r["identity.name"].fillna(r["person_id"]) + " (" + r["position"].astype("str")
                               + ") has no account in a system with required role(s) " + r["missing_roles"]
                               + " (systems: " + r["systems_with_role"] + ")"))

    def _too_many(self, acc: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
        limit = self.params["max_roles"]
        if limit is None:
            return concat_findings([])
        counts = held.groupby(ACCOUNT, sort=False)["role"].nunique().rename("role_count").reset_index()
        counts = counts[counts["role_count"] > limit]
        if counts.empty:
            return concat_findings([])
        many = held.merge(counts[[ACCOUNT]], on=ACCOUNT, sort=False)
        per = counts.merge(joined_per(many, [ACCOUNT], "role", "roles"), on=ACCOUNT, sort=False).assign(max_roles=limit)
        return emit_where(acc.merge(per, on=ACCOUNT, sort=False), None, subject=account_subject, code="too_many_roles",
                          person_id="person_id", evidence=["position", "role_count", "max_roles", "roles"],
                          message=lambda r: _who(r) + " holds " + r["role_count"].astype("str") + " roles (limit "
                          + str(limit) + "): " + r["roles"])
