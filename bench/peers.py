"""The peers ledgerguard is measured against, on the same data.

* ``c7n_*``: a per-record evaluator built from Cloud Custodian's ``ValueFilter``, the
  way users of that tool write such rules: one resource dict per record, filters
  evaluated record by record. Building the dicts from the snapshot tables (with
  pandas joins, a generous start) is timed separately: filtering alone is what c7n
  costs when an API hands it the records; both together are the end-to-end figure
  comparable to ledgerguard's, which starts from the same tables.
* ``duckdb_departure`` / ``duckdb_sod`` / ``duckdb_retention``: hand-written SQL on the
  same tables, already loaded into DuckDB — the near-limit reference for a columnar
  engine on one machine. Each computes the same findings as the ledgerguard policy it is
  compared with (every code, subject, person, key, a message and the evidence as JSON),
  one row per finding fetched into Python (ledgerguard also hands back Python records):
  ``FINDING`` names the columns. ``*_count_only`` are the first, narrower references
  (one sub-check, a ``count(*)``), kept as a secondary figure.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pandas as pd

from ledgerguard.scanner.kinds.retention import _period_text


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None)
    for col in out.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            out[col] = df[col].map(lambda v: v.isoformat() if not pd.isna(v) else None)
    return out.to_dict("records")


# --- revoke on departure -------------------------------------------------------------

def c7n_departure_resources(t: dict[str, pd.DataFrame]) -> list[dict]:
    ids = t["identities"].set_index("person_id")
    recs = _records(t["accounts"])
    idrecs = dict(zip(ids.index, _records(ids.reset_index()), strict=True))
    for r in recs:
        r["identity"] = idrecs.get(r["person_id"]) or {}
    return recs


def c7n_departure(resources: list[dict], deadline_iso: str) -> int:
    from c7n.filters.core import ValueFilter

    filters = [
        ValueFilter({"type": "value", "key": "enabled", "value": True}).validate(),
        ValueFilter({"type": "value", "key": "identity.status", "value": "departed"}).validate(),
        ValueFilter({"type": "value", "key": "identity.departure_date", "op": "lt",
                     "value_type": "date", "value": deadline_iso}).validate(),
    ]
    return sum(1 for r in resources if all(f(r) for f in filters))


def duckdb_departure_count_only(con, as_of: str, grace_days: int) -> int:
    return con.execute(f"""
        SELECT count(*) FROM accounts a JOIN identities i USING (person_id)
        WHERE i.status = 'departed' AND a.enabled
          AND (i.departure_date IS NULL OR i.departure_date + INTERVAL {grace_days} DAY < TIMESTAMPTZ '{as_of}')
    """).fetchall()[0][0]


# --- segregation of duties -----------------------------------------------------------

def c7n_sod_resources(t: dict[str, pd.DataFrame]) -> list[dict]:
    """One record per person: the permissions of their enabled accounts."""
    rp = t["role_permissions"]
    rp = rp[rp["effect"].fillna("allow") != "deny"]
    perms = t["grants"].merge(rp, on=["system", "role"]).merge(
        t["accounts"][["system", "account_id", "person_id", "enabled"]], on=["system", "account_id"])
    enabled = perms[perms["enabled"] & perms["person_id"].notna()]
    grouped = enabled.groupby("person_id")["permission"].agg(lambda s: sorted(set(s)))
    return [{"person_id": p, "permissions": v} for p, v in grouped.items()]


def c7n_sod(resources: list[dict], rules: list[dict], known: list[str]) -> int:
    from c7n.filters.core import ValueFilter

    def expand(globs: list[str]) -> list[str]:
        return [p for p in known if any(fnmatchcase(p, g) for g in globs)]

    pairs = [
        (ValueFilter({"type": "value", "key": "permissions", "op": "intersect",
                      "value": expand(r["left"])}).validate(),
         ValueFilter({"type": "value", "key": "permissions", "op": "intersect",
                      "value": expand(r["right"])}).validate())
        for r in rules
    ]
    return sum(1 for r in resources for left, right in pairs if left(r) and right(r))


def _like(glob: str) -> str:
    return glob.replace("%", r"\%").replace("_", r"\_").replace("*", "%").replace("?", "_")


def duckdb_sod_count_only(con, rules: list[dict]) -> int:
    total = 0
    for r in rules:
        left = " OR ".join(f"permission LIKE '{_like(g)}' ESCAPE '\\'" for g in r["left"])
        right = " OR ".join(f"permission LIKE '{_like(g)}' ESCAPE '\\'" for g in r["right"])
        total += con.execute(f"""
            WITH p AS (
              SELECT a.person_id, rp.permission FROM grants g
              JOIN role_permissions rp USING (system, role)
              JOIN accounts a USING (system, account_id)
              WHERE a.enabled AND a.person_id IS NOT NULL AND coalesce(rp.effect, 'allow') <> 'deny')
            SELECT count(*) FROM (SELECT person_id FROM p GROUP BY person_id
                                  HAVING bool_or({left}) AND bool_or({right}))
        """).fetchall()[0][0]
    return total


# --- retention -----------------------------------------------------------------------

def c7n_retention_resources(t: dict[str, pd.DataFrame]) -> list[dict]:
    return _records(t["archives"][["archive_id", "category", "fiscal_year", "status", "destroyed_at"]])


def c7n_retention(resources: list[dict], schedule: dict[str, Any]) -> int:
    from c7n.filters.core import ValueFilter

    destroyed = ValueFilter({"type": "value", "key": "status", "value": "destroyed"}).validate()
    by_period: dict[tuple, Any] = {}
    hits = 0
    for r in resources:
        if not destroyed(r):
            continue
        years = schedule.get(r["category"])
        if isinstance(years, int):
            key = (years, r["fiscal_year"])
            if key not in by_period:
                limit = f"{r['fiscal_year'] + years + 1}-01-01"
                by_period[key] = ValueFilter({"type": "value", "key": "destroyed_at", "op": "lt",
                                              "value_type": "date", "value": limit}).validate()
            hits += by_period[key](r)
        elif years == "permanent":
            hits += 1
    return hits


def duckdb_retention_count_only(con, schedule: dict[str, Any]) -> int:
    rows = [(c, y if isinstance(y, int) else None, y == "permanent") for c, y in schedule.items()
            if isinstance(y, int) or y == "permanent"]
    con.execute("CREATE OR REPLACE TEMP TABLE schedule (category VARCHAR, years INTEGER, permanent BOOLEAN)")
    con.executemany("INSERT INTO schedule VALUES (?, ?, ?)", rows)
    return con.execute("""
        SELECT count(*) FROM archives a JOIN schedule s USING (category)
        WHERE a.status = 'destroyed'
          AND (s.permanent OR a.destroyed_at < make_timestamptz(a.fiscal_year + s.years + 1, 1, 1, 0, 0, 0))
    """).fetchall()[0][0]


# --- DuckDB: the same findings as ledgerguard ----------------------------------------

#: the columns every same-findings peer returns, one row per finding (evidence as JSON text)
FINDING = ("policy_id", "code", "subject", "person_id", "key", "message", "evidence")

#: identities with one row per person, the first (as ledgerguard's joins keep it)
_PEOPLE = """people AS (
  SELECT * FROM identities QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY rowid) = 1)"""


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _any_glob(column: str, globs: list[str]) -> str:
    return "(" + " OR ".join(f"{column} GLOB {_lit(g)}" for g in globs) + ")"


def duckdb_departure(con, policy_id: str, params: dict[str, Any], today: str) -> list[tuple]:
    """revoke_on_departure over accounts, identities and grants (the bench has no logins or
    access_log table: activity is ``last_login_at``, archive access is never found).

    Day limits compare local dates: the session's TimeZone is the snapshot's, so
    ``timestamptz::DATE`` is the local calendar date.
    """
    grace, lookback = params["grace_days"], params["lookback_days"]
    return con.execute(f"""
        WITH {_PEOPLE},
        acc AS MATERIALIZED (  -- read by every code
          SELECT a.system, a.account_id, a.person_id, a.enabled, a.disabled_at, a.last_login_at,
                 p.departure_date, p.departure_date::DATE AS departed_on,
                 p.departure_date::DATE + {grace} AS deadline,
                 'account:' || a.system || ':' || a.account_id AS subject,
                 coalesce(a.display_name, a.account_id) || ' (' || a.person_id || ')' AS who,
                 coalesce(strftime(p.departure_date, '%Y-%m-%d'), 'an unrecorded date') AS left_on
          FROM accounts a JOIN people p USING (person_id)
          WHERE p.status = 'departed' AND {_any_glob("a.system", params["systems"])}),
        held AS (
          SELECT acc.subject, count(DISTINCT g.role) AS role_count,
                 string_agg(DISTINCT g.role, ', ' ORDER BY g.role) AS roles
          FROM acc JOIN grants g USING (system, account_id)
          WHERE NOT acc.enabled GROUP BY acc.subject)
        SELECT {_lit(policy_id)}, 'enabled_after_departure', subject, person_id, NULL,
               who || ' is still enabled in ' || system || '; the person left on ' || left_on
                   || ' (grace {grace} days)',
               json_object('departure_date', departure_date, 'enabled', enabled, 'grace_days', {grace},
                           'days_overdue', DATE '{today}' - deadline, 'last_login_at', last_login_at)
        FROM acc WHERE enabled AND (departed_on IS NULL OR deadline < DATE '{today}')
        UNION ALL
        SELECT {_lit(policy_id)}, 'late_revocation', subject, person_id, NULL,
               who || ' was disabled on ' || strftime(disabled_at, '%Y-%m-%d') || ', '
                   || (disabled_at::DATE - deadline) || ' day(s) late; the person left on ' || left_on,
               json_object('departure_date', departure_date, 'disabled_at', disabled_at,
                           'days_late', disabled_at::DATE - deadline)
        FROM acc
        WHERE NOT enabled AND disabled_at::DATE > deadline AND DATE '{today}' - departed_on <= {lookback}
        UNION ALL
        SELECT {_lit(policy_id)}, 'activity_after_departure', subject, person_id, NULL,
               who || ' was used after the person left on ' || left_on
                   || ' (last activity ' || strftime(last_login_at, '%Y-%m-%d') || ')',
               json_object('departure_date', departure_date, 'first_activity', last_login_at,
                           'last_activity', last_login_at, 'login_events', 0)
        FROM acc WHERE last_login_at::DATE > departed_on
        UNION ALL
        SELECT {_lit(policy_id)}, 'grants_on_disabled_account', subject, person_id, NULL,
               who || ' is disabled but still holds ' || role_count || ' role(s): ' || roles,
               json_object('departure_date', departure_date, 'role_count', role_count, 'roles', roles)
        FROM acc JOIN held USING (subject)
    """).fetchall()


def duckdb_sod(con, policies: list[tuple[str, dict[str, Any]]]) -> list[tuple]:
    """Every segregation_of_duties policy at once: effective permissions (grants ⋈
    role_permissions, minus the account's deny entries, globs included) of enabled
    accounts, pooled per person (an account without person_id alone) or per account;
    a conflict needs a permission on each side that are not one and the same."""
    rules = pd.DataFrame(
        [(pid, params["level"], r["id"], r.get("name") or r["id"], side, g)
         for pid, params in policies for r in params["rules"] for side in ("left", "right") for g in r[side]],
        columns=["policy_id", "level", "rule_id", "rule_name", "side", "glob"])
    con.register("sod_rules", rules)
    return con.execute(f"""
        WITH {_PEOPLE},
        held AS (
          SELECT g.system, g.account_id, g.role, rp.permission, lower(coalesce(rp.effect, 'allow')) AS effect
          FROM grants g JOIN role_permissions rp USING (system, role)),
        allowed AS (  -- duplicates would not change a finding: every aggregate below is over distinct values
          SELECT h.system, h.account_id, h.role, h.permission FROM held h
          WHERE h.effect <> 'deny' AND NOT EXISTS (
            SELECT 1 FROM held d WHERE d.effect = 'deny' AND d.system = h.system
              AND d.account_id = h.account_id AND h.permission GLOB d.permission)),
        perms AS (
          SELECT p.*, a.person_id, 'account:' || p.system || ':' || p.account_id AS account,
                 CASE WHEN trim(coalesce(a.person_id, '')) = '' THEN 'account:' || p.system || ':' || p.account_id
                      ELSE 'person:' || a.person_id END AS person
          FROM allowed p JOIN accounts a USING (system, account_id) WHERE a.enabled),
        matched AS (  -- globs matched once per distinct permission
          SELECT DISTINCT r.*, p.permission
          FROM (SELECT DISTINCT permission FROM perms) p JOIN sod_rules r ON p.permission GLOB r.glob),
        hits AS (
          SELECT m.policy_id, m.rule_id, m.rule_name, m.side, p.person_id, p.account, p.role, p.permission,
                 CASE m.level WHEN 'account' THEN p.account ELSE p.person END AS subject
          FROM perms p JOIN matched m USING (permission)),
        conflicts AS (
          SELECT policy_id, rule_id, subject FROM hits GROUP BY ALL
          HAVING count(DISTINCT permission) FILTER (side = 'left') > 0
             AND count(DISTINCT permission) FILTER (side = 'right') > 0
             AND NOT (count(DISTINCT permission) FILTER (side = 'left') = 1
                      AND count(DISTINCT permission) FILTER (side = 'right') = 1
                      AND min(permission) FILTER (side = 'left') = min(permission) FILTER (side = 'right'))),
        found AS (  -- evidence for the conflicting subjects only
          SELECT policy_id, rule_id, any_value(rule_name) AS rule_name, subject, any_value(person_id) AS person_id,
                 list_sort(list_distinct(list(permission) FILTER (side = 'left'))) AS left_permissions,
                 list_sort(list_distinct(list(account || '/' || role || ' → ' || permission)
                                         FILTER (side = 'left'))) AS left_via,
                 list_sort(list_distinct(list(permission) FILTER (side = 'right'))) AS right_permissions,
                 list_sort(list_distinct(list(account || '/' || role || ' → ' || permission)
                                         FILTER (side = 'right'))) AS right_via,
                 list_sort(list_distinct(list(account))) AS accounts
          FROM hits SEMI JOIN conflicts USING (policy_id, rule_id, subject)
          GROUP BY policy_id, rule_id, subject)
        SELECT f.policy_id, 'incompatible_duties', f.subject, f.person_id, f.rule_id,
               coalesce(p.name || ' (' || f.person_id || ')', f.subject) || ' holds both sides of ' || f.rule_id
                   || ' ''' || f.rule_name || ''': ' || array_to_string(f.left_permissions, ', ')
                   || ' and ' || array_to_string(f.right_permissions, ', '),
               json_object('rule', f.rule_id, 'rule_name', f.rule_name,
                           'left_permissions', f.left_permissions, 'left_via', f.left_via,
                           'right_permissions', f.right_permissions, 'right_via', f.right_via,
                           'accounts', f.accounts)
        FROM found f LEFT JOIN people p ON p.person_id = f.person_id
    """).fetchall()


def duckdb_retention(con, policy_id: str, params: dict[str, Any], today: str) -> list[tuple]:
    """retention_period: the destroyable-from date per archive (N years after the fiscal
    year, permanent, or N years from a column's local date), then one query per code."""
    schedule = params["schedule"]
    con.register("retention_schedule", pd.DataFrame(
        [(c, e if isinstance(e, int) else e["years"] if isinstance(e, dict) else None,
          e["from"] if isinstance(e, dict) else None, _period_text(e)) for c, e in schedule.items()],
        columns=["category", "years", "from_col", "retention"]).astype({"years": "Int64"}))
    froms = sorted({e["from"] for e in schedule.values() if isinstance(e, dict)})
    start = "CASE s.from_col " + " ".join(f"WHEN {_lit(c)} THEN a.{c}::DATE" for c in froms) + " END" \
        if froms else "NULL::DATE"
    name = "'archive ' || archive_id || ' (' || category || ', ' || fiscal_year || ')'"
    destroyed = "' destroyed ' || coalesce(strftime(destroyed_at, '%Y-%m-%d'), 'on an unrecorded date')"
    until = "coalesce(strftime(destroyable_from, '%Y-%m-%d'), 'never (period not running or permanent)')"
    evidence = ("json_object('category', category, 'fiscal_year', fiscal_year, 'retention', retention, "
                + ", ".join(f"'{c}', {c}" for c in ("destroyable_from", "status", "destroyed_at", "hold",
                                                     "destruction_register_id", "destruction_approved_by",
                                                     "appraised_at", "disposed_at")) + ")")
    codes = {
        "destroyed_early": (
            "known AND destroyed AND (destroyable_from IS NULL OR destroyed_on < destroyable_from"
            f" OR (destroyed_on IS NULL AND destroyable_from > DATE '{today}'))",
            f"{name} || {destroyed} || '; retention ' || retention || ', destroyable from ' || {until}"),
        "destroyed_on_hold": ("destroyed AND hold", f"{name} || {destroyed} || ' while on hold'"),
        "destruction_undocumented": (
            "destroyed AND (no_register OR no_approval)",
            f"{name} || {destroyed} || ' without ' || concat_ws(' and ', CASE WHEN no_register THEN "
            "'a destruction register' END, CASE WHEN no_approval THEN 'an approver' END)"),
        "destroyed_before_appraisal": (
            "destroyed AND (appraised_at IS NULL OR appraised_at::DATE > destroyed_on)",
            f"{name} || {destroyed} || coalesce(' before its appraisal on ' || strftime(appraised_at, '%Y-%m-%d'),"
            " ' without an appraisal')"),
        "due_for_appraisal": (
            f"active AND NOT destroyed AND NOT hold AND destroyable_from <= DATE '{today}' AND appraised_at IS NULL",
            f"{name} || ' has been destroyable since ' || {until} || ' and awaits appraisal'"),
        "unknown_category": ("NOT known", f"{name} || ' has a category the retention schedule does not list'"),
    }
    per_code = "\nUNION ALL\n".join(
        f"SELECT {_lit(policy_id)}, '{code}', 'archive:' || archive_id, NULL, NULL, {message}, {evidence}"
        f" FROM arc WHERE {where}" for code, (where, message) in codes.items())
    return con.execute(f"""
        WITH arc AS MATERIALIZED (  -- read by every code
          SELECT a.archive_id, a.category, a.fiscal_year, a.status, a.destroyed_at, a.hold,
                 a.destruction_register_id, a.destruction_approved_by, a.appraised_at, a.disposed_at,
                 s.retention, s.category IS NOT NULL AS known, a.destroyed_at::DATE AS destroyed_on,
                 CASE WHEN s.from_col IS NOT NULL THEN ({start} + to_years(s.years) + INTERVAL 1 DAY)::DATE
                      WHEN s.years IS NOT NULL THEN make_date(a.fiscal_year + s.years + 1, 1, 1)
                 END AS destroyable_from,
                 coalesce(lower(trim(a.status)) = 'destroyed', false) OR a.destroyed_at IS NOT NULL AS destroyed,
                 coalesce(lower(trim(a.status)), '') IN ('active', '') AS active,
                 trim(coalesce(a.destruction_register_id, '')) = '' AS no_register,
                 trim(coalesce(a.destruction_approved_by, '')) = '' AS no_approval
          FROM archives a LEFT JOIN retention_schedule s USING (category))
        {per_code}
    """).fetchall()
