"""The peers ledgerguard is measured against, on the same data.

* ``c7n_*``: a per-record evaluator built from Cloud Custodian's ``ValueFilter``, the
  way users of that tool write such rules: one resource dict per record, filters
  evaluated record by record. Building the dicts from the snapshot tables (with
  pandas joins, a generous start) is timed separately: filtering alone is what c7n
  costs when an API hands it the records; both together are the end-to-end figure
  comparable to ledgerguard's, which starts from the same tables.
* ``duckdb_*``: hand-written SQL on the same tables, already loaded into DuckDB —
  the near-limit reference for a columnar engine on one machine.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pandas as pd


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


def duckdb_departure(con, as_of: str, grace_days: int) -> int:
    return con.execute(f"""
        SELECT count(*) FROM accounts a JOIN identities i USING (person_id)
        WHERE i.status = 'departed' AND a.enabled
          AND (i.departure_date IS NULL OR i.departure_date + INTERVAL {grace_days} DAY < TIMESTAMPTZ '{as_of}')
    """).fetchone()[0]


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


def duckdb_sod(con, rules: list[dict]) -> int:
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
        """).fetchone()[0]
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


def duckdb_retention(con, schedule: dict[str, Any]) -> int:
    rows = [(c, y if isinstance(y, int) else None, y == "permanent") for c, y in schedule.items()
            if isinstance(y, int) or y == "permanent"]
    con.execute("CREATE OR REPLACE TEMP TABLE schedule (category VARCHAR, years INTEGER, permanent BOOLEAN)")
    con.executemany("INSERT INTO schedule VALUES (?, ?, ?)", rows)
    return con.execute("""
        SELECT count(*) FROM archives a JOIN schedule s USING (category)
        WHERE a.status = 'destroyed'
          AND (s.permanent OR a.destroyed_at < make_timestamptz(a.fiscal_year + s.years + 1, 1, 1, 0, 0, 0))
    """).fetchone()[0]
