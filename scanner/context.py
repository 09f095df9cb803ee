"""What a policy kind receives: typed tables, joins built once per scan, and "now".

Kinds never read files, the clock or the environment; everything time-related comes
from ``now`` (the as-of instant, SPEC §5.1) and ``today`` (its local calendar date).
Joins many kinds need are cached here, so ten policies over grants cost one merge.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any, TypeVar

from .lazy import numpy as np
from .lazy import pandas as pd
from .lazy import pyarrow as pa
from .snapshot import Snapshot
from .timeutil import days_since, local_day

T = TypeVar("T")

#: column of ``Context.keyed`` tables: the row's (system, account_id) as an int64 code
ACCOUNT = "_account"
#: column of frames of people's rows: the row's position in ``Context.people`` (``person_rows``)
PERSON = "_person"


def isin(values: pd.Series, candidates: object) -> pd.Series:
    """``values.isin(candidates)`` that stays fast for large candidate sets.

    pandas converts each candidate to an Arrow scalar in Python for Arrow-backed
    strings (~1.5 s for 100k candidates); Arrow's own hash lookup takes milliseconds.
    """
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    if not isinstance(values.dtype, pd.StringDtype) or values.dtype.storage != "pyarrow":
        return values.isin(candidates)
    arr = pa.array(values)
    wanted = pa.array(pd.Series(pd.unique(pd.Series(candidates, dtype="str").dropna()), dtype="str")).cast(arr.type)
    return pd.Series(by_halves(lambda part: pc.fill_null(pc.is_in(part, value_set=wanted, skip_nulls=True), False),
                               arr), index=values.index)


def positions(values: pd.Series | pa.Array | pa.ChunkedArray, candidates: pd.Series | list[str] | pa.Array,
              *, null_finds_null: bool = False) -> np.ndarray:
    """Position of each value in ``candidates`` (its first; -1: absent or empty), by one Arrow
    hash lookup (``isin`` without making the candidates distinct first). ``null_finds_null``:
    a missing value finds a missing candidate, as a merge pairs them."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):  # a word column: each word once
        distinct = positions(pd.Series([*values.cat.categories.to_numpy(), None], dtype=values.cat.categories.dtype),
                             candidates, null_finds_null=null_finds_null)
        return distinct[values.cat.codes.to_numpy()]  # a missing value (code -1) takes the last: None's
    arr = pa.array(values)
    wanted = pa.array(candidates).cast(arr.type)
    skip = not null_finds_null
    if FEW * len(arr) < len(wanted):
        return index_in(arr, wanted, skip_nulls=skip)

    def kernel(part: pa.Array | pa.ChunkedArray) -> pa.Array:
        return pc.fill_null(pc.index_in(part, value_set=wanted, skip_nulls=skip), -1)

    if 2 * len(wanted) > len(arr):  # each half would hash a set this large again: more CPU than it saves
        return kernel(arr).to_numpy(zero_copy_only=False)
    return by_halves(kernel, arr)


#: ``index_in`` looks values up the other way round when they are fewer than 1 / FEW of the candidates
FEW = 4


def index_in(values: pa.Array | pa.ChunkedArray, wanted: pa.Array, *, skip_nulls: bool = True) -> np.ndarray:
    """Position of each value in ``wanted`` (its first; -1: absent; a missing value finds a
    missing candidate unless ``skip_nulls``), as ``pc.index_in`` gives it, for values much
    fewer than ``wanted`` (``positions`` and ``Context`` choose it below 1 / ``FEW``).

    Arrow's lookup hashes the whole of ``wanted`` on every call: looking up the 116k finance
    grants' account ids among the 1M ids of the accounts at size L hashed the million (~0.15 s
    CPU) each time. Here only the values' distinct ones are hashed, ``wanted`` is probed against
    them once (~0.06 s), and each distinct value takes its first hit."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    distinct = encoded.dictionary
    hit = pc.fill_null(pc.index_in(wanted, value_set=distinct), -1).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(hit >= 0)
    found, first = np.unique(hit[rows], return_index=True)
    at = np.full(len(distinct) + 1, -1, dtype="int32")  # the last: a missing value's
    at[found] = rows[first]
    if not skip_nulls and wanted.null_count:
        at[-1] = np.flatnonzero(pc.is_null(wanted).to_numpy(zero_copy_only=False))[0]
    return at[pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)]


def pairs(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (left row, right row) positions of every pair of equal codes (positions in one list
    of values, as ``positions`` gives them; -1 pairs with nothing): an inner join of two code
    columns in the left's order, without building or merging frames. The right is ordered by
    code once; each left row's partners are its code's run there (no search: a binary search
    of 100k codes cost ~8 ms, counting them ~1 ms)."""
    valid = np.flatnonzero(right >= 0)
    order = valid[np.argsort(right[valid], kind="stable")]
    per = np.bincount(right[valid], minlength=max(left.max(initial=0), right.max(initial=0)) + 1)
    first = np.cumsum(per) - per  # each code's run in ``order``
    code = np.maximum(left, 0)
    counts = np.where(left >= 0, per[code], 0)
    lefts = np.repeat(np.arange(len(left)), counts)
    nth = np.arange(len(lefts)) - np.repeat(np.cumsum(counts) - counts, counts)  # each pair's place in its run
    return lefts, order[np.repeat(first[code], counts) + nth]


def in_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the positions of ``keys`` in their sorted order, the sorted keys), for ``code_rows``;
    each closed by the largest int64 at position -1, so a search never runs past the end. The
    sort is stable: of equal keys the first comes first."""
    order = np.argsort(keys, kind="stable")
    return np.append(order, -1), np.append(keys[order], np.iinfo("int64").max)


def code_rows(ordered: tuple[np.ndarray, np.ndarray], codes: pd.Series | np.ndarray) -> np.ndarray:
    """The position of each integer code among the keys ``ordered`` (``in_order``): the first
    equal key's, -1 where none is equal. A binary search of keys sorted once: sorting 1.7M
    account codes takes ~15 ms, where pandas' hash index of them cost ~0.17 s to build."""
    order, keys = ordered
    codes = np.asarray(codes)
    at = np.searchsorted(keys, codes)
    return np.where(keys[at] == codes, order[at], -1)


#: rows from which ``in_halves`` splits a lookup between two threads: a hash lookup of 100k
#: values takes ~2 ms, twenty times the start of a thread
HALVES = 100_000


def by_halves(kernel: Callable[[pa.Array], pa.Array], arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``kernel(arr)`` as a NumPy array, each half of a large column in its own thread (``in_halves``)."""
    return np.concatenate([part.to_numpy(zero_copy_only=False) for part in in_halves(kernel, arr)])


def in_halves(kernel: Callable[[Any], T], arr: Any) -> list[T]:
    """``[kernel(arr)]``, or for a column (or frame) of ``HALVES`` rows or more ``[kernel(first
    half), kernel(second half)]``, the second half in its own thread. A hash lookup or encoding of a
    large column splits by rows, and Arrow kernels release the GIL: with a second core free
    (the per-check figures, a gate), a lookup in a 400k-row grants table or a 1M-row archive
    table takes about half the time."""
    if len(arr) < HALVES or (os.cpu_count() or 1) < 2:
        return [kernel(arr)]
    half = len(arr) // 2
    second: list = []

    def run() -> None:
        try:
            second.append(kernel(arr[half:]))
        except BaseException as exc:  # raised again in the caller's thread
            second.append(exc)

    thread = threading.Thread(target=run, name="in_halves")
    thread.start()
    first = kernel(arr[:half])
    thread.join()
    if isinstance(second[0], BaseException):
        raise second[0]
    return [first, second[0]]


def factorize(values: pd.Series) -> tuple[np.ndarray, list]:
    """``pd.factorize(values)``: each value's code (-1: missing) and the distinct values in
    order of first appearance, as a list. Arrow text is encoded by Arrow (half the time of
    ``pd.factorize``), a large column in halves (``in_halves``): the second half's new values
    follow the first's, so the order is the same."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    if not isinstance(values.dtype, pd.StringDtype) or values.dtype.storage != "pyarrow":
        codes, uniques = pd.factorize(values)
        return codes, list(uniques)
    arr = pa.array(values)
    parts = in_halves(pc.dictionary_encode, arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    words = parts[0].dictionary
    codes = [pc.fill_null(parts[0].indices, -1).to_numpy(zero_copy_only=False).astype("int64")]
    for part in parts[1:]:
        new = part.dictionary.filter(pc.invert(pc.is_in(part.dictionary, value_set=words)))
        words = pa.concat_arrays([words, new])
        remap = np.append(pc.index_in(part.dictionary, value_set=words).to_numpy(zero_copy_only=False), -1)
        codes.append(remap[pc.fill_null(part.indices, -1).to_numpy(zero_copy_only=False)])
    return np.concatenate(codes), words.to_pylist()


def repeated(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose value occurs more than once, the first row of each such value) as boolean
    arrays; empty values count as one value, as in ``Series.duplicated``.

    Ids such as archive ids are mostly unique and usually exported in order: when the
    column has no empty value and never decreases, equal values are neighbours and one
    comparison of each row with the next finds them (hashing 1M ids costs ~0.2 s, this ~0.02 s).
    """
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    arr = pa.array(values) if isinstance(values.dtype, pd.StringDtype) else None
    if arr is not None and len(arr) > 1 and arr.null_count == 0:
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        after, before = arr[1:], arr[:-1]
        if pc.all(pc.greater_equal(after, before)).as_py():
            same = pc.equal(after, before).to_numpy(zero_copy_only=False)
            as_before, as_next = np.concatenate([[False], same]), np.concatenate([same, [False]])
            return as_before | as_next, as_next & ~as_before
    dup = values.duplicated(keep=False).to_numpy()
    return dup, dup & ~values.duplicated().to_numpy()


def lookup(values: pd.Series, mapping: dict | pd.Series) -> pd.Series:
    """``values.map(mapping)`` through the distinct values: one factorize of the column,
    then a dictionary lookup per distinct value (categories, positions, statuses repeat)."""
    codes, uniques = pd.factorize(values)
    mapped = pd.Series(uniques).map(mapping)
    if not len(mapped):
        return values.map(mapping)
    out = mapped.take(np.where(codes >= 0, codes, 0))
    out = out.where(codes >= 0)
    return pd.Series(out.to_numpy(), index=values.index, dtype=mapped.dtype)


def denies(effect: pd.Series) -> np.ndarray:
    """Which role_permissions rows take their permission away (``effect`` deny); the others, an
    empty effect included, grant it: the one rule ``account_permissions``, handover and the gate
    (``gate.beside``) read role_permissions by."""
    return effect.astype("str").str.lower().eq("deny").fillna(False).to_numpy(dtype=bool)


def glob_match(value: object, patterns: Iterable[str]) -> bool:
    """Shell-style, case-sensitive: does ``value`` (as text) match any of ``patterns``? The
    test ``glob_mask`` applies to each distinct value, for code that holds a few values in
    plain Python."""
    return any(fnmatchcase(str(value), p) for p in patterns)


def glob_mask(values: pd.Series, patterns: list[str] | tuple[str, ...]) -> pd.Series:
    """Shell-style, case-sensitive glob match of each value against any pattern.

    Matching runs once per distinct value (ids and permission names repeat a lot).
    """
    patterns = list(patterns)
    if not patterns:
        return pd.Series(False, index=values.index)
    if "*" in patterns:
        return values.notna()
    uniq = pd.unique(values.dropna())
    hits = [v for v in uniq if glob_match(v, patterns)]
    return isin(values, hits)


def _expand_denies(deny: pd.DataFrame, allow: pd.DataFrame) -> pd.DataFrame:
    """Deny rows (their account columns, permission-or-glob) as literal, distinct permissions.

    Each distinct (system, glob) is matched once against the distinct allowed permissions
    of its system, so a deny role held by thousands of accounts costs one merge.
    """
    is_glob = deny["permission"].str.contains(r"[*?\[]", regex=True, na=False)
    literal = deny[~is_glob]
    globs = deny[is_glob]
    if globs.empty:
        return literal.drop_duplicates()
    known = allow[["system", "permission"]].drop_duplicates()
    pats = globs[["system", "permission"]].drop_duplicates().rename(columns={"permission": "pattern"})
    pairs = pats.merge(known, on="system", sort=False)
    pairs = pairs[[fnmatchcase(p, g) for p, g in zip(pairs["permission"], pairs["pattern"], strict=True)]]
    expanded = globs.rename(columns={"permission": "pattern"}).merge(
        pairs, on=["system", "pattern"], sort=False)[list(deny.columns)]
    return pd.concat([literal, expanded], ignore_index=True).drop_duplicates()


def _taken(values: pd.Series, at: np.ndarray) -> Any:
    """``values`` at positions ``at`` (-1: missing), as a left merge gives a column: NumPy-backed
    columns taken as NumPy, so a missing int becomes float and a missing bool an object."""
    arr = values.array
    return pd.api.extensions.take(values.to_numpy() if isinstance(arr, pd.arrays.NumpyExtensionArray) else arr,
                                  at, allow_fill=True)


class Context:
    def __init__(self, snapshot: Snapshot, now: pd.Timestamp, previous: Snapshot | None = None) -> None:
        self.snapshot = snapshot
        #: an earlier snapshot (``scan --previous-snapshot``), for kinds that compare two states
        #: (``PolicyKind.uses_previous_snapshot``); read only through ``previous_table``
        self.previous = previous
        self.tz = snapshot.timezone
        self.now = now.tz_convert(self.tz)
        #: the as-of local calendar date, as naive midnight (see timeutil.local_day)
        self.today = pd.Timestamp(self.now.date())
        self._shared: dict[str, Any] = {}
        self._keyed: dict[str, pd.DataFrame] = {}
        self._vocabulary: dict[str, pa.Array] = {}

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """A frame derived once per scan and shared by every policy asking for ``key``
        (e.g. the enabled accounts' permissions that each SoD policy starts from).
        Callers must not modify it."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def caches(self) -> set[str]:
        """The names of the joins this context holds (``PolicyKind.joins`` names them the same
        way): each cached property by its name, each ``keyed`` table as ``keyed:<table>``, each
        ``shared`` entry by its key up to the first ``:`` (``keyed_in:grants:['*']`` is
        ``keyed_in``)."""
        props = {n for n in self.__dict__ if isinstance(getattr(type(self), n, None), cached_property)}
        return props | {f"keyed:{n}" for n in self._keyed} | {k.split(":", 1)[0] for k in self._shared}

    def drop_caches(self, keep: set[str]) -> None:
        """Drop every join ``caches`` names that ``keep`` does not, freeing its memory.

        A worker evaluating its kind groups one after another drops what no later group reads
        (workers.py): at size L each of two workers otherwise kept ~1.2 GB of joins to the end
        of the scan, the peak of the scan's memory. A join dropped and asked for again is built
        again, the same (the vocabulary of ``ACCOUNT`` codes is never dropped, so a table keyed
        again gets the codes it had)."""
        for name in self.caches() - keep:
            if name.startswith("keyed:"):
                del self._keyed[name.removeprefix("keyed:")]
            elif name in self.__dict__:
                del self.__dict__[name]
        self._shared = {k: v for k, v in self._shared.items() if k.split(":", 1)[0] in keep}

    def table(self, name: str) -> pd.DataFrame:
        """A snapshot table; ``accounts`` with expiry applied (see ``_accounts``)."""
        if name == "accounts":
            return self._accounts
        return self.snapshot.table(name)

    @cached_property
    def _accounts(self) -> pd.DataFrame:
        """accounts as every kind judges them (SPEC §5.1 "Expiry"), decided here once.

        An account whose ``expires_at`` is on or before now (instants) cannot be used
        any more, whatever the directory's own switch says: ``enabled`` is false for it,
        and ``expired`` (added) is true, so evidence can tell the two apart. Expiring
        the account on the leaving day is how many organisations offboard; read any
        other way it would be "enabled after departure" and "dormant" forever.
        """
        acc = self.snapshot.table("accounts")
        expired = (acc["expires_at"] <= self.now).fillna(False).astype(bool)
        return acc.assign(enabled=acc["enabled"] & ~expired, expired=expired)

    def keyed(self, name: str) -> pd.DataFrame:
        """Table ``name`` plus an ``ACCOUNT`` column: its (system, account_id) pair as an int64
        code, the same pair the same code in every table of this scan (-1 where either is
        empty, so empty keys still join each other as in pandas).

        Joining and grouping accounts on one integer instead of two text columns is what
        keeps the account kinds linear at size L: a text-key merge costs ~0.1 s per million
        rows each time, a table's codes are hashed once per scan (and only if asked for).
        """
        if name not in self._keyed:
            t = self.table(name)
            self._keyed[name] = t.assign(**{ACCOUNT: self.account_codes(t)})
        return self._keyed[name]

    def keyed_in(self, name: str, systems: list[str]) -> pd.DataFrame:
        """``keyed(name)``'s rows whose system matches one of ``systems`` (globs), once per scan;
        callers must not modify it. Only these rows are keyed unless the whole table already is:
        a policy scoped to the finance systems reads ~6 % of the grants at size M (the
        directory's groups are the rest), and keying all 386k of them cost ~35 ms."""
        def build() -> pd.DataFrame:
            t = self._keyed.get(name)
            if t is not None:
                return t[glob_mask(t["system"], systems).to_numpy()]
            t = self.table(name)
            t = t[glob_mask(t["system"], systems).to_numpy()]
            return t.assign(**{ACCOUNT: self.account_codes(t)})
        return self.shared(f"keyed_in:{name}:{sorted(systems)}", build)

    def account_codes(self, rows: pd.DataFrame) -> np.ndarray:
        """The ``ACCOUNT`` code of each row's (system, account_id), the one every keyed table of
        this scan gives the pair (-1 where either is empty): for a few rows of a large table,
        keyed without keying the whole of it."""
        system, account = self._codes("system", rows["system"]), self._codes("account_id", rows["account_id"])
        return np.where((system < 0) | (account < 0), -1, (account << 20) | system)

    def _codes(self, column: str, values: pd.Series) -> np.ndarray:
        """Positions of ``values`` in this scan's growing vocabulary of ``column`` (-1: empty)."""
        import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

        arr = pa.array(values)
        known = self._vocabulary.get(column)
        if known is None:  # the first table keyed: its distinct values are the vocabulary
            encoded = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
            self._vocabulary[column], codes = encoded.dictionary, encoded.indices
            return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype("int64")
        known = known.cast(arr.type)
        codes = positions(values, known).astype("int64")  # a few rows of a large table: only theirs hashed
        new = (codes < 0) & arr.is_valid().to_numpy(zero_copy_only=False)
        if new.any():  # words the vocabulary lacks follow it, in their order of appearance
            fresh = arr.filter(pa.array(new))
            words = pc.unique(fresh)
            codes[new] = len(known) + pc.index_in(fresh, value_set=words).to_numpy(zero_copy_only=False)
            self._vocabulary[column] = pa.concat_arrays([known, words])
        return codes

    def optional(self, name: str) -> pd.DataFrame | None:
        """A table a kind uses when present; absent → None, from a failed source → error."""
        if not self.snapshot.has(name):
            return None
        return self.snapshot.table(name)

    def previous_table(self, name: str) -> pd.DataFrame | None:
        """Table ``name`` of the earlier snapshot (callers must not modify it); None without
        one. A table the earlier snapshot lacks or got from a failed source is an error:
        comparing against it would report every row as new."""
        if self.previous is None:
            return None
        return self.previous.table(name)

    def require(self, names: tuple[str, ...]) -> None:
        for name in names:
            self.snapshot.table(name)

    @staticmethod
    def local_day(times: pd.Series) -> pd.Series:
        return local_day(times)

    def days_since(self, times: pd.Series) -> pd.Series:
        return days_since(times, self.today)

    @cached_property
    def identities(self) -> pd.DataFrame:
        return self.table("identities")

    @cached_property
    def people(self) -> pd.DataFrame:
        """The identities, one row per person_id: the first row of a person_id counts."""
        repeats, first = repeated(self.identities["person_id"])
        return self.identities[~repeats | first]

    def is_person(self, values: pd.Series) -> pd.Series:
        """Which ``values`` are a known person_id: one Arrow lookup among the people's ids (for
        a register's few rows, only their distinct values are hashed: ``positions``)."""
        return pd.Series(positions(values, self.people["person_id"]) >= 0, index=values.index)

    def person_rows(self, name: str, column: str = "person_id") -> np.ndarray:
        """Each row's person in table ``name`` (its rows as ``table`` and ``keyed`` give them): the
        position of its ``column`` among ``people`` (-1: empty, or no such person), looked up once
        per scan and shared, so the kinds that join a table's rows to their people (``PERSON``)
        take them by integer instead of hashing the ids again each.

        Looking the 1.7M accounts' person ids up among the 1M people at size L costs ~0.3 CPU-s;
        role_template, orphan_account, revoke_on_departure and handover each did it once, and
        handover hashed the 1M ids again for a pandas index (``map``)."""
        return self.shared(f"person_rows:{name}:{column}",
                           lambda: positions(self.table(name)[column], self.people["person_id"]))

    def among_people(self, chosen: np.ndarray, name: str = "accounts") -> np.ndarray:
        """Each row of table ``name``: the position of its person among ``chosen`` (distinct rows
        of ``people``; -1: its person is not chosen, or it has none), through its ``person_rows``
        and a lookup array over the people, no hashing."""
        among = np.full(len(self.people) + 1, -1)  # the last: a row without a person (-1) picks it
        among[chosen] = np.arange(len(chosen))
        return among[self.person_rows(name)]

    def account_rows(self, codes: pd.Series | np.ndarray) -> np.ndarray:
        """Each ``ACCOUNT`` code's row in ``keyed("accounts")`` (its first; -1: no such account), by
        a binary search of the accounts' codes, sorted once per scan (``code_rows``; a key
        repeated by bad input finds its first row). An Arrow lookup hashed them again on every
        call."""
        return code_rows(self._accounts_in_order, codes)

    @cached_property
    def _accounts_in_order(self) -> tuple[np.ndarray, np.ndarray]:
        return in_order(self.keyed("accounts")[ACCOUNT].to_numpy())

    @cached_property
    def accounts_with_identity(self) -> pd.DataFrame:
        """accounts ⟕ identities on person_id; identity columns as ``identity.<col>``; keyed."""
        return self.with_identity(self.keyed("accounts"))

    def with_identity(self, rows: pd.DataFrame, people: pd.DataFrame | None = None,
                      on: str = "person_id", at: np.ndarray | None = None) -> pd.DataFrame:
        """``rows`` ⟕ ``people`` (rows of ``Context.people``; default: all) on column ``on``;
        identity columns as ``identity.<col>``, as a left merge gives them (a fresh index, a
        row without its person empty there). A person_id names one person, so the join is a
        lookup: one Arrow hash lookup and a take per column (a merge took ~33 ms for the 67k
        finance accounts at size M, this ~8 ms); none where the caller knows each row's
        position in ``people`` (``at``, e.g. from ``person_rows``)."""
        ids = self.people if people is None else people
        at = positions(rows[on], ids["person_id"]) if at is None else at
        return rows.reset_index(drop=True).assign(**{f"identity.{c}": _taken(ids[c], at) for c in ids.columns})

    def of_person(self, values: pd.Series, column: str) -> pd.Series:
        """``column`` of each value's person (values are person_ids; missing where no person has
        the id), by one Arrow hash lookup: pandas' hash of the 100k ids as Python objects (a
        ``map`` through the people indexed by person_id) cost ~17 ms at size M, this ~6 ms."""
        return pd.Series(_taken(self.people[column], positions(values, self.people["person_id"])), index=values.index)

    @cached_property
    def grants_with_account(self) -> pd.DataFrame:
        """grants ⟕ accounts ⟕ identities; columns ``account.<col>`` and ``identity.<col>``.

        The identity is the account's person (``account.person_id``); without an
        identities table only the account columns are joined.
        """
        grants = self.table("grants")
        accounts = self.table("accounts").drop_duplicates(["system", "account_id"])
        accounts = accounts.rename(columns={c: f"account.{c}" for c in accounts.columns})
        out = grants.merge(accounts, how="left", left_on=["system", "account_id"],
                           right_on=["account.system", "account.account_id"], sort=False)
        if self.snapshot.has("identities"):
            out = self.with_identity(out, on="account.person_id")
        return out

    @cached_property
    def account_permissions(self) -> pd.DataFrame:
        """Effective (system, account_id, ACCOUNT, role, permission, person_id, enabled) rows,
        one per (account, role, permission), in the order of the grants, then of role_permissions.

        grants ⋈ role_permissions; a ``deny`` row of any role the account holds removes
        that permission (glob allowed) from the account, whatever else grants it.

        How: role_permissions is a few dozen rows, grants hundreds of thousands, of which a
        fraction hold a role role_permissions names. One Arrow hash lookup of each grant's role
        finds them; only they are keyed (``_codes``), paired with their role_permissions rows
        through the code of their (system, role) pair, and with their account through its
        ``ACCOUNT`` code: positions in NumPy, no merge on text keys (~3× faster at size M).
        """

        perms, grants = self.table("role_permissions"), self.table("grants")
        rp = {c: perms[c].to_numpy(dtype=object, na_value=None).tolist() for c in ("system", "role", "permission")}
        systems, roles = list(dict.fromkeys(rp["system"])), list(dict.fromkeys(r for r in rp["role"] if r is not None))

        role = positions(grants["role"], roles, null_finds_null=True)
        held = np.flatnonzero(role >= 0)  # the grants of a role role_permissions names
        keys = grants[["system", "account_id"]].take(held)
        # per (system, role) pair, its role_permissions rows in their order; each grant's rows
        # are those of its pair (a null system pairs with a null system, as in a merge)
        of_pair: dict[tuple[int, int], list[int]] = {}
        for j, (s, r) in enumerate(zip(rp["system"], rp["role"], strict=True)):
            if r is not None:
                of_pair.setdefault((systems.index(s), roles.index(r)), []).append(j)
        pair = np.full((len(systems) + 1, len(roles)), len(of_pair), dtype="int64")  # no pair: the last
        for n, (s, r) in enumerate(of_pair):
            pair[s, r] = n
        pair = pair[positions(keys["system"], systems, null_finds_null=True), role[held]]
        counts = np.array([len(rows) for rows in of_pair.values()] + [0])[pair]
        grant = np.repeat(np.arange(len(held)), counts)  # each (grant, permission) row's grant
        nth = np.arange(len(grant)) - np.repeat(np.cumsum(counts) - counts, counts)
        starts = np.cumsum([0] + [len(rows) for rows in of_pair.values()])
        rp_row = np.array([j for rows in of_pair.values() for j in rows], dtype="int64")[starts[pair[grant]] + nth]
        # each grant's account: its ACCOUNT code, and the first accounts row of that code
        accounts = self.keyed("accounts")
        code = self.account_codes(keys)
        row = self.account_rows(code)[grant]
        code = code[grant]
        deny = denies(perms["effect"])[rp_row]
        keep = np.flatnonzero(~deny)
        if deny.any():
            def rows(at: np.ndarray) -> pd.DataFrame:
                return pd.DataFrame({"system": keys["system"].array.take(grant[at]),
                                     "account_id": keys["account_id"].array.take(grant[at]),
                                     ACCOUNT: code[at], "permission": perms["permission"].array.take(rp_row[at])})

            denied = _expand_denies(rows(np.flatnonzero(deny)).drop_duplicates(), rows(keep))[[ACCOUNT, "permission"]]
            hit = rows(keep).merge(denied.assign(_deny=True), how="left", on=[ACCOUNT, "permission"], sort=False)
            keep = keep[hit["_deny"].isna().to_numpy()]
        # one row per (account, role, permission), the first: a code of each (role, permission)
        # and of each account, combined in one integer
        duty = {d: n for n, d in enumerate(dict.fromkeys(zip(rp["role"], rp["permission"], strict=True)))}
        duty_of = np.array([duty[d] for d in zip(rp["role"], rp["permission"], strict=True)], dtype="int64")
        first = ~pd.Series(pd.factorize(code[keep])[0] * len(duty) + duty_of[rp_row[keep]]).duplicated().to_numpy()
        keep = keep[first]
        row = row[keep]
        out = pd.DataFrame({
            "system": grants["system"].array.take(held[grant[keep]]),
            "account_id": grants["account_id"].array.take(held[grant[keep]]),
            ACCOUNT: code[keep],
            "role": grants["role"].array.take(held[grant[keep]]),
            "permission": perms["permission"].array.take(rp_row[keep]),
        })
        out["person_id"] = accounts["person_id"].array.take(np.where(row >= 0, row, -1), allow_fill=True)
        out["enabled"] = np.where(row >= 0, accounts["enabled"].to_numpy(dtype=bool)[np.maximum(row, 0)], False)
        return out
