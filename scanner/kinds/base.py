"""What a policy kind is, and the helpers every kind uses to emit findings.

A kind is a small class registered by name: its ``params_schema`` (JSON Schema with
defaults — the one source for validation, defaults and docs), the ``tables`` it
needs, the finding ``codes`` it can emit, and ``evaluate(ctx)``: a pure function of
params and the scan context returning a findings frame built with ``emit``.

**Coverage** (docs/findings.md): ``evaluate`` also says what it examined, by calling
``self.cover(examined, unit, decisive=…, **matched)`` once — the number of rows or
subjects in scope (``unit`` names them: "enabled accounts", "archives", …) and, per
glob- or name-based param, how many snapshot values each entry matched
(``systems={"erp": 12}``, ``rules={"SOD-01": 4}``). The engine turns it into the
policy's ``coverage`` object: a policy without findings that examined nothing, or whose
``decisive`` group matched nothing at all, ends ``inconclusive`` (never ``pass``); every
single entry that matched nothing is a warning shown beside the policy. A kind that
forgets to call ``cover`` ends in ``error``: no pass without coverage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ..context import factorize, glob_mask
from ..contract import SEVERITIES
from ..lazy import numpy as np
from ..lazy import pandas as pd
from ..lazy import pyarrow as pa
from ..registry import Registry
from ..snapshot import digest_text, is_digest
from ..timeutil import iso_text

if TYPE_CHECKING:
    from ..context import Context

KINDS: Registry[type[PolicyKind]] = Registry("policy kind", "ledgerguard.scanner.kinds")

FINDING_COLUMNS = ["code", "subject", "person_id", "message", "evidence", "key", "severity", "messages"]

#: a params value naming a severity (e.g. the severity of one finding code)
SEVERITY = {"enum": list(SEVERITIES)}

SYSTEMS_PARAM = {
    "type": "array", "items": {"type": "string"}, "default": ["*"],
    "description": "Systems (globs) whose accounts are judged; all by default.",
}


class PolicyKind:
    name: ClassVar[str]
    #: the subject each finding names (docs): account, person, change, archive, dataset, …
    subject: ClassVar[str] = "account"
    #: tables the kind cannot work without (missing or unusable → policy status error)
    tables: ClassVar[tuple[str, ...]] = ()
    #: finding code → one-line meaning (docs and `policies show`)
    codes: ClassVar[dict[str, str]] = {}
    #: finding code → the DA/T 70-2018 四性检测 item it shows, "property/item" (e.g.
    #: "完整性/元数据完整性"); every finding record carries it as ``dat70`` (docs/findings.md)
    dat70: ClassVar[dict[str, str]] = {}
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    #: the kind compares the snapshot with an earlier one (``scan --previous-snapshot``,
    #: ``Context.previous_table``); without it the kind says what it could not check
    uses_previous_snapshot: ClassVar[bool] = False
    #: the joins the kind's evaluation leaves in the context (``joined``), named as
    #: ``Context.caches`` names them, those it builds through others included
    joins: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = {**self.defaults(), **(params or {})}
        #: set by ``evaluate`` through ``cover``: what this evaluation examined
        self.coverage: dict[str, Any] | None = None

    def cover(self, examined: int, unit: str, *, decisive: str | None = None,
              **matched: dict[str, int]) -> None:
        """Record what ``evaluate`` examined: ``examined`` rows/subjects (``unit``), and per
        param group how many snapshot values each of its entries matched. ``decisive``
        names the group whose entries are the policy's rules: when none of them matched
        anything, the policy could not judge anything (inconclusive)."""
        self.coverage = {"examined": int(examined), "unit": unit,
                         "matched": {g: {k: int(v) for k, v in m.items()} for g, m in matched.items()},
                         "decisive": decisive}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        props = cls.params_schema.get("properties", {})
        return {k: v["default"] for k, v in props.items() if "default" in v}

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The params schema, closed against unknown keys."""
        return {"additionalProperties": False, **cls.params_schema}

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[tuple[tuple, str]]:
        """Checks beyond JSON Schema: (path inside params, message) for each problem."""
        return []

    def reads(self) -> tuple[str, ...]:
        """The tables this policy reads: the one answer the engine (which tables must be
        usable), the gate (which policies a change can affect) and the worker grouping
        (how heavy a kind is) all ask. A kind whose table comes from its params overrides it."""
        return self.tables

    def joined(self) -> frozenset[str]:
        """The context's joins this policy reads (``joins``; a kind whose joins depend on its
        params overrides it). A worker drops each join once no later kind group reads it
        (workers.py); a join read but not named here is built again, so the declarations are
        kept complete by tests/kinds/test_joins.py."""
        return self.joins

    def permission_globs(self) -> list[str] | None:
        """The permission globs through which alone a role matters to this kind's findings, or
        None when a role matters otherwise too (its name, who holds it, since when). With
        globs, a grant or revoke of a role that gives none of them and denies nothing alters
        none of the findings: the incremental gate does not evaluate the policy again
        (scanner/gate.py, ``beside``)."""
        return None

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        raise NotImplementedError


def coverage_warnings(coverage: dict[str, Any]) -> list[str]:
    """One warning per param entry that matched nothing in the snapshot (none for the
    coverage of an incremental gate's region, which says nothing of the snapshot)."""
    if coverage.get("region"):
        return []
    return [f"{group} {name!r} matched nothing in the snapshot"
            for group, entries in coverage["matched"].items() for name, n in entries.items() if n == 0]


def inconclusive_reason(coverage: dict[str, Any]) -> str | None:
    """Why a policy without findings cannot be called a pass, or None when it can."""
    if coverage["examined"] == 0:
        return f"examined nothing: no {coverage['unit']} in scope"
    rules = coverage["matched"].get(coverage["decisive"]) if coverage["decisive"] else None
    if rules and not any(rules.values()):
        return f"none of its {coverage['decisive']} matched anything in the snapshot"
    return None


def glob_counts(values: pd.Series, globs: Iterable[str], *, distinct: bool = False) -> dict[str, int]:
    """Per glob, how many of ``values`` (rows, or distinct values with ``distinct``) it matches."""
    if distinct:
        values = pd.Series(pd.unique(values.dropna()), dtype=object)
    return {g: int(glob_mask(values, [g]).sum()) for g in globs}


def in_systems(accounts: pd.DataFrame, systems: list[str], among: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The positions of the rows of ``accounts`` among ``among`` (a boolean mask) whose system
    matches one of the globs ``systems``, and per glob how many rows of ``among`` it matches
    (the coverage's ``systems``). Positions, so that a kind takes the columns it uses at them
    once: a row selection takes every column (~0.2 s for the 1.5M enabled accounts at size L)."""
    counts = glob_counts(accounts["system"][among], systems)
    return np.flatnonzero(among & glob_mask(accounts["system"], systems).to_numpy()), counts


@cache
def _no_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS})


def empty_findings() -> pd.DataFrame:
    """A findings frame without rows: a copy of one built once (building it costs ~0.6 ms,
    and every check without findings returns one)."""
    return _no_findings().copy()


def jsonable(s: pd.Series) -> pd.Series:
    """Evidence values as JSON scalars: ISO dates/times, bools, ints, strings (a digest as
    its hex), None."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        return iso_text(s)
    if is_digest(s):
        return digest_text(s).astype(object).where(s.notna(), None)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(object)
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype(object).where(s.notna(), None)
    if pd.api.types.is_float_dtype(s.dtype):
        whole = s.notna() & (s == s.round())
        out = s.astype(object).where(s.notna(), None)
        out[whole] = s[whole].astype("int64").astype(object)
        return out
    return s.astype(object).where(s.notna(), None)


def _missing(v: object) -> bool:
    """``pd.isna`` of one evidence value; text, lists and dicts (most values) never ask pandas."""
    return v is None or (not isinstance(v, str | list | dict | bool | int) and bool(pd.isna(v)))


def json_values(s: pd.Series) -> list:
    """``jsonable(s).tolist()``: each value as a JSON scalar, in a list. The usual evidence
    columns (Arrow text, object, flags and integers without gaps) go straight to Python values
    without jsonable's pandas round trips, which cost ~1 ms a column whatever its length —
    more than the values themselves for the few rows of most findings."""
    dtype = s.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pa.array(s).to_pylist()  # nulls come out as None
    if dtype is np.dtype(object):
        return [None if _missing(v) else v for v in s.tolist()]
    if dtype.kind in "bi" and isinstance(dtype, np.dtype):  # numpy bool / int64: no missing values
        return s.to_numpy().tolist()
    return jsonable(s).tolist()


def _aligned(s: pd.Series, index: pd.Index) -> pd.Series:
    return s if s.index is index else s.reindex(index)


def emit(
    rows: pd.DataFrame,
    *,
    code: str,
    subject: pd.Series | str,
    message: pd.Series | str,
    person_id: pd.Series | None = None,
    evidence: Iterable[str] | dict[str, pd.Series] = (),
    key: pd.Series | str | None = None,
    severity: pd.Series | str | None = None,
    messages: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """One finding per row of ``rows`` (vectorised; evidence dicts built only for findings).

    ``messages``: the message in other languages, where the policy's author wrote them
    (table_rule's ``message: {en: …, zh: …}``); the kinds' own codes are translated by the
    reports from code and evidence instead."""
    if rows.empty:
        return empty_findings()
    idx = rows.index
    if not isinstance(evidence, dict):
        evidence = {c: rows[c] for c in evidence}
    names = list(evidence)
    values = [json_values(_aligned(evidence[k], idx)) for k in names]

    def column(value: object) -> list:
        """A Series aligned to ``rows``, else one value for every row."""
        return _aligned(value, idx).tolist() if isinstance(value, pd.Series) else [value] * len(idx)

    if person_id is not None:
        person_id = pd.Series(json_values(_aligned(person_id, idx)), index=idx, dtype=object)
    return findings_frame(
        code=column(code),
        subject=column(subject),
        person_id=column(person_id),
        message=column(message),
        evidence=[dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)] if names
        else [{} for _ in range(len(idx))],
        key=column(key),
        severity=column(severity),
        messages=[dict(zip(messages, row, strict=True)) for row in zip(*(column(m) for m in messages.values()),
                                                                        strict=True)]
        if messages else column(None),
    )


def findings_frame(**columns: list) -> pd.DataFrame:
    """The findings frame from plain lists, one value per finding for each of FINDING_COLUMNS
    (evidence: dicts of JSON values). ``emit`` ends here; a kind that gathers its findings in
    plain Python (a few thousand rows, where each pandas call costs more than the work it
    does) may build the lists itself."""
    return pd.DataFrame(columns, columns=FINDING_COLUMNS, dtype=object)


if TYPE_CHECKING:
    #: a finding's message: text, a Series aligned to the judged frame, or a function of the
    #: matching rows (so texts are built for findings only)
    Message = str | pd.Series | Callable[[pd.DataFrame], pd.Series]
    #: a subject or person column: the column's name, or a function of the matching rows
    RowValue = str | Callable[[pd.DataFrame], pd.Series]


def _row_values(rows: pd.DataFrame, value: RowValue | None) -> pd.Series | None:
    """A subject, person or key of the matching ``rows``: the named column, or the function's
    result on them (None stays None)."""
    if value is None:
        return None
    return rows[value] if isinstance(value, str) else value(rows)


def emit_where(
    frame: pd.DataFrame,
    mask: pd.Series | None,
    *,
    code: str,
    message: Message,
    subject: RowValue = "subject",
    person_id: RowValue | None = None,
    evidence: Iterable[str] | dict[str, pd.Series] = (),
    severity: str | None = None,
    extend: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    key: RowValue | None = None,
) -> pd.DataFrame:
    """Findings for the rows of ``frame`` where ``mask`` holds (every row when None).

    The one way a kind turns a checks table ``[(code, mask, message)]`` into findings
    (see ``ChangeApproval.evaluate``): the rows are selected once, and texts and
    evidence are built for the matching rows only — ``extend`` adds the columns that
    only findings need to those rows. ``key`` tells apart findings of one code about one
    subject (e.g. each duty of a person): part of the finding id.
    """
    selected = None if mask is None else mask.fillna(False).astype(bool)
    rows = frame if selected is None else frame[selected]
    if rows.empty:
        return empty_findings()
    # the selected positions, when the mask lines up with ``frame``: a Series of ``frame``
    # (evidence, messages) is then cut by position, not looked up label by label
    at = None if selected is None or extend is not None or not selected.index.equals(frame.index) \
        else selected.to_numpy()
    if extend is not None:
        rows = extend(rows)

    def cut(s: pd.Series) -> pd.Series:
        """``s`` aligned to ``rows``."""
        if s.index is rows.index:
            return s
        if at is not None and s.index is frame.index:
            return pd.Series(s.array[at], index=rows.index, name=s.name)
        return s.reindex(rows.index)

    def of(value: RowValue | Message) -> pd.Series | str:
        if callable(value):
            return value(rows)
        return cut(value) if isinstance(value, pd.Series) else value

    if isinstance(evidence, dict):
        evidence = {k: cut(v) for k, v in evidence.items()}
    return emit(rows, code=code, subject=_row_values(rows, subject), person_id=_row_values(rows, person_id),
                message=of(message), evidence=evidence, severity=severity, key=_row_values(rows, key))


def emit_checks(
    frame: pd.DataFrame,
    checks: list[tuple[str, pd.Series, Message]],
    *,
    subject: RowValue = "subject",
    person_id: RowValue | None = None,
    evidence: dict[str, pd.Series] | None = None,
    head: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> pd.DataFrame:
    """``concat_findings([emit_where(frame, mask, code=code, message=message, ...) for code, mask,
    message in checks])`` for checks that share their subject, person and evidence columns: the
    rows of every check are stacked (check after check, each in ``frame``'s order) and emitted
    at once, so each evidence column is converted to JSON values once, not once per check.
    Converting a column costs ~0.1–1.5 ms however few its rows (a time column the most): with
    twelve evidence columns and five checks that found something, change_approval spent most
    of its time there. ``mask``: aligned to ``frame``; a message that is a function gets the
    rows of its own check. ``head``: the start every check's message shares, a function of
    the rows (of all the checks at once)."""
    found = [(code, np.flatnonzero(_aligned(mask, frame.index).fillna(False).to_numpy(dtype=bool)), message)
             for code, mask, message in checks]
    found = [(code, at, message) for code, at, message in found if len(at)]
    if not found:
        return empty_findings()
    at = np.concatenate([rows for _, rows, _ in found])
    rows = frame.take(at).reset_index(drop=True)
    ends = np.cumsum([len(part) for _, part, _ in found])
    messages = []
    for (_, part, message), end in zip(found, ends, strict=True):
        mine = rows.iloc[end - len(part):end]
        if callable(message):
            message = message(mine)
        elif isinstance(message, pd.Series):
            message = pd.Series(_aligned(message, frame.index).array.take(part), index=mine.index)
        messages.append(message if isinstance(message, pd.Series) else pd.Series(message, index=mine.index))
    message = pd.concat(messages).set_axis(rows.index)
    return emit(rows, code=pd.Series(np.repeat([code for code, _, _ in found], [len(p) for _, p, _ in found]),
                                     index=rows.index),
                subject=_row_values(rows, subject), person_id=_row_values(rows, person_id),
                message=message if head is None else head(rows) + message,
                evidence={k: pd.Series(_aligned(v, frame.index).array.take(at), index=rows.index)
                          for k, v in (evidence or {}).items()})


def concat_findings(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty_findings()


def account_subject(df: pd.DataFrame) -> pd.Series:
    return "account:" + df["system"].astype("str") + ":" + df["account_id"].astype("str")


def text(s: pd.Series) -> pd.Series:
    """A column as display text for messages ('' where empty)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.strftime("%Y-%m-%d").fillna("")
    if is_digest(s):
        return digest_text(s).fillna("")
    return s.astype("str").fillna("")


def is_words(s: pd.Series) -> bool:
    """A word column (snapshot.py): a categorical, each distinct value held once."""
    return isinstance(s.dtype, pd.CategoricalDtype)


def by_word(s: pd.Series, per_word: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``per_word`` of a word column, computed on its distinct values and spread to the rows by
    their codes (missing values get ``per_word`` of a missing value)."""
    categories = s.cat.categories
    distinct = pd.Series([*categories.to_numpy(), None], dtype=categories.dtype)
    return pd.Series(per_word(distinct).to_numpy()[s.cat.codes.to_numpy()], index=s.index)


class Words:
    """A vocabulary column (status, format, category) factorised once: each distinct value as
    the kinds compare it (text, stripped, lower-case; "" for a missing value) in ``words``, and
    each row's position in it in ``codes``. A million archives have a handful of statuses, so
    a test runs once per word instead of a chain of text operations over every row."""

    def __init__(self, s: pd.Series) -> None:
        # a word column is already factorised
        codes, uniques = (s.cat.codes.to_numpy(), s.cat.categories) if is_words(s) else factorize(s)
        self.words = [str(u).strip().lower() for u in uniques] + [""]
        self.codes = codes  # -1 (missing) picks the last word: ""

    def where(self, test: Callable[[str], bool]) -> np.ndarray:
        """Rows whose word passes ``test``."""
        return np.array([test(w) for w in self.words], dtype=bool)[self.codes]


def blank(s: pd.Series) -> pd.Series:
    """Empty values: missing, or text that is only whitespace (§5.1: empty = never / false).
    A number, date or flag is never whitespace: only its missing values are empty."""
    if is_words(s):
        return by_word(s, blank)
    if not (isinstance(s.dtype, pd.StringDtype) or s.dtype == object):
        return s.isna()
    maybe = _maybe_blank(s)
    if maybe is not None:  # only the values that may be blank are stripped
        out = s.isna().to_numpy().copy()
        at = np.flatnonzero(maybe & ~out)
        if len(at):
            out[at] = (s.iloc[at].astype("str").str.strip() == "").to_numpy()
        return pd.Series(out, index=s.index)
    return s.isna() | (s.astype("str").str.strip() == "")


def _maybe_blank(s: pd.Series) -> np.ndarray | None:
    """For Arrow text: the values that are empty or begin with a byte that may start whitespace
    (the first UTF-8 byte of a character ``str.strip`` removes); every other value has a
    non-space first character, so it is not blank. Read from the offsets and first bytes of the
    Arrow buffers: stripping 1M hashes or paths copies every byte, this reads one per value.
    None: not Arrow text (the caller strips everything)."""
    if not (isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"):
        return None
    arr = pa.array(s)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if arr.type not in (pa.string(), pa.large_string()):
        return None
    width = "int64" if arr.type == pa.large_string() else "int32"
    _, offsets, data = arr.buffers()
    offsets = np.frombuffer(offsets, dtype=width)[arr.offset:arr.offset + len(arr) + 1]
    starts = offsets[:-1]
    maybe = offsets[1:] == starts  # empty
    if data is not None and data.size:
        # a non-empty value starts before the end of the data; an empty one's byte does not matter
        maybe |= _space_starts()[np.frombuffer(data, dtype="uint8")[np.minimum(starts, data.size - 1)]]
    return maybe


@cache
def _space_starts() -> np.ndarray:
    """Per byte: may a whitespace-only text begin with it. The characters Arrow's (pandas')
    ``str.strip`` removes are \\t-\\r, \\x1c-\\x1f, space, U+0085, U+00A0 (UTF-8 lead byte C2),
    U+1680 (E1), U+2000-U+200A, U+2028, U+2029, U+202F, U+205F (E2) and U+3000 (E3);
    tests/kinds/test_blank.py checks every code point against this table."""
    starts = np.zeros(256, dtype=bool)
    starts[[*range(0x09, 0x0E), *range(0x1C, 0x21), 0xC2, 0xE1, 0xE2, 0xE3]] = True
    return starts


SMALL = 5000  # rows below which grouping in plain Python beats a pandas sort


def _as_key(s: pd.Series) -> pd.Series:
    """Integer keys (``Context.keyed`` account codes) stay integers; anything else is text."""
    return s if pd.api.types.is_integer_dtype(s.dtype) else s.astype("str")


def _distinct_runs(df: pd.DataFrame, keys: list[str], column: str) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Sorted distinct values of ``column`` per group of ``keys``: the groups' keys and one
    array of values per group, from one sort and one split (no Python call per group)."""
    key_cols = {k: _as_key(df[k]) for k in keys}
    if len(df) <= SMALL:  # the typical evidence case: a few findings' rows, where pandas' overhead dominates
        groups: dict[tuple, set] = {}
        for *k, v in zip(*(s.tolist() for s in key_cols.values()), df[column].astype("str").tolist(), strict=True):
            if isinstance(v, str) and all(isinstance(x, str | int) for x in k):
                groups.setdefault(tuple(k), set()).add(v)
        ordered = sorted(groups)
        columns = list(zip(*ordered, strict=True)) if ordered else [() for _ in keys]
        found = {k: pd.Series(col, dtype=key_cols[k].dtype) for k, col in zip(keys, columns, strict=True)}
        return pd.DataFrame(found), [np.array(sorted(groups[k]), dtype=object) for k in ordered]
    d = pd.DataFrame({**{k: s.to_numpy() for k, s in key_cols.items()},
                      column: df[column].astype("str").to_numpy()}).dropna()
    d = d.drop_duplicates().sort_values([*keys, column], kind="stable", ignore_index=True)
    if d.empty:
        return d[keys], []
    k = d[keys]
    starts = np.flatnonzero((k != k.shift()).any(axis=1).to_numpy())
    parts = np.split(d[column].to_numpy(dtype=object), starts[1:])
    return k.iloc[starts].reset_index(drop=True), parts


def group_lists(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Sorted distinct values per key, as lists indexed by key (evidence like "which roles")."""
    groups, parts = _distinct_runs(pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy()}), ["k"], "v")
    return pd.Series([p.tolist() for p in parts], index=groups["k"].to_numpy(), dtype=object)


def joined_per(df: pd.DataFrame, keys: list[str], column: str, name: str, *, limit: int | None = None,
               sep: str = ", ", count: str | None = None) -> pd.DataFrame:
    """Sorted distinct values of ``column`` per group of ``keys`` as one text column ``name``
    (the first ``limit`` values when given), and their number as column ``count`` when
    asked for; the groups' keys are the other columns."""
    groups, parts = _distinct_runs(df, keys, column)
    groups[name] = pd.Series([sep.join(p[:limit].tolist()) for p in parts], index=groups.index, dtype="str")
    if count:
        groups[count] = np.array([len(p) for p in parts], dtype="int64")
    return groups
