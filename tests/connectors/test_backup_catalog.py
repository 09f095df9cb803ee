"""kind: backup_catalog — restic and borg JSON listings and CSV catalogs → backups."""

from __future__ import annotations

import json

import pandas as pd
from connector_helpers import write_sources

RESTIC = [  # the shape `restic snapshots --json` prints (restic 0.17)
    {"time": "2026-11-20T02:00:01.123456789+08:00", "tree": "ab", "paths": ["/srv/gl-db"],
     "hostname": "db1", "username": "root", "tags": ["nightly"], "program_version": "restic 0.17.3",
     "summary": {"backup_start": "2026-11-20T02:00:01.123456789+08:00",
                 "backup_end": "2026-11-20T02:03:09.5+08:00", "total_bytes_processed": 1048576},
     "id": "4f8e0d1c2b3a", "short_id": "4f8e0d1c"},
    {"time": "2026-11-21T02:00:00+08:00", "tree": "cd", "paths": ["/srv/gl-db"], "hostname": "db1",
     "id": "5a6b7c8d9e0f", "short_id": "5a6b7c8d"},
]
BORG = {  # the shape `borg list --json` prints (borg 1.2): naive local timestamps
    "archives": [
        {"archive": "gl-db-2026-11-20T02:00:00", "barchive": "gl-db-2026-11-20T02:00:00",
         "id": "e3b0c442", "name": "gl-db-2026-11-20T02:00:00", "start": "2026-11-20T02:00:00.000000",
         "time": "2026-11-20T02:00:00.000000"},
    ],
    "encryption": {"mode": "repokey-blake2"},
    "repository": {"id": "0011", "last_modified": "2026-11-20T02:05:00.000000",
                   "location": "ssh://backup@offsite.example/./gl"},
}


def read(snap):
    return pd.read_csv(snap / "backups.csv", dtype=str, keep_default_na=False)


def test_restic_borg_and_csv(tmp_path, cli):
    (tmp_path / "restic.json").write_text(json.dumps(RESTIC))
    (tmp_path / "borg.json").write_text(json.dumps(BORG))
    (tmp_path / "manual.csv").write_text(
        "编号,数据集,完成时间,结果,异地\nM1,payroll,2026/11/19 23:00,成功,是\n", encoding="utf-8")
    src = write_sources(tmp_path, """
        - {name: nas, kind: backup_catalog, format: restic, path: restic.json, location: nas-1}
        - {name: offsite, kind: backup_catalog, format: borg, path: borg.json, offsite: true,
           timezone: Asia/Shanghai}
        - name: manual
          kind: backup_catalog
          format: csv
          path: manual.csv
          columns: {编号: backup_id, 数据集: dataset, 完成时间: finished_at, 结果: status, 异地: offsite}
          values: {结果: {成功: success, 失败: failed}}
          date_formats: ["%Y/%m/%d %H:%M"]
        """, timezone="UTC")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    df = read(tmp_path / "snap").set_index("backup_id")
    assert df.loc["4f8e0d1c2b3a", "dataset"] == "/srv/gl-db"
    assert df.loc["4f8e0d1c2b3a", "finished_at"] == "2026-11-20T02:03:09.5+08:00"
    assert df.loc["5a6b7c8d9e0f", "finished_at"] == "2026-11-21T02:00:00+08:00"  # no summary: time
    assert df.loc["4f8e0d1c2b3a", "size_bytes"] == "1048576"
    assert (df.loc[["4f8e0d1c2b3a", "5a6b7c8d9e0f"], "encrypted"] == "true").all()
    assert df.loc["4f8e0d1c2b3a", "location"] == "nas-1"
    # borg's naive start is read in the source's timezone, not the snapshot's UTC
    assert df.loc["e3b0c442", "finished_at"] == "2026-11-20T02:00:00+08:00"
    assert df.loc["e3b0c442", "dataset"] == "gl-db"
    assert df.loc["e3b0c442", "location"] == "ssh://backup@offsite.example/./gl"
    assert df.loc["e3b0c442", ["offsite", "encrypted", "status"]].tolist() == ["true", "true", "success"]
    assert df.loc["M1", ["dataset", "finished_at", "status", "offsite"]].tolist() == [
        "payroll", "2026-11-19T23:00:00", "success", "是"]


def test_malformed_listing_fails_the_source(tmp_path, cli):
    (tmp_path / "restic.json").write_text('[{"time": "2026-11-20T02:00:01+08:00",')
    (tmp_path / "borg.json").write_text(json.dumps(RESTIC))  # wrong tool's output
    src = write_sources(tmp_path, """
        - {name: a, kind: backup_catalog, format: restic, path: restic.json}
        - {name: b, kind: backup_catalog, format: borg, path: borg.json, timezone: UTC}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "restic.json:1:" in r.output and "invalid JSON" in r.output
    assert "borg: expected the JSON object printed by `borg list --json`" in r.output
    assert not (tmp_path / "snap").exists()


def test_bad_csv_row_names_file_row_and_column(tmp_path, cli):
    (tmp_path / "manual.csv").write_text(
        "编号,数据集,完成时间,状态\nM1,payroll,2026-11-19 23:00,success\nM2,payroll,昨天,success\n",
        encoding="utf-8")
    src = write_sources(tmp_path, """
        - name: manual
          kind: backup_catalog
          format: csv
          path: manual.csv
          columns: {编号: backup_id, 数据集: dataset, 完成时间: finished_at, 状态: status}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert f"{tmp_path / 'manual.csv'}:3: row 2, column '完成时间' (finished_at): '昨天' is not" in r.output
