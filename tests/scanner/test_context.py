"""Context helpers the account and archive kinds share: the effective permissions, and the
lookups that split a large column between two threads. Each is checked against the plain
pandas operation it replaces, on tables read as a user's snapshot is."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.generate import TZ, Size, generate
from ledgerguard.scanner import context
from ledgerguard.scanner.context import ACCOUNT, Context, factorize, in_halves, isin, positions
from ledgerguard.scanner.engine import evaluate
from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.snapshot import TABLES, read_snapshot, write_snapshot

NOW = pd.Timestamp("2026-11-23", tz="Asia/Shanghai")


def _joined(ctx: Context) -> pd.DataFrame:
    """What ``account_permissions`` means, as merges: grants ⋈ role_permissions, minus each
    account's deny entries (globs allowed), ⟕ accounts, one row per (account, role, permission)."""
    grants = ctx.table("grants")[["system", "account_id", "role"]]
    perms = ctx.table("role_permissions")
    perms = perms.assign(deny=perms["effect"].fillna("allow").str.lower() == "deny")
    joined = grants.merge(perms[["system", "role", "permission", "deny"]], on=["system", "role"], sort=False)
    denied = {(s, a, p) for s, a, p in joined.loc[joined["deny"], ["system", "account_id", "permission"]]
              .itertuples(index=False)}
    allow = joined[~joined["deny"]]
    kept = [not any(s == ds and a == da and fnmatchcase(p, dp) for ds, da, dp in denied)
            for s, a, p in allow[["system", "account_id", "permission"]].itertuples(index=False)]
    allow = allow[kept].drop(columns="deny")
    accounts = ctx.table("accounts")[["system", "account_id", "person_id", "enabled"]]
    out = allow.merge(accounts, on=["system", "account_id"], how="left", sort=False)
    out["enabled"] = out["enabled"].fillna(False).astype(bool)
    return out.drop_duplicates(["system", "account_id", "role", "permission"]).reset_index(drop=True)


def test_account_permissions_is_the_join(make_snapshot) -> None:
    """Duplicate role_permissions rows, a role of another system, deny rows (literal and glob),
    an account id in two systems, a grant of an account the accounts table lacks,
    roles role_permissions does not name, and the same role granted twice."""
    snap = read_snapshot(make_snapshot({
        "identities": [{"person_id": "P1", "name": "张三", "status": "active"},
                       {"person_id": "P2", "name": "李四", "status": "active"}],
        "accounts": [{"system": "erp", "account_id": "zs", "person_id": "P1", "enabled": "true"},
                     {"system": "oa", "account_id": "zs", "person_id": "P1", "enabled": "false"},
                     {"system": "erp", "account_id": "ls", "person_id": "P2", "enabled": "true"},
                     {"system": "erp", "account_id": "svc", "enabled": "true"}],
        "grants": [{"system": "erp", "account_id": "zs", "role": "clerk"},
                   {"system": "oa", "account_id": "zs", "role": "clerk"},
                   {"system": "erp", "account_id": "ls", "role": "approver"},
                   {"system": "erp", "account_id": "ls", "role": "no_perms"},
                   {"system": "erp", "account_id": "ls", "role": "restricted"},
                   {"system": "erp", "account_id": "zs", "role": "clerk"},
                   {"system": "erp", "account_id": "svc", "role": "admin"},
                   {"system": "erp", "account_id": "svc", "role": "no_admin_pay"},
                   {"system": "erp", "account_id": "gone", "role": "clerk"}],
        "role_permissions": [
            {"system": "erp", "role": "clerk", "permission": "gl.voucher.enter"},
            {"system": "erp", "role": "clerk", "permission": "report.view"},
            {"system": "erp", "role": "clerk", "permission": "report.view", "description": "again"},
            {"system": "oa", "role": "clerk", "permission": "oa.flow.start"},
            {"system": "erp", "role": "approver", "permission": "gl.voucher.approve"},
            {"system": "erp", "role": "approver", "permission": "report.view"},
            {"system": "erp", "role": "restricted", "permission": "report.*", "effect": "deny"},
            {"system": "erp", "role": "admin", "permission": "ap.pay"},
            {"system": "erp", "role": "admin", "permission": "sys.user.admin"},
            {"system": "erp", "role": "no_admin_pay", "permission": "ap.pay", "effect": "deny"},
        ],
    }))
    ctx = Context(snap, NOW)
    got = ctx.account_permissions
    want = _joined(ctx)
    assert list(got.columns) == ["system", "account_id", ACCOUNT, "role", "permission", "person_id", "enabled"]
    pd.testing.assert_frame_equal(got.drop(columns=ACCOUNT), want[list(got.columns.drop(ACCOUNT))])
    # the account code is the one every keyed table of this scan gives the pair
    keyed = ctx.keyed("accounts").set_index(["system", "account_id"])[ACCOUNT]
    known = got[got["account_id"] != "gone"]
    assert known[ACCOUNT].tolist() == [keyed[(s, a)] for s, a in zip(known["system"], known["account_id"],
                                                                       strict=True)]
    assert set(got.loc[got["account_id"] == "gone", ACCOUNT]) <= set(ctx.keyed("grants")[ACCOUNT])


def _merged(rows: pd.DataFrame, people: pd.DataFrame, on: str = "person_id") -> pd.DataFrame:
    """What ``with_identity`` means: a left merge, identity columns renamed."""
    ids = people.rename(columns={c: f"identity.{c}" for c in people.columns})
    return rows.merge(ids, how="left", left_on=on, right_on="identity.person_id", sort=False)


def test_with_identity_is_the_left_merge(make_snapshot) -> None:
    """Accounts of a known person, of an unknown one and of none, selected out of order (their
    index is not 0..n); and people with NumPy columns (int, bool), whose missing values a merge
    makes float and object."""
    snap = read_snapshot(make_snapshot({
        "identities": [{"person_id": "P1", "name": "张三", "status": "active", "position": "会计",
                        "transfer_date": "2026-01-05"},
                       {"person_id": "P2", "name": "李四", "status": "departed"}],
        "accounts": [{"system": "erp", "account_id": "zs", "person_id": "P1", "enabled": "true"},
                     {"system": "erp", "account_id": "ls", "person_id": "P2", "enabled": "false"},
                     {"system": "erp", "account_id": "gone", "person_id": "P9", "enabled": "true"},
                     {"system": "erp", "account_id": "svc", "enabled": "true"}],
    }))
    ctx = Context(snap, NOW)
    rows = ctx.keyed("accounts").iloc[[3, 0, 2, 1]]
    pd.testing.assert_frame_equal(ctx.with_identity(rows), _merged(rows, ctx.people))
    people = pd.DataFrame({"person_id": ["P2", "P1"], "grade": [7, 3], "manager": [True, False]})
    got = ctx.with_identity(rows, people)
    pd.testing.assert_frame_equal(got, _merged(rows, people))
    assert got["identity.grade"].dtype == "float64" and got["identity.manager"].dtype == object
    pd.testing.assert_frame_equal(ctx.with_identity(rows.iloc[:0]), _merged(rows.iloc[:0], ctx.people))


def test_account_rows_are_the_first_row_of_each_code(make_snapshot) -> None:
    """``account_rows`` finds each code's row of the keyed accounts, -1 for a code no account
    has; an accounts table repeating a key (bad input a reader rejects) still gets the first."""
    snap = read_snapshot(make_snapshot({
        "accounts": [{"system": "erp", "account_id": "zs", "enabled": "true"},
                     {"system": "oa", "account_id": "zs", "enabled": "true"},
                     {"system": "erp", "account_id": "ls", "enabled": "true"}],
        "grants": [{"system": "erp", "account_id": "ls", "role": "a"}, {"system": "erp", "account_id": "gone",
                                                                           "role": "b"}],
    }))
    ctx = Context(snap, NOW)
    codes = ctx.keyed("accounts")[ACCOUNT].to_numpy()
    grants = ctx.keyed("grants")[ACCOUNT]
    assert ctx.account_rows(codes[::-1]).tolist() == [2, 1, 0]
    assert ctx.account_rows(grants).tolist() == [2, -1]
    snap.tables["accounts"] = pd.concat([snap.tables["accounts"]] * 2, ignore_index=True)
    repeated = Context(snap, NOW)
    assert repeated.account_rows(grants).tolist() == [2, -1]


def test_of_person_is_the_map_through_the_people(make_snapshot) -> None:
    """``of_person`` gives what mapping each value through the people (indexed by person_id)
    gives: the first row of a repeated person, missing for an unknown or empty value; a word
    column (status) stays one."""
    snap = read_snapshot(make_snapshot({
        "identities": [{"person_id": "P1", "name": "张三", "status": "active", "position": "会计"},
                       {"person_id": "P2", "name": "李四", "status": "departed"}],
        "accounts": [{"system": "erp", "account_id": "zs", "person_id": "P1", "enabled": "true"}],
    }))
    ctx = Context(snap, NOW)
    values = pd.Series(["P2", None, "P9", "P1", "P2"], dtype="str", index=[5, 3, 9, 1, 0])
    for column in ("status", "position", "name"):
        got = ctx.of_person(values, column)
        want = values.map(ctx.people.set_index("person_id")[column])
        pd.testing.assert_series_equal(got, want, check_names=False)


def test_person_rows_are_each_rows_person_among_the_people(make_snapshot) -> None:
    """``person_rows`` gives each accounts row its person's row of ``people`` (-1 for an unknown
    or empty person_id), once per scan; ``with_identity`` taking them (``at``) joins what it joins
    by looking the ids up itself, and ``is_person`` agrees."""
    snap = read_snapshot(make_snapshot({
        "identities": [{"person_id": "P1", "name": "张三", "status": "active", "position": "会计"},
                       {"person_id": "P2", "name": "李四", "status": "departed"}],
        "accounts": [{"system": "erp", "account_id": "ls", "person_id": "P2", "enabled": "true"},
                     {"system": "erp", "account_id": "gone", "person_id": "P9", "enabled": "true"},
                     {"system": "erp", "account_id": "svc", "enabled": "true"},
                     {"system": "oa", "account_id": "zs", "person_id": "P1", "enabled": "false"}],
    }))
    ctx = Context(snap, NOW)
    rows = ctx.person_rows("accounts")
    assert rows.tolist() == [1, -1, -1, 0]
    assert ctx.person_rows("accounts") is rows and "person_rows" in ctx.caches()
    accounts = ctx.keyed("accounts")
    pd.testing.assert_frame_equal(ctx.with_identity(accounts, at=rows), ctx.with_identity(accounts))
    assert ctx.is_person(accounts["person_id"]).tolist() == [True, False, False, True]
    # each account's person among some of the people (here: the departed P2 alone)
    assert ctx.among_people(np.array([1])).tolist() == [0, -1, -1, -1]
    assert ctx.among_people(np.array([1, 0])).tolist() == [0, -1, -1, 1]


def test_a_value_set_as_large_as_the_values_is_looked_up_in_one_piece(monkeypatch) -> None:
    """Splitting a lookup between two threads hashes its value set once per half: with a set at
    least half as large as the values, ``positions`` looks up in one piece (the same answer)."""
    values = pd.Series(["b", None, "a", "b", "c", "x", "a", "f"], dtype="str")
    candidates = ["a", "b", "c", "d", "e", "f"]
    want = positions(values, candidates)
    monkeypatch.setattr(context, "HALVES", 2)
    monkeypatch.setattr(context, "in_halves", lambda kernel, arr: pytest.fail("split a lookup of a large set"))
    assert positions(values, candidates).tolist() == want.tolist() == [1, -1, 0, 1, 2, -1, 0, 5]


@pytest.mark.parametrize("keyed_first", [False, True])
def test_keyed_in_is_keyed_of_those_systems(make_snapshot, keyed_first: bool) -> None:
    """``keyed_in`` keys only the rows of the systems asked for, with the codes ``keyed`` gives
    them, whether the whole table was keyed before or not."""
    snap = read_snapshot(make_snapshot({
        "accounts": [{"system": "erp", "account_id": "zs", "enabled": "true"},
                     {"system": "corp-ad", "account_id": "zs", "enabled": "true"},
                     {"system": "earchive", "account_id": "ls", "enabled": "true"}],
        "grants": [{"system": "corp-ad", "account_id": "zs", "role": "staff"},
                   {"system": "earchive", "account_id": "ls", "role": "viewer"},
                   {"system": "erp", "account_id": "new", "role": "clerk"},
                   {"system": "erp", "account_id": "zs", "role": "clerk"}],
    }))
    ctx = Context(snap, NOW)
    if keyed_first:
        ctx.keyed("grants")
    got = ctx.keyed_in("grants", ["erp", "e*"])
    ctx.keyed("accounts")
    whole = ctx.keyed("grants")
    pd.testing.assert_frame_equal(got, whole[whole["system"] != "corp-ad"])
    assert ctx.keyed_in("grants", ["e*", "erp"]) is got


def test_large_lookups_in_halves_are_the_one_piece_lookups(monkeypatch) -> None:
    """``positions``, ``isin`` and ``factorize`` split a column of HALVES rows or more between two
    threads; the answers are those of the whole column (a value first seen in the second half
    keeps its place after the first half's)."""
    values = pd.Series(["b", None, "a", "b", "c", None, "d", "a", "e", "c"] * 3, dtype="str")
    whole = (positions(values, ["a", "c", "e"]), isin(values, ["d", "b"]).to_numpy(), factorize(values))
    monkeypatch.setattr(context, "HALVES", 4)
    assert (positions(values, ["a", "c", "e"]) == whole[0]).all()
    assert (isin(values, ["d", "b"]).to_numpy() == whole[1]).all()
    codes, uniques = factorize(values)
    expected_codes, expected_uniques = pd.factorize(values)
    assert (codes == expected_codes).all() and (whole[2][0] == expected_codes).all()
    assert uniques == list(expected_uniques) == ["b", "a", "c", "d", "e"]


@pytest.mark.parametrize("sizes", [(200, 50), (0, 5), (5, 0), (0, 0)])
def test_pairs_is_the_inner_merge_of_codes(sizes: tuple[int, int]) -> None:
    """Every pair of equal codes, in the left's order, a code's partners in the right's order;
    -1 pairs with nothing (the missing values ``positions`` gives)."""
    rng = np.random.default_rng(7)
    left, right = (rng.integers(-1, 12, n).astype("int32") for n in sizes)
    lefts, rights = context.pairs(left, right)
    merged = pd.DataFrame({"code": left, "l": np.arange(len(left))}).merge(
        pd.DataFrame({"code": right, "r": np.arange(len(right))}), on="code")
    merged = merged[merged["code"] >= 0].sort_values(["l", "r"])
    assert lefts.tolist() == merged["l"].tolist() and rights.tolist() == merged["r"].tolist()


def test_in_halves_raises_the_second_halfs_error(monkeypatch) -> None:
    monkeypatch.setattr(context, "HALVES", 2)

    def kernel(part: np.ndarray) -> np.ndarray:
        if part[0] >= 2:
            raise ValueError("second half")
        return part

    with pytest.raises(ValueError, match="second half"):
        in_halves(kernel, np.arange(4))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    tables = generate(Size("T", 1500, 3000, 2), seed=11)
    for name, df in tables.items():
        for col in TABLES[name]:
            if col.type == "time" and col.name in df:
                df[col.name] = df[col.name].astype(f"datetime64[us, {TZ}]")
    root = tmp_path_factory.mktemp("generated")
    write_snapshot(root, tables, timezone=TZ, fmt="parquet")
    return root


@pytest.mark.parametrize("kind", ["revoke_on_departure", "segregation_of_duties", "retention_period",
                                  "archive_integrity", "privileged_mfa"])
def test_kinds_find_the_same_with_every_lookup_in_halves(generated: Path, monkeypatch, kind: str) -> None:
    """The per-check kinds (and two other users of the split lookups) give the same finding
    records whether each large lookup and the archive table are split between two threads or not."""
    snap = read_snapshot(generated)
    mine = [p for p in all_policies(load_packs(None)) if p.kind == kind]
    assert mine
    whole = [o.findings for o in evaluate(mine, Context(snap, NOW))]
    monkeypatch.setattr(context, "HALVES", 2)
    halves = [o.findings for o in evaluate(mine, Context(snap, NOW))]
    assert halves == whole
    assert any(whole), f"{kind} found nothing on the generated snapshot: the test would prove nothing"


@pytest.mark.parametrize("skip_nulls", [True, False])
@pytest.mark.parametrize("chunked", [False, True])
def test_index_in_is_arrows_lookup(skip_nulls: bool, chunked: bool) -> None:
    """``index_in`` (the few values' distinct ones hashed, the candidates probed) gives what
    Arrow's ``index_in`` gives: each value's first candidate, -1 for an absent one, a missing
    value the first missing candidate unless nulls are skipped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(3)
    words = [None, *(f"w{n}" for n in range(40))]
    wanted = pa.array([words[i] for i in rng.integers(0, 30, 200)], pa.large_string())  # repeats, nulls
    for n in (0, 1, 25):
        values = [words[i] for i in rng.integers(0, len(words), n)]
        arr = pa.chunked_array([values[: n // 2], values[n // 2:]], pa.large_string()) if chunked \
            else pa.array(values, pa.large_string())
        want = pc.fill_null(pc.index_in(arr, value_set=wanted, skip_nulls=skip_nulls), -1).to_numpy(
            zero_copy_only=False)
        got = context.index_in(arr, wanted, skip_nulls=skip_nulls)
        assert got.tolist() == want.tolist()


def test_codes_of_a_few_rows_are_the_whole_lookups(make_snapshot, monkeypatch) -> None:
    """Keying a few rows against a large vocabulary looks them up the other way round
    (``index_in``); the codes, and the vocabulary's new words, are those of the direct lookup."""
    accounts = [{"system": "erp", "account_id": f"a{n}", "enabled": "true"} for n in range(40)]
    grants = [{"system": "erp", "account_id": a, "role": "r"} for a in ("a7", "new2", "a3", "new1", "new2", "a7")]
    snap = read_snapshot(make_snapshot({"accounts": accounts, "grants": grants,
                                        "reviews": [{"system": "erp", "account_id": "new1",
                                                     "reviewed_at": "2026-01-01T00:00:00+08:00"}]}))
    keyed = {}
    for few in (4, 0):  # 0: always the direct lookup
        monkeypatch.setattr(context, "FEW", few)
        ctx = Context(snap, NOW)
        keyed[few] = [ctx.keyed(name)[ACCOUNT].tolist() for name in ("accounts", "grants", "reviews")]
        assert ctx._vocabulary["account_id"].to_pylist()[40:] == ["new2", "new1"]
    assert keyed[4] == keyed[0]
    assert keyed[4][2] == [keyed[4][1][3]]  # new1: the code the grants gave it


@pytest.mark.parametrize("n", [0, 1, 300])
def test_code_rows_finds_each_codes_first_key(n: int) -> None:
    """``code_rows`` over ``in_order`` gives each code the first position of an equal key (keys
    repeat, are unsorted and include -1 and the largest int64), -1 where no key is equal."""
    rng = np.random.default_rng(n)
    keys = rng.integers(-1, 60, n).astype("int64")
    if n:
        keys[rng.integers(0, n)] = np.iinfo("int64").max
    codes = np.concatenate([rng.integers(-1, 80, 200), [np.iinfo("int64").max]]).astype("int64")
    first = {}
    for at, key in enumerate(keys.tolist()):
        first.setdefault(key, at)
    got = context.code_rows(context.in_order(keys), codes)
    assert got.tolist() == [first.get(c, -1) for c in codes.tolist()]


def test_dropped_joins_are_built_again_the_same(make_snapshot) -> None:
    """``drop_caches`` frees every join but those kept, and one asked for again is the same: a
    table keyed after others were keyed and dropped keeps its codes (the vocabulary stays)."""
    snap = read_snapshot(make_snapshot({
        "identities": [{"person_id": "P1", "name": "张三", "status": "active"}],
        "accounts": [{"system": "erp", "account_id": "zs", "person_id": "P1", "enabled": "true"},
                     {"system": "oa", "account_id": "ls", "enabled": "true"}],
        "grants": [{"system": "oa", "account_id": "ls", "role": "a"},
                   {"system": "hr", "account_id": "new", "role": "a"}],
        "role_permissions": [{"system": "oa", "role": "a", "permission": "p"}],
    }))
    ctx = Context(snap, NOW)
    grants, perms = ctx.keyed("grants").copy(), ctx.account_permissions.copy()
    ctx.shared("sod.x:1", lambda: 1)
    ctx.shared("keyed_in:grants:['oa']", lambda: 2)
    assert ctx.caches() == {"keyed:grants", "keyed:accounts", "_accounts", "_accounts_in_order",
                            "account_permissions", "sod.x", "keyed_in"}
    ctx.drop_caches({"_accounts", "keyed_in"})
    assert ctx.caches() == {"_accounts", "keyed_in"}
    assert ctx.shared("keyed_in:grants:['oa']", lambda: 3) == 2 and ctx.shared("sod.x:1", lambda: 4) == 4
    pd.testing.assert_frame_equal(ctx.account_permissions, perms)
    pd.testing.assert_frame_equal(ctx.keyed("grants"), grants)
