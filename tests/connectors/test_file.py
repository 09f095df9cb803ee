"""kind: file — CSV and XLSX exports with Chinese headers, value maps and date formats."""

from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pandas as pd
from connector_helpers import write_sources

HR_SOURCE = """
- name: hr
  kind: file
  path: {path}
  table: identities
  {extra}
  columns: {{工号: person_id, 姓名: name, 状态: status, 离职日期: departure_date}}
  values: {{状态: {{在职: active, 离职: departed}}}}
  date_formats: ["%Y/%m/%d", "%Y年%m月%d日"]
"""


def test_csv_with_chinese_headers_values_and_date_formats(tmp_path, cli):
    (tmp_path / "hr.csv").write_text(
        "工号,姓名,状态,离职日期,备注\nP1,张三,在职,,\nP2,李四,离职,2026/10/31,x\nP3,王五,离职,2026年9月1日,\n",
        encoding="utf-8-sig")
    src = write_sources(tmp_path, HR_SOURCE.format(path="hr.csv", extra=""), timezone="Asia/Shanghai")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    assert "source hr (file): ok" in r.output
    df = pd.read_csv(tmp_path / "snap" / "identities.csv", dtype=str, keep_default_na=False)
    assert df["person_id"].tolist() == ["P1", "P2", "P3"]
    assert df["status"].tolist() == ["active", "departed", "departed"]
    assert df["departure_date"].tolist() == ["", "2026-10-31", "2026-09-01"]
    assert df["备注"].tolist() == ["", "x", ""]  # unmapped columns are kept
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["timezone"] == "Asia/Shanghai"
    assert manifest["tables"]["identities"]["rows"] == 3
    [entry] = manifest["sources"]
    assert entry["status"] == "ok" and entry["tables"] == ["identities"] and entry["error"] is None
    assert entry["duration_seconds"] >= 0


def test_xlsx_sheet_with_real_date_cells(tmp_path, cli):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["this sheet is not the data"])
    ws = wb.create_sheet("花名册")
    ws.append(["工号", "姓名", "状态", "离职日期"])
    ws.append(["P1", "张三", "在职", None])
    ws.append(["P2", "李四", "离职", dt.datetime(2026, 10, 31)])
    ws.append([1003, "赵六", "离职", "2026年11月2日"])
    wb.save(tmp_path / "hr.xlsx")
    src = write_sources(tmp_path, HR_SOURCE.format(path="hr.xlsx", extra="sheet: 花名册"))
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "snap" / "identities.csv", dtype=str, keep_default_na=False)
    assert df["person_id"].tolist() == ["P1", "P2", "1003"]
    assert df["departure_date"].tolist() == ["", "2026-10-31", "2026-11-02"]


def test_missing_sheet_is_named(tmp_path, cli):
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "hr.xlsx")
    src = write_sources(tmp_path, HR_SOURCE.format(path="hr.xlsx", extra="sheet: 花名册"))
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "no sheet '花名册' (sheets: Sheet1)" in r.output


def test_bad_rows_name_file_row_and_column(tmp_path, cli):
    (tmp_path / "hr.csv").write_text(
        "工号,姓名,状态,离职日期\nP1,张三,在职,\nP2,李四,离职,2026/13/45\n", encoding="utf-8")
    src = write_sources(tmp_path, HR_SOURCE.format(path="hr.csv", extra=""))
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "hr.csv:3: row 2, column '离职日期' (departure_date): '2026/13/45'" in r.output
    assert not (tmp_path / "snap").exists()


def test_bad_boolean_and_missing_required_column(tmp_path, cli):
    (tmp_path / "acc.csv").write_text("系统,账号,启用\nfin,zs,是\nfin,ls,maybe\n", encoding="utf-8")
    (tmp_path / "grants.csv").write_text("system,account_id\nfin,zs\n", encoding="utf-8")
    src = write_sources(tmp_path, """
        - name: acc
          kind: file
          path: acc.csv
          table: accounts
          columns: {系统: system, 账号: account_id, 启用: enabled}
        - name: grants
          kind: file
          path: grants.csv
          table: grants
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "acc.csv:3: row 2, column '启用' (enabled): 'maybe' is not a boolean" in r.output
    assert "table 'grants' lacks required column(s): role" in r.output


def test_bad_xlsx_cells_name_file_sheet_row_and_column(tmp_path, cli):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(["工号", "姓名", "状态", "离职日期"])
    ws.append(["P1", "张三", "在职", None])
    ws.append(["P2", "李四", "离职", "31.10.2026"])
    ws.append(["P3", "王五", "离职", dt.datetime(2026, 9, 1)])
    ws.append(["P4", "赵六", "离职", "2026年13月1日"])
    wb.save(tmp_path / "hr.xlsx")
    src = write_sources(tmp_path, HR_SOURCE.format(path="hr.xlsx", extra="sheet: 花名册"))
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    where = f"{tmp_path / 'hr.xlsx'}[花名册]"
    assert f"{where}:3: row 2, column '离职日期' (departure_date): '31.10.2026' is not" in r.output
    assert f"{where}:5: row 4, column '离职日期' (departure_date): '2026年13月1日' is not" in r.output
    assert ":4: row 3" not in r.output  # a real date cell is fine
    assert not (tmp_path / "snap").exists()
