"""backup_frequency — every dataset is backed up, copied offsite, verified and restorable
(SPEC §5, §5.1). One finding per dataset and code, subject ``dataset:NAME``.

Only backups with status ``success`` count as backups. Per dataset matching ``datasets``:

* ``no_successful_backup``: no successful backup at all (also for a literal dataset
  name in ``datasets`` that has no backup rows); the other checks are then skipped —
  there is nothing to judge;
* ``backup_overdue``: the newest successful ``finished_at`` is more than
  ``max_interval_hours`` before now (an instant comparison; exactly at the limit is fine);
* over the successful backups of the last ``window_days`` (local date of finished_at
  ≥ as-of date − window_days): ``too_few_locations`` (fewer than ``min_locations``
  distinct non-empty locations), ``no_offsite_copy`` (none with ``offsite``, when
  ``require_offsite``), ``unencrypted_backup`` (any without ``encrypted``, when
  ``require_encrypted``);
* ``not_verified``: the newest ``verified_at`` with ``verify_status`` success is empty or
  more than ``verify_within_days`` days old (local dates);
* ``no_restore_test``: the newest ``restore_tested_at`` is empty or more than
  ``restore_test_within_days`` days old.
"""

from __future__ import annotations

from ..context import Context, glob_mask
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, concat_findings, emit_where, glob_counts, text

_GLOB_CHARS = set("*?[")


def _days(minimum: int, default: int, description: str) -> dict:
    return {"type": "integer", "minimum": minimum, "default": default, "description": description}


@KINDS.register("backup_frequency")
class BackupFrequency(PolicyKind):
    subject = "dataset (dataset:NAME)"
    tables = ("backups",)
    codes = {
        "no_successful_backup": "the dataset has no successful backup at all",
        "backup_overdue": "the newest successful backup is older than max_interval_hours",
        "too_few_locations": "fewer than min_locations distinct locations among the window's successful backups",
        "no_offsite_copy": "no offsite copy among the window's successful backups",
        "unencrypted_backup": "a successful backup of the window is not encrypted",
        "not_verified": "no successful verification within verify_within_days",
        "no_restore_test": "no restore test within restore_test_within_days",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "datasets": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": ["*"],
                         "description": "Datasets (globs) judged; a literal name must have backups."},
            "max_interval_hours": _days(1, 24, "Hours the newest successful backup may be old."),
            "window_days": _days(0, 7, "Days of successful backups judged for locations, offsite "
                                       "and encryption."),
            "min_locations": _days(1, 2, "Distinct locations needed in the window."),
            "require_offsite": {"type": "boolean", "default": True,
                                "description": "The window needs at least one offsite copy."},
            "verify_within_days": _days(0, 7, "Days since the newest successful verification."),
            "restore_test_within_days": _days(0, 90, "Days since the newest restore test."),
            "require_encrypted": {"type": "boolean", "default": True,
                                  "description": "Every successful backup in the window is encrypted."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        p = self.params
        bk = ctx.table("backups")
        datasets = glob_counts(bk["dataset"], p["datasets"], distinct=True)
        bk = bk[glob_mask(bk["dataset"], p["datasets"])]
        ok = bk[bk["status"].astype("str").str.strip().str.lower() == "success"]
        expected = {d for d in p["datasets"] if not _GLOB_CHARS & set(d)}
        all_sets = sorted(set(bk["dataset"].dropna().astype("str")) | expected)
        self.cover(len(all_sets), "datasets matching the globs", decisive="datasets", datasets=datasets)
        if not all_sets:
            return concat_findings([])
        per = pd.DataFrame({"dataset": all_sets})
        per["subject"] = "dataset:" + per["dataset"]
        window = ok[ctx.days_since(ok["finished_at"]) <= p["window_days"]]
        verified = bk[bk["verify_status"].astype("str").str.strip().str.lower() == "success"]
        per = per.merge(ok.groupby("dataset")["finished_at"].max().rename("last_success"),
                        left_on="dataset", right_index=True, how="left")
        per = per.merge(verified.groupby("dataset")["verified_at"].max().rename("last_verified"),
                        left_on="dataset", right_index=True, how="left")
        per = per.merge(bk.groupby("dataset")["restore_tested_at"].max().rename("last_restore_test"),
                        left_on="dataset", right_index=True, how="left")
        win = window.assign(unenc=~window["encrypted"].fillna(False).astype(bool),
                            location=window["location"].where(window["location"].astype("str").str.strip() != ""))
        agg = win.groupby("dataset").agg(
            window_backups=("backup_id", "size"), locations=("location", "nunique"),
            offsite_copies=("offsite", "sum"), unencrypted=("unenc", "sum"),
            location_list=("location", lambda s: ", ".join(sorted(set(s.dropna().astype("str"))))),
        )
        per = per.merge(agg, left_on="dataset", right_index=True, how="left")
        for c in ("window_backups", "locations", "offsite_copies", "unencrypted"):
            per[c] = per[c].fillna(0).astype("int64")
        per["location_list"] = per["location_list"].fillna("")
        per["hours_since"] = ((ctx.now - per["last_success"]).dt.total_seconds() / 3600).round(2)
        per["verified_days_ago"] = ctx.days_since(per["last_verified"])
        per["restore_days_ago"] = ctx.days_since(per["last_restore_test"])
        never = per["last_success"].isna()
        judged = per[~never]
        win_text = " in the last " + str(p["window_days"]) + " days"
        name = "dataset " + judged["dataset"]
        checks = [
            ("backup_overdue",
             judged["last_success"] < ctx.now - pd.Timedelta(hours=p["max_interval_hours"]),
             name + " was last backed up successfully " + judged["hours_since"].astype("str")
             + " hours ago (limit " + str(p["max_interval_hours"]) + ")",
             ["last_success", "hours_since"]),
            ("too_few_locations", judged["locations"] < p["min_locations"],
             name + " has successful backups in " + judged["locations"].astype("str") + " location(s)"
             + win_text + ", needs " + str(p["min_locations"]),
             ["locations", "location_list", "window_backups"]),
            ("no_offsite_copy", (judged["offsite_copies"] == 0) & p["require_offsite"],
             name + " has no successful offsite backup" + win_text,
             ["offsite_copies", "location_list", "window_backups"]),
            ("unencrypted_backup", (judged["unencrypted"] > 0) & p["require_encrypted"],
             name + " has " + judged["unencrypted"].astype("str") + " unencrypted successful backup(s)" + win_text,
             ["unencrypted", "window_backups"]),
            ("not_verified",
             judged["last_verified"].isna() | (judged["verified_days_ago"] > p["verify_within_days"]),
             name + " was last verified successfully " + text(judged["last_verified"]).replace("", "never")
             + " (limit " + str(p["verify_within_days"]) + " days)",
             ["last_verified", "verified_days_ago"]),
            ("no_restore_test",
             judged["last_restore_test"].isna() | (judged["restore_days_ago"] > p["restore_test_within_days"]),
             name + " was last restore-tested " + text(judged["last_restore_test"]).replace("", "never")
             + " (limit " + str(p["restore_test_within_days"]) + " days)",
             ["last_restore_test", "restore_days_ago"]),
        ]
        parts = [emit_where(per, never, code="no_successful_backup",
                            message=lambda r: "dataset " + r["dataset"] + " has no successful backup")]
        parts += [emit_where(judged, mask, code=code, message=message, evidence=evidence)
                  for code, mask, message, evidence in checks]
        return concat_findings(parts)
