"""``emit_checks`` (kinds/base.py): several checks of one frame emitted at once give the
findings that emitting each check on its own gives, in the same order."""

from __future__ import annotations

import pandas as pd

from ledgerguard.scanner.kinds.base import concat_findings, emit_checks, emit_where


def _frame() -> pd.DataFrame:
    """Rows with an index that is not 0..n, text with gaps, times with gaps, integers and flags."""
    frame = pd.DataFrame({
        "subject": pd.Series([f"change:C{n}" for n in range(6)], dtype="str"),
        "who": pd.Series(["P1", None, "P3", "P1", "P5", None], dtype="str"),
        "at": pd.to_datetime(["2026-01-05 00:00", None, "2026-02-01 09:30", "2026-03-01 00:00", None,
                              "2026-04-01 00:00"], format="%Y-%m-%d %H:%M").tz_localize("Asia/Shanghai"),
        "days": [3, 0, 12, 7, 1, 40],
        "urgent": [True, False, False, True, True, False],
    })
    return frame.set_axis([10, 3, 7, 0, 22, 5])


def test_emit_checks_is_each_check_emitted_on_its_own() -> None:
    frame = _frame()
    extra = pd.Series(["x", "y", "z", "u", "v", "w"], index=frame.index)
    evidence = {"who": frame["who"], "at": frame["at"], "days": frame["days"], "urgent": frame["urgent"],
                "extra": extra}
    checks = [
        ("late", frame["days"] > 5, lambda r: r["subject"] + " is " + r["days"].astype("str") + " days late"),
        ("never", frame["days"] > 100, "matches nothing"),
        ("urgent", frame["urgent"].where(frame["days"] != 1), "is urgent"),  # a gap in the mask: not a finding
        ("mark", frame["who"].notna(), "marked " + extra),  # a message aligned to the frame
    ]
    got = emit_checks(frame, checks, person_id="who", evidence=evidence)
    want = concat_findings([emit_where(frame, mask, code=code, message=message, person_id="who", evidence=evidence)
                            for code, mask, message in checks])
    pd.testing.assert_frame_equal(got, want)
    assert got["code"].tolist() == ["late"] * 3 + ["urgent"] * 2 + ["mark"] * 4


def test_emit_checks_without_findings_is_empty() -> None:
    frame = _frame()
    got = emit_checks(frame, [("none", frame["days"] < 0, "x")], evidence={"at": frame["at"]})
    pd.testing.assert_frame_equal(got, concat_findings([]))


def test_a_shared_head_starts_every_message_and_subjects_may_be_made() -> None:
    """``head`` (computed once for all the checks' rows) and a subject made from the rows give
    what each check's own message and subject give."""
    frame = _frame()
    checks = [("late", frame["days"] > 5, lambda r: " late by " + r["days"].astype("str")),
              ("urgent", frame["urgent"], " is urgent")]

    def head(rows: pd.DataFrame) -> pd.Series:
        return "[" + rows["who"].fillna("nobody") + "]"

    def subject(rows: pd.DataFrame) -> pd.Series:
        return "person:" + rows["who"].fillna("?")

    got = emit_checks(frame, checks, subject=subject, head=head, evidence={"at": frame["at"]})
    want = concat_findings([emit_where(frame, mask, code=code, subject=subject, evidence={"at": frame["at"]},
                                       message=lambda r, tail=tail: head(r) + (tail(r) if callable(tail) else tail))
                            for code, mask, tail in checks])
    pd.testing.assert_frame_equal(got, want)
    assert got["message"].tolist()[:3] == ["[P3] late by 12", "[P1] late by 7", "[nobody] late by 40"]
