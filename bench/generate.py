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
    # the directory's built-in accounts, disabled as they should be (GST-001)
    parts.append(pd.DataFrame({
        "system": "corp-ad", "account_id": ["Guest", "krbtgt"], "person_id": None, "display_name": ["Guest", "krbtgt"],
        "enabled": False, "locked": False, "disabled_at": pd.Series([AS_OF - pd.Timedelta(days=3000)] * 2),
        "created_at": pd.Series([AS_OF - pd.Timedelta(days=4000)] * 2), "last_login_at": pd.NaT,
        "mfa_enabled": False, "account_type": "builtin",
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
    # changes: one grant change per recent grant (a fifth of the erp/earchive grants), most
    # approved and verified properly; the grant is dated when its change was performed
    # (CHG-003), bar a few granted lately without a change
    recent = grants.index[(grants["system"] != "corp-ad").to_numpy()]
    recent = np.sort(rng.choice(recent, len(recent) // 5, replace=False))
    k = len(recent)
    performed = _outside_close(rng, _days_ago(rng, 0, 120, k))
    granted_at = _days_ago(rng, 120, 3000, len(grants))
    granted_at.iloc[recent] = performed.to_numpy()
    unrecorded = (rng.random(len(grants)) < 0.002) & ~np.isin(np.arange(len(grants)), recent)
    granted_at[unrecorded] = _days_ago(rng, 1, 80, int(unrecorded.sum())).to_numpy()
    grants["granted_at"] = granted_at
    rp = [(s, r, p) for (s, r), perms in ROLE_PERMISSIONS.items() for p in perms]
    rp.append(("erp", "report_viewer", "report.view"))
    role_permissions = pd.DataFrame(rp, columns=["system", "role", "permission"])

    approved_ok = rng.random(k) > 0.04
    admins = person[position == "系统管理员"]
    verified = rng.random(k) > 0.01
    late_check = rng.random(k) < 0.005
    changes = pd.DataFrame({
        "change_id": _ids("C", k), "system": grants["system"].to_numpy()[recent],
        "account_id": grants["account_id"].to_numpy()[recent], "action": "grant",
        "role": grants["role"].to_numpy()[recent],
        "performed_by": rng.choice(admins, k),
        "performed_at": performed, "request_id": np.where(rng.random(k) > 0.02, _ids("REQ-", k), None),
        "requested_by": rng.choice(person, k),
        "approved_by": np.where(approved_ok, rng.choice(person[position == "财务经理"], k), None),
        "approved_at": performed - pd.to_timedelta(rng.integers(1, 48, k), unit="h"),
        "approval_status": np.where(approved_ok, "approved", "pending"),
        "verified_by": np.where(verified, rng.choice(admins, k), None),
        "verified_at": (performed + pd.to_timedelta(np.where(late_check, 72 * 3600, rng.integers(600, 20 * 3600, k)),
                                                    unit="s")).where(verified),
        "emergency": False,
    })

    reviewed = accounts[rng.random(len(accounts)) > 0.005]
    reviews = pd.DataFrame({"system": reviewed["system"].to_numpy(), "account_id": reviewed["account_id"].to_numpy(),
                            "reviewer": rng.choice(person, len(reviewed)),
                            "reviewed_at": _days_ago(rng, 0, 91, len(reviewed)), "decision": "keep"})

    archives, batches, unlisted = _archives(rng, size.archives)
    backups = _backups(rng, size)
    handovers = _handovers(rng, identities, finance)
    access_log, borrows = _archive_use(rng, identities, accounts, grants, archives)
    return {"identities": identities, "accounts": accounts, "grants": grants,
            "role_permissions": role_permissions, "changes": changes, "reviews": reviews,
            "archives": archives, "batches": batches, "unlisted_files": unlisted, "backups": backups,
            "handovers": handovers, "access_log": access_log, "borrows": borrows}


def _outside_close(rng: np.random.Generator, when: pd.Series) -> pd.Series:
    """Move times in a month's last days (the close freeze, FRZ-001) a week earlier, bar ~5 %."""
    close = (when.dt.day >= 26).to_numpy() & (rng.random(len(when)) > 0.05)
    return when - pd.to_timedelta(np.where(close, 7, 0), unit="D")


def _handovers(rng: np.random.Generator, identities: pd.DataFrame, finance: np.ndarray) -> pd.DataFrame:
    """One handover (移交清册, HO-001) per finance person who left or moved in the last year,
    supervised by a finance manager after the daily verified database backup; a few are
    missing, late or short of a signature."""
    event = identities["departure_date"].fillna(identities["transfer_date"])
    recent = (finance & (event > AS_OF - pd.Timedelta(days=365))).to_numpy()
    leavers = identities[recent]
    n = len(leavers)
    active = identities["status"].to_numpy() == "active"
    finance_active = identities["person_id"].to_numpy()[finance & active]
    managers = identities["person_id"].to_numpy()[(identities["position"] == "财务经理").to_numpy() & active]
    late = rng.random(n) < 0.02
    when = (event[recent] - pd.to_timedelta(rng.integers(0, 4, n), unit="D") + pd.Timedelta(hours=10)).reset_index(
        drop=True)
    when = _outside_close(rng, when) + pd.to_timedelta(np.where(late, 3, 0), unit="D")
    signed = rng.random((3, n)) > np.array([[0.005], [0.01], [0.01]])
    keep = rng.random(n) > 0.03  # no handover at all for the rest
    return pd.DataFrame({
        "handover_id": _ids("HO-", n, 5), "from_person_id": leavers["person_id"].to_numpy(),
        "to_person_id": rng.choice(finance_active, n), "supervisor_id": rng.choice(managers, n),
        "handed_over_at": when, "signed_by_from": signed[0], "signed_by_to": signed[1],
        "signed_by_supervisor": signed[2], "scope": "全部会计工作", "emergency": False,
    })[keep].reset_index(drop=True)


def _archive_use(rng: np.random.Generator, identities: pd.DataFrame, accounts: pd.DataFrame,
                 grants: pd.DataFrame, archives: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The archive system's access log (USE-001) and borrow register (USE-002): events by
    active people holding an archive role for over a month, a few by people without one;
    borrows approved by an archive keeper, a few unapproved, overdue or unregistered."""
    m = len(archives)
    archive_roles = [r for (s, r), perms in ROLE_PERMISSIONS.items()
                     if s == "earchive" and any(p.startswith("archive.") for p in perms)]
    held = grants[(grants["system"] == "earchive") & grants["role"].isin(archive_roles)
                  & (grants["granted_at"] < AS_OF - pd.Timedelta(days=30))]
    acc = accounts[(accounts["system"] == "earchive") & accounts["enabled"]]
    people = acc.loc[acc["account_id"].isin(held["account_id"]), "person_id"]
    status = dict(zip(identities["person_id"], identities["status"], strict=True))
    pool = np.unique(people[people.map(status) == "active"].to_numpy().astype(str))
    # active outsiders only: access after departure is ACC-001's, whose DuckDB peer (peers.py)
    # does not read the access log
    outsiders = identities["person_id"].to_numpy()[(identities["department"].to_numpy() == "业务部")
                                                   & (identities["status"].to_numpy() == "active")]
    ids = archives["archive_id"].to_numpy()

    n = max(100, m // 10)
    stray = rng.random(n) < 0.001
    log = pd.DataFrame({
        "event_id": _ids("E", n, 8), "archive_id": rng.choice(ids, n),
        "actor": np.where(stray, rng.choice(outsiders, n), rng.choice(pool, n)),
        "action": rng.choice(["view", "download", "print", "export"], n, p=[.7, .15, .1, .05]),
        "at": _days_ago(rng, 0, 29, n),
    })

    b = max(20, m // 1000)
    keepers = identities["person_id"].to_numpy()[(identities["position"] == "档案管理员").to_numpy()
                                                  & (identities["status"] == "active").to_numpy()]
    borrower = rng.choice(pool, b)
    borrowed = _days_ago(rng, 1, 200, b)
    due = borrowed + pd.Timedelta(days=30)
    overdue = rng.random(b) < 0.02
    returned = (borrowed + pd.to_timedelta(rng.integers(1, 30 * 86400, b), unit="s"))
    returned = returned.where(~overdue & (returned < AS_OF))
    borrows = pd.DataFrame({
        "borrow_id": _ids("JY-", b, 5), "archive_id": rng.choice(ids, b), "borrower": borrower,
        "approved_by": np.where(rng.random(b) > 0.01, rng.choice(keepers, b), None),
        "borrowed_at": borrowed, "due_at": due, "returned_at": returned,
    })
    lent = pd.DataFrame({"event_id": _ids("EB", b, 6), "archive_id": borrows["archive_id"], "actor": borrower,
                         "action": "borrow", "at": borrowed})
    registered = rng.random(b) > 0.01  # a few borrows never made it into the register
    return (pd.concat([log, lent], ignore_index=True),
            borrows[registered].reset_index(drop=True))


MONTHLY = ("原始凭证", "记账凭证", "日记账", "月度、季度、半年度财务会计报告", "银行存款余额调节表", "银行对账单")
VOUCHER_TYPES = np.array(["记", "收", "付", "转"])
YEARS = 30  # fiscal years 1996…2025


def _archives(rng: np.random.Generator, m: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The archive catalog with what archive_store reads from each file, its handover
    batches (INT-005) and a few files in the store no catalog row names (INT-002)."""
    cats = np.array(list(CATEGORIES))
    category = rng.choice(cats, m, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum())
    # every (account set, year, month) gets each category in turn, in a random order, so that
    # the required periods are all there (INT-003) bar the two planted gaps below
    sets = max(2, m // 50_000)
    order = rng.permutation(m)
    rank = np.empty(m, np.int64)
    rank[order] = pd.Series(category[order]).groupby(category[order]).cumcount().to_numpy()
    year = 1996 + rank % YEARS
    month = 1 + (rank // YEARS) % 12
    account_set = np.char.add("ZT", np.char.zfill(((rank // (YEARS * 12)) % sets).astype(str), 2))
    monthly = np.isin(category, MONTHLY)
    vouchers = category == "记账凭证"
    for cat, y, mo in (("记账凭证", 2019, 7), ("月度、季度、半年度财务会计报告", 2021, 3)):
        gap = (category == cat) & (year == y) & (month == mo) & (account_set == "ZT00")
        month[gap] = mo + 1
    period = np.where(monthly, np.char.zfill(month.astype(str), 2), None)
    # voucher numbers 1…n per account set, year, month and voucher type (INT-004), a few
    # numbered one too high (a gap and a repeat each)
    vtype = np.where(vouchers, rng.choice(VOUCHER_TYPES, m), None)
    run = pd.DataFrame({"s": account_set, "y": year, "m": month, "t": vtype})[vouchers]
    number = np.zeros(m, np.int64)
    number[vouchers] = run.groupby(["s", "y", "m", "t"], sort=False).cumcount().to_numpy() + 1
    number[rng.choice(np.flatnonzero(vouchers), 3 + m // 200_000, replace=False)] += 1
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
    fmt = rng.choice(["pdf", "ofd", "xml", "jpg"], m, p=[.6, .3, .08, .02])
    size_bytes = rng.integers(10_000, 2_000_000, m)
    renamed = rng.random(m) < 0.00005  # content and name disagree (a ZIP named .pdf)
    batch = np.char.add(np.char.add("YJ-", (year + 1).astype(str)), np.char.add("-", account_set))
    archives = pd.DataFrame({
        "archive_id": _ids("A", m, 8), "category": category, "fiscal_year": year,
        "title": np.char.add(category.astype(str), year.astype(str)), "fonds": "Q001",
        "archived_at": pd.to_datetime(pd.Series(year + 1).astype(str) + "-06-30").dt.tz_localize(TZ),
        "path": np.char.add(np.char.add(year.astype(str), "/"), _ids("A", m, 8)),
        "period": period, "account_set": account_set, "voucher_type": vtype,
        "voucher_no": pd.Series(number, dtype="Int64").where(vouchers), "batch_id": batch,
        "format": np.where(renamed, "zip", fmt), "catalog_format": fmt, "extension": fmt,
        "size_bytes": size_bytes, "sha256": digest,
        "actual_sha256": actual, "file_exists": exists,
        "status": np.where(destroyed, "destroyed", "active"),
        "destroyed_at": destroyed_at,
        "destruction_register_id": np.where(destroyed & (rng.random(m) > 0.005), "XH-2020-01", None),
        "destruction_approved_by": np.where(destroyed, "P0000001", None),
        "appraised_at": appraised_at,
        "hold": rng.random(m) < 0.001, "disposed_at": disposed,
        "hash_algorithm": "sha256",
        "read_error": np.where(rng.random(m) < 0.00005, "broken cross-reference table", None),
        "encrypted": rng.random(m) < 0.00002, "nonpublic_compression": False,
        # PDF/A claimed by the annual reports' PDFs, bar ~1 % (INT-002 not_pdfa)
        "pdfa": np.where((fmt == "pdf") & (category == "年度财务会计报告") & (rng.random(m) > 0.01), "2b", None),
    })
    # the handover list of each batch, a few declaring one archive or a few bytes too many
    per = archives.groupby("batch_id", sort=True).agg(n=("archive_id", "size"), b=("size_bytes", "sum"))
    nb = len(per)
    batches = pd.DataFrame({
        "batch_id": per.index.to_numpy(), "declared_count": per["n"].to_numpy() + (np.arange(nb) % 97 == 5),
        "declared_bytes": per["b"].to_numpy() + 4096 * (np.arange(nb) % 89 == 7),
        "handed_over_at": pd.to_datetime(pd.Series(per.index.str.slice(3, 7)) + "-06-30").dt.tz_localize(TZ),
        "from_party": "财务部", "to_party": "档案室",
    })
    u = max(3, m // 200_000)
    unlisted = pd.DataFrame({"path": ["README.md", *(f"tmp/scan-{i:04d}.pdf" for i in range(u))],
                             "size_bytes": rng.integers(10_000, 2_000_000, u + 1), "format": ["md", *["pdf"] * u]})
    return archives, batches, unlisted


def _backups(rng: np.random.Generator, size: Size) -> pd.DataFrame:
    # the finance databases the pack names (BAK-001, HO-001's backup before a handover) are
    # verified daily, the other datasets weekly
    named = ["erp-db", "earchive-db", "earchive-files"]
    datasets = np.array(named + [f"ds-{i:03d}" for i in range(len(named), size.datasets)])
    ds = np.repeat(datasets, size.days)
    day = np.tile(np.arange(size.days), len(datasets))
    k = len(ds)
    finished = AS_OF - pd.to_timedelta(day, unit="D") - pd.to_timedelta(rng.integers(3600, 6 * 3600, k), unit="s")
    stale = np.isin(ds, datasets[len(named):: max(1, size.datasets // 5)]) & (day < 3)  # a few 3 days behind
    checked = (day % 7 == 0) | np.isin(ds, named)
    return pd.DataFrame({
        "backup_id": _ids("B", k), "dataset": ds, "started_at": finished - pd.Timedelta(minutes=40),
        "finished_at": finished, "status": np.where(stale | (rng.random(k) < 0.01), "failed", "success"),
        "location": np.where(day % 2 == 0, "local-nas", "offsite-oss"), "offsite": day % 2 == 1,
        "encrypted": True, "size_bytes": rng.integers(10**9, 10**10, k),
        "verified_at": pd.Series(finished).where(checked),
        "verify_status": np.where(checked, "success", None),
        "restore_tested_at": pd.Series(finished).where(day % 60 == 0),
    })
