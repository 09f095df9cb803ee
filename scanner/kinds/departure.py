"""revoke_on_departure — departed staff keep no access (SPEC §5, §5.1).

Finds, for people whose identity status is ``departed``:

* an enabled account past ``departure_date + grace_days`` (inclusive: on that day it
  is not yet late), or with no departure date at all;
* a revocation done late: ``disabled_at``'s local date after that deadline, for
  departures within ``lookback_days`` (an expiry already reached is read like
  ``disabled_at``; the earlier of the two counts);
* activity after departure: ``last_login_at`` or a successful ``logins`` row on a later date
  than the departure date, and archive access in ``access_log`` by one of their accounts
  or by the person (every departed person, with or without accounts: access by
  person_id belongs to no system); ``logins`` and ``access_log`` are used when present;
* grants left on a departed person's disabled account (hygiene: re-enabling it
  would restore every role).

How: the departed people's accounts are a few thousand of 100k+. Each account's row among
the people (``Context.person_rows``, shared) selects them and gives each its departure date
(no join); their columns are taken once as arrays (``_Columns``), not as a frame; the
checks are NumPy masks over those rows; grants and logins are theirs by hash lookups, not
merges. Texts and evidence are then built in plain Python for the rows with findings only
— per finding, a pandas call would cost more than the work it does (as in
segregation_of_duties) — the checks' own while other threads look up grants and archive
access.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

from ..context import Context, glob_mask, positions
from ..lazy import numpy as np
from ..lazy import pandas as pd
from ..lazy import pyarrow as pa
from ..timeutil import iso_text
from .base import KINDS, SEVERITY, SYSTEMS_PARAM, PolicyKind, concat_findings, findings_frame, glob_counts


@KINDS.register("revoke_on_departure")
class RevokeOnDeparture(PolicyKind):
    subject = "account (archive access by a person: person)"
    tables = ("identities", "accounts")
    joins = frozenset({"_accounts", "identities", "people", "person_rows"})
    codes = {
        "enabled_after_departure": "account still enabled after departure_date + grace_days",
        "late_revocation": "account disabled, but after departure_date + grace_days",
        "activity_after_departure": "login on a later date than the departure date",
        "archive_access_after_departure": "archive viewed/downloaded/… after the departure date",
        "grants_on_disabled_account": "a departed person's disabled account still holds roles",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "grace_days": {"type": "integer", "minimum": 0, "default": 0,
                           "description": "Days after departure_date an account may stay enabled."},
            "lookback_days": {"type": "integer", "minimum": 0, "default": 365,
                              "description": "Late revocations are reported for departures this recent."},
            "leftover_grants_severity": {**SEVERITY, "default": "low",
                                         "description": "Severity of grants_on_disabled_account."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        people = ctx.people
        gone = np.flatnonzero((people["status"] == "departed").to_numpy(dtype=bool))
        acc = ctx.table("accounts")
        in_scope = glob_mask(acc["system"], self.params["systems"])
        self.cover(int(in_scope.sum()), "accounts of the listed systems",
                   systems=glob_counts(acc["system"], self.params["systems"]))
        if not len(gone):
            return concat_findings([])
        # Arrow's hash lookups release the GIL: the grants of the disabled accounts (whoever
        # holds them) are looked up in another thread from the start, the access log's events
        # as soon as the departed people's accounts are known, while this thread selects those,
        # judges them and words their findings
        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(_disabled_grants, ctx, acc)
            # each account's person among the departed (-1: not departed) selects their
            # accounts and gives each its departure date
            person = ctx.among_people(gone)
            at = np.flatnonzero(in_scope.to_numpy(dtype=bool) & (person >= 0))
            d = _Departed(ctx, acc, at, _Columns(people, gone), person[at], self.params["grace_days"])
            access = pool.submit(_archive_access, ctx, d)
            # the checks, as rows of ``d``
            still = np.flatnonzero(d.enabled & (np.isnat(d.departed_on) | (d.deadline < d.today)))
            recent = d.today - d.departed_on <= np.timedelta64(self.params["lookback_days"], "D")
            late = np.flatnonzero(~d.enabled & (d.revoked_on > d.deadline) & recent)
            found = _judged(d, still, late, _activity(ctx, d), self.params["grace_days"])
            leftover, access = _leftover_grants(ctx, d, held.result()), access.result()
        return _emit([*found, *_looked_up(d, leftover, access, self.params["leftover_grants_severity"])])


def _judged(d: _Departed, still: np.ndarray, late: np.ndarray, activity: dict[int, tuple[str, str, int]],
            grace: int) -> list[tuple]:
    """The findings (``_emit``) of the rows still enabled, revoked late and used after leaving."""
    d.describe([still, late, list(activity)])
    last_login_at, disabled_at, expires_at = _iso_columns(
        d.acc["last_login_at"].take(still), d.acc["disabled_at"].take(late), d.acc["expires_at"].take(late))
    return [
        ("enabled_after_departure", [
            d.found(i, f"{d.who[i]} is still enabled in {d.system[i]}; the person left on {d.left_on(i)}"
                       f" (grace {grace} days)",
                    enabled=True, grace_days=grace, days_overdue=overdue, last_login_at=last)
            for i, overdue, last in zip(still.tolist(), _days(d.today - d.deadline[still]), last_login_at,
                                        strict=True)]),
        ("late_revocation", [
            d.found(i, f"{d.who[i]} was disabled on {on}, {days} day(s) late; the person left on {d.left_on(i)}",
                    disabled_at=disabled, expires_at=expires, days_late=days)
            for i, on, days, disabled, expires in zip(
                late.tolist(), np.datetime_as_string(d.revoked_on[late]).tolist(),
                _days(d.revoked_on[late] - d.deadline[late]), disabled_at, expires_at, strict=True)]),
        ("activity_after_departure", [
            d.found(i, f"{d.who[i]} was used after the person left on {d.left_on(i, '')} (last activity {last[:10]})",
                    first_activity=first, last_activity=last, login_events=logins)
            for i, (first, last, logins) in activity.items()]),
    ]


def _looked_up(d: _Departed, leftover: dict[int, list[str]], access: list[tuple[int | tuple, dict[str, Any]]],
               leftover_severity: str) -> list[tuple]:
    """The findings (``_emit``) of what the other threads found: archive access and leftover grants."""
    d.describe([[a for a, _ in access if isinstance(a, int)], list(leftover)])
    return [
        ("archive_access_after_departure", [
            _accessed(d.actor(a) if isinstance(a, int) else a, seen) for a, seen in access]),
        ("grants_on_disabled_account", [
            d.found(i, f"{d.who[i]} is disabled but still holds {len(roles)} role(s): {', '.join(roles)}",
                    role_count=len(roles), roles=", ".join(roles))
            for i, roles in leftover.items()], leftover_severity),
    ]


class _Columns:
    """Rows ``at`` of a frame's text and time columns, each taken once when first asked for:
    text as Arrow arrays, times as pandas' tz-aware arrays.

    The departed people's accounts are ~18k of 170k+ rows: a frame of them would cost a
    pandas call per step (selecting, assigning, each ``.dt``), each more than the work it
    does on so few rows. (Threads may ask for one column at once: both take the same rows.)"""

    def __init__(self, frame: pd.DataFrame, at: np.ndarray) -> None:
        self.frame, self.at = frame, at
        self._taken: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.at)

    def __getitem__(self, column: str) -> Any:
        if column not in self._taken:
            values = self.frame[column]
            if isinstance(values.dtype, pd.DatetimeTZDtype):
                taken = values.array.take(self.at)
            else:  # (a table a gate changed may hold a column in chunks)
                taken = pa.array(values).take(self.at)
                taken = taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken
            self._taken[column] = taken
        return self._taken[column]


class _Departed:
    """The departed people's accounts in scope (rows ``at`` of the accounts) as arrays for the
    checks, and texts for the rows with findings (``describe``): built once, for those rows only.
    ``people``: the departed people (person_id, name, departure_date); ``person``: each row's."""

    def __init__(self, ctx: Context, acc: pd.DataFrame, at: np.ndarray, people: _Columns, person: np.ndarray,
                 grace_days: int) -> None:
        self.acc, self.people = _Columns(acc, at), people
        self.departure_date = people["departure_date"].take(person)
        self.today = np.datetime64(ctx.today.date(), "D")
        self.departed_on = _local_days(self.departure_date)
        self.deadline = self.departed_on + np.timedelta64(grace_days, "D")
        self.enabled = acc["enabled"].to_numpy(dtype=bool)[at]
        # an expiry already reached is a revocation too (§5.1): the earlier of the two counts
        disabled_at, expires_at = _micros(self.acc["disabled_at"]), _micros(self.acc["expires_at"])
        disabled_first = (disabled_at <= expires_at) & (disabled_at != _NAT) & (expires_at != _NAT)
        by_expiry = acc["expired"].to_numpy(dtype=bool)[at] & ~disabled_first
        self.revoked_on = np.where(by_expiry, _local_days(self.acc["expires_at"]), _local_days(self.acc["disabled_at"]))
        # texts of the rows with findings (``describe``)
        self._described = np.zeros(len(at), dtype=bool)
        self.system, self.person, self.subject, self.who, self.left = (np.full(len(at), None, dtype=object)
                                                                       for _ in range(5))

    def __len__(self) -> int:
        return len(self.acc)

    def describe(self, rows: list) -> None:
        """Texts of ``rows`` (lists of positions, repeats allowed) not described yet: system,
        person, subject, who and the departure date's ISO text, in arrays indexed by position
        (None elsewhere). Described in two goes: the rows of the checks judged here while the
        lookups run in other threads, then the rows those lookups found."""
        at = np.unique(np.concatenate([np.asarray(r, dtype="int64") for r in rows]))
        at = at[~self._described[at]]
        self._described[at] = True
        system, account, person, name = (self.acc[c].take(at).to_pylist()
                                          for c in ("system", "account_id", "person_id", "display_name"))
        self.system[at], self.person[at] = system, person
        self.subject[at] = [f"account:{s}:{a}" for s, a in zip(system, account, strict=True)]
        self.who[at] = [f"{n if isinstance(n, str) else a} ({p})" for n, a, p in zip(name, account, person,
                                                                                    strict=True)]
        self.left[at] = _iso_columns(self.departure_date.take(at))[0]

    def left_on(self, i: int, unrecorded: str = "an unrecorded date") -> str:
        return (self.left[i] or "")[:10] or unrecorded

    def actor(self, i: int) -> tuple[str, str | None, str, str | None]:
        """Row ``i`` as ``_archive_access`` names an actor: subject, person_id, who, departure date."""
        return self.subject[i], self.person[i], self.who[i], self.left[i]

    def found(self, i: int, message: str, **evidence: Any) -> tuple[str, str | None, str, dict[str, Any]]:
        """The finding about row ``i`` (``_emit``); every code's evidence starts with the departure date."""
        return self.subject[i], self.person[i], message, {"departure_date": self.left[i], **evidence}


def _activity(ctx: Context, d: _Departed) -> dict[int, tuple[str, str, int]]:
    """Per row used on a later date than its departure date, in row order: first and last
    use (ISO) and how many successful ``logins`` rows; ``last_login_at`` is one use."""
    last_login = d.acc["last_login_at"]
    after = np.flatnonzero(_local_days(last_login) > d.departed_on)
    rows, times, counted = [after], [_micros(last_login)[after]], [np.zeros(len(after), dtype=bool)]
    logins = ctx.optional("logins")
    if logins is not None:
        # like dormant_account: a failed attempt is not use (an empty success is false, §5.1)
        hit, row = _naming(logins, d.acc["system"], d.acc["account_id"])
        at = logins["at"].array.take(hit)
        ok = logins["success"].to_numpy(dtype=bool, na_value=False)[hit] & (_local_days(at) > d.departed_on[row])
        rows.append(row[ok])
        times.append(_micros(at)[ok])
        counted.append(np.ones(int(ok.sum()), dtype=bool))
    per: dict[int, tuple[int, int, int]] = {}
    for row, t, login in zip(*(np.concatenate(x).tolist() for x in (rows, times, counted)), strict=True):
        first, last, n = per.get(row, (t, t, 0))
        per[row] = (min(first, t), max(last, t), n + login)
    order = sorted(per)
    texts = _iso(ctx, [per[r][0] for r in order] + [per[r][1] for r in order])
    return {r: (texts[k], texts[len(order) + k], per[r][2]) for k, r in enumerate(order)}


def _archive_access(ctx: Context, d: _Departed) -> list[tuple[int | tuple, dict[str, Any]]]:
    """Access after the departure date per actor, in actor order: a row of ``d`` (its
    ``system:account_id``), else a departed person, named as ``_Departed.actor`` names a row
    (by person_id: every departed person of ``d.people``, with or without accounts, e.g.
    borrowing paper archives after leaving)."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    log = ctx.optional("access_log")
    if log is None or log.empty:
        return []
    acc, people = d.acc, d.people
    system, account, person = (c.cast(pa.large_string()) for c in
                               (acc["system"], acc["account_id"], people["person_id"]))
    actor = pa.concat_arrays([pc.binary_join_element_wise(system, account, pa.scalar(":", pa.large_string())), person])
    pos = positions(log["actor"], actor)  # an actor's first row speaks for it
    hit = pos >= 0  # few events are theirs
    if not hit.any():
        return []
    hits, pos = log.loc[hit, ["archive_id", "action", "at"]], pos[hit]
    left = np.concatenate([d.departed_on, _local_days(people["departure_date"])])
    after = _local_days(hits["at"].array) > left[pos]
    seen: dict[int, list] = {}
    for p, t, archive, action in zip(pos[after].tolist(), _micros(hits["at"].array)[after].tolist(),
                                     hits["archive_id"].astype("str")[after].tolist(),
                                     hits["action"].astype("str")[after].tolist(), strict=True):
        events, last, archives, actions = seen.setdefault(p, [0, t, set(), set()])
        seen[p][:2] = events + 1, max(last, t)
        archives.update([archive] if isinstance(archive, str) else [])
        actions.update([action] if isinstance(action, str) else [])
    order = sorted(seen)
    last_access = _iso(ctx, [seen[p][1] for p in order])
    # the departed people with findings, as their findings name them
    gone = np.asarray([p - len(d) for p in order if p >= len(d)], dtype="int64")
    person = {len(d) + at: (f"person:{pid}", pid, f"{name if isinstance(name, str) else pid} ({pid})", left)
              for at, pid, name, left in zip(gone.tolist(), people["person_id"].take(gone).to_pylist(),
                                             people["name"].take(gone).to_pylist(),
                                             *_iso_columns(people["departure_date"].take(gone)), strict=True)}
    out: list[tuple[int | tuple, dict[str, Any]]] = []
    for p, last in zip(order, last_access, strict=True):
        events, _, archives, actions = seen[p]
        out.append((person.get(p, p), {"events": events, "last_access": last,
                                       "archives": ", ".join(sorted(archives)[:10]) or None,
                                       "actions": ", ".join(sorted(actions)) or None}))
    return out


def _accessed(actor: tuple[str, str | None, str, str | None], seen: dict[str, Any]) -> tuple:
    """The archive access finding (``_emit``) of ``actor``: subject, person_id, who, departure date."""
    subject, person, who, left = actor
    return subject, person, (f"{who} accessed archives ({seen['actions']}) {seen['events']} time(s)"
                             f" after leaving on {(left or '')[:10]}"), {"departure_date": left, **seen}


def _naming(table: pd.DataFrame, system: pa.Array, account: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``table`` naming one of the accounts ``(system[i], account[i])``, and that
    ``i`` of each: one hash lookup of the table's account ids among theirs (a few thousand of
    the table's rows are theirs), then of the (system, account_id) pairs of those few."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    hit = np.flatnonzero(positions(table["account_id"], account) >= 0)
    if not len(hit):
        return hit, hit

    def pair(system: pa.Array, account: pa.Array) -> pa.Array:
        return pc.binary_join_element_wise(system.cast(pa.large_string()), account.cast(pa.large_string()),
                                           pa.scalar("\x1f", pa.large_string()))

    at = positions(pair(pa.array(table["system"]).take(hit), pa.array(table["account_id"]).take(hit)),
                   pair(system, account))
    return hit[at >= 0], at[at >= 0]


def _disabled_grants(ctx: Context, acc: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The grants of the disabled accounts: their rows in ``grants`` and the account's row in
    ``acc`` of each. (Whoever holds them: it needs no departure, so it can start first.)"""
    grants = ctx.optional("grants")
    disabled = np.flatnonzero(~acc["enabled"].to_numpy(dtype=bool))
    if grants is None or not len(disabled):
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    hit, of = _naming(grants, *(pa.array(acc[c]).take(disabled) for c in ("system", "account_id")))
    return hit, disabled[of]


def _leftover_grants(ctx: Context, d: _Departed, held: tuple[np.ndarray, np.ndarray]) -> dict[int, list[str]]:
    """Per disabled row of ``d`` holding grants (``held``: ``_disabled_grants``), in row order:
    its distinct roles, sorted."""
    hit, account = held
    if not len(hit) or not len(d):
        return {}
    # the rows of ``d`` of those accounts (``d.acc.at``: rows of accounts, in order)
    row = np.minimum(np.searchsorted(d.acc.at, account), len(d) - 1)
    theirs = d.acc.at[row] == account
    roles: dict[int, set[str]] = {}
    for r, role in zip(row[theirs].tolist(), pa.array(ctx.table("grants")["role"]).take(hit[theirs]).to_pylist(),
                       strict=True):
        if isinstance(role, str):
            roles.setdefault(r, set()).add(role)
    return {r: sorted(roles[r]) for r in sorted(roles)}


def _emit(codes: list[tuple]) -> pd.DataFrame:
    """Findings from plain rows, per code ``(code, findings[, severity])`` with each finding
    ``(subject, person_id, message, evidence)``, in one frame (evidence values already as
    JSON: ISO text, int, bool, None)."""
    code = [c for c, found, *_ in codes for _ in found]
    severity = [(severity or [None])[0] for _, found, *severity in codes for _ in found]
    subject, person_id, message, evidence = ([*column] for column in zip(*(f for _, found, *_ in codes for f in found),
                                                                          strict=True)) if code else ([], [], [], [])
    none = [None] * len(code)
    return findings_frame(code=code, subject=subject, person_id=person_id, message=message, evidence=evidence,
                          key=none, severity=severity, messages=none)


#: an empty time in ``_micros``
_NAT = -(2**63)  # NaT as int64 (np.iinfo("int64").min, without importing NumPy: start-up)


def _local_days(times: Any) -> np.ndarray:
    """Local calendar dates (``timeutil.local_day``) of a tz-aware time array as a day array
    (NaT where empty)."""
    return times.tz_localize(None).to_numpy().astype("datetime64[D]")


def _micros(times: Any) -> np.ndarray:
    """Instants of a tz-aware time array as microseconds since the epoch (comparable across
    zones; ``_NAT`` where empty)."""
    return times.as_unit("us").asi8


def _iso(ctx: Context, micros: list[int]) -> list[str]:
    """``_micros`` back to ISO text in the snapshot's zone, as evidence shows times."""
    return iso_text(pd.Series(pd.to_datetime(micros, unit="us", utc=True)).dt.tz_convert(ctx.tz)).tolist()



def _iso_columns(*columns: Any) -> list[list[str | None]]:
    """ISO text of each tz-aware time array, formatted as one column (one call, not one each)."""
    text = iso_text(pd.concat([pd.Series(c) for c in columns], ignore_index=True)).tolist()
    ends = np.cumsum([0, *map(len, columns)]).tolist()
    return [text[start:end] for start, end in pairwise(ends)]


def _days(spans: np.ndarray) -> list[int | None]:
    """Whole days of each span (None where a date was empty)."""
    return np.where(np.isnat(spans), None, spans.astype("int64")).tolist()
