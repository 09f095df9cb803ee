"""The demo organisation as the files a real company would hand over, plus ``sources.yaml``.

``ledgerguard demo`` writes these into ``OUT/sources/`` and runs ``collect`` over them,
so the demo exercises every offline connector the way a user would:

- ``hr.xlsx`` (file: XLSX, Chinese headers and words): the HR roster → identities;
- ``corp-ad.csv`` (file): the directory's account export → accounts;
- ``erp.sqlite``, ``earchive.sqlite`` (sql, ``generic`` profile): the finance systems'
  users, roles, permissions, logins (and archive access);
- ``oa-tickets.csv`` (file): permission-change tickets of the OA workflow → changes;
- ``access-reviews.csv`` (file): the quarterly access review sheets → reviews;
- ``handover-register.csv`` (file, Chinese headers, 是/否): the handover lists (移交清册)
  of the finance office → handovers;
- ``archive/`` + ``archive/catalog.csv`` (archive_store): real small PDF / OFD / XML
  files, hashed and sniffed at collect time;
- ``backup/<location>/<dataset>.json`` (backup_catalog, restic): ``restic snapshots
  --json`` of each repository; ``backup/checks.csv`` (backup_catalog, CSV): the
  operator's log of verifications and restore tests.

The finance databases use one small fictional schema (``FINANCE_SCHEMA``), read with
the ``generic`` SQL profile: the SELECTs in ``sources.yaml`` are the mapping, ready to
copy for a real product without a shipped profile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import xlsxwriter

from ledgerguard.scanner.fsutil import atomic_dir

from .org import TZ, archive_file, build_tables

HR_COLUMNS = {  # HR roster header -> identities column
    "工号": "person_id", "姓名": "name", "部门": "department", "岗位": "position", "在职状态": "status",
    "离职日期": "departure_date", "调岗日期": "transfer_date", "原岗位": "previous_position",
    "直属上级工号": "manager_id", "邮箱": "email", "入职日期": "hire_date",
}
HR_STATUS = {"在职": "active", "离职": "departed", "调岗": "transferred", "休假": "leave"}
DIRECTORY_COLUMNS = {
    "系统": "system", "账号": "account_id", "工号": "person_id", "显示名": "display_name", "启用": "enabled",
    "锁定": "locked", "创建时间": "created_at", "停用时间": "disabled_at", "最后登录": "last_login_at",
    "密码设置时间": "password_last_set", "多因素认证": "mfa_enabled", "账号类型": "account_type",
    "负责人工号": "owner_person_id",
}
TICKET_COLUMNS = {
    "变更单号": "change_id", "系统": "system", "账号": "account_id", "操作": "action", "角色": "role",
    "执行人": "performed_by", "执行时间": "performed_at", "申请单号": "request_id", "申请人": "requested_by",
    "审批人": "approved_by", "审批时间": "approved_at", "审批状态": "approval_status",
    "核验人": "verified_by", "核验时间": "verified_at", "紧急变更": "emergency",
}
TICKET_ACTIONS = {"授权": "grant", "收回": "revoke", "启用": "enable", "停用": "disable", "新建": "create",
                  "删除": "delete", "修改": "modify"}
REVIEW_COLUMNS = {"系统": "system", "账号": "account_id", "复核人": "reviewer", "复核时间": "reviewed_at",
                  "复核结论": "decision"}
REVIEW_DECISIONS = {"保留": "keep", "撤销": "revoke"}
CATALOG_COLUMNS = {
    "档号": "archive_id", "门类": "category", "年度": "fiscal_year", "题名": "title", "全宗号": "fonds",
    "期间": "period", "形成时间": "created_at", "归档时间": "archived_at", "文件路径": "path",
    "文件格式": "format", "归档哈希": "sha256", "状态": "status", "销毁时间": "destroyed_at",
    "销毁清册号": "destruction_register_id", "销毁批准人": "destruction_approved_by", "鉴定时间": "appraised_at",
    "冻结": "hold", "资产处置日期": "disposed_at",
    "账套": "account_set", "凭证字": "voucher_type", "凭证号": "voucher_no", "移交批次": "batch_id",
}
CATALOG_STATUS = {"在库": "active", "已销毁": "destroyed", "已移交": "transferred"}
YES_NO = {"true": "是", "false": "否"}
#: the handover register (移交清册登记簿) kept by the finance office, as a CSV with Chinese headers
HANDOVER_COLUMNS = {
    "交接编号": "handover_id", "移交人工号": "from_person_id", "接替人工号": "to_person_id",
    "监交人工号": "supervisor_id", "交接时间": "handed_over_at", "移交人签字": "signed_by_from",
    "接替人签字": "signed_by_to", "监交人签字": "signed_by_supervisor", "交接范围": "scope", "紧急": "emergency",
}

#: the finance systems' (fictional) schema: table -> (column, snapshot column or None)
FINANCE_SCHEMA: dict[str, list[tuple[str, str]]] = {
    "sys_user": [("user_code", "account_id"), ("emp_no", "person_id"), ("user_name", "display_name"),
                 ("is_active", "enabled"), ("is_locked", "locked"), ("created_time", "created_at"),
                 ("disabled_time", "disabled_at"), ("last_login_time", "last_login_at"),
                 ("pwd_changed_time", "password_last_set"), ("mfa_bound", "mfa_enabled"),
                 ("user_type", "account_type"), ("owner_emp_no", "owner_person_id")],
    "sys_user_role": [("user_code", "account_id"), ("role_code", "role"), ("org_code", "scope"),
                      ("grant_time", "granted_at"), ("grantor", "granted_by")],
    "sys_role_perm": [("role_code", "role"), ("perm_code", "permission"), ("effect", "effect"),
                      ("remark", "description")],
    "sys_login_log": [("user_code", "account_id"), ("login_time", "at"), ("result", "success"),
                      ("client_ip", "source_ip")],
    "arc_access_log": [("log_no", "event_id"), ("archive_no", "archive_id"), ("operator", "actor"),
                       ("op_type", "action"), ("op_time", "at")],
}
FINANCE_TABLES = {"sys_user": "accounts", "sys_user_role": "grants", "sys_role_perm": "role_permissions",
                  "sys_login_log": "logins", "arc_access_log": "access_log"}
BOOL_COLUMNS = {"is_active", "is_locked", "mfa_bound", "result"}


def _query(vendor_table: str) -> str:
    cols = ", ".join(f"{src} AS {dst}" if src != dst else src for src, dst in FINANCE_SCHEMA[vendor_table])
    return f"SELECT {cols} FROM {vendor_table}"


def _reverse(mapping: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in mapping.items()}


def _frame(df: pd.DataFrame, columns: dict[str, str], values: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """A snapshot table as the source shows it: its own headers and words."""
    out = df[[c for c in columns.values() if c in df.columns]].copy()
    for col, mapping in (values or {}).items():
        back = _reverse(mapping)
        out[col] = out[col].map(lambda v, m=back: m.get(v, v) if isinstance(v, str) else v)
    return out.rename(columns=_reverse(columns))


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


def _hr_xlsx(path: Path, identities: pd.DataFrame) -> None:
    """The HR roster as HR keeps it: Chinese headers and words, real Excel dates."""
    df = _frame(identities, HR_COLUMNS, {"status": HR_STATUS})
    dates = {"离职日期", "调岗日期", "入职日期"}
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    wb.set_properties({"title": "花名册", "created": dt.datetime(2020, 1, 1)})
    ws = wb.add_worksheet("花名册")
    header, date_fmt = wb.add_format({"bold": True}), wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, list(df.columns), header)
    ws.freeze_panes(1, 0)
    for r, row in enumerate(df.itertuples(index=False), 1):
        for c, (name, value) in enumerate(zip(df.columns, row, strict=True)):
            if not isinstance(value, str):
                continue
            if name in dates:
                ws.write_datetime(r, c, dt.datetime.fromisoformat(value), date_fmt)
            else:
                ws.write_string(r, c, value)
    wb.close()


def _finance_db(path: Path, system: str, tables: dict[str, pd.DataFrame]) -> list[str]:
    """One finance system's database; returns the vendor tables it holds."""
    con = sqlite3.connect(path)
    held = []
    try:
        for vendor, snap in FINANCE_TABLES.items():
            df = tables[snap]
            if "system" in df.columns:
                df = df[df["system"] == system]
            elif system != "earchive":  # archive access is logged by the archive system only
                continue
            cols = FINANCE_SCHEMA[vendor]
            con.execute(f"CREATE TABLE {vendor} ({', '.join(c for c, _ in cols)})")
            rows = [[_db_value(src, row.get(dst)) for src, dst in cols]
                    for row in df.to_dict("records")]
            con.executemany(f"INSERT INTO {vendor} VALUES ({', '.join('?' for _ in cols)})", rows)
            held.append(vendor)
        con.commit()
    finally:
        con.close()
    return held


def _db_value(column: str, value: object) -> object:
    if not isinstance(value, str):
        return None
    return int(value == "true") if column in BOOL_COLUMNS else value


def _restic_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _backups(root: Path, backups: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """restic JSON per (location, dataset) and the check log; returns the (location, dataset, offsite)."""
    repos = []
    ok = backups[backups["status"] == "success"]
    checks = []
    for (location, dataset), rows in ok.groupby(["location", "dataset"], sort=True):
        snaps = []
        for row in rows.sort_values("finished_at").to_dict("records"):
            sid = _restic_id(location, row["backup_id"])
            snaps.append({
                "time": row["started_at"], "tree": _restic_id("tree", sid), "paths": [f"/srv/backup/{dataset}"],
                "hostname": "backup01", "username": "restic", "tags": [dataset], "program_version": "restic 0.17.3",
                "summary": {"backup_start": row["started_at"], "backup_end": row["finished_at"],
                            "total_bytes_processed": int(row["size_bytes"])},
                "id": sid, "short_id": sid[:8],
            })
            if isinstance(row["verified_at"], str) or isinstance(row["restore_tested_at"], str):
                checks.append({**row, "backup_id": sid})
        path = root / location / f"{dataset}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(snaps, indent=1) + "\n", encoding="utf-8")
        repos.append((location, dataset, rows["offsite"].iloc[0] == "true"))
    cols = ["backup_id", "dataset", "started_at", "finished_at", "status", "location", "offsite", "encrypted",
            "size_bytes", "verified_at", "verify_status", "restore_tested_at"]
    _write_csv(root / "checks.csv", pd.DataFrame(checks, columns=cols))
    return repos


def _archive(root: Path, archives: pd.DataFrame) -> None:
    """Real files for every archive in custody (the tampered one altered, the missing one absent)."""
    for row in archives.to_dict("records"):
        if row["status"] != "active" or row["file_exists"] != "true":
            continue
        tampered = isinstance(row["actual_sha256"], str) and row["actual_sha256"] != row["sha256"]
        path = root / row["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive_file(row, tampered=tampered))
    _unlisted(root, archives)
    catalog = archives.copy()
    catalog["format"] = catalog["catalog_format"].fillna(catalog["format"])  # the catalog's claim
    catalog["hold"] = catalog["hold"].map(YES_NO)
    _write_csv(root / "catalog.csv", _frame(catalog, CATALOG_COLUMNS, {"status": CATALOG_STATUS}))


def _unlisted(root: Path, archives: pd.DataFrame) -> None:
    """The scan left in the archive folder with no catalog row (``DemoOrg.unlisted_files``)."""
    year = str(int(archives["fiscal_year"].astype(int).max()))
    path = root / year / "scan-unfiled.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(archive_file({"archive_id": "unfiled", "fiscal_year": "", "period": "", "title": "scan",
                                   "format": "pdf"}))


def _register_sources() -> list[str]:
    """The handover lists and the borrow register: spreadsheets the archives office keeps."""
    return [
        "  - name: handover-lists          # 移交清册: what each handover batch declares",
        "    kind: file",
        "    path: handover-lists.csv",
        "    table: batches",
        "  - name: borrow-register         # 借阅登记簿",
        "    kind: file",
        "    path: borrow-register.csv",
        "    table: borrows",
    ]


def _yaml_map(mapping: dict[str, str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}{k}: {v}" for k, v in mapping.items())


def _values(column: str, mapping: dict[str, str], indent: int) -> str:
    pad = " " * indent
    return f"{pad}{column}: {{{', '.join(f'{k}: {v}' for k, v in mapping.items())}}}"


def _sources_yaml(repos: list[tuple[str, str, bool]], held: dict[str, list[str]]) -> str:
    parts = [
        "# The demo company's sources (generated by `ledgerguard demo`; see app/demo/bundle.py).",
        "# Run it yourself:  ledgerguard collect --sources sources.yaml --out snapshot",
        f"timezone: {TZ}",
        "sources:",
        "  - name: hr                      # HR roster (花名册), Chinese headers and words",
        "    kind: file",
        "    path: hr.xlsx",
        "    sheet: 花名册",
        "    table: identities",
        "    columns:",
        _yaml_map(HR_COLUMNS, 6),
        "    values:",
        _values("在职状态", HR_STATUS, 6),
        "  - name: corp-ad                 # account export of the directory",
        "    kind: file",
        "    path: corp-ad.csv",
        "    table: accounts",
        "    columns:",
        _yaml_map(DIRECTORY_COLUMNS, 6),
    ]
    for system in ("erp", "earchive"):
        parts += [
            f"  - name: {system}                 # the {system} database, read with the generic SQL profile",
            "    kind: sql",
            f"    url: sqlite:///{system}.sqlite",
            "    profile: generic",
            "    queries:",
            *(f"      {FINANCE_TABLES[v]}: \"{_query(v)}\"" for v in held[system]),
        ]
    parts += [
        "  - name: oa-tickets              # permission-change tickets of the OA workflow",
        "    kind: file",
        "    path: oa-tickets.csv",
        "    table: changes",
        "    columns:",
        _yaml_map(TICKET_COLUMNS, 6),
        "    values:",
        _values("操作", TICKET_ACTIONS, 6),
        _values("审批状态", {"已批准": "approved", "待审批": "pending", "已驳回": "rejected"}, 6),
        "  - name: access-reviews          # quarterly access review sheets",
        "    kind: file",
        "    path: access-reviews.csv",
        "    table: reviews",
        "    columns:",
        _yaml_map(REVIEW_COLUMNS, 6),
        "    values:",
        _values("复核结论", REVIEW_DECISIONS, 6),
        "  - name: handover-register       # the finance office's register of handover lists (移交清册)",
        "    kind: file",
        "    path: handover-register.csv",
        "    table: handovers",
        "    columns:",
        _yaml_map(HANDOVER_COLUMNS, 6),
        "  - name: archive                 # the electronic archive: catalog + files, hashed at collect time",
        "    kind: archive_store",
        "    catalog: archive/catalog.csv",
        "    root: archive",
        "    record_fixity_time: false       # the demo's snapshots stay identical run after run",
        "    columns:",
        _yaml_map(CATALOG_COLUMNS, 6),
        "    values:",
        _values("状态", CATALOG_STATUS, 6),
        *_register_sources(),
    ]
    for location, dataset, offsite in repos:
        parts += [
            f"  - name: backup-{location}-{dataset}",
            "    kind: backup_catalog",
            "    format: restic",
            f"    path: backup/{location}/{dataset}.json",
            f"    dataset: {dataset}",
            f"    location: {location}",
            f"    offsite: {str(offsite).lower()}",
        ]
    parts += [
        "  - name: backup-checks           # verifications and restore tests, logged by the operator",
        "    kind: backup_catalog",
        "    format: csv",
        "    path: backup/checks.csv",
    ]
    return "\n".join(parts) + "\n"


def write_sources(out_dir: Path, as_of: dt.date) -> Path:
    """Write the demo's source files and ``sources.yaml`` into ``out_dir`` (atomically); returns the yaml."""
    tables = build_tables(as_of)
    with atomic_dir(out_dir) as tmp:
        _hr_xlsx(tmp / "hr.xlsx", tables["identities"])
        accounts = tables["accounts"]
        _write_csv(tmp / "corp-ad.csv", _frame(accounts[accounts["system"] == "corp-ad"], DIRECTORY_COLUMNS))
        held = {system: _finance_db(tmp / f"{system}.sqlite", system, tables) for system in ("erp", "earchive")}
        changes = tables["changes"]
        _write_csv(tmp / "oa-tickets.csv", _frame(changes, TICKET_COLUMNS, {
            "action": TICKET_ACTIONS, "approval_status": {"已批准": "approved"}, "emergency": _reverse(YES_NO)}))
        signed = {c: _reverse(YES_NO) for c in ("signed_by_from", "signed_by_to", "signed_by_supervisor", "emergency")}
        _write_csv(tmp / "handover-register.csv", _frame(tables["handovers"], HANDOVER_COLUMNS, signed))
        _write_csv(tmp / "access-reviews.csv", _frame(tables["reviews"], REVIEW_COLUMNS,
                                                      {"decision": REVIEW_DECISIONS}))
        _archive(tmp / "archive", tables["archives"])
        _write_csv(tmp / "handover-lists.csv", tables["batches"])
        _write_csv(tmp / "borrow-register.csv", tables["borrows"])
        repos = _backups(tmp / "backup", tables["backups"])
        (tmp / "sources.yaml").write_text(_sources_yaml(repos, held), encoding="utf-8")
    return out_dir / "sources.yaml"
