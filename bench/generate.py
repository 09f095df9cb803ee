"""A seeded synthetic organisation at several sizes, with a realistic share of violations.

Everything is vectorised numpy so that size M (100k people, ~1M archives) is built in
seconds. The vocabulary is the built-in pack's (docs/vocabulary.md), so the whole
built-in pack has work to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ledgerguard.policies.vocabulary import ROLE_PERMISSIONS

TZ = "Asia/Shanghai"
AS_OF = pd.Timestamp("2026-11-23", tz=TZ)


@dataclass(frozen=True)
class Size:
    name: str
    people: int
    archives: int
    datasets: int
    days: int = 365


SIZES = {
    "S": Size("S", 10_000, 100_000, 10),
    "M": Size("M", 100_000, 1_000_000, 50),
    "L": Size("L", 1_000_000, 10_000_000, 200),
}

POSITIONS = ["出纳", "会计", "审核", "财务经理", "档案管理员", "系统管理员"]
OTHER_POSITIONS = ["销售经理", "工程师", "人事专员", "采购员", "生产主管"]
TEMPLATE = {  # position -> (erp roles, earchive roles)
    "出纳": (["cashier"], ["archive_viewer"]),
    "会计": (["gl_clerk"], ["archive_viewer"]),
    "审核": (["gl_reviewer"], ["archive_viewer"]),
    "财务经理": (["finance_manager", "gl_reviewer"], ["archive_viewer"]),
    "档案管理员": ([], ["archive_keeper", "archive_viewer"]),
    "系统管理员": (["sys_admin"], ["archive_admin"]),
}
CATEGORIES = {  # category -> retention years (0 = permanent, -5 = 5 years from disposal)
    "原始凭证": 30, "记账凭证": 30, "总账": 30, "明细账": 30, "日记账": 30, "固定资产卡片": -5,
    "其他辅助性账簿": 30, "月度、季度、半年度财务会计报告": 10, "年度财务会计报告": 0,
    "银行存款余额调节表": 10, "银行对账单": 10, "纳税申报表": 10, "会计档案移交清册": 30,
    "会计档案保管清册": 0, "会计档案销毁清册": 0, "会计档案鉴定意见书": 0,
}
CATEGORY_WEIGHTS = np.array([30, 30, 2, 8, 8, 3, 2, 4, 1, 4, 4, 2, 0.5, 0.5, 0.5, 0.5])


def _days_ago(rng: np.random.Generator, lo: int, hi: int, n: int) -> pd.Series:
    secs = rng.integers(lo * 86400, hi * 86400, n)
    return pd.Series(AS_OF - pd.to_timedelta(secs, unit="s"))


def _ids(prefix: str, n: int, width: int = 7) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def generate(size: Size, seed: int = 20261123) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = size.people
    person = _ids("P", n)
    finance = rng.random(n) < 0.12
    position = np.where(finance, rng.choice(POSITIONS, n, p=[.25, .35, .15, .08, .09, .08]),
                        rng.choice(OTHER_POSITIONS, n))
    status = rng.choice(["active", "departed", "transferred", "leave"], n, p=[.86, .1, .03, .01])
    departed = status == "departed"
    departure = _days_ago(rng, 0, 700, n).where(departed)
    transferred = status == "transferred"
    identities = pd.DataFrame({
        "person_id": person, "name": np.char.add("员工", person), "department": np.where(finance, "财务部", "业务部"),
        "position": position, "status": status, "departure_date": departure.dt.normalize(),
        "transfer_date": _days_ago(rng, 0, 200, n).dt.normalize().where(transferred),
        "previous_position": np.where(transferred, rng.choice(POSITIONS, n), None),
        "manager_id": rng.choice(person, n), "email": np.char.add(person, "@example.cn"),
    })

    # accounts: every person in the directory, finance staff (+ a few others) in erp, some in earchive
    in_erp = finance | (rng.random(n) < 0.45)
    in_arc = finance | (rng.random(n) < 0.12)
    parts = []
    for system, mask in (("corp-ad", np.ones(n, bool)), ("erp", in_erp), ("earchive", in_arc)):
        idx = np.flatnonzero(mask)
        m = len(idx)
        dep = departed[idx]
        late = rng.random(m) < 0.08
        still_enabled = dep & (rng.random(m) < 0.05)
        dep_date = departure.to_numpy()[idx]
        disabled_at = pd.Series(dep_date) + pd.to_timedelta(np.where(late, rng.integers(2, 30, m), 0), unit="D")
        last_login = _days_ago(rng, 0, 91, m)
        # departed staff last signed in before they left, bar a few accounts used afterwards
        before_leaving = pd.Series(dep_date) - pd.to_timedelta(rng.integers(1, 30 * 86400, m), unit="s")
        last_login = last_login.where(~dep | (rng.random(m) < 0.01), before_leaving)
        parts.append(pd.DataFrame({
            "system": system, "account_id": np.char.lower(person[idx]), "person_id": person[idx],
            "display_name": identities["name"].to_numpy()[idx],
            "enabled": ~dep | still_enabled,
            "locked": False,
            "disabled_at": disabled_at.where(dep & ~still_enabled),
            "created_at": _days_ago(rng, 400, 4000, m),
            "last_login_at": last_login.where(rng.random(m) > 0.005),
            "mfa_enabled": rng.random(m) < 0.98,
            "account_type": "personal",
        }))
    n_service = max(10, n // 500)
    parts.append(pd.DataFrame({
        "system": "erp", "account_id": _ids("svc-", n_service, 4), "person_id": None,
        "display_name": "service", "enabled": True, "locked": False, "disabled_at": pd.NaT,
        "created_at": _days_ago(rng, 400, 4000, n_service), "last_login_at": _days_ago(rng, 0, 5, n_service),
        "mfa_enabled": False, "account_type": "service", "owner_person_id": rng.choice(person, n_service),
    }))
    accounts = pd.concat(parts, ignore_index=True)

    # grants: template roles per position, plus ~3% extra roles and AD groups
    pos_of = dict(zip(person, position, strict=True))
    rows = []
    for system, col in (("erp", 0), ("earchive", 1)):
        acc = accounts[(accounts["system"] == system) & accounts["person_id"].notna()]
        pos = acc["person_id"].map(pos_of)
        for p, roles in TEMPLATE.items():
            sel = acc[pos == p]
            for role in roles[col]:
                rows.append(pd.DataFrame({"system": system, "account_id": sel["account_id"], "role": role}))
        others = acc[~pos.isin(list(TEMPLATE))]
        stray = others[rng.random(len(others)) < 0.01]
        if system == "erp":
            rows.append(pd.DataFrame({"system": system, "account_id": stray["account_id"], "role": "report_viewer"}))
        extra = acc[rng.random(len(acc)) < 0.01]
        roles = [r for (s, r) in ROLE_PERMISSIONS if s == system]
        rows.append(pd.DataFrame({"system": system, "account_id": extra["account_id"],
                                  "role": rng.choice(roles, len(extra))}))
    ad = accounts[accounts["system"] == "corp-ad"]
    for group in ("domain-users", "vpn-users", "mail-users", "print-users"):
        rows.append(pd.DataFrame({"system": "corp-ad", "account_id": ad["account_id"], "role": group}))
    grants = pd.concat(rows, ignore_index=True).drop_duplicates()
    # disabling an account removes its roles, except for a few forgotten ones
    disabled = accounts.loc[~accounts["enabled"], ["system", "account_id"]].assign(_off=True)
    grants = grants.merge(disabled, on=["system", "account_id"], how="left")
    grants = grants[grants.pop("_off").isna() | (rng.random(len(grants)) < 0.03)].reset_index(drop=True)
    grants["granted_at"] = _days_ago(rng, 30, 3000, len(grants))

    rp = [(s, r, p) for (s, r), perms in ROLE_PERMISSIONS.items() for p in perms]
    rp.append(("erp", "report_viewer", "report.view"))
    role_permissions = pd.DataFrame(rp, columns=["system", "role", "permission"])

    # changes: one grant change per recent grant, most approved properly
    recent = grants[grants["system"] != "corp-ad"].sample(frac=0.2, random_state=seed)
    k = len(recent)
    performed = _days_ago(rng, 0, 120, k)
    approved_ok = rng.random(k) > 0.04
    changes = pd.DataFrame({
        "change_id": _ids("C", k), "system": recent["system"].to_numpy(),
        "account_id": recent["account_id"].to_numpy(), "action": "grant", "role": recent["role"].to_numpy(),
        "performed_by": rng.choice(person[position == "系统管理员"], k),
        "performed_at": performed, "request_id": np.where(rng.random(k) > 0.02, _ids("REQ-", k), None),
        "requested_by": rng.choice(person, k),
        "approved_by": np.where(approved_ok, rng.choice(person[position == "财务经理"], k), None),
        "approved_at": performed - pd.to_timedelta(rng.integers(1, 48, k), unit="h"),
        "approval_status": np.where(approved_ok, "approved", "pending"),
    })

    reviewed = accounts[rng.random(len(accounts)) > 0.005]
    reviews = pd.DataFrame({"system": reviewed["system"].to_numpy(), "account_id": reviewed["account_id"].to_numpy(),
                            "reviewer": rng.choice(person, len(reviewed)),
                            "reviewed_at": _days_ago(rng, 0, 91, len(reviewed)), "decision": "keep"})

    archives = _archives(rng, size.archives)
    backups = _backups(rng, size)
    return {"identities": identities, "accounts": accounts, "grants": grants,
            "role_permissions": role_permissions, "changes": changes, "reviews": reviews,
            "archives": archives, "backups": backups}


def _archives(rng: np.random.Generator, m: int) -> pd.DataFrame:
    cats = np.array(list(CATEGORIES))
    category = rng.choice(cats, m, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum())
    year = rng.integers(1996, 2026, m)
    # destroyable from Jan 1 after the period (fixed-asset cards and permanent ones: never, here)
    years = pd.Series(category).map(CATEGORIES).to_numpy()
    first_year = np.where(years > 0, year + years + 1, 9999)
    eligible = first_year <= AS_OF.year
    destroyed = eligible & (rng.random(m) < 0.5)
    early = rng.random(m) < 0.0002
    destroyed |= early
    opened = pd.to_datetime(pd.Series(np.minimum(first_year, AS_OF.year)).astype(str) + "-01-01").dt.tz_localize(TZ)
    days_open = (AS_OF - opened).dt.days.clip(lower=31).to_numpy()
    destroyed_at = AS_OF - pd.to_timedelta(rng.integers(0, days_open - 30), unit="D")
    destroyed_at = pd.Series(np.where(early, _days_ago(rng, 30, 3000, m), destroyed_at)).where(destroyed)
    # eligible ones are appraised (then destroyed, or kept on); a few await appraisal
    appraised = (eligible & (rng.random(m) < 0.99)) | (destroyed & ~early)
    appraised_at = (destroyed_at.fillna(AS_OF) - pd.to_timedelta(rng.integers(1, 30, m), unit="D")).where(appraised)
    digest = np.char.add(np.char.zfill(rng.integers(0, 2**62, m).astype(str), 32), "a" * 32)
    tamper = rng.random(m) < 0.0005
    actual = np.where(tamper, np.char.add(np.char.zfill(rng.integers(0, 2**62, m).astype(str), 32), "b" * 32),
                      digest)
    exists = rng.random(m) > 0.0005
    disposed = _days_ago(rng, 100, 4000, m).where(category == "固定资产卡片")
    return pd.DataFrame({
        "archive_id": _ids("A", m, 8), "category": category, "fiscal_year": year,
        "title": np.char.add(category.astype(str), year.astype(str)), "fonds": "Q001",
        "archived_at": pd.to_datetime(pd.Series(year + 1).astype(str) + "-06-30").dt.tz_localize(TZ),
        "path": np.char.add(np.char.add(year.astype(str), "/"), _ids("A", m, 8)),
        "format": rng.choice(["pdf", "ofd", "xml", "jpg"], m, p=[.6, .3, .08, .02]),
        "size_bytes": rng.integers(10_000, 2_000_000, m), "sha256": digest,
        "actual_sha256": actual, "file_exists": exists,
        "status": np.where(destroyed, "destroyed", "active"),
        "destroyed_at": destroyed_at,
        "destruction_register_id": np.where(destroyed & (rng.random(m) > 0.005), "XH-2020-01", None),
        "destruction_approved_by": np.where(destroyed, "P0000001", None),
        "appraised_at": appraised_at,
        "hold": rng.random(m) < 0.001, "disposed_at": disposed,
    })


def _backups(rng: np.random.Generator, size: Size) -> pd.DataFrame:
    datasets = np.array([f"ds-{i:03d}" for i in range(size.datasets)])
    ds = np.repeat(datasets, size.days)
    day = np.tile(np.arange(size.days), size.datasets)
    k = len(ds)
    finished = AS_OF - pd.to_timedelta(day, unit="D") - pd.to_timedelta(rng.integers(3600, 6 * 3600, k), unit="s")
    stale = np.isin(ds, datasets[:: max(1, size.datasets // 5)]) & (day < 3)  # a few datasets 3 days behind
    return pd.DataFrame({
        "backup_id": _ids("B", k), "dataset": ds, "started_at": finished - pd.Timedelta(minutes=40),
        "finished_at": finished, "status": np.where(stale | (rng.random(k) < 0.01), "failed", "success"),
        "location": np.where(day % 2 == 0, "local-nas", "offsite-oss"), "offsite": day % 2 == 1,
        "encrypted": True, "size_bytes": rng.integers(10**9, 10**10, k),
        "verified_at": pd.Series(finished).where(day % 7 == 0),
        "verify_status": np.where(day % 7 == 0, "success", None),
        "restore_tested_at": pd.Series(finished).where(day % 60 == 0),
    })
