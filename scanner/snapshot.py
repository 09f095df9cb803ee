"""Snapshots (SPEC §3): a directory of one file per table plus ``manifest.json``.

``TABLES`` is the single description of every table's columns and types; the reader
types each column once (booleans, ISO times in the snapshot timezone, integers),
checks required columns and names the file, row and column of any bad value.
``write_snapshot`` is what ``collect`` and the demo use; it writes atomically.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .errors import InputError, Problem, TableUnavailable
from .fsutil import atomic_dir
from .jsonload import parse_json, read_input
from .lazy import numpy as np
from .lazy import pandas as pd
from .lazy import pyarrow as pa
from .timeutil import check_timezone, iso_text, parse_times
from .yamlload import Positions, YamlDoc, parse_yaml, validate

FORMAT = "ledgerguard-snapshot/1"
MAX_BAD_VALUES_PER_COLUMN = 5


@dataclass(frozen=True)
class Column:
    name: str
    #: str | word | digest | bool | time | int; a word is text whose values repeat (a vocabulary,
    #: a category, a group's name), held as a pandas categorical: each distinct value once; a
    #: digest is a SHA-256 in hex, held as its 32 bytes when the whole column allows (``_digests``)
    type: str = "str"
    required: bool = False


def _cols(spec: str) -> tuple[Column, ...]:
    """``"*person_id name departure_date:time"`` → columns; ``*`` = required."""
    out = []
    for token in spec.split():
        required = token.startswith("*")
        name, _, typ = token.lstrip("*").partition(":")
        out.append(Column(name, typ or "str", required))
    return tuple(out)


TABLES: dict[str, tuple[Column, ...]] = {
    "identities": _cols(
        "*person_id name department position *status departure_date:time transfer_date:time "
        "previous_position manager_id email"
    ),
    "accounts": _cols(
        "*system *account_id person_id display_name *enabled:bool locked:bool expires_at:time "
        "disabled_at:time created_at:time last_login_at:time password_last_set:time "
        "mfa_enabled:bool account_type owner_person_id"
    ),
    # role_name: the role's display name (role is the product's identity for it);
    # native_permission: the product's own permission a mapped duty comes from;
    # permission_name: the product's own name for it (U8's 审核凭证)
    # (docs/connectors.md, "Role identity" and "Native permissions and duties")
    "grants": _cols("*system *account_id *role scope granted_at:time granted_by expires_at:time "
                    "role_name description"),
    "role_permissions": _cols("*system *role *permission effect description native_permission role_name "
                                  "permission_name"),
    "changes": _cols(
        "*change_id *system account_id *action role performed_by *performed_at:time request_id "
        "requested_by approved_by approved_at:time approval_status verified_by verified_at:time "
        "emergency:bool"
    ),
    "reviews": _cols("*system *account_id reviewer *reviewed_at:time decision"),
    # 10M archives hold a few dozen categories, formats and statuses: those columns are words
    "archives": _cols(
        "*archive_id *category:word *fiscal_year:int title:word fonds:word period:word created_at:time "
        "archived_at:time path format:word size_bytes:int sha256:digest actual_sha256:digest file_exists:bool "
        "status:word destroyed_at:time destruction_register_id:word destruction_approved_by:word appraised_at:time "
        "hold:bool disposed_at:time "
        # voucher numbering and handover batches (archive_completeness)
        "account_set:word voucher_type:word voucher_no:int batch_id:word "
        # what archive_store reads from the file itself (archive_content)
        "hash_algorithm:word extension:word catalog_format:word read_error:word encrypted:bool "
        "nonpublic_compression:bool pdfa:word signed:bool xml_beside:bool fixity_checked_at:time path_error:word"
    ),
    "unlisted_files": _cols("*path size_bytes:int format"),
    "batches": _cols("*batch_id declared_count:int declared_bytes:int handed_over_at:time from_party to_party"),
    "borrows": _cols(
        "*borrow_id *archive_id *borrower approved_by *borrowed_at:time due_at:time returned_at:time"
    ),
    "backups": _cols(
        "*backup_id *dataset started_at:time *finished_at:time *status location offsite:bool "
        "encrypted:bool size_bytes:int verified_at:time verify_status restore_tested_at:time"
    ),
    "access_log": _cols("*event_id *archive_id actor *action *at:time"),
    "logins": _cols("*system *account_id *at:time success:bool source_ip"),
    # the handover register (移交清册, 会计基础工作规范 第二十五–二十九条): one row per handover
    "handovers": _cols(
        "*handover_id *from_person_id to_person_id supervisor_id *handed_over_at:time signed_by_from:bool "
        "signed_by_to:bool signed_by_supervisor:bool scope backup_id emergency:bool"
    ),
}

#: closed vocabularies (SPEC §3 "Vocabularies"): a non-empty value outside the list is bad
#: input naming table, row and column. Surrounding whitespace is trimmed, case is not
#: folded (``Departed`` is an error unless the source maps it with ``values:``). The open
#: columns (approval_status, verify_status, backups.status) stay open: anything but the
#: one value that counts does not count, which is already fail-safe.
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "identities": {"status": ("active", "departed", "transferred", "leave")},
    "archives": {"status": ("active", "destroyed", "transferred")},
    "accounts": {"account_type": ("personal", "shared", "service", "admin", "builtin")},
    "role_permissions": {"effect": ("allow", "deny")},
    "changes": {"action": ("grant", "revoke", "enable", "disable", "create", "delete", "modify")},
    "reviews": {"decision": ("keep", "revoke")},
}

#: the key of a table whose rows other tables join to: two rows with one key would make
#: "which one counts" a guess (an enabled and a disabled row for one account), so a repeat
#: is bad input naming both rows (SPEC §3: ``(system, account_id)`` is an account's key)
KEYS: dict[str, tuple[str, ...]] = {
    "identities": ("person_id",),
    "accounts": ("system", "account_id"),
}

#: columns that name a row, the subject of its findings (``account:erp:zhangsan``,
#: ``archive:A-1``): an empty one names nothing, so it is bad input, not a row that each
#: policy handles its own way (an archive policy ended in ``error`` on a subject of NaN)
NAMING: dict[str, tuple[str, ...]] = {**KEYS, "archives": ("archive_id",)}

_TRUE = {"true", "1", "yes", "y", "t", "是"}
_FALSE = {"false", "0", "no", "n", "f", "否"}
_BOOLS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Snapshot:
    """A read, typed snapshot. ``unusable`` maps a table to why it may not be trusted."""

    path: Path | None
    timezone: str
    taken_at: str | None
    tables: dict[str, pd.DataFrame]
    table_hashes: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    unusable: dict[str, str] = field(default_factory=dict)
    #: rows the manifest records for the tables ``read_snapshot(only=…)`` left unread
    unread_rows: dict[str, int] = field(default_factory=dict)
    #: (system, role) pairs held by grants that are not rows of this snapshot: a cut of a whole
    #: snapshot (the gate's region, ``gate.Region``) still knows which roles exist there
    roles_elsewhere: frozenset[tuple[str, str]] = frozenset()

    @property
    def rows(self) -> dict[str, int]:
        """Rows per table: counted where read, else as the manifest records them."""
        return dict(sorted({**self.unread_rows, **{name: len(df) for name, df in self.tables.items()}}.items()))

    @property
    def sha256(self) -> str:
        """One hash for the whole snapshot: over the sorted table hashes."""
        text = "\n".join(f"{k}:{v}" for k, v in sorted(self.table_hashes.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    def table(self, name: str) -> pd.DataFrame:
        if name in self.unusable:
            raise TableUnavailable(f"table {name!r} is unusable: {self.unusable[name]}")
        if name not in self.tables:
            raise TableUnavailable(f"table {name!r} is not in the snapshot")
        return self.tables[name]

    def has(self, name: str) -> bool:
        return name in self.tables or name in self.unusable

    def with_tables(self, **tables: pd.DataFrame) -> Snapshot:
        """A copy with some tables replaced (used by ``gate`` for the proposed state)."""
        return Snapshot(
            self.path, self.timezone, self.taken_at, {**self.tables, **tables},
            dict(self.table_hashes), list(self.sources), dict(self.unusable), dict(self.unread_rows),
            self.roles_elsewhere,
        )


def type_table(name: str, df: pd.DataFrame, tz: str, file: str) -> pd.DataFrame:
    """Type the known columns of ``df`` in place of the raw text; raise InputError on bad values."""
    problems: list[Problem] = []
    columns = TABLES.get(name, ())
    missing = [c.name for c in columns if c.required and c.name not in df.columns]
    if missing:
        raise InputError(Problem(f"table {name!r} lacks required column(s): {', '.join(missing)}", file, 1))
    if len(df) > limits.MAX_TABLE_ROWS:
        raise InputError(Problem(f"table {name!r} has {len(df):,} rows, more than {limits.MAX_TABLE_ROWS:,} "
                                 "(the limit)", file))
    problems.extend(_long_cells(df, file))
    df = df.copy(deep=False)
    # one column per type serves every absent column of that type: the frames share it
    # copy-on-write (at L, grants lack four text columns and archives two time columns)
    empty: dict[str, pd.Series] = {}
    for col in columns:
        if col.name not in df.columns:
            if col.type not in empty:
                empty[col.type] = _empty(col.type, len(df), tz)
            df[col.name] = empty[col.type]
            continue
        values = df[col.name]
        if col.type == "time":
            typed, bad = parse_times(values, tz)
            expected = "an ISO 8601 date or timestamp"
        elif col.type == "bool":
            typed, bad = _parse_bools(values)
            expected = "a boolean (true/false, 1/0, yes/no, 是/否)"
        elif col.type == "int":
            typed, bad = _parse_ints(values)
            expected = "a whole number (at most 18 digits)"
        else:
            typed = _words(values) if col.type == "word" else _digests(values) if col.type == "digest" \
                else _text(values)
            bad = None
            words = VOCABULARIES.get(name, {}).get(col.name)
            if words:
                typed, bad = _closed(typed, words)
                expected = f"one of {', '.join(words)} (table {name!r}; map other words with values:)"
        if bad is not None and bad.any():
            for pos in bad.to_numpy().nonzero()[0][:MAX_BAD_VALUES_PER_COLUMN]:
                problems.append(
                    Problem(
                        f"row {pos + 1}, column {col.name!r}: {_short(values.iloc[pos])!r} is not {expected}",
                        file,
                        int(pos) + 2,
                    )
                )
        df[col.name] = typed
    problems.extend(_empty_names(name, df, file))
    problems.extend(_repeated_keys(name, df, file))
    if problems:
        raise InputError(problems)
    return df


def _empty_names(name: str, df: pd.DataFrame, file: str) -> list[Problem]:
    """The first rows whose naming columns (``NAMING``) are empty, per column."""
    problems = []
    for column in NAMING.get(name, ()):
        values = df[column]
        empty = (values.isna() | (values == "")).to_numpy().nonzero()[0]
        problems += [Problem(f"row {pos + 1}, column {column!r}: empty, but it names the row (table {name!r})",
                             file, int(pos) + 2) for pos in empty[:MAX_BAD_VALUES_PER_COLUMN]]
    return problems


def _repeated_keys(name: str, df: pd.DataFrame, file: str) -> list[Problem]:
    """The first repeats of the table's key, each naming the row it repeats."""
    key = list(KEYS.get(name, ()))
    if not key or len(df) < 2:
        return []
    repeated = df.duplicated(key, keep=False).to_numpy().nonzero()[0]
    if not len(repeated):
        return []
    first: dict[tuple, int] = {}
    problems = []
    for pos in repeated:
        value = tuple(df[c].iloc[pos] for c in key)
        if value not in first:
            first[value] = int(pos)
            continue
        shown = ", ".join(f"{c}={_short(v)!r}" for c, v in zip(key, value, strict=True))
        problems.append(Problem(f"row {pos + 1}: key {shown} repeats row {first[value] + 1} "
                                f"(a key names one row of table {name!r})", file, int(pos) + 2))
        if len(problems) == MAX_BAD_VALUES_PER_COLUMN:
            break
    return problems


def _text(values: pd.Series) -> pd.Series:
    return values if values.dtype == "str" else values.astype("str").where(values.notna())


def _words(values: pd.Series) -> pd.Series:
    """A word column as a categorical of text. Parquet hands it over dictionary-encoded (its
    strings never materialised per row: at L ~2 GB of text becomes ~0.2 GB of codes), CSV as
    text, which is encoded here; a dictionary of numbers becomes their text, as a str column's."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return _text(values).astype("category")
    if values.cat.categories.dtype == "str":
        return values
    return _recode(values, _text)


def is_digest(s: pd.Series) -> bool:
    """A digest column held as 32 bytes a value (``_digests``)."""
    return isinstance(s.dtype, pd.ArrowDtype) and s.dtype.pyarrow_dtype == pa.binary(32)


def digest_text(s: pd.Series) -> pd.Series:
    """A digest column as the lower-case hex text it was read from (missing stays missing):
    each byte's two digits looked up at once, no Python string a value (a whole column, as
    ``table_rule`` sees it: 1M digests in ~0.05 s instead of ~0.6 s)."""
    digests = pa.array(s.array)
    if digests.offset:  # a slice: its validity bits start mid-byte; a copy starts at 0
        digests = pa.concat_arrays([digests])
    raw = np.frombuffer(digests.buffers()[1], dtype="uint8")[:len(digests) * 32]
    hexes = _hex_pairs()[raw]  # each byte's two digits, back to back: 64 a value
    offsets = np.arange(0, 64 * len(digests) + 1, 64, dtype="int64")
    text = pa.Array.from_buffers(pa.large_string(), len(digests),
                                 [digests.buffers()[0], pa.py_buffer(offsets), pa.py_buffer(hexes)])
    return pd.Series(text.to_pandas(types_mapper=arrow_types().get).array, index=s.index, name=s.name)


@functools.cache
def _hex_pairs() -> np.ndarray:
    """The two lower-case hex digits of each byte value, as one uint16 a byte."""
    return np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view("uint16")


#: values unhexed at a time: a Parquet digest column is decoded this many rows at a time, so
#: its 64-character text never exists whole (at L 0.72 GB a column, and the fresh memory's
#: page faults cost more CPU than the decoding: ~2.5 s of system time a column)
DIGEST_BATCH = 1 << 16


def _digests(values: pd.Series) -> pd.Series:
    """A SHA-256 column as 32 bytes a value instead of 64 hex characters and an 8-byte offset
    (at L the two digest columns take 0.64 GB instead of 1.44 GB). Only when every value is
    64 lower-case hex digits, as archive_store writes them: any other value (upper case,
    blanks, another length, an empty text) keeps the whole column as text, so the kinds
    compare and the findings show exactly what the snapshot holds. (A large Parquet column
    arrives as bytes already: ``_parquet_digests``.)"""
    if is_digest(values):
        return values
    text = _text(values)
    if not isinstance(text.array, pd.arrays.ArrowStringArray):
        return text
    chunks = text.array.__arrow_array__().chunks
    digests = _unhexed((c.slice(i, DIGEST_BATCH) for c in chunks for i in range(0, len(c), DIGEST_BATCH)),
                       len(text))
    return text if digests is None else _digest_series(digests, values.index, values.name)


def _parquet_digests(file: Any, name: str) -> pd.DataFrame | None:
    """Parquet digest column ``name`` of ``file`` as 32 bytes a value, decoded ``DIGEST_BATCH``
    rows at a time; None when ``_digests`` would keep it as text (not text, or a value that is
    not 64 lower-case hex digits): the caller then reads it as text."""
    rows = file.metadata.num_rows
    if file.schema_arrow.field(name).type not in (pa.string(), pa.large_string()):
        return None
    batches = file.iter_batches(batch_size=DIGEST_BATCH, columns=[name], use_threads=False)
    digests = _unhexed((batch.column(0) for batch in batches), rows)
    return None if digests is None else pd.DataFrame({name: _digest_series(digests, pd.RangeIndex(rows), name)})


def _digest_series(digests: pa.Array, index: pd.Index, name: Any) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(digests), index=index, name=name)


def _unhexed(parts: Iterable[pa.Array], rows: int) -> pa.Array | None:
    """Arrow text ``parts`` (``rows`` values in all) as one binary(32) array, or None when a
    value is not 64 lower-case hex digits or every value is missing."""
    out = np.empty((rows, 32), dtype="uint8")
    valid = np.empty(rows, dtype=bool)
    at = 0
    for part in parts:
        if not _unhex(part, out[at:at + len(part)], valid[at:at + len(part)]):
            return None
        at += len(part)
    if at != rows or not valid.any():
        return None
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.binary(32), rows, [bitmap, pa.py_buffer(out)])


_BIT_20 = 0x2020_2020_2020_2020


def _unhex(part: pa.Array, out: np.ndarray, valid: np.ndarray) -> bool:
    """Fill ``out`` (32 bytes a row) and ``valid`` from Arrow text ``part``; False when a
    value is not 64 lower-case hex digits. Read from the Arrow buffers: no Python string a value."""
    valid[:] = part.is_valid().to_numpy(zero_copy_only=False)
    width = "int64" if part.type == pa.large_string() else "int32"
    _, offsets, data = part.buffers()
    offsets = np.frombuffer(offsets, dtype=width)[part.offset:part.offset + len(part) + 1]
    if (np.diff(offsets) != np.where(valid, 64, 0)).any():
        return False
    if not valid.any():
        return True
    hexes = memoryview(data)[offsets[0]:offsets[-1]]  # back to back, 64 a value
    try:
        unhexed = binascii.unhexlify(hexes)  # refuses any byte but 0-9, a-f, A-F
    except binascii.Error:
        return False
    # of those, only A-F lack bit 0x20: one AND over the text, 8 bytes at a time, finds them
    # (~6× faster than deleting the lower-case digits with bytes.translate)
    if np.bitwise_and.reduce(np.frombuffer(hexes, dtype="uint64")) & _BIT_20 != _BIT_20:
        return False
    digests = np.frombuffer(unhexed, dtype="uint8").reshape(-1, 32)
    if valid.all():
        out[:] = digests
    else:
        out[valid] = digests
        out[~valid] = 0
    return True


def _recode(values: pd.Series, change: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """A categorical with ``change`` applied to each distinct value once (not to every row);
    values it makes equal share one category, values it makes missing become missing."""
    changed = change(pd.Series(values.cat.categories.to_numpy(), dtype=values.cat.categories.dtype))
    at, categories = pd.factorize(changed)
    codes = values.cat.codes.to_numpy()
    # a missing value (code -1) stays missing; fewer categories than before fit the codes' own
    # type (an int8 a row at L, not 80 MB of int64 a column)
    codes = np.append(at, -1).astype(codes.dtype)[codes]
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(_text(pd.Series(categories)))),
                     index=values.index, name=values.name)


def _trim(values: pd.Series) -> pd.Series:
    trimmed = values.str.strip()
    return trimmed.where(trimmed != "")


def _closed(values: pd.Series, words: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """A closed-vocabulary column trimmed, and which non-empty values lie outside ``words``."""
    trimmed = _recode(values, _trim) if isinstance(values.dtype, pd.CategoricalDtype) else _trim(values)
    return trimmed, trimmed.notna() & ~trimmed.isin(words)


def _long_cells(df: pd.DataFrame, file: str) -> list[Problem]:
    """The first cell of each text column longer than MAX_CELL_CHARS (Arrow counts, no Python loop).

    Characters are counted only in a column whose longest cell in bytes could exceed the
    limit: byte lengths come from the offsets, counting UTF-8 characters reads every byte
    (0.25 s of the 1M-archive table at bench size M)."""
    import pyarrow.compute as pc

    problems = []
    for col in df.columns:
        values = df[col]
        words = isinstance(values.dtype, pd.CategoricalDtype)
        if words:  # each distinct value once
            values = pd.Series(values.cat.categories.to_numpy(), dtype=values.cat.categories.dtype)
        if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
            continue
        try:
            arr = pa.array(values.array) if isinstance(values.array, pd.arrays.ArrowStringArray) else \
                pa.array(values.astype("str").to_numpy(dtype=object, na_value=None), type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        if (pc.max(pc.binary_length(arr)).as_py() or 0) <= limits.MAX_CELL_CHARS:
            continue  # a character takes at least one byte: no cell can be too long
        lengths = pc.utf8_length(arr)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limits.MAX_CELL_CHARS:
            pos = int(pc.index(lengths, longest).as_py())
            if words:  # the first row holding that value
                pos = int(np.flatnonzero(df[col].cat.codes.to_numpy() == pos)[0])
            problems.append(Problem(f"row {pos + 1}, column {col!r}: {longest:,} characters, more than "
                                    f"{limits.MAX_CELL_CHARS:,} (the limit)", file, pos + 2))
    return problems


def _short(value: object, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _empty(typ: str, n: int, tz: str) -> pd.Series:
    if typ == "time":
        return pd.Series(pd.NaT, index=range(n), dtype=f"datetime64[us, {tz}]")
    if typ == "bool":
        return pd.Series(False, index=range(n), dtype=bool)
    if typ == "int":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if typ == "word":  # one byte a row, not a text column's offsets
        return pd.Series(pd.Categorical.from_codes(np.full(n, -1, dtype="int8"),
                                                   dtype=pd.CategoricalDtype(pd.Index([], dtype="str"))))
    return pd.Series(pd.NA, index=range(n), dtype="str")


def _parse_ints(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers of at most 18 digits (``2015``, ``-1``); ``2015.5``, ``1e309`` and
    anything past int64 are bad values, not a crash in the cast."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64"), pd.Series(False, index=values.index)
    if pd.api.types.is_float_dtype(values.dtype):  # Parquet: whole floats only
        ok = np.isfinite(values) & (values == values.round()) & (values.abs() < 1e18)
        return values.where(ok).astype("Int64"), values.notna() & ~ok
    text = values.astype("str").str.strip()
    ok = text.str.fullmatch(r"[+-]?\d{1,18}").fillna(False).astype(bool)
    typed = pd.to_numeric(text.where(ok), errors="coerce").astype("Int64")
    return typed, values.notna() & (text != "") & ~ok


def _parse_bools(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Booleans per §3; an empty value is false (§5.1)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool), pd.Series(False, index=values.index)
    text = values.astype("str").str.strip().str.lower()
    mapped = text.map(_BOOLS)
    present = values.notna() & (text != "")
    bad = present & mapped.isna()
    return mapped.eq(True).astype(bool), bad


def _contiguous(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as one Arrow chunk each.

    Readers hand back a column in many chunks (row groups, CSV blocks), and Arrow's take
    on a chunked column concatenates the chunks first: selecting 500 rows of a 1M-row
    column cost ~20 ms instead of ~0.2 ms. Every policy selects rows many times, so the
    chunks are joined once here.
    """
    for col in df.columns:
        values = df[col].array
        if isinstance(values, pd.arrays.ArrowStringArray):
            chunked = values.__arrow_array__()
            if chunked.num_chunks > 1:
                joined = pa.chunked_array([chunked.combine_chunks()])
                df[col] = pd.Series(pd.arrays.ArrowStringArray(joined, dtype=values.dtype), index=df.index)
    return df


@functools.cache
def _text_dtype() -> pd.StringDtype:
    """pandas' default "str" (a function, not a constant: pandas is loaded on first use)."""
    return pd.StringDtype("pyarrow", na_value=np.nan)


def _mapped(path: Path) -> pa.Buffer | None:
    """A Parquet file's bytes, memory-mapped once: decoded and hashed from this one mapping
    (no copy, no second read). None for a CSV file: it is parsed from the file in blocks
    (holding a large CSV whole would add its size to the peak) and hashed in a pass of its own."""
    return pa.memory_map(str(path)).read_buffer() if path.suffix == ".parquet" else None


def _sha256(path: Path, mapped: pa.Buffer | None) -> str:
    # hashlib releases the GIL: this runs beside the decoding
    return hashlib.sha256(mapped).hexdigest() if mapped is not None else file_sha256(path)


@functools.cache
def arrow_types() -> dict:
    """The pandas dtype of Arrow's text, and of a digest column written by ``write_snapshot``:
    ``types_mapper`` of every Arrow table turned back into snapshot frames (a Parquet table
    file, the gate's table copies, the Dask engine's partitions)."""
    return {pa.string(): _text_dtype(), pa.large_string(): _text_dtype(), pa.binary(32): pd.ArrowDtype(pa.binary(32))}


def _parquet_frame(pq: Any, mapped: pa.Buffer, words: tuple[str, ...], digests: tuple[str, ...]) -> pd.DataFrame:
    """A Parquet file as a frame, one column at a time: each column's Arrow buffers are
    freed once converted, so the load's peak holds a column twice, not the whole table (at L
    the 10M-row archive table's load peaked ~0.5 GB lower). Two threads decode columns side by
    side (Arrow releases the GIL), as reading the whole table did: one column after the other
    made the 1M-row archive table's load ~0.3 s slower. A large digest column is decoded in
    batches straight into its bytes (``_parquet_digests``)."""
    schema = pq.read_schema(pa.BufferReader(mapped))
    types = arrow_types().get
    if not schema.names or any(isinstance(c, str) for c in (schema.pandas_metadata or {}).get("index_columns", [])):
        # (a frame written with its index: pandas' metadata turns that column into the index)
        file = pq.ParquetFile(pa.BufferReader(mapped), read_dictionary=[c for c in words if c in schema.names])
        return file.read().to_pandas(types_mapper=types, split_blocks=True, self_destruct=True)
    def read(names: list[str]) -> list[pd.DataFrame]:
        # a reader of its own: a ParquetFile read from two threads at once crashes the process
        own = pq.ParquetFile(pa.BufferReader(mapped), read_dictionary=[c for c in words if c in names])
        return [column(own, c) for c in names]

    def column(own: Any, name: str) -> pd.DataFrame:
        held = _parquet_digests(own, name) if name in digests else None
        return own.read(columns=[name]).to_pandas(types_mapper=types, self_destruct=True) if held is None else held

    halves = schema.names[0::2], schema.names[1::2]
    with ThreadPoolExecutor(2) as pool:
        frames = dict(zip([*halves[0], *halves[1]], itertools.chain(*pool.map(read, halves)), strict=True))
    return pd.concat([frames[c] for c in schema.names], axis=1)


def _read_file(path: Path, mapped: pa.Buffer | None, words: tuple[str, ...] = (),
               digests: tuple[str, ...] = ()) -> pd.DataFrame:
    """Table file ``path`` as a frame of raw columns: Parquet from its ``mapped`` bytes, else CSV.
    ``words``: columns read dictionary-encoded from Parquet (see ``_words``); ``digests``:
    columns a large Parquet file hands over as bytes (see ``_digests``)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only Parquet snapshots pay for the import

        # ParquetFile.read keeps each row group in one chunk; pd.read_parquet splits it into
        # 128k-row batches that _contiguous would have to join again (~0.3 s per 1M rows)
        return _parquet_frame(pq, mapped, words, digests)
    options = {"dtype": "str", "keep_default_na": False, "na_values": [""], "encoding": "utf-8-sig"}
    try:
        return pd.read_csv(path, engine="pyarrow", **options)  # multithreaded, ~4× the C parser
    except ValueError:
        # Arrow's reader refuses quoted newlines inside values; the C parser takes them
        # and reports real syntax errors with their line.
        return pd.read_csv(path, **options)


def _load_table(root: Path, manifest_path: Path, tz: str, hasher: ThreadPoolExecutor, name: str,
                entry: dict) -> tuple[pd.DataFrame | None, str | None, list[Problem]]:
    """One table of a snapshot: (typed frame, file sha256, problems).

    ``hasher`` hashes the file while this thread decodes it (off the load's longest path: the
    62 MB archive file of bench size M takes ~0.07 s), every scan, whatever the file's size
    and time say: the snapshot hash keys the gate cache and the history. A Parquet file is
    hashed from the very mapping that is decoded."""
    file = root / (entry.get("file") or f"{name}.csv")
    if not file.is_file():
        return None, None, [Problem(f"table {name!r}: file {file.name} is missing", str(manifest_path))]
    if file.resolve().parent != root.resolve():
        return None, None, [Problem(f"table {name!r}: file {file.name} leads out of the snapshot folder "
                                    f"(to {file.resolve()}); tables must be files inside it", str(manifest_path))]
    try:
        mapped = _mapped(file)
        digest = hasher.submit(_sha256, file, mapped)
        words, digests = (tuple(c.name for c in TABLES.get(name, ()) if c.type == typ) for typ in ("word", "digest"))
        df = _contiguous(type_table(name, _read_file(file, mapped, words, digests), tz, str(file)))
        actual = digest.result()
    except InputError as exc:
        return None, None, list(exc.problems)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        return None, None, [Problem(f"cannot read table {name!r}: {exc}", str(file))]
    recorded = entry.get("sha256")
    if recorded and recorded.lower() != actual:
        return df, actual, [Problem(f"table {name!r}: sha256 {actual} differs from the manifest's {recorded}",
                                    str(file))]
    return df, actual, []


#: a table's name and file: a plain name inside the snapshot folder (no separators, not . or ..)
_PLAIN_NAME = r"^(?!\.\.?$)[^/\\\x00]+$"
#: what a manifest.json may hold (docs/snapshots.md): checked like every other input file,
#: with line and column, before anything it names is opened
MANIFEST_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "format": {"type": "string"},
        "taken_at": {"type": ["string", "null"]},
        "timezone": {"type": ["string", "null"]},
        "sources": {"type": "array", "items": {
            "type": "object", "required": ["name", "status"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "kind": {"type": "string"},
                "status": {"enum": ["ok", "error"]},
                "error": {"type": ["string", "null"]},
                "tables": {"type": "array", "items": {"type": "string", "pattern": _PLAIN_NAME},
                           "uniqueItems": True},
            },
        }},
        "tables": {
            "type": "object", "propertyNames": {"pattern": _PLAIN_NAME},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "pattern": _PLAIN_NAME},
                    "rows": {"type": "integer", "minimum": 0},
                    "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                },
            },
        },
    },
}


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    pass


def read_manifest(manifest_path: Path) -> dict:
    """manifest.json parsed (duplicate keys are errors, not "the last wins") and checked
    against MANIFEST_SCHEMA and the rules a schema cannot say; problems carry line/column."""
    file = str(manifest_path)
    text = read_input(manifest_path, limits.MAX_JSON_BYTES)
    try:
        manifest = parse_json(text, file, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        parse_yaml(text, file)  # JSON is YAML: its loader names the duplicate's line and column
        raise InputError(Problem(f"duplicate key {exc.args[0]!r}", file)) from None
    if not isinstance(manifest, dict):
        raise InputError(Problem("manifest must be a JSON object", file, 1, 1))
    try:
        positions = parse_yaml(text, file).positions
    except InputError:  # valid JSON that YAML reads differently: schema errors without a line
        positions = Positions(file)
    fmt = manifest.get("format", FORMAT)
    if fmt != FORMAT:
        raise InputError(positions.problem(("format",), f"unsupported snapshot format {fmt!r} (expected {FORMAT})"))
    doc = YamlDoc(manifest, positions)
    problems = validate(doc, MANIFEST_SCHEMA)
    if not problems:
        problems = _listed_once(doc)
    if problems:
        raise InputError(problems)
    return manifest


def _listed_once(doc: YamlDoc) -> list[Problem]:
    """Every table an ok source lists is in ``tables`` (several sources may feed one table),
    and no two tables share one file (a table's key is unique: duplicate keys are errors)."""
    manifest, pos = doc.data, doc.positions
    problems = []
    entries = manifest.get("tables")
    for i, src in enumerate(manifest.get("sources") or []):
        for j, table in enumerate(src.get("tables") or []):
            path = ("sources", i, "tables", j)
            if entries is not None and src["status"] == "ok" and table not in entries:
                problems.append(pos.problem(path, f"table {table!r} of source {src['name']!r} is not in 'tables'"))
    files: dict[str, str] = {}
    for name, entry in (entries or {}).items():
        file = entry.get("file") or f"{name}.csv"
        if file in files:
            problems.append(pos.problem(("tables", name, "file"), f"tables {files[file]!r} and {name!r} "
                                                                  f"both name file {file!r}"))
        files[file] = name
    return problems


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:  # missing or unreadable: _load_table names the problem
        return 0


def small_pages() -> None:
    """NumPy's arrays from here on in ordinary 4 KiB pages, not transparent huge pages.

    NumPy marks every array of 4 MB or more ``MADV_HUGEPAGE``: each fault in it then zeroes a
    whole 2 MB page (with the kernel's default ``transparent_hugepage/defrag = madvise`` it
    may first compact memory to find one), and the mark stays on the heap memory after the
    array is freed (numpy/numpy#31590). A scan allocates and frees arrays of the snapshot's
    length all the time: reading bench size L (10M archive rows) took 4.4–7.9 s of system
    time with the mark and 1.9–2.3 s without (three alternated pairs; a third of the page
    faults, at three times the cost), its user time and peak memory the same. The switch is
    NumPy's own (``NUMPY_MADVISE_HUGEPAGE=0`` at start-up does the same) and lasts for the
    process and the workers it forks."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import _set_madvise_hugepage
    _set_madvise_hugepage(False)


def read_snapshot(path: str | Path, only: set[str] | None = None) -> Snapshot:
    """Read and type a snapshot directory; any bad input raises InputError (exit 2).

    ``only``: read just these tables (``gate`` reads the access tables, not 1M archives);
    the others are absent from the Snapshot and named in its hashes by the manifest.
    Arrays from here on are in small pages (``small_pages``)."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not root.exists():
        raise InputError(Problem("no such snapshot folder", str(root)))
    if not root.is_dir():
        raise InputError(Problem("not a snapshot: a file, not a folder (give the folder holding manifest.json)",
                                 str(root)))
    if not manifest_path.is_file():
        raise InputError(Problem("not a snapshot: manifest.json is missing", str(root)))
    manifest = read_manifest(manifest_path)
    try:
        tz = check_timezone(manifest.get("timezone") or "UTC")
    except ValueError as exc:
        raise InputError(Problem(str(exc), str(manifest_path))) from None

    small_pages()
    unusable: dict[str, str] = {}
    sources = manifest.get("sources") or []
    for src in sources:
        if src.get("status") == "error":
            for table in src.get("tables") or []:
                unusable[table] = f"source {src.get('name')!r} failed: {src.get('error') or 'no detail'}"

    entries = manifest.get("tables")
    if entries is None:
        entries = {
            p.stem: {"file": p.name}
            for p in sorted(root.iterdir())
            if p.suffix in (".csv", ".parquet") and p.is_file()
        }
    wanted = [(name, entry) for name, entry in entries.items()
              if name not in unusable and (only is None or name in only)]
    # tables load side by side, the largest files first (the archive table decides the wall):
    # Parquet/CSV parsing, chunk joining and hashing run in Arrow and hashlib without the GIL
    sizes = {name: _size(root / (entry.get("file") or f"{name}.csv")) for name, entry in wanted}
    with ThreadPoolExecutor(min(4, len(wanted) or 1)) as pool, ThreadPoolExecutor(1) as hasher:
        futures = {name: pool.submit(_load_table, root, manifest_path, tz, hasher, name, entry)
                   for name, entry in sorted(wanted, key=lambda item: -sizes[item[0]])}
        loaded = [futures[name].result() for name, _ in wanted]
    tables = {name: df for (name, _), (df, _, _) in zip(wanted, loaded, strict=True) if df is not None}
    hashes = {name: h for (name, _), (_, h, _) in zip(wanted, loaded, strict=True) if h is not None}
    unread_rows = {}
    if only is not None:
        unread = {name: entry for name, entry in entries.items() if name not in only and name not in unusable}
        hashes |= {name: entry["sha256"] for name, entry in unread.items() if entry.get("sha256")}
        unread_rows = {name: entry["rows"] for name, entry in unread.items() if entry.get("rows") is not None}
    problems = [p for _, _, found in loaded for p in found]
    if problems:
        raise InputError(problems)
    return Snapshot(root, tz, manifest.get("taken_at"), tables, hashes, sources, unusable, unread_rows)


def _to_text(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Render typed columns the way the reader reads them back (ISO times, true/false, hex)."""
    out = _hex_digests(df).copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
            out[col] = iso_text(s)
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[col] = s.map({True: "true", False: "false"})
    return out


def _hex_digests(df: pd.DataFrame) -> pd.DataFrame:
    """Digest columns as the hex text a table file holds (``_digests`` is how they are read)."""
    digests = {col: digest_text(df[col]) for col in df.columns if is_digest(df[col])}
    return df.assign(**digests) if digests else df


def write_snapshot(
    out_dir: str | Path,
    tables: dict[str, pd.DataFrame],
    *,
    sources: list[dict] | None = None,
    timezone: str = "UTC",
    taken_at: str | None = None,
    fmt: str = "csv",
) -> Path:
    """Write a complete snapshot atomically: it appears at ``out_dir`` whole or not at all."""
    check_timezone(timezone)
    taken_at = taken_at or dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    with atomic_dir(out_dir) as tmp:
        entries = {}
        for name, df in sorted(tables.items()):
            file = tmp / f"{name}.{fmt}"
            if fmt == "parquet":
                _hex_digests(df).to_parquet(file, index=False)
            else:
                _to_text(df, name).to_csv(file, index=False, encoding="utf-8", lineterminator="\n")
            entries[name] = {"file": file.name, "rows": len(df), "sha256": file_sha256(file)}
        manifest = {
            "format": FORMAT,
            "taken_at": taken_at,
            "timezone": timezone,
            "sources": sources or [],
            "tables": entries,
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return Path(out_dir)
