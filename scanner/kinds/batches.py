"""handover_batches — each handover batch holds what its list (移交清册) declares.

会计档案管理办法 第十二条 and DA/T 94-2022 require a handover list for every transfer
to the archives; DA/T 70 checks the transferred set against it (完整性/总件数相符性,
总字节数相符性). ``batches`` (batch_id, declared_count, declared_bytes, …) is the
register; ``archives.batch_id`` says which batch carried each archive.

* ``batch_count_mismatch``: the archives of a batch ≠ ``declared_count``;
* ``batch_bytes_mismatch``: the sum of their ``size_bytes`` ≠ ``declared_bytes``
  (an archive without a size makes the sum unknown, which is reported too);
* ``batch_unknown``: archives name a batch the register does not list.

An empty declared value is a list that declares nothing: a mismatch, never a pass.
"""

from __future__ import annotations

from ..context import Context
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, concat_findings, emit_where, text


@KINDS.register("handover_batches")
class HandoverBatches(PolicyKind):
    subject = "batch (batch:BATCH_ID)"
    tables = ("archives", "batches")
    codes = {
        "batch_count_mismatch": "the batch's archive count differs from its declared_count",
        "batch_bytes_mismatch": "the batch's total size_bytes differs from its declared_bytes",
        "batch_unknown": "archives name a batch_id the batches register does not list",
    }
    dat70 = {"batch_count_mismatch": "完整性/总件数相符性", "batch_bytes_mismatch": "完整性/总字节数相符性",
             "batch_unknown": "完整性/总件数相符性"}

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc, reg = ctx.table("archives"), ctx.table("batches")
        self.cover(len(reg), "handover / transfer batches in the register")
        carried = arc[~blank(arc["batch_id"])]
        sizes = carried["size_bytes"]
        # grouped by the column as it is (a word column's codes, not 10M texts), then named as text
        per = pd.DataFrame({"batch_id": carried["batch_id"], "size": sizes,
                            "unsized": sizes.isna()}).groupby("batch_id", observed=True).agg(
            actual_count=("size", "size"), actual_bytes=("size", "sum"), unsized=("unsized", "sum"))
        per = per.reset_index()
        per = per.assign(batch_id=text(per["batch_id"])).sort_values("batch_id", ignore_index=True)
        reg = reg.assign(batch_id=text(reg["batch_id"]))
        both = reg.merge(per, on="batch_id", how="left")
        both["actual_count"] = both["actual_count"].fillna(0).astype("int64")
        both["actual_bytes"] = both["actual_bytes"].where(both["unsized"].fillna(0) == 0)
        both.loc[both["actual_count"] == 0, "actual_bytes"] = 0

        def differ(declared: pd.Series, actual: pd.Series) -> pd.Series:
            d = declared.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
            a = actual.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
            return pd.Series(~(d == a), index=declared.index)  # NaN on either side differs

        def subject(r: pd.DataFrame) -> pd.Series:
            return "batch:" + r["batch_id"]

        def says(column: str, actual: str, unit: str):
            return lambda r: ("batch " + r["batch_id"] + " declares " + text(r[column]).replace("", "nothing")
                              + f" {unit}, holds " + text(r[actual]).replace("", "an unknown number of") + f" {unit}")

        evidence = ["declared_count", "actual_count", "declared_bytes", "actual_bytes"]
        unknown = per[~per["batch_id"].isin(reg["batch_id"])]
        return concat_findings([
            emit_where(both, differ(both["declared_count"], both["actual_count"]), code="batch_count_mismatch",
                       subject=subject, message=says("declared_count", "actual_count", "archives"), evidence=evidence),
            emit_where(both, differ(both["declared_bytes"], both["actual_bytes"]), code="batch_bytes_mismatch",
                       subject=subject, message=says("declared_bytes", "actual_bytes", "bytes"), evidence=evidence),
            emit_where(unknown, None, code="batch_unknown", subject=subject,
                       message=lambda r: "archives name batch " + r["batch_id"] + ", which the batches register "
                       "does not list", evidence=["actual_count"]),
        ])
