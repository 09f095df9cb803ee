"""handover — finance work is handed over, supervised and signed before a person leaves or moves
(会计基础工作规范 第二十五–二十九条), with the data backed up first and the duties moving
without a gap or a long overlap.

Events: a person with status ``departed`` (on ``departure_date``) or with a
``transfer_date`` (status ``transferred``, or an active mover), dated at most
``lookback_days`` before as-of. What they held at the event: the roles of their accounts
in ``systems`` granted before the event date (or undated) that are still granted, plus
the roles that ``revoke`` changes took from those accounts on or after the event date.
A *duty* is a named group of permission globs (``duties``); a person held a duty when a
permission of one of those roles matches one of its globs (``role_permissions``,
deny rows ignored). A person who held no duty is not judged.

Per event, the deadline is the event date + ``grace_days`` (inclusive); the person's
handover is their latest row of ``handovers`` with a ``handed_over_at``:

* ``no_handover``: the deadline has passed and there is none;
* ``late_handover``: its local date is after the deadline;
* ``duty_gap``: on the day after the deadline (once it has come) no other active person
  holds the duty through an enabled account (grant dated on or before that day, or
  undated) — the work has nobody;
* ``duty_overlap``: the receiver (``to_person_id``) holds the duty too, and the leaver
  kept it more than ``overlap_days`` days past the later of the handover date and the
  receiver's grant (the leaver's end: the revoke change, else the account's
  ``disabled_at``, else today while the grant is live).

Per handover row dated at most ``lookback_days`` before as-of (subject ``handover:ID``):

* ``signature_missing``: ``signed_by_from`` / ``signed_by_to`` / ``signed_by_supervisor``
  not all true (evidence: which are missing);
* ``supervisor_missing``: no ``supervisor_id``, or one unknown to identities;
  ``supervisor_is_party``: the supervisor is the person handing over or the receiver;
  ``supervisor_position``: ``supervisor_positions`` is set and the supervisor's current
  position is not in it;
* ``receiver_unknown``: no ``to_person_id``, or one unknown to identities;
  ``receiver_not_active``: the receiver's status is not ``active``;
* ``no_backup_before_handover``: for each glob of ``backup_datasets``, no backup of a
  matching dataset with status ``success`` (and ``verify_status`` success when
  ``require_verified_backup``) finished on a local date at most ``backup_within_days``
  days before the handover date (the handover day itself included).

A ``from_person_id`` unknown to identities is bad data, not a finding: the policy ends
in status ``error`` naming the table, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..context import PERSON, Context, denies, factorize, glob_mask, glob_match, isin, positions
from ..contract import Finding
from ..errors import EvaluationError
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, SYSTEMS_PARAM, PolicyKind, Words, blank, concat_findings, emit_where, text

_GLOBS = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
_SIGNATURES = {"signed_by_from": "the person handing over", "signed_by_to": "the receiver",
               "signed_by_supervisor": "the supervisor"}


class RegisterError(EvaluationError):
    """A handover register row that cannot be attributed (no verdict for the policy)."""


@KINDS.register("handover")
class Handover(PolicyKind):
    subject = "person (person:ID, the duty as key) for events; handover (handover:ID) for register rows"
    tables = ("identities", "accounts", "grants", "role_permissions", "handovers")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "identities", "people", "person_rows",
                       "handover.duty_grants", "handover.holders", "handover.role_duties"})
    codes = {
        "no_handover": "a departed or transferred person who held duties has no handover after the deadline",
        "late_handover": "the handover is dated after departure/transfer date + grace_days",
        "duty_gap": "on the day after the deadline no other active person holds a duty the leaver held",
        "duty_overlap": "leaver and receiver both held a duty for more than overlap_days",
        "signature_missing": "the handover list lacks a signature of a party or the supervisor",
        "supervisor_missing": "no supervisor (监交人), or one unknown to identities",
        "supervisor_is_party": "the supervisor is the person handing over or the receiver",
        "supervisor_position": "the supervisor's current position is not in supervisor_positions",
        "receiver_unknown": "no receiver, or one unknown to identities",
        "receiver_not_active": "the receiver's status is not active",
        "no_backup_before_handover": "no successful (verified) backup of a named dataset shortly before the handover",
    }
    params_schema = {
        "type": "object",
        "required": ["duties"],
        "properties": {
            "duties": {"type": "object", "minProperties": 1, "additionalProperties": _GLOBS,
                       "description": "Duty name → permission globs: what must be handed over and must never "
                                      "be left without a holder."},
            "systems": SYSTEMS_PARAM,
            "grace_days": {"type": "integer", "minimum": 0, "default": 0,
                           "description": "Days after the departure/transfer date by which the handover is due."},
            "lookback_days": {"type": "integer", "minimum": 0, "default": 365,
                              "description": "Departures, transfers and handovers this recent are judged."},
            "supervisor_positions": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                                     "description": "Positions allowed to supervise a handover (监交); "
                                                    "empty = not checked."},
            "overlap_days": {"type": "integer", "minimum": 0, "default": 1,
                             "description": "Days leaver and receiver may both hold a duty after the handover."},
            "backup_datasets": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                                "description": "Datasets (globs) that need a successful backup before each "
                                               "handover; empty = not checked (then no backups table needed)."},
            "backup_within_days": {"type": "integer", "minimum": 0, "default": 1,
                                   "description": "The backup finished at most this many days before the "
                                                  "handover date (local dates, inclusive)."},
            "require_verified_backup": {"type": "boolean", "default": True,
                                        "description": "Only a backup whose verify_status is success counts."},
        },
    }

    def reads(self) -> tuple[str, ...]:
        """``backups`` only when backup_datasets are named; ``changes`` (revokes) is used when present."""
        return self.tables + (("backups",) if self.params["backup_datasets"] else ())

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        handovers = ctx.table("handovers")
        self._check_register(ctx, handovers)
        latest = (handovers[handovers["handed_over_at"].notna()].sort_values("handed_over_at")
                  .drop_duplicates("from_person_id", keep="last").set_index("from_person_id"))
        events = self._events(ctx)
        held = self._held(ctx, events)
        recent = self._recent(ctx, handovers)
        permissions = set(ctx.table("role_permissions")["permission"].dropna())  # a few dozen
        self.cover(len(events) + int(recent.sum()),
                   f"departures, transfers and handovers of the last {self.params['lookback_days']} days",
                   decisive="duties",
                   duties={name: sum(glob_match(p, globs) for p in permissions)
                           for name, globs in self.params["duties"].items()})
        events = events[isin(events["person_id"], held["person_id"]).to_numpy()]
        parts = [self._register_rows(ctx, handovers[recent.to_numpy()])]
        if not events.empty:
            parts += self._event_findings(ctx, events, held, latest)
        return concat_findings(parts)

    # ── the register ─────────────────────────────────────────────────────────────
    @staticmethod
    def _check_register(ctx: Context, handovers: pd.DataFrame) -> None:
        unknown = ~ctx.is_person(handovers["from_person_id"])
        if unknown.any():
            where = [f"row {i + 1}: {v!r}" for i, v in
                     zip(handovers.index[unknown][:5], handovers.loc[unknown, "from_person_id"][:5], strict=True)]
            place = f" ({ctx.snapshot.path})" if ctx.snapshot.path else ""
            raise RegisterError(f"table 'handovers'{place}, column 'from_person_id': unknown person "
                                f"(not in identities) at {'; '.join(where)}")

    def _recent(self, ctx: Context, handovers: pd.DataFrame) -> pd.Series:
        """The register rows judged: undated, or dated within lookback_days."""
        return handovers["handed_over_at"].isna() | (ctx.days_since(handovers["handed_over_at"])
                                                     <= self.params["lookback_days"])

    def _register_rows(self, ctx: Context, recent: pd.DataFrame) -> pd.DataFrame:
        """The register rows' findings (``recent``: the rows judged, ``_recent``)."""
        h = recent.copy()
        if h.empty:
            return concat_findings([])
        h["subject"] = "handover:" + h["handover_id"].astype("str")
        h["supervisor_position"] = ctx.of_person(h["supervisor_id"], "position")
        h["receiver_status"] = ctx.of_person(h["to_person_id"], "status")
        missing = np.column_stack([~h[c].to_numpy(dtype=bool) for c in _SIGNATURES])
        h["missing_signatures"] = [[who for who, m in zip(_SIGNATURES.values(), row, strict=True) if m]
                                   for row in missing.tolist()]
        supervisor, receiver = h["supervisor_id"], h["to_person_id"]
        sup_known, rec_known = ctx.is_person(supervisor), ctx.is_person(receiver)
        # each message after the row's name, built for the matching rows only (``emit_where``)
        checks: list[tuple] = [
            ("signature_missing", pd.Series(missing.any(axis=1), index=h.index),
             lambda r: " lacks the signature of " + r["missing_signatures"].map("; ".join)),
            ("supervisor_missing", ~sup_known,
             lambda r: (" names supervisor " + text(r["supervisor_id"]) + ", unknown to identities").where(
                 ~blank(r["supervisor_id"]), " has no supervisor (监交人)")),
            ("supervisor_is_party",
             ~blank(supervisor) & ((supervisor == h["from_person_id"]) | (supervisor == receiver)),
             lambda r: " was supervised by one of its parties, " + text(r["supervisor_id"])),
            ("receiver_unknown", ~rec_known,
             lambda r: (" names receiver " + text(r["to_person_id"]) + ", unknown to identities").where(
                 ~blank(r["to_person_id"]), " names no receiver")),
            ("receiver_not_active", rec_known & (h["receiver_status"] != "active"),
             lambda r: " names receiver " + text(r["to_person_id"]) + " whose status is "
             + text(r["receiver_status"])),
        ]
        if self.params["supervisor_positions"]:
            checks.append(("supervisor_position", sup_known & ~h["supervisor_position"].isin(
                self.params["supervisor_positions"]), lambda r: " was supervised by " + text(r["supervisor_id"])
                + " whose position " + text(r["supervisor_position"]) + " may not supervise a handover"))
        h["supervisor_positions"] = [list(self.params["supervisor_positions"])] * len(h)
        evidence = ["handover_id", "from_person_id", "to_person_id", "supervisor_id", "handed_over_at",
                    *_SIGNATURES, "missing_signatures", "supervisor_position", "supervisor_positions",
                    "receiver_status", "scope", "backup_id"]
        parts = [emit_where(h, mask, code=code, message=lambda r, tail=tail: _what(r) + tail(r),
                            person_id="from_person_id", evidence=evidence)
                 for code, mask, tail in checks if mask.to_numpy().any()]  # most checks find nothing
        if self.params["backup_datasets"]:
            parts.append(self._backups(ctx, h))
        return concat_findings(parts)

    def _backups(self, ctx: Context, h: pd.DataFrame) -> pd.DataFrame:
        b = ctx.table("backups")
        # each dataset glob matched once per distinct dataset; the named datasets' rows only (a
        # few of many: the gate's cut reads every backup)
        codes, datasets = factorize(b["dataset"])
        named = {p: np.append([glob_match(d, [p]) for d in datasets], False)[codes]
                 for p in self.params["backup_datasets"]}
        keep = np.flatnonzero(np.logical_or.reduce(list(named.values())))
        good = Words(b["status"].iloc[keep]).where(lambda w: w == "success") \
            & b["finished_at"].iloc[keep].notna().to_numpy()
        if self.params["require_verified_backup"]:
            good &= Words(b["verify_status"].iloc[keep]).where(lambda w: w == "success")
        # the good backups' finish times, sorted once (stable: a dataset's rows keep their order)
        finished = b["finished_at"].iloc[keep[good]]
        order = np.argsort(finished.dt.tz_convert(None).to_numpy(), kind="stable")  # by instant (UTC)
        finished = finished.iloc[order].reset_index(drop=True)
        finished_day = ctx.local_day(finished).to_numpy()
        named = {p: m[keep][good][order] for p, m in named.items()}
        dated = h[h["handed_over_at"].notna()]
        limit = self.params["backup_within_days"]
        day = ctx.local_day(dated["handed_over_at"]).to_numpy()
        rows = []
        for pattern in self.params["backup_datasets"]:
            # the newest good backup on or before each handover's day: one sorted search per
            # dataset glob (finished_at order is local-day order), not a scan per handover
            these, these_day = finished[named[pattern]], finished_day[named[pattern]]
            pos = np.searchsorted(these_day, day, side="right")
            before = pos > 0
            prev = np.maximum(pos - 1, 0)
            if len(these):
                last = these.iloc[prev].reset_index(drop=True).where(before)
                within = before & ((day - these_day[prev]) <= np.timedelta64(limit, "D"))
            else:
                last = pd.Series(pd.NaT, index=range(len(day)), dtype=finished.dtype)
                within = before
            rows.append(pd.DataFrame({"_idx": dated.index[~within], "dataset": pattern,
                                      "last_backup_before": last[~within].reset_index(drop=True),
                                      "backup_within_days": limit}))
        rows = [r for r in rows if not r.empty]
        if not rows:
            return concat_findings([])
        found = pd.concat(rows, ignore_index=True)
        frame = h.loc[found["_idx"]].reset_index(drop=True).join(found.drop(columns="_idx"))
        return emit_where(frame, None, code="no_backup_before_handover", person_id="from_person_id", key="dataset",
                          message=_what(frame) + ": no successful" + (" verified" if self.params[
                              "require_verified_backup"] else "") + " backup of " + frame["dataset"]
                          + " finished within " + str(limit) + " days before it (last: "
                          + text(frame["last_backup_before"]).replace("", "none") + ")",
                          evidence=["handover_id", "handed_over_at", "dataset", "last_backup_before",
                                    "backup_within_days", "backup_id"])

    # ── departures and transfers ─────────────────────────────────────────────────
    def _events(self, ctx: Context) -> pd.DataFrame:
        """The departures and transfers judged, one per person (its columns built for those
        people only: a few hundred of 100k at M)."""
        p = ctx.people
        departed = (p["status"] == "departed").to_numpy()
        event = p["departure_date"].where(departed, p["transfer_date"])
        day = ctx.local_day(event)
        keep = ((ctx.today - day).dt.days <= self.params["lookback_days"]).to_numpy()  # none without a date
        e = p.loc[keep, ["person_id", "name", "status", "position", "previous_position"]]
        return e.assign(**{PERSON: np.flatnonzero(keep)},
                        event=pd.Series(np.where(departed[keep], "departure", "transfer"), index=e.index, dtype="str"),
                        event_at=event[keep], event_day=day[keep],
                        deadline=day[keep] + pd.Timedelta(days=self.params["grace_days"]))

    def _held(self, ctx: Context, events: pd.DataFrame) -> pd.DataFrame:
        """(person_id, system, account_id, role, end_day, duty) the leaver held at the event.

        Accounts, grants and revokes are paired by position (each account's event day by its
        person, each grant's and revoke's account by its (system, account_id) code: a person
        has one event, an account one row), not merged: a merge costs a few milliseconds
        however few the rows, and the gate evaluates this kind on a few hundred. Each account's
        event is its person's, by the person's row among the people (``person_rows``)."""
        acc = ctx.table("accounts")
        event = ctx.among_people(events[PERSON].to_numpy())  # each account's row of ``events`` (-1: none)
        rows = np.flatnonzero(glob_mask(acc["system"], self.params["systems"]).to_numpy() & (event >= 0))
        acc = acc.take(rows)
        event_day = events["event_day"].to_numpy()[event[rows]]
        codes = ctx.account_codes(acc)
        grants = self._duty_grants(ctx)
        grants = grants[isin(grants["account_id"], acc["account_id"]).to_numpy()]
        at = positions(ctx.account_codes(grants), codes)
        grants, at = grants[at >= 0], at[at >= 0]
        kept = (grants["granted_at"].isna() | (ctx.local_day(grants["granted_at"]) < event_day[at])).to_numpy()
        grants, at = grants[kept], at[kept]
        enabled = acc["enabled"].to_numpy()[at]
        live_end = ctx.local_day(acc["disabled_at"].take(at)).where(~enabled, ctx.today).fillna(ctx.today)
        held = [_holding(grants, acc["person_id"].array.take(at), live_end.array)]
        changes = ctx.optional("changes")
        if changes is not None:
            revokes = changes[(changes["action"].astype("str").str.strip().str.lower() == "revoke").to_numpy()]
            at = positions(ctx.account_codes(revokes), codes)
            revokes, at = revokes[at >= 0], at[at >= 0]
            end_day = ctx.local_day(revokes["performed_at"])
            kept = (end_day >= event_day[at]).to_numpy()
            held.append(_holding(revokes[kept], acc["person_id"].array.take(at[kept]), end_day.array[kept]))
        return self._with_duties(ctx, pd.concat(held, ignore_index=True))

    def _duty_grants(self, ctx: Context) -> pd.DataFrame:
        """The grants of roles named by a role_permissions row that grants some duty: the
        only grants ``_with_duties`` can keep, found by one hash lookup of the role name
        before any grant is joined (a handful of the 27 roles grants a duty, of 386k grants
        at M)."""
        def build() -> pd.DataFrame:
            grants = ctx.table("grants")
            return grants[isin(grants["role"], [r for _, r, _ in self._role_duties(ctx)]).to_numpy()]
        return ctx.shared(f"handover.duty_grants:{sorted(self.params['duties'].items())}", build)

    @staticmethod
    def _allowed(ctx: Context) -> pd.DataFrame:
        """role_permissions' (system, role, permission) rows that grant (deny rows ignored)."""
        rp = ctx.table("role_permissions")
        return rp[~denies(rp["effect"])][["system", "role", "permission"]]

    def _role_duties(self, ctx: Context) -> list[tuple[str, str, str]]:
        """Distinct (system, role, duty) of the roles whose granted permissions match a duty's
        globs, duties in the order of ``duties``: role_permissions has a few dozen rows, matched
        once per scan in plain Python."""
        def build() -> list[tuple[str, str, str]]:
            rp = self._allowed(ctx)
            rows = list(zip(rp["system"], rp["role"], rp["permission"], strict=True))
            found: dict[tuple, None] = {}
            for name, globs in self.params["duties"].items():
                for system, role, permission in rows:
                    if isinstance(permission, str) and glob_match(permission, globs):
                        found.setdefault((system, role, name), None)
            return list(found)
        return ctx.shared(f"handover.role_duties:{sorted(self.params['duties'].items())}", build)

    def _with_duties(self, ctx: Context, roles: pd.DataFrame) -> pd.DataFrame:
        """``roles`` × the duties their permissions match (a row per role row and duty), duty by
        duty in the order of ``duties``, each in the order of ``roles``: per (system, role, duty)
        of ``_role_duties`` (a dozen), the rows of ``roles`` naming that role, found by their
        positions among its systems and roles (no merge)."""
        duties = self._role_duties(ctx)
        systems, names = list(dict.fromkeys(s for s, _, _ in duties)), list(dict.fromkeys(r for _, r, _ in duties))
        system, role = (positions(roles["system"], systems), positions(roles["role"], names)) if duties \
            else (np.full(len(roles), -1), np.full(len(roles), -1))
        code = np.where((system < 0) | (role < 0), -1, system * len(names) + role)
        rows = [np.flatnonzero(code == systems.index(s) * len(names) + names.index(r)) for s, r, _ in duties]
        found = roles.iloc[np.concatenate([np.zeros(0, dtype="int64"), *rows])].reset_index(drop=True)
        found["duty"] = pd.Series([d for (_, _, d), at in zip(duties, rows, strict=True) for _ in range(len(at))],
                                  dtype="str")
        return found

    def _event_findings(self, ctx: Context, events: pd.DataFrame, held: pd.DataFrame,
                        latest: pd.DataFrame) -> list[pd.DataFrame]:
        at = latest.index.get_indexer(events["person_id"])  # each leaver's latest handover (-1: none)
        e = events.assign(**{c: latest[c].array.take(at, allow_fill=True)
                             for c in ("handover_id", "handed_over_at", "to_person_id")})
        duties: dict[str, set[str]] = {}
        for person, name in zip(held["person_id"], held["duty"], strict=True):
            duties.setdefault(person, set()).add(name)
        e["duties"] = [sorted(duties[p]) for p in e["person_id"]]  # every event here held a duty
        e["grace_days"] = self.params["grace_days"]
        e["subject"] = "person:" + e["person_id"].astype("str")
        due = e["deadline"] < ctx.today
        late = e["handed_over_at"].notna() & (ctx.local_day(e["handed_over_at"]) > e["deadline"])
        grace = str(self.params["grace_days"])
        evidence = ["event", "event_at", "grace_days", "duties", "handover_id", "handed_over_at", "to_person_id"]
        parts = [
            emit_where(e, due & e["handed_over_at"].isna(), code="no_handover", person_id="person_id",
                       evidence=evidence, message=lambda r: _who(r) + " held " + r["duties"].map(", ".join)
                       + " and has no handover (" + _when(r) + ", grace " + grace + " days)"),
            emit_where(e, late, code="late_handover", person_id="person_id", evidence=evidence,
                       message=lambda r: _who(r) + " handed over on " + text(r["handed_over_at"]) + ", after the "
                       + _when(r) + " (grace " + grace + " days)"),
        ]
        duty = held.groupby(["person_id", "duty"], as_index=False)["end_day"].max()
        at = positions(duty["person_id"], e["person_id"])  # a person has one event
        duty = pd.DataFrame({**{c: duty[c].array for c in duty.columns}, **{c: e[c].array.take(at) for c in (
            "subject", "name", "event", "event_at", "deadline", "grace_days", "handover_id", "handed_over_at",
            "to_person_id")}})
        return [*parts, self._gaps(ctx, duty), self._overlaps(ctx, duty)]

    def _holders(self, ctx: Context) -> pd.DataFrame:
        """(system, account_id, role, granted_at, person_id, start_day, duty) of active people's
        duties through enabled accounts, now. Each duty grant's account is its row of the
        accounts (``account_rows``, a search of codes sorted once per scan), and whether that
        account holds for an active person is read there: the people's status by the person's
        row among the people (``person_rows``; a ``map`` through the people indexed by id hashed
        the 1M ids again, ~0.4 s at L). No selection of the 1.7M accounts at L, no lookup of
        their ids among the grants'."""
        def build() -> pd.DataFrame:
            grants = self._duty_grants(ctx)
            acc = ctx.table("accounts")
            active = np.append((ctx.people["status"] == "active").to_numpy(dtype=bool), False)  # the last: no person
            holds = np.append((acc["enabled"] & glob_mask(acc["system"], self.params["systems"])).to_numpy(dtype=bool)
                              & active[ctx.person_rows("accounts")], False)  # the last: no account
            row = ctx.account_rows(ctx.account_codes(grants))
            kept = holds[row]
            grants = grants.loc[kept, ["system", "account_id", "role", "granted_at"]].reset_index(drop=True)
            grants["person_id"] = acc["person_id"].array.take(row[kept])
            grants["start_day"] = ctx.local_day(grants["granted_at"])
            return self._with_duties(ctx, grants)
        return ctx.shared(f"handover.holders:{sorted(self.params['systems'])}:{sorted(self.params['duties'].items())}",
                          build)

    # ── the incremental gate ─────────────────────────────────────────────────────
    def gate_base(self, ctx: Context) -> dict[str, Any]:
        """What ``gate_cut`` needs of the current state, whatever the change (JSON, so the
        gate can cache it beside the snapshot): the duties each leaver held, with the day their
        gap is checked (ISO), and per duty its holders in the order their holding began
        (undated first: they count from any day), each with the day of their earliest holding
        (ISO; none: undated)."""
        events = self._events(ctx)
        held = self._held(ctx, events)
        check_day = (events["deadline"] + pd.Timedelta(days=1)).dt.date.map(_iso)
        check = dict(zip(events["person_id"], check_day, strict=True))
        holders = self._holders(ctx).sort_values(["duty", "start_day"], na_position="first", kind="stable")
        since: dict[str, dict[str, str | None]] = {}
        for duty, person, start in zip(holders["duty"], holders["person_id"], holders["start_day"].dt.date.map(_iso),
                                       strict=True):
            since.setdefault(duty, {}).setdefault(person, start)
        return {"held": sorted({(p, d, check[p]) for p, d in zip(held["person_id"], held["duty"], strict=True)}),
                "holders": {duty: list(first.items()) for duty, first in sorted(since.items())}}

    def gate_cut(self, base: dict[str, Any], before: Context, after: Context, people: set[str]) -> GateCut:
        """The people whose rows decide every finding a change can alter, and which findings
        those are, for the incremental gate (scanner/gate.py), which evaluates this kind on
        the states cut down to those people.

        ``base`` is ``gate_base`` of the current state; ``before`` and ``after`` are the change's
        region (every account of ``people``, the people the change touches, and the recorded
        changes on those accounts) in both states. A change alters only rows of ``people``,
        so a finding can differ between the states only if it is (a) about a leaver in
        ``people``, (b) a duty gap of a duty whose holdings differ — among ``duties``: every
        duty a role of their accounts grants, held or revoked in either state — of a leaver
        outside ``people`` whose gap is checked by today and whom no holding of a third person
        (neither the leaver nor one of ``people``) covers, i.e. began by the check day (such a
        holding is in both states: the gap is covered in both), (c) an overlap whose receiver
        is in ``people``, or (d) a register row naming one of them (``GateCut.decides``). Each
        is computed exactly from the rows of: ``people``; the leavers of (b); per such duty the
        two earliest holders outside ``people`` (a gap is "no holding other than the leaver's
        own began by the check day": if any did, the earliest one not the leaver's did, and all
        of ``people``'s holdings are there); and the receivers and leavers of the handovers of
        ``people``. Any other finding reads only rows the change leaves alone: the same in the
        whole current and proposed states (so the gate may take the current state's side of
        (a)–(d) from the whole state's findings), and the same in both cut states (a cut can
        make it differ from the whole state's, never between the two).

        (b) keeps a grant's gate small: of the leavers who held a duty the granted role gives,
        most are covered by someone else long held it (at size M, 187 people → a handful).

        The change alters none of this kind's findings (``GateCut.quiet``) when there is no gap
        of (b), no person of ``people`` has departed or moved (a departure or transfer date is
        what makes an event of (a)), no register row names one of them as leaver or receiver
        (the region holds those rows: (c), (d)), and no identity changes (a ``modify``: a new
        position makes a mover, and a supervisor's position is judged). A register row naming
        one of them as supervisor is then judged from its own columns and identities that no
        change alters."""
        roles = set()
        for ctx in (before, after):
            roles |= set(zip(ctx.table("grants")["system"], ctx.table("grants")["role"], strict=True))
            changes = ctx.optional("changes")
            if changes is not None:
                roles |= set(zip(changes["system"], changes["role"], strict=True))
        roles = sorted((s, r) for s, r in roles if isinstance(s, str) and isinstance(r, str))
        held = self._with_duties(before, pd.DataFrame(roles, columns=["system", "role"], dtype="str"))
        duties = set(held["duty"])
        today = before.today.date().isoformat()

        def covered(leaver: str, duty: str, check: str) -> bool:
            """Did a holding of a third person begin by ``check``? (Holders in the order their
            holding began: the first third person's decides.)"""
            third = (since for p, since in base["holders"].get(duty, []) if p != leaver and p not in people)
            return next((since is None or since <= check for since in third), False)

        gaps = frozenset((p, d) for p, d, check in base["held"]
                         if d in duties and p not in people and check <= today and not covered(p, d, check))
        keep = set(people) | {p for p, _ in gaps}
        for duty in duties:
            keep |= set(islice((p for p, _ in base["holders"].get(duty, []) if p not in people), 2))
        h = before.table("handovers")
        keep |= set(h.loc[isin(h["from_person_id"], sorted(people)).to_numpy(), "to_person_id"].dropna())
        keep |= set(h.loc[isin(h["to_person_id"], sorted(people)).to_numpy(), "from_person_id"].dropna())
        ids = before.table("identities")
        mine = ids[isin(ids["person_id"], sorted(people)).to_numpy()]
        leaving = bool(((mine["status"] == "departed").to_numpy(dtype=bool) | mine["transfer_date"].notna().to_numpy()
                        ).any())
        quiet = not gaps and h.empty and not leaving and after.table("identities") is ids
        return GateCut(frozenset(keep), frozenset(people), gaps, quiet)

    def _gaps(self, ctx: Context, duty: pd.DataFrame) -> pd.DataFrame:
        d = duty.assign(check_day=duty["deadline"] + pd.Timedelta(days=1))
        d = d[d["check_day"] <= ctx.today]
        holders = self._holders(ctx)
        # an undated grant has been held all along: count it from the earliest check day
        since = holders["start_day"].where(holders["start_day"].notna(), d["check_day"].min())
        # holdings that began by the check day, per duty (one sorted search per duty, not a
        # join of every leaver with every holder), less the leaver's own: someone else is left
        held = np.zeros(len(d), dtype="int64")
        duty, check = d["duty"].to_numpy(dtype=object), d["check_day"].to_numpy()
        for name, starts in since.groupby(holders["duty"], sort=False):
            at = duty == name
            held[at] = np.searchsorted(np.sort(starts.to_numpy()), check[at], side="right")
        own = _starts(holders["person_id"], holders["duty"], since, d["person_id"])
        held -= np.array([sum(s <= c for s in own.get((p, n), ()))
                          for p, n, c in zip(d["person_id"], duty, check, strict=True)], dtype="int64")
        covered = held > 0
        return emit_where(d, pd.Series(~covered, index=d.index), code="duty_gap", person_id="person_id", key="duty",
                          extend=lambda r: r.assign(check_day=r["check_day"].dt.date.map(_iso)),
                          message=lambda r: "duty " + r["duty"] + " of " + _who(r) + " (" + _when(r)
                          + ") is held by no other active person on " + r["check_day"],
                          evidence=["duty", "event", "event_at", "grace_days", "check_day", "handover_id",
                                    "to_person_id"])

    def _overlaps(self, ctx: Context, duty: pd.DataFrame) -> pd.DataFrame:
        d = duty[~blank(duty["to_person_id"])]
        holders = self._holders(ctx)
        # each receiver's earliest holding of the duty (missing when every one is undated)
        starts = _starts(holders["person_id"], holders["duty"], holders["start_day"], d["to_person_id"])
        held = [starts.get(k) for k in zip(d["to_person_id"], d["duty"], strict=True)]
        d = d[np.array([s is not None for s in held], dtype=bool)]
        d = d.assign(receiver_from=pd.Series([min(s, default=pd.NaT) for s in held if s is not None],
                                             index=d.index, dtype=holders["start_day"].dtype))
        if d.empty:
            return concat_findings([])
        start = pd.concat([d["receiver_from"], ctx.local_day(d["handed_over_at"])], axis=1).max(axis=1)
        d["overlap_days"] = (d["end_day"] - start).dt.days
        d["overlap_limit"] = self.params["overlap_days"]
        return emit_where(d, d["receiver_from"].notna() & (d["overlap_days"] > self.params["overlap_days"]),
                          code="duty_overlap", person_id="person_id", key="duty",
                          extend=lambda r: r.assign(leaver_until=r["end_day"].dt.date.map(_iso),
                                                    receiver_from=r["receiver_from"].dt.date.map(_iso)),
                          message=lambda r: "duty " + r["duty"] + ": " + _who(r) + " kept it until "
                          + r["leaver_until"] + " while receiver " + text(r["to_person_id"]) + " has held it since "
                          + r["receiver_from"] + " (" + r["overlap_days"].astype("str") + " days, limit "
                          + str(self.params["overlap_days"]) + ")",
                          evidence=["duty", "event", "event_at", "handover_id", "handed_over_at", "to_person_id",
                                    "receiver_from", "leaver_until", "overlap_days", "overlap_limit"])


@dataclass(frozen=True)
class GateCut:
    """What ``Handover.gate_cut`` chose: the people whose rows the gate's states are cut down to,
    and what tells the findings a change can alter (computed exactly on that cut) from the others."""

    #: the people whose rows the states are cut down to
    people: frozenset[str]
    #: the people the change touches (the gate's region)
    changed: frozenset[str]
    #: the (leaver, duty) pairs outside ``changed`` whose duty gap the change can alter
    gaps: frozenset[tuple[str, str]]
    #: the change alters none of the kind's findings: the gate need not evaluate the cut at all
    quiet: bool = False

    def decides(self, finding: Finding) -> bool:
        """Is this one of the findings (a)–(d) of ``Handover.gate_cut``: a change of ``changed``
        can alter it, and the cut computes it exactly?"""
        kind, _, rest = finding["subject"].partition(":")
        evidence = finding.get("evidence") or {}
        if kind == "person":
            return rest in self.changed or (finding["code"] == "duty_gap" and (rest, finding.get("key")) in self.gaps) \
                or (finding["code"] == "duty_overlap" and evidence.get("to_person_id") in self.changed)
        return kind == "handover" and any(evidence.get(c) in self.changed
                                          for c in ("from_person_id", "to_person_id", "supervisor_id"))


def _holding(rows: pd.DataFrame, person: Any, end_day: Any) -> pd.DataFrame:
    """(person_id, system, account_id, role, end_day): a holding of ``rows``' roles (grants or revokes)."""
    return pd.DataFrame({"person_id": person, "system": rows["system"].array, "account_id": rows["account_id"].array,
                         "role": rows["role"].array, "end_day": end_day})


def _starts(person: pd.Series, duty: pd.Series, start: pd.Series, of: pd.Series) -> dict[tuple, list]:
    """The (dated) starts of the holdings of the people ``of``, per (person, duty): their few rows
    grouped in plain Python (a merge or groupby costs milliseconds however few the rows)."""
    mine = isin(person, of).to_numpy()
    found: dict[tuple, list] = {}
    for p, d, s in zip(person[mine], duty[mine], start[mine], strict=True):
        found.setdefault((p, d), [])
        if not pd.isna(s):
            found[p, d].append(s)
    return found


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else value.isoformat()


def _what(h: pd.DataFrame) -> pd.Series:
    """A register row as messages name it."""
    return ("handover " + text(h["handover_id"]) + " (" + text(h["from_person_id"]) + " → "
            + text(h["to_person_id"]).replace("", "nobody") + ", " + text(h["handed_over_at"]) + ")")


def _who(e: pd.DataFrame) -> pd.Series:
    """The person of an event as messages name them."""
    return text(e["name"]) + " (" + e["person_id"].astype("str") + ")"


def _when(e: pd.DataFrame) -> pd.Series:
    return e["event"] + " on " + text(e["event_at"])
