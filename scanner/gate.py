"""``ledgerguard gate``: judge a proposed access change before it is applied.

The gate reads the change files (changes.py), applies them to copies of the snapshot
tables (proposal.py), evaluates the policies a change can affect — those reading a
table a change can touch — on the current and the proposed state, and reports only the
difference: findings the change *introduces* (they can fail the gate) and findings it
*resolves* (shown, never failing). Each introduced finding carries the ``location`` of
the change that caused it when its subject names an account, person or change of the file.

**Incremental by default.** A change of a few accounts cannot alter the findings of
the thousands it does not touch, so the gate evaluates both states on the *region* the
change can affect (``Region``), not on the whole snapshot:

* the accounts the changes name, every account of the people they touch (the person of
  a named account, a ``create``'s ``person_id``/``owner_person_id``, a ``modify``'s
  person), and the recorded ``changes`` rows on those accounts or approved, performed
  or targeted by those people, plus the proposed changes themselves;
* ``accounts``, ``grants``, ``reviews``, ``logins``, ``changes`` and ``access_log``
  (actor = one of those accounts or people) are cut down to that region;
  ``identities`` to the people those rows name (person, owner, performer, approver,
  requester, actor) — every row of such a person, so "the first row of a person_id"
  stays the same — since a kind reads an identity only by looking up a person a row
  names (who exists, their status, position, name); ``role_permissions`` (which roles
  exist, what they grant, denies) stays whole, and the region knows which roles the grants
  it leaves out hold (``Snapshot.roles_elsewhere``: a change may grant such a role, and a
  role_template's required role held only outside the region still exists); ``handovers`` keeps the rows naming those
  people as leaver or receiver (``period_close_freeze`` judges a register row alone and no
  change touches the register; ``Handover.gate_cut`` reads those rows).

This is exact for the kinds in ``LOCAL_KINDS``: each of their findings is about one
account, one person (SoD pools a person's accounts: all of them are in the region), one
change, grant or handover, or one archive access (judged by its actor's grants), and
reads only that subject's rows plus the identities they name and the role permissions,
so a finding outside the region is the same in both states and cancels out of the
difference. A kind in ``NARROWED`` (``handover``, whose duty gap depends on every other
holder of a duty) names the people whose rows decide what the change can alter
(``gate_cut``); both states are cut down to them (``Region.with_people``). Any other
kind (``table_rule``, whose subject template may group rows of many accounts; kinds
added later) is evaluated on the whole states, as before. What the gate derives from
the current state alone can be cached beside the snapshot (``gatecache.GateCache``), the
columns the region is cut by among it, sorted (``gatecache.RowIndex``, ``LOOKED_UP``).
``tests/gate/test_incremental.py`` checks that both paths give the same document on
generated changes of every action against the built-in pack; ``incremental=False``
(``gate --full``) keeps the whole-state evaluation.

**The current state's side from the base cache.** With the cache on (and a regional base
there or writable beside the snapshot), a local kind is evaluated on the region's
*proposed* state only; its current-state findings are those of
the whole current state (computed once per snapshot, policies and as-of, and kept by
``gatecache.GateCache.regional``) whose subject the region holds *whole* — every row that
decides the finding is in the region, so the region's evaluation gives exactly the whole
state's finding (``Region.subjects``): an account of the region (``account:S:A``), a
person of the region (``person:P``: all their accounts are in it), a proposed change, and
a recorded change or access event every row of which the region's ``changes`` /
``access_log`` hold (``change:ID``, ``access:ID``). Both sides keep only findings of those
subjects. That is exact because a finding's subject is either such a subject (evaluated
exactly on both sides) or one the change cannot alter (the same in the whole current and
proposed states: nothing is introduced or resolved there, as above). Per kind (``SUBJECTS``; ``ALSO_READS`` lists the
tables each reads):

* ``access_review``, ``dormant_account``, ``orphan_account``, ``privileged_mfa``,
  ``revoke_on_departure``: one finding per account, from its row, its grants, reviews,
  logins and access events (actor = the account or its person, both in the region), its
  person's and owner's identities (kept whole) and the role permissions (whole); and
  (``revoke_on_departure``) per person for archive access by a person after departure
  (their identity and every access event of theirs: all in the region for its people);
* ``unrecorded_change``: per account (its grants and the recorded changes on it, all in
  the region); ``snapshot:previous`` reads no row a change touches (``UNCHANGED``);
* ``role_template``: per account (its grants, its person's position) and, for a missing
  required role, per person (every account of a region person is in the region);
* ``segregation_of_duties``: per person, pooling every account of a region person;
* ``change_approval``: per change, from its row (kept whole), the identities it names and
  its account's person (the region keeps the target accounts and their people);
* ``period_close_freeze``: per change (its row alone); a handover finding reads only the
  handover register, which no change touches (``UNCHANGED``);
* ``archive_access``: per access event, from the grants of its actor (an account of the
  region or a person of it: every account of theirs is in the region).

A finding of a subject kind not listed for its kind (a kind changed since) makes the gate
evaluate that policy on the region's current state too, as without the cache.

A narrowed kind's current side comes from the regional base too (``handover``'s findings
are kept there with the local kinds'). ``Handover.gate_cut`` says which of its findings a
change can alter — (a) any finding about a leaver among the change's people, (b) a duty
gap of a duty whose holdings the change can alter (a duty a role of their accounts grants,
held or revoked in either state), (c) an overlap whose receiver is among them, (d) a
register row naming one of them (``GateCut.decides``) — and that the cut to its people
computes each of those exactly (its docstring argues why, duty gaps included: every
holding of the change's people and the two earliest other holders of each such duty are in
the cut). Every other finding reads only rows the change leaves alone, so it is the same in
the whole current and proposed states; both sides keep just the deciding findings, the
current side as the whole current state has them (subjects ``person:`` of the cut's people
and ``handover:`` of its register rows). Statuses are not cut: an unknown
``from_person_id`` in the register ends the policy in ``error`` on the whole current state
(the base's status) and on the proposed cut (which keeps every register row of a person
identities does not know), so the gate reports ``error``, never ``pass``
(``test_an_unknown_leaver_in_the_register_is_an_error_of_every_gate``). When the change alters
none of the kind's findings (``GateCut.quiet``: no duty gap to re-judge, and none of its people
leaves, moves, changes identity or is a register row's leaver or receiver — a grant to an
active employee, most of a pipeline's requests), the cut is not evaluated at all: both sides
have the whole current state's status from the base, no finding, and a coverage that says so
(``tests/gate/test_handover_cut.py``). Likewise a local kind that sees roles only through some
permissions (``PolicyKind.permission_globs``) is not evaluated when the changes are all grants
and revokes of roles giving none of them and denying nothing (``beside``): its base verdict
stands (``tests/gate/test_beside.py``).

Waivers need every finding of the proposed state (an unchanged finding a waiver
accepts keeps it from being ``stale``): the policies a waiver names are evaluated
once on the whole current state, and the proposed state's findings are that minus
what the change resolves plus what it introduces.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from .changes import ADDING, Change
from .context import Context, denies, factorize, glob_match, isin
from .contract import Finding, PolicyOutcome
from .engine import evaluate
from .errors import TableUnavailable
from .findings import assemble
from .gatecache import GateCache, RowIndex
from .kinds.base import KINDS, blank
from .lazy import numpy as np
from .lazy import pandas as pd
from .policy import Policy, PolicyPack, all_policies
from .proposal import TOUCHED, Typed, empty_table, propose
from .snapshot import Snapshot
from .timeutil import clock, iso
from .waivers import Waiver, apply_waivers

#: kinds whose every finding depends only on its own account / person / change rows and on
#: identities and role_permissions (see the module docstring): evaluated on the region
LOCAL_KINDS = frozenset({
    "role_template", "segregation_of_duties", "privileged_mfa", "access_review", "dormant_account",
    "orphan_account", "revoke_on_departure", "change_approval",
    # one finding per access event (its actor's grants), per grant, per change or handover
    "archive_access", "unrecorded_change", "period_close_freeze",
})
#: kinds whose findings a change can alter beyond its region, but whose kind names the people
#: whose rows decide them (``gate_cut``): evaluated on both states cut down to those; with the
#: subject kinds of their findings (as ``SUBJECTS``)
NARROWED = {"handover": ("person", "handover")}
#: tables a local kind reads when the snapshot has them, beyond its ``reads()`` (the tables it
#: cannot work without); tests/gate/test_incremental.py checks these against what each kind reads
ALSO_READS = {
    "revoke_on_departure": ("grants", "logins", "access_log"),
    "dormant_account": ("logins",),
    "segregation_of_duties": ("identities",),
    "change_approval": ("identities",),
    "role_template": ("role_permissions",),
    "unrecorded_change": ("accounts",),
    "period_close_freeze": ("handovers",),
    # not local (a duty gap depends on every other holder; a rule's subject may group rows),
    # but what they read is known, so an incremental gate still reads no other table
    "handover": ("changes",),
    "table_rule": ("identities", "accounts"),
}
#: the subjects (prefix before ``:``) of each local kind's findings that the region can hold
#: whole, and those a change cannot alter: see "The current state's side from the base cache"
SUBJECTS = {
    "access_review": ("account",), "dormant_account": ("account",), "orphan_account": ("account",),
    "privileged_mfa": ("account",), "revoke_on_departure": ("account", "person"), "unrecorded_change": ("account",),
    "role_template": ("account", "person"), "segregation_of_duties": ("person",),
    "change_approval": ("change",), "period_close_freeze": ("change",), "archive_access": ("access",),
}
UNCHANGED = {"unrecorded_change": ("snapshot",), "period_close_freeze": ("handover",)}
#: tables cut down to the region's accounts, by (system, account_id)
_BY_ACCOUNT = ("accounts", "grants", "reviews", "logins")


def relevant(policy: Policy) -> bool:
    """Does the policy read a table a change can touch? (Others cannot change verdict.)"""
    return bool(set(KINDS.get(policy.kind)(policy.params).reads()) & set(TOUCHED))


def _people(values: pd.Series) -> set[str]:
    """The people a column names: its values but the empty ones (missing or only whitespace,
    as ``blank`` has them: §5.1)."""
    return {p for p in _texts(values) if p.strip()}


def _texts(values: pd.Series) -> set[str]:
    """The distinct non-missing values of a column, as text (``tolist``: iterating an Arrow-backed
    column takes a Python step per value, ~10× as long)."""
    return set(values.dropna().astype("str").tolist())


def _accounts(rows: pd.DataFrame) -> set[tuple[str, str]]:
    """The (system, account_id) pairs of ``rows``."""
    return set(zip(rows["system"].tolist(), rows["account_id"].tolist(), strict=True))


#: the columns of the whole snapshot's tables the gate finds rows by (``RowIndex``: sorted
#: beside the snapshot by the base cache)
LOOKED_UP = {"accounts": ("account_id", "person_id"), "grants": ("account_id",), "reviews": ("account_id",),
             "logins": ("account_id",), "access_log": ("actor", "event_id"), "identities": ("person_id",),
             "changes": ("change_id", "account_id", "approved_by", "performed_by", "person_id"),
             "handovers": ("from_person_id", "to_person_id")}


def _rows(rows: RowIndex, name: str, column: str, values: Collection[str]) -> pd.DataFrame:
    """The rows of table ``name`` whose ``column`` is one of ``values`` (their index kept)."""
    return rows.tables[name].take(rows.positions(name, column, values))


def _positions_of(rows: RowIndex, name: str, accounts: Collection[tuple[str, str]]) -> np.ndarray:
    """The positions of the rows of table ``name`` whose (system, account_id) is one of
    ``accounts``: the rows of their account ids (a handful), then the pairs are checked."""
    near = rows.positions(name, "account_id", {a for _, a in accounts})
    table = rows.tables[name]
    pairs = zip(table["system"].take(near).tolist(), table["account_id"].take(near).tolist(), strict=True)
    return near[np.asarray([pair in accounts for pair in pairs], dtype=bool)]


def _rows_of(rows: RowIndex, name: str, accounts: Collection[tuple[str, str]]) -> pd.DataFrame:
    """The rows of table ``name`` whose (system, account_id) is one of ``accounts`` (their index kept)."""
    return rows.tables[name].take(_positions_of(rows, name, accounts))


def _any_of(rows: RowIndex, name: str, columns: tuple[str, ...], values: Collection[str]) -> np.ndarray:
    """Which rows of table ``name`` hold one of ``values`` in one of ``columns`` (a mask)."""
    mask = np.zeros(len(rows.tables[name]), dtype=bool)
    for column in columns:
        mask[rows.positions(name, column, values)] = True
    return mask


#: columns of the region's tables that name a person: a kind looks an identity up only through these
_PERSON_COLUMNS = {"accounts": ("person_id", "owner_person_id"),
                   "changes": ("performed_by", "approved_by", "requested_by", "person_id"),
                   "access_log": ("actor",)}


def _named_people(tables: dict[str, pd.DataFrame]) -> set[str]:
    return {p for name, cols in _PERSON_COLUMNS.items() if name in tables
            for c in cols if c in tables[name].columns for p in _people(tables[name][c])}


@dataclass(frozen=True)
class Region:
    """What a change file can affect: accounts (system, account_id), people and change ids."""

    accounts: frozenset[tuple[str, str]]
    people: frozenset[str]
    change_ids: frozenset[str]
    #: people the proposed change rows name (requester, approver, performer): their identities are kept
    named: frozenset[str]
    #: the accounts of ``accounts`` that no person holds (every other one is an account of ``people``)
    loose: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, snapshot: Snapshot, changes: list[Change], rows: RowIndex | None = None) -> Region:
        """The region of ``changes`` in ``snapshot`` (no change moves an account to another
        person: a created account's person is the change's). ``rows``: the snapshot's rows by
        value (a ``RowIndex`` of its tables; by hashing when not given)."""
        rows = rows or RowIndex(snapshot.tables)
        accounts = {c.account for c in changes if c.account}
        people = {c.get(k) for c in changes for k in ("person_id", "owner_person_id") if c.get(k)}
        loose = set()
        if "accounts" in snapshot.tables:
            named = _rows_of(rows, "accounts", accounts)
            people |= _people(named["person_id"])
            loose = _accounts(named) - _accounts(named[~blank(named["person_id"]).to_numpy()])
            accounts |= _accounts(_rows(rows, "accounts", "person_id", people))  # every account of them: SoD pools them
        named = {c.get(k) for c in changes for k in ("requested_by", "approved_by", "performed_by") if c.get(k)}
        return cls(frozenset(accounts), frozenset(people), frozenset(c.change_id for c in changes),
                   frozenset(named), frozenset(loose))

    def restrict(self, snapshot: Snapshot, rows: RowIndex | None = None,
                 roles: dict[tuple[str, str], int] | None = None) -> Snapshot:
        """The snapshot cut down to this region (identities, role_permissions and tables no
        local kind reads stay as they are; handovers to the rows naming its people), knowing
        which roles the grants it leaves out hold (``Snapshot.roles_elsewhere``). ``rows``:
        as ``of``'s; ``roles``: ``grant_roles`` of ``snapshot`` (counted when not given)."""
        rows = rows or RowIndex(snapshot.tables)
        tables = snapshot.tables
        # with a changes table, accounts are cut once below, with the changes' targets
        by_account = [n for n in _BY_ACCOUNT if n in tables and (n != "accounts" or "changes" not in tables)]
        cut = {name: _rows_of(rows, name, self.accounts).reset_index(drop=True) for name in by_account}
        if "changes" in tables:
            ch = tables["changes"]
            mask = _any_of(rows, "changes", ("change_id",), self.change_ids) | _any_of(
                rows, "changes", tuple(c for c in ("approved_by", "performed_by", "person_id") if c in ch.columns),
                self.people)
            mask[_positions_of(rows, "changes", self.accounts)] = True
            cut["changes"] = ch[mask].reset_index(drop=True)
            if "accounts" in tables:  # with the changes' targets: their person is the account's (change_approval)
                targets = _accounts(cut["changes"])
                cut["accounts"] = _rows_of(rows, "accounts", self.accounts | targets).reset_index(drop=True)
        if "access_log" in tables:
            actors = {f"{s}:{a}" for s, a in self.accounts} | self.people
            cut["access_log"] = _rows(rows, "access_log", "actor", actors).reset_index(drop=True)
        if "handovers" in tables:
            # period_close_freeze judges a register row from the row alone, and no change touches
            # the register (``UNCHANGED``): the region keeps only the rows naming its people as
            # leaver or receiver, which ``Handover.gate_cut`` reads
            h = tables["handovers"]
            cut["handovers"] = h[_any_of(rows, "handovers", ("from_person_id", "to_person_id"), self.people)]
        if "identities" in tables:
            cut["identities"] = _rows(rows, "identities", "person_id", _named_people(cut) | self.people | self.named)
        return _cut(snapshot, cut, roles)

    def subjects(self, current: Snapshot, whole: Snapshot, rows: RowIndex | None = None) -> set[str]:
        """The finding subjects this region holds whole (``current`` is ``restrict(whole)``):
        its accounts and people, the proposed changes, and the recorded changes and access events
        all of whose rows it holds. ``rows``: as ``of``'s (of ``whole``)."""
        rows = rows or RowIndex(whole.tables)
        held = {f"account:{s}:{a}" for s, a in self.accounts} | {f"person:{p}" for p in self.people}
        held |= {f"change:{i}" for i in self.change_ids}
        for name, column, prefix in (("changes", "change_id", "change"), ("access_log", "event_id", "access")):
            if name in current.tables and name in whole.tables:
                held |= {f"{prefix}:{i}" for i in _whole(current.tables[name][column], rows, name, column)}
        return held

    def with_people(self, snapshot: Snapshot, people: set[str], rows: RowIndex | None = None,
                    roles: dict[tuple[str, str], int] | None = None) -> Snapshot:
        """The snapshot cut down to the rows of ``people`` (accounts, their grants and recorded
        changes), this region's accounts, the handovers naming one of them (or an unknown
        person, so a bad register is an error here as on the whole state) and the identities
        those rows name: what a narrowed kind (``NARROWED``) is evaluated on. ``rows`` and
        ``roles``: as ``restrict``'s."""
        rows = rows or RowIndex(snapshot.tables)
        tables = snapshot.tables
        acc = tables["accounts"]
        wanted = sorted(people)
        # this region's accounts: those of its people, and those of no person
        mine = _any_of(rows, "accounts", ("person_id",), people | self.people)
        if self.loose:
            mine[_positions_of(rows, "accounts", self.loose)] = True
        acc = acc[mine]
        pairs = _accounts(acc)
        cut = {"accounts": acc.reset_index(drop=True)}
        cut |= {name: _rows_of(rows, name, pairs).reset_index(drop=True)
                for name in ("grants", "changes") if name in tables}
        named = set(people)
        cols = ("from_person_id", "to_person_id", "supervisor_id")
        register = tables.get("handovers") if "identities" in tables else None
        if "identities" in tables:
            # the identities of every person the cut can name, the register's among them: one
            # lookup of their few names, not one hash of every identity per question
            everyone = named | self.people | self.named
            if register is not None:
                everyone |= {p for c in cols for p in _texts(register[c])}
            ids = _rows(rows, "identities", "person_id", everyone)
        if register is not None:
            hit = ~isin(register["from_person_id"], ids["person_id"])  # a leaver identities does not know
            for c in cols:
                hit |= isin(register[c], wanted)
            cut["handovers"] = register[hit.to_numpy()]  # its index: the register's row numbers in messages
            named |= {p for c in cols for p in _people(cut["handovers"][c])}
        if "identities" in tables:
            cut["identities"] = ids[isin(ids["person_id"], sorted(named | self.people | self.named)).to_numpy()]
        return _cut(snapshot, cut, roles)


def grant_roles(grants: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    """How many rows of ``grants`` hold each (system, role): both columns coded and the pairs
    counted in NumPy (a pandas groupby cost ~0.45 ms on a region's few grants, twice a gate,
    and ~17 ms on the 386k of size M, which an uncached gate counts each time; this ~0.1 / ~11)."""
    if grants is None:
        return {}
    system, systems = factorize(grants["system"])
    role, roles = factorize(grants["role"])
    known = (system >= 0) & (role >= 0)
    counts = np.bincount(system[known] * len(roles) + role[known], minlength=len(systems) * len(roles))
    return {(str(systems[pair // len(roles)]), str(roles[pair % len(roles)])): n
            for pair, n in enumerate(counts.tolist()) if n}


def _cut(whole: Snapshot, tables: dict[str, pd.DataFrame], roles: dict[tuple[str, str], int] | None) -> Snapshot:
    """``whole`` with ``tables`` cut from its own, knowing which roles the grants left out hold
    (``roles``: ``grant_roles`` of the whole grants, counted when not given): a role_template's
    required role held only by someone outside the cut still exists, and a change may grant it."""
    roles = grant_roles(whole.tables.get("grants")) if roles is None else roles
    here = grant_roles(tables.get("grants"))
    elsewhere = frozenset(pair for pair, n in roles.items() if n > here.get(pair, 0))
    return replace(whole.with_tables(**tables), roles_elsewhere=whole.roles_elsewhere | elsewhere)


def _whole(cut: pd.Series, rows: RowIndex, name: str, column: str) -> set[str]:
    """The ids in ``cut`` (a column of a table cut from the whole table ``name``) whose every row
    is in the cut."""
    mine = cut.dropna().astype("str").value_counts()
    if mine.empty:  # (a region without access events: no look at the 101k of M)
        return set()
    everywhere = _rows(rows, name, column, set(mine.index))[column].astype("str").value_counts()
    return {i for i, n in mine.items() if everywhere.get(i) == n}


def _cause(finding: Finding, changes: list[Change], person_of: dict[tuple[str, str], Any]) -> Change | None:
    """The change a finding is attributed to: its subject's change, account or person.

    Of several, the last that adds access (grant, enable, create, modify) — the one
    that completes the state the finding is about — else the last that touches it.
    """
    kind, _, rest = finding["subject"].partition(":")
    person = finding.get("person_id")

    def touches(c: Change) -> bool:
        if kind == "change":
            return c.change_id == rest
        if kind == "account" and c.account and ":".join(c.account) == rest:
            return True
        who = rest if kind == "person" else person
        return bool(who) and who in (c.get("person_id"), person_of.get(c.account))

    hits = [c for c in changes if touches(c)]
    adding = [c for c in hits if c.action in ADDING]
    return (adding or hits or [None])[-1]


def _person_of(state: Snapshot, accounts: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(system, account_id) → person_id of the accounts the changes name."""
    if "accounts" not in state.tables or not accounts:
        return {}
    rows = _rows_of(RowIndex(state.tables), "accounts", accounts)
    return dict(zip(zip(rows["system"], rows["account_id"], strict=True), rows["person_id"], strict=True))


def _merge(current: PolicyOutcome, proposed: PolicyOutcome) -> PolicyOutcome:
    """One outcome per policy: an error in either state is an error (no verdict). A policy
    that has nothing in scope in the proposed state (e.g. change_approval for a change file
    of revokes only) cannot have findings the change introduces: that is a pass of the gate.
    One that is blind (none of its rules matched anything) stays inconclusive."""
    for o in (proposed, current):
        if o.status == "error":
            return PolicyOutcome(o.policy, "error", [], o.error)
    if proposed.status == "inconclusive" and proposed.coverage and proposed.coverage["examined"] == 0:
        return PolicyOutcome(proposed.policy, "pass", [], None, proposed.coverage)
    return proposed


def beside(policies: list[Policy], changes: list[Change], snapshot: Snapshot) -> list[bool]:
    """For each policy, do the changes leave every finding of it as it is, its kind seeing roles
    only through some permissions (``PolicyKind.permission_globs``): are they all grants and
    revokes of roles whose role_permissions rows deny nothing and give none of those permissions?

    A role without a role_permissions row gives nothing (``Context.account_permissions``); a
    deny row, whatever it names, counts as seen (its glob may cover a seen permission)."""
    if not snapshot.has("role_permissions") or any(c.action not in ("grant", "revoke") for c in changes):
        return [False] * len(policies)
    rp = snapshot.table("role_permissions")
    roles = {(c.get("system"), c.get("role")) for c in changes}
    given: set[str] = set()  # the permissions the changed roles give
    deny = False  # does a changed role deny anything?
    for system, role, permission, denied in zip(rp["system"], rp["role"], rp["permission"], denies(rp["effect"]),
                                                strict=True):
        if (system, role) in roles and permission is not None:
            deny |= bool(denied)
            given.add(permission)
    globs = [KINDS.get(p.kind)(p.params).permission_globs() for p in policies]
    return [g is not None and not deny and not any(glob_match(permission, g) for permission in given)
            for g in globs]


def may_read(policy: Policy) -> set[str]:
    """Every table the policy's kind may read: ``reads()`` plus the tables it uses when present."""
    kind = KINDS.get(policy.kind)(policy.params)
    return {*kind.reads(), *ALSO_READS.get(policy.kind, ())}


def gate_tables(packs: list[PolicyPack]) -> set[str] | None:
    """The tables an incremental gate reads (``read_snapshot(only=…)``): those its relevant
    policies may read, when every one's reads are known (a local kind, or one listed in
    ALSO_READS); None (all) otherwise."""
    policies = [p for p in all_policies(packs) if relevant(p)]
    if any(p.kind not in LOCAL_KINDS and p.kind not in ALSO_READS for p in policies):
        return None
    return {*TOUCHED, *(t for p in policies for t in may_read(p))}


@dataclass(frozen=True)
class _Cut:
    """Policies evaluated on one cut of the states (the region; a narrowed kind's people): the
    cut of the current and of the proposed state, the finding subjects it holds, and which of
    its findings it computes exactly (those a change can alter)."""

    indexes: list[int]
    current: Snapshot
    changed: Snapshot
    held: set[str]
    keeps: Callable[[Finding], bool]


@dataclass
class _States:
    """The two states a gate compares, and the outcome of each policy in both."""

    policies: list[Policy]
    before: dict[int, PolicyOutcome]
    after: dict[int, PolicyOutcome]

    def run(self, indexes: list[int], current: Snapshot, changed: Snapshot, now: pd.Timestamp,
            jobs: int | None, cache: GateCache | None = None) -> None:
        """Evaluate on both states; the current one's outcomes from ``cache`` when given (the
        whole current state's: change-independent)."""
        if indexes:
            chosen = [self.policies[i] for i in indexes]
            before = (cache.outcomes(chosen, lambda missing: evaluate(missing, Context(current, now), jobs))
                      if cache else evaluate(chosen, Context(current, now), jobs))
            self.before.update(zip(indexes, before, strict=True))
            self.after.update(zip(indexes, evaluate(chosen, Context(changed, now), jobs), strict=True))

    def from_base(self, cuts: list[_Cut], quiet: list[int], regional: list[int], whole: Snapshot,
                  now: pd.Timestamp, jobs: int | None, cache: GateCache) -> None:
        """Evaluate each cut's policies on its proposed state only; the current state's findings
        are the whole current state's of the subjects the cuts hold, from the base cache
        (computed for every policy of ``regional`` when it has none; one read for all cuts).
        Both sides keep only the findings a cut's ``keeps`` holds: those the cut computes
        exactly, which are all a change can alter (module docstring). A policy with a finding
        of a subject kind its kind does not list (``SUBJECTS``, ``NARROWED``) is evaluated on
        its cut of the current state as well, as without the cache.

        ``quiet``: policies whose findings the change cannot alter (``beside``, ``GateCut.quiet``):
        not evaluated; both sides have the whole current state's status and no finding."""
        cuts = [c for c in cuts if c.indexes]
        if not cuts and not quiet:
            return
        after = {i: o for c in cuts for i, o in zip(
            c.indexes, evaluate([self.policies[i] for i in c.indexes], Context(c.changed, now), 1), strict=True)}
        indexes = [i for c in cuts for i in c.indexes] + quiet
        base = dict(zip(indexes, cache.regional(
            [self.policies[i] for i in regional], [self.policies[i] for i in indexes], set().union(
                *(c.held for c in cuts)), lambda missing: evaluate(missing, Context(whole, now), jobs)), strict=True))
        for i in quiet:
            o = base[i]
            coverage = o.coverage and {**o.coverage, "region": True, "unit": f"{o.coverage['unit']}, in the whole "
                                       "current state: the change alters none of their findings"}
            self.before[i] = PolicyOutcome(o.policy, o.status, [], o.error, coverage)
            self.after[i] = PolicyOutcome(o.policy, o.status, [], o.error, coverage)

        def known(i: int, f: Finding) -> bool:
            kind = self.policies[i].kind
            return f["subject"].partition(":")[0] in (*SUBJECTS.get(kind, ()), *UNCHANGED.get(kind, ()),
                                                      *NARROWED.get(kind, ()))

        for c in cuts:
            odd = [i for i in c.indexes if not all(known(i, f) for o in (after[i], base[i]) for f in o.findings)]
            self.run(odd, c.current, c.changed, now, 1)
            for i in c.indexes:
                if i not in odd:
                    self.before[i], self.after[i] = (
                        PolicyOutcome(o.policy, o.status, [f for f in o.findings if c.keeps(f)], o.error, o.coverage)
                        for o in (base[i], after[i]))

    def same(self, indexes: list[int], current: Snapshot, now: pd.Timestamp, jobs: int | None,
             cache: GateCache) -> None:
        """Policies of the whole states whose every table is one the changes leave as it is: the
        proposed state gives them the current state's outcome (from ``cache`` when on), so it
        is not built for them."""
        if indexes:
            chosen = [self.policies[i] for i in indexes]
            outcomes = cache.outcomes(chosen, lambda missing: evaluate(missing, Context(current, now), jobs))
            for i, o in zip(indexes, outcomes, strict=True):
                self.before[i] = o
                self.after[i] = PolicyOutcome(o.policy, o.status, [{**f} for f in o.findings], o.error, o.coverage)

    def in_region(self, indexes: list[int]) -> None:
        """Say that these outcomes' coverage counts the change's region, not the snapshot (its
        "matched nothing" would be no warning about the snapshot: ``coverage_warnings``)."""
        for outcomes in (self.before, self.after):
            for i in indexes:
                o = outcomes[i]
                if o.coverage is not None and not o.coverage.get("region"):  # unaffected ones have theirs
                    o.coverage = {**o.coverage, "unit": f"{o.coverage['unit']}, in the change's region",
                                  "region": True}

    def unaffected(self, indexes: list[int], current: Snapshot, changed: Snapshot, now: pd.Timestamp) -> None:
        """Policies reading no table the changes modify: the same findings in both states, so
        nothing is introduced or resolved; only whether their tables are usable is checked."""
        for i in indexes:
            policy = self.policies[i]
            status, error = ("pass" if policy.enabled else "skipped"), None
            try:
                if policy.enabled:
                    for state in (current, changed):
                        Context(state, now).require(KINDS.get(policy.kind)(policy.params).reads())
            except TableUnavailable as exc:
                status, error = "error", str(exc)
            coverage = {"examined": 0, "unit": "rows: the changes modify no table it reads, in the change's region",
                        "matched": {}, "decisive": None, "region": True}
            self.before[i] = self.after[i] = PolicyOutcome(policy, status, [], error, coverage)


def _narrowable(policy: Policy, snapshot: Snapshot) -> bool:
    """Is the policy's kind one the gate narrows (``NARROWED``), with every table it reads usable?
    (Otherwise it runs on the whole states, where a missing table is the policy's error.)"""
    reads = may_read(policy) | {"accounts", "identities"}
    return policy.kind in NARROWED and all(name in snapshot.tables for name in reads if snapshot.has(name)) \
        and all(snapshot.has(name) for name in KINDS.get(policy.kind)(policy.params).reads())


def _evaluate_both(policies: list[Policy], snapshot: Snapshot, changes: list[Change], now: pd.Timestamp,
                   jobs: int | None, incremental: bool,
                   cache: GateCache) -> tuple[list[PolicyOutcome], list[PolicyOutcome], Snapshot]:
    """Each policy's outcome in the current and the proposed state, in ``policies`` order, and
    the proposed state (the region's unless a policy runs on the whole states). The local
    kinds run on the region (in this process: it is small), the others on the whole states
    — but one of those that reads only tables the changes leave alone (its reads known:
    ``ALSO_READS``) has the same outcome in both, so the whole proposed state is built only
    for the others."""
    local = [i for i, p in enumerate(policies) if incremental and p.kind in LOCAL_KINDS]
    narrowed = [i for i, p in enumerate(policies) if incremental and _narrowable(p, snapshot)]
    whole = [i for i in range(len(policies)) if i not in {*local, *narrowed}]
    states = _States(policies, {}, {})
    proposed = None
    if local or narrowed:
        rows = RowIndex(snapshot.tables, LOOKED_UP, cache)  # the whole snapshot's rows by value
        region = Region.of(snapshot, changes, rows)
        roles = cache.grant_roles(lambda: grant_roles(snapshot.tables.get("grants")))
        current = region.restrict(snapshot, rows, roles)
        typed: Typed = {}  # the change file's rows, typed once for both cuts
        changed = propose(current, changes, now, typed=typed)  # also checks every change
        # the tables the changes modify: the same in the region as in the whole state, which
        # holds no other row of the accounts and people a change names
        modified = {name for name, t in changed.tables.items() if t is not current.tables.get(name)}
        hit = [i for i in local if may_read(policies[i]) & modified]
        # with a regional base (kept or writable beside the snapshot), each cut is evaluated in
        # its proposed state only: the current side comes from the base
        based = cache.enabled and cache.keeps_regional([policies[i] for i in local + narrowed])
        held = region.subjects(current, snapshot, rows) if based else set()
        states.unaffected([i for i in local if i not in set(hit)], current, changed, now)
        # policies whose findings the changes cannot alter: not evaluated (``beside``)
        quiet = [i for i, free in zip(hit, beside([policies[i] for i in hit], changes, snapshot), strict=True)
                 if based and free and cache.judged(policies[i])]
        cuts = [_Cut([i for i in hit if i not in quiet], current, changed, held,
                     lambda f: f["subject"] in held and f["subject"].partition(":")[0] in SUBJECTS[f["kind"]])]
        for i in narrowed:
            kind = KINDS.get(policies[i].kind)(policies[i].params)
            base = cache.base(policies[i], lambda kind=kind: kind.gate_base(Context(snapshot, now)))
            cut = kind.gate_cut(base, Context(current, now), Context(changed, now), set(region.people))
            if based and cut.quiet:  # nothing to evaluate: its status from the base
                quiet.append(i)
                continue
            before = region.with_people(snapshot, set(cut.people), rows, roles)
            named = _texts(before.tables["handovers"]["handover_id"])
            cuts.append(_Cut([i], before, propose(before, changes, now, typed=typed),
                             {f"person:{p}" for p in cut.people} | {f"handover:{h}" for h in named}, cut.decides))
        if based:
            states.from_base(cuts, quiet, local + narrowed, snapshot, now, jobs, cache)
        else:
            for c in cuts:
                states.run(c.indexes, c.current, c.changed, now, 1)
        states.in_region(local + narrowed)
        proposed = changed
        untouched = [i for i in whole if policies[i].kind in ALSO_READS and not may_read(policies[i]) & modified]
        states.same(untouched, snapshot, now, jobs, cache)
        whole = [i for i in whole if i not in set(untouched)]
    if whole or proposed is None:
        proposed = propose(snapshot, changes, now)  # also checks every change
        states.run(whole, snapshot, proposed, now, jobs, cache if incremental else None)
    order = range(len(policies))
    return [states.before[i] for i in order], [states.after[i] for i in order], proposed


def _unchanged(policies: list[Policy], outcomes: list[PolicyOutcome], new: dict[str, Finding],
               old: dict[str, Finding], snapshot: Snapshot, now: pd.Timestamp,
               waivers: list[Waiver], incremental: bool, cache: GateCache) -> list[Finding]:
    """The proposed state's findings the change leaves alone, of the policies a waiver names.

    A region's evaluation holds only the region's findings: the rest of such a policy's
    findings come from one evaluation of it on the whole current state."""
    named = {w.policy for w in waivers}
    judged = {o.policy.id for o in outcomes if o.status in ("pass", "fail")}
    resolved = {fid for fid in old if fid not in new}
    regional = [p for p in policies if incremental and (p.kind in LOCAL_KINDS or p.kind in NARROWED) and p.id in named
                and p.id in judged]
    still = [f for fid, f in new.items() if fid in old and f["policy_id"] not in {p.id for p in regional}]
    if regional:
        for o in cache.outcomes(regional, lambda missing: evaluate(missing, Context(snapshot, now), 1)):
            still += [f for f in o.findings if f["id"] not in resolved]
    return still


def run_gate(
    snapshot: Snapshot,
    packs: list[PolicyPack],
    changes: list[Change],
    now: pd.Timestamp,
    *,
    fail_on: str = "high",
    waivers: list[Waiver] | None = None,
    jobs: int | None = 1,
    provenance: dict[str, Any] | None = None,
    incremental: bool = True,
    cache: bool = False,
) -> dict[str, Any]:
    """The findings document of a gate: introduced findings (located), resolved ones.

    ``incremental=False`` evaluates every policy on the whole current and proposed states
    (``gate --full``); the default evaluates the local kinds on the change's region only.
    ``cache``: read and write what an incremental gate derives from the current state alone
    beside the snapshot (scanner/gatecache.py)."""
    started = clock()
    if not snapshot.has("changes"):
        snapshot = snapshot.with_tables(changes=empty_table("changes", snapshot.timezone))
    policies = [p for p in all_policies(packs) if relevant(p)]
    base = GateCache(snapshot, policies, now.isoformat(), enabled=cache and incremental)
    before, after, proposed = _evaluate_both(policies, snapshot, changes, now, jobs, incremental, base)
    outcomes = [_merge(b, a) for b, a in zip(before, after, strict=True)]
    judged = {o.policy.id for o in outcomes if o.status in ("pass", "fail")}
    old = {f["id"]: f for o in before if o.policy.id in judged for f in o.findings}
    new = {f["id"]: f for o in after if o.policy.id in judged for f in o.findings}
    person_of = _person_of(proposed, {c.account for c in changes if c.account})
    introduced = []
    for fid, f in new.items():
        if fid in old:
            continue
        cause = _cause(f, changes, person_of)
        if cause is not None:
            f["location"] = {"file": cause.file, "line": cause.line, "column": cause.column}
            f["evidence"] = {**f["evidence"], "change": cause.number, "change_id": cause.change_id}
        introduced.append({**f, "baseline": "new"})
    introduced.sort(key=lambda f: ((f["location"] or {}).get("line") or 0, f["policy_id"], f["subject"]))
    resolved = [{**f, "baseline": "resolved"} for fid, f in old.items() if fid not in new]
    # waivers are judged on the whole proposed state: one that accepts a finding the
    # change leaves alone is active there, not stale
    still = _unchanged(policies, outcomes, new, old, snapshot, now, waivers or [], incremental, base)
    base.save()
    today = Context(proposed, now).today
    waiver_records = apply_waivers(introduced + still, waivers or [], today.date())
    doc = assemble(
        outcomes=outcomes, findings=introduced, packs=packs, snapshot=snapshot,
        as_of=iso(now.tz_convert(snapshot.timezone)), started_at=started, finished_at=clock(), fail_on=fail_on,
        command="gate", waivers=waiver_records, resolved=resolved, provenance=provenance,
    )
    files = list(dict.fromkeys(c.file for c in changes))
    doc["scan"]["change_file"] = files[0] if len(files) == 1 else None
    doc["scan"]["change_files"] = files
    doc["scan"]["changes"] = len(changes)
    return doc
