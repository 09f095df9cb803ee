"""The safe ``table_rule`` language (SPEC §5): tokenize → parse → check → compile to pandas.

User text is never handed to ``eval``, ``exec`` or ``DataFrame.query``. A small
tokenizer and a recursive-descent parser accept exactly this grammar, and nothing
else can be expressed::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | test
    test     := operand [ CMP operand | ["not"] "in" list | "is" ["not"] "null" ]
    operand  := literal | column | "today" | func "(" args ")" | "(" expr ")"
    literal  := "string" | 'string' | number | true | false | null
    list     := "[" literal ("," literal)* "]"
    func     := matches(column, "glob", …) | days_since(column) | date("YYYY-MM-DD")
    CMP      := == | != | < | <= | > | >=

Columns are identifiers, dotted for joined tables (``identity.status``). There is no
attribute access, subscript, arithmetic, lambda, comprehension or any call but the
three functions, so nothing can reach Python objects. Size limits (source length,
nesting depth, literal length) keep a hostile rule from costing memory or stack.

Semantics (documented in docs/policies.md): a comparison with an empty value is
false (use ``is null``); a time column compared with a date (``date(…)``, ``today``
or a date string) compares its local calendar date in the snapshot timezone, two
time columns compare instants; a text column compared with a number is read as a
number (non-numbers are empty).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .lazy import pandas as pd
from .snapshot import digest_text, is_digest
from .timeutil import days_since, local_day, parse_times

if TYPE_CHECKING:
    from .context import Context

MAX_SOURCE = 10_000  # characters of one expression or template
MAX_DEPTH = 32  # nesting of parentheses / not / boolean operators
MAX_LITERAL = 1_000  # characters of one string literal
MAX_NUMBER = 30  # characters of one number literal

COLUMN = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_COLUMN_RE = re.compile(COLUMN)
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<name>""" + COLUMN + r""")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|-)""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "today"}
FUNCTIONS = {"matches", "days_since", "date"}
#: Python words that have no place here; named so the message says why
_FORBIDDEN_WORDS = {
    "lambda": "lambdas are not part of the rule language",
    "for": "comprehensions are not part of the rule language",
    "if": "conditional expressions are not part of the rule language",
    "else": "conditional expressions are not part of the rule language",
    "import": "imports are not part of the rule language",
    "None": "write null",
    "True": "write true",
    "False": "write false",
}
_HINTS = {"=": "write == to compare", "&": "write and", "|": "write or", "!": "write not",
          ".": "attribute access is not part of the rule language",
          "+": "arithmetic is not part of the rule language", "*": "arithmetic is not part of the rule language",
          "/": "arithmetic is not part of the rule language", "%": "arithmetic is not part of the rule language",
          "{": "dicts and sets are not part of the rule language",
          ":": "slices and dicts are not part of the rule language"}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
CMP_OPS = {"==", "!=", "<", "<=", ">", ">="}


class ExprError(ValueError):
    """A rule-language mistake at ``offset`` (0-based character index in the source)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class ExprEvalError(ValueError):
    """The rule is well-formed but cannot be evaluated on this snapshot (unknown column…)."""


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Lit(Node):
    value: Any  # str | int | float | bool | None | pd.Timestamp (date)
    type: str  # str | num | bool | null | date


@dataclass(frozen=True)
class Col(Node):
    name: str


@dataclass(frozen=True)
class Today(Node):
    pass


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # and | or
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Lit, ...]
    negate: bool


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negate: bool


# ---------------------------------------------------------------- tokenizer + parser


@dataclass(frozen=True)
class Token:
    kind: str  # num | str | name | kw | op | end
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_SOURCE:
        raise ExprError(f"expression is longer than {MAX_SOURCE} characters", MAX_SOURCE)
    out: list[Token] = []
    i = 0
    while i < len(source):
        m = _TOKEN.match(source, i)
        if m is None:
            ch = source[i]
            if ch in "\"'":
                raise ExprError("unterminated string", i)
            hint = _HINTS.get(ch)
            raise ExprError(f"unexpected character {ch!r}" + (f" ({hint})" if hint else ""), i)
        kind = m.lastgroup
        text = m.group()
        if kind == "num" and len(text) > MAX_NUMBER:
            raise ExprError(f"number literal is longer than {MAX_NUMBER} digits", i)
        if kind == "str" and len(text) - 2 > MAX_LITERAL:
            raise ExprError(f"string literal is longer than {MAX_LITERAL} characters", i)
        if kind == "name":
            for seg_match in re.finditer(r"[^.]+", text):
                seg = seg_match.group()
                if seg.startswith("__") or seg.endswith("__"):
                    raise ExprError(f"dunder names are not allowed: {seg!r}", i + seg_match.start())
            if text in _FORBIDDEN_WORDS:
                raise ExprError(f"{text!r}: {_FORBIDDEN_WORDS[text]}", i)
            if text in KEYWORDS:
                kind = "kw"
        if kind != "ws":
            out.append(Token(kind, text, i))
        i = m.end()
    out.append(Token("end", "", len(source)))
    return out


def _unquote(tok: Token) -> str:
    body = tok.text[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape \\{nxt} in string", tok.pos + 1 + i)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and (not texts or self.tok.text in texts)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            raise ExprError(f"expected {what}, found {self._describe(self.tok)}", self.tok.pos)
        return self.take()

    @staticmethod
    def _describe(tok: Token) -> str:
        return "the end of the expression" if tok.kind == "end" else repr(tok.text)

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep", pos)

    def parse(self) -> Node:
        node = self.or_()
        if not self.at("end"):
            tok = self.tok
            hint = " (subscripts are not part of the rule language)" if tok.text == "[" else ""
            raise ExprError(f"unexpected {self._describe(tok)}{hint}", tok.pos)
        return node

    def _chain(self, op: str, sub: Callable[[], Node]) -> Node:
        first = sub()
        items = [first]
        while self.at("kw", op):
            self.take()
            items.append(sub())
        return items[0] if len(items) == 1 else BoolOp(first.pos, op, tuple(items))

    def or_(self) -> Node:
        return self._chain("or", self.and_)

    def and_(self) -> Node:
        return self._chain("and", self.not_)

    def not_(self) -> Node:
        if self.at("kw", "not"):
            tok = self.take()
            self.nest(tok.pos)
            node = Not(tok.pos, self.not_())
            self.depth -= 1
            return node
        return self.test()

    def test(self) -> Node:
        left = self.operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in CMP_OPS:
            self.take()
            return Compare(tok.pos, tok.text, left, self.operand())
        if self.at("kw", "in") or (self.at("kw", "not") and self.tokens[self.i + 1].text == "in"):
            negate = self.take().text == "not"
            if negate:
                self.take()
            return InList(tok.pos, left, self.literal_list(), negate)
        if self.at("kw", "is"):
            self.take()
            negate = self.at("kw", "not")
            if negate:
                self.take()
            self.expect("kw", "null", "null after 'is' / 'is not'")
            return IsNull(tok.pos, left, negate)
        return left

    def literal_list(self) -> tuple[Lit, ...]:
        self.expect("op", "[", "'[' starting the list after 'in'")
        items = [self.literal()]
        while self.at("op", ","):
            self.take()
            items.append(self.literal())
        self.expect("op", "]", "',' or ']' in the list")
        return tuple(items)

    def literal(self) -> Lit:
        node = self.operand()
        if not isinstance(node, Lit):
            raise ExprError("list items must be literals (strings, numbers, dates)", node.pos)
        if node.type == "null":
            raise ExprError("null cannot be a list item (use 'is null')", node.pos)
        return node

    def operand(self) -> Node:
        tok = self.take()
        if tok.kind == "num" or (tok.kind == "op" and tok.text == "-" and self.at("num")):
            if tok.text == "-":
                tok = Token("num", "-" + self.take().text, tok.pos)
            value = float(tok.text) if "." in tok.text else int(tok.text)
            return Lit(tok.pos, value, "num")
        if tok.kind == "str":
            return Lit(tok.pos, _unquote(tok), "str")
        if tok.kind == "kw":
            if tok.text in ("true", "false"):
                return Lit(tok.pos, tok.text == "true", "bool")
            if tok.text == "null":
                return Lit(tok.pos, None, "null")
            if tok.text == "today":
                return Today(tok.pos)
            raise ExprError(f"expected a value, found {tok.text!r}", tok.pos)
        if tok.kind == "op" and tok.text == "(":
            self.nest(tok.pos)
            node = self.or_()
            self.depth -= 1
            self.expect("op", ")", "')'")
            return node
        if tok.kind == "name":
            if self.at("op", "("):
                return self.call(tok)
            return Col(tok.pos, tok.text)
        raise ExprError(f"expected a value, found {self._describe(tok)}", tok.pos)

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise ExprError(
                f"unknown function {name.text!r} (the rule language has only "
                f"{', '.join(sorted(FUNCTIONS))})", name.pos)
        self.take()  # (
        self.nest(name.pos)
        args = [self.or_()]
        while self.at("op", ","):
            self.take()
            args.append(self.or_())
        self.expect("op", ")", "',' or ')' in the call")
        self.depth -= 1
        return _check_call(Call(name.pos, name.text, tuple(args)))


def _check_call(call: Call) -> Node:
    """Arity and argument shapes of the three functions; ``date("…")`` folds to a literal."""
    a = call.args
    if call.func == "date":
        if len(a) != 1 or not (isinstance(a[0], Lit) and a[0].type == "str"):
            raise ExprError('date() takes one string, e.g. date("2026-01-01")', call.pos)
        return Lit(call.pos, _parse_date(a[0].value, a[0].pos), "date")
    if call.func == "days_since":
        if len(a) != 1 or not isinstance(a[0], Col):
            raise ExprError("days_since() takes one column, e.g. days_since(last_login_at)", call.pos)
        return call
    # matches
    if len(a) < 2 or not isinstance(a[0], Col) or not all(isinstance(x, Lit) and x.type == "str" for x in a[1:]):
        raise ExprError('matches() takes a column and one or more glob strings, e.g. matches(role, "gl.*")',
                        call.pos)
    return call


def _parse_date(text: str, pos: int) -> pd.Timestamp:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ExprError(f"{text!r} is not a date (YYYY-MM-DD)", pos)
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise ExprError(f"{text!r} is not a valid date", pos) from None


# ---------------------------------------------------------------- static checks

_TYPE_OF_LIT = {"str": "str", "num": "num", "bool": "bool", "null": "null", "date": "date"}


def _type(node: Node) -> str:
    """Static type: bool | num | str | date | null | any (a column: known only at evaluation)."""
    if isinstance(node, Lit):
        return _TYPE_OF_LIT[node.type]
    if isinstance(node, Col):
        return "any"
    if isinstance(node, Today):
        return "date"
    if isinstance(node, Call):
        return "bool" if node.func == "matches" else "num"
    return "bool"


def _check(node: Node) -> None:
    """Type rules that need no data: boolean operands, no ``== null``, comparable sides."""
    if isinstance(node, Not | BoolOp):
        for sub in (node.operand,) if isinstance(node, Not) else node.operands:
            if _type(sub) not in ("bool", "any"):
                raise ExprError(f"'{'not' if isinstance(node, Not) else node.op}' needs true/false "
                                f"operands, not a {_type(sub)} value", sub.pos)
            _check(sub)
    elif isinstance(node, Compare):
        lt, rt = _type(node.left), _type(node.right)
        if "null" in (lt, rt):
            raise ExprError("compare with null using 'is null' / 'is not null'", node.pos)
        if node.op not in ("==", "!=") and "bool" in (lt, rt):
            raise ExprError(f"'{node.op}' does not order true/false values", node.pos)
        known = {lt, rt} - {"any"}
        if len(known) == 2 and known != {"date", "str"}:
            raise ExprError(f"cannot compare a {lt} value with a {rt} value", node.pos)
    elif isinstance(node, InList | IsNull) and _type(node.operand) == "bool":
        raise ExprError("'in' and 'is null' test a value, not a condition", node.pos)


def columns_of(node: Node) -> list[str]:
    """Every column the expression reads, in order of first use."""
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Col) and n.name not in out:
            out.append(n.name)
        for child in _children(n):
            walk(child)

    walk(node)
    return out


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, Call):
        return n.args
    if isinstance(n, Not | InList | IsNull):
        return (n.operand,)
    if isinstance(n, BoolOp):
        return n.operands
    if isinstance(n, Compare):
        return (n.left, n.right)
    return ()


def _column_nodes(node: Node) -> list[Col]:
    out = [node] if isinstance(node, Col) else []
    for child in _children(node):
        out.extend(_column_nodes(child))
    return out


@dataclass(frozen=True)
class Expression:
    source: str
    tree: Node
    columns: list[str] = field(default_factory=list)

    def evaluate(self, df: pd.DataFrame, ctx: Context) -> pd.Series:
        """A boolean mask over ``df``'s rows (vectorised; raises ExprEvalError)."""
        ev = _Evaluator(df, ctx)
        result = ev.value(self.tree)
        return ev.as_mask(result, self.tree)


def parse(source: str, prefixes: tuple[str, ...] | None = None) -> Expression:
    """Parse and statically check a rule; ``prefixes`` limits which ``x.`` joins are known."""
    if not isinstance(source, str) or not source.strip():
        raise ExprError("the expression is empty", 0)
    tree = _Parser(source).parse()
    if _type(tree) not in ("bool", "any"):
        raise ExprError(f"the rule must be true or false for a row, not a {_type(tree)} value", tree.pos)
    _check_all(tree)
    if prefixes is not None:
        for col in _column_nodes(tree):
            if "." in col.name and not col.name.startswith(tuple(p + "." for p in prefixes)):
                known = ", ".join(f"{p}.*" for p in prefixes) or "none on this table"
                raise ExprError(f"unknown joined column {col.name!r} (joined columns here: {known})", col.pos)
    return Expression(source, tree, columns_of(tree))


def _check_all(node: Node) -> None:
    _check(node)
    for child in _children(node):
        _check_all(child)


# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """``"account:{system}:{account_id}"`` — literal text and column placeholders, nothing more.

    Parsed here (not by ``str.format``, which would follow ``{a.b}`` as attribute
    access); ``{{`` and ``}}`` are literal braces.
    """

    source: str
    parts: tuple[tuple[str, bool], ...]  # (text, is_column)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(t for t, is_col in self.parts if is_col))

    def render(self, df: pd.DataFrame) -> pd.Series:
        out = pd.Series("", index=df.index, dtype=object)
        for text, is_col in self.parts:
            out = out + (display(_column(df, text)) if is_col else text)
        return out.astype("str")


def parse_template(source: str, prefixes: tuple[str, ...] | None = None) -> Template:
    if len(source) > MAX_SOURCE:
        raise ExprError(f"template is longer than {MAX_SOURCE} characters", MAX_SOURCE)
    parts: list[tuple[str, bool]] = []
    buf: list[str] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if source.startswith("{{", i) or source.startswith("}}", i):
            buf.append(ch)
            i += 2
            continue
        if ch == "}":
            raise ExprError("single '}' (write '}}' for a literal brace)", i)
        if ch == "{":
            end = source.find("}", i)
            if end < 0:
                raise ExprError("'{' without a closing '}'", i)
            name = source[i + 1:end].strip()
            if not _COLUMN_RE.fullmatch(name):
                raise ExprError(f"placeholder {{{source[i + 1:end]}}} must be a column name "
                                "(no indexing, format specs or conversions)", i + 1)
            if any(s.startswith("__") or s.endswith("__") for s in name.split(".")):
                raise ExprError(f"dunder names are not allowed: {name!r}", i + 1)
            if "." in name and prefixes is not None and not name.startswith(tuple(p + "." for p in prefixes)):
                raise ExprError(f"unknown joined column {name!r} in placeholder", i + 1)
            if buf:
                parts.append(("".join(buf), False))
                buf = []
            parts.append((name, True))
            i = end + 1
            continue
        buf.append(ch)
        i += 1
    if buf:
        parts.append(("".join(buf), False))
    return Template(source, tuple(parts))


def display(s: pd.Series) -> pd.Series:
    """A column as message text: ISO dates (time only when not midnight), true/false, '' for empty."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        from .kinds.base import jsonable

        s = jsonable(s)
    elif pd.api.types.is_bool_dtype(s.dtype):
        return s.map({True: "true", False: "false"}).astype(object).fillna("")
    elif pd.api.types.is_float_dtype(s.dtype):
        whole = s.notna() & (s == s.round())
        text = s.astype(object)
        text[whole] = s[whole].astype("int64")
        s = text.where(s.notna(), None)
    return s.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))


# ---------------------------------------------------------------- evaluation


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        known = ", ".join(sorted(map(str, df.columns)))
        raise ExprEvalError(f"unknown column {name!r} (columns: {known})")
    if isinstance(df[name].dtype, pd.CategoricalDtype):  # a word column (snapshot.py) is text to a rule
        return df[name].astype("str")
    if is_digest(df[name]):  # so is a digest held as bytes
        return digest_text(df[name])
    return df[name]


def _is_time(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype)


class _Evaluator:
    """Turns a checked tree into pandas operations over whole columns."""

    def __init__(self, df: pd.DataFrame, ctx: Context) -> None:
        self.df = df
        self.ctx = ctx

    def mask(self, value: Any) -> pd.Series:
        return pd.Series(bool(value), index=self.df.index) if not isinstance(value, pd.Series) else value

    def as_mask(self, value: Any, node: Node) -> pd.Series:
        """A truth value for each row; a bare column must hold booleans."""
        if not isinstance(value, pd.Series):
            return self.mask(value)
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.fillna(False).astype(bool)
        what = f"column {node.name!r}" if isinstance(node, Col) else "the value"
        raise ExprEvalError(f"{what} does not hold true/false values (compare it, e.g. {what.split()[-1]} == \"x\")")

    def value(self, node: Node) -> Any:
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Today):
            return self.ctx.today
        if isinstance(node, Col):
            return _column(self.df, node.name)
        if isinstance(node, Not):
            return ~self.as_mask(self.value(node.operand), node.operand)
        if isinstance(node, BoolOp):
            masks = [self.as_mask(self.value(n), n) for n in node.operands]
            out = masks[0]
            for m in masks[1:]:
                out = (out & m) if node.op == "and" else (out | m)
            return out
        if isinstance(node, IsNull):
            missing = ~self.present(self.value(node.operand))
            return ~missing if node.negate else missing
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Call):
            return self.call(node)
        raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover

    def call(self, node: Call) -> pd.Series:
        from .context import glob_mask

        col = self.value(node.args[0])
        if node.func == "days_since":
            return days_since(self.times(col, node.args[0]), self.ctx.today)
        patterns = [a.value for a in node.args[1:]]
        return glob_mask(col.astype("str").where(col.notna()), patterns).fillna(False).astype(bool)

    def times(self, s: pd.Series, node: Node) -> pd.Series:
        if _is_time(s):
            return s if isinstance(s.dtype, pd.DatetimeTZDtype) else s.dt.tz_localize(self.ctx.tz)
        if s.dtype == "str" or s.dtype == object:
            parsed, bad = parse_times(s, self.ctx.tz)
            if not bad.any():
                return parsed
        name = node.name if isinstance(node, Col) else "value"
        raise ExprEvalError(f"column {name!r} does not hold dates or timestamps")

    def in_list(self, node: InList) -> pd.Series:
        v = self.value(node.operand)
        values = [i.value for i in node.items]
        if any(i.type == "date" for i in node.items):
            days = local_day(self.times(v, node.operand)) if isinstance(v, pd.Series) else v
            hit = days.isin(values) if isinstance(days, pd.Series) else self.mask(days in values)
        elif isinstance(v, pd.Series):
            if all(i.type == "num" for i in node.items) and not pd.api.types.is_numeric_dtype(v.dtype):
                v = pd.to_numeric(v, errors="coerce")
            hit = v.isin(values).fillna(False).astype(bool) & self.present(v)
        else:
            hit = self.mask(v in values)
        return ~hit & self.present(v) if node.negate else hit

    def present(self, v: Any) -> pd.Series:
        """Not empty: neither missing nor, in a text column, the empty string."""
        if not isinstance(v, pd.Series):
            return self.mask(v is not None)
        if pd.api.types.is_string_dtype(v.dtype) or v.dtype == object:
            return v.notna() & (v.astype("str") != "")
        return v.notna()

    def compare(self, node: Compare) -> pd.Series:
        left, right = self.value(node.left), self.value(node.right)
        left, right = self.align(left, node.left, right, node.right)
        ops = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
        if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
            return self.mask(getattr(pd.Series([left]), ops[node.op])(right).iloc[0])
        if not isinstance(left, pd.Series):
            left, right = right, left
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
            op = flip.get(node.op, node.op)
        else:
            op = node.op
        try:
            result = getattr(left, ops[op])(right)
        except TypeError as exc:
            raise ExprEvalError(f"cannot compare at character {node.pos + 1}: {exc}") from None
        if result.dtype != bool:
            result = result.astype("boolean").fillna(False).astype(bool)
        return result & self.present(left) & self.present(right)

    def align(self, left: Any, lnode: Node, right: Any, rnode: Node) -> tuple[Any, Any]:
        """Bring both sides to one comparable type (dates, numbers, booleans, text)."""
        lt, rt = self.vtype(left), self.vtype(right)
        if lt == "time" and rt == "time":
            return left, right  # two time columns: instants
        if "date" in (lt, rt) or "time" in (lt, rt):
            # against a date, a date string or a text column: local calendar dates
            return self.as_day(left, lnode), self.as_day(right, rnode)
        if "num" in (lt, rt):
            return self.as_num(left, lnode), self.as_num(right, rnode)
        if "bool" in (lt, rt) and {lt, rt} - {"bool"}:
            other = rnode if lt == "bool" else lnode
            raise ExprEvalError(f"column {getattr(other, 'name', '?')!r} does not hold true/false values")
        return left, right

    @staticmethod
    def vtype(v: Any) -> str:
        if isinstance(v, pd.Series):
            if _is_time(v):
                return "time"
            if pd.api.types.is_bool_dtype(v.dtype):
                return "bool"
            if pd.api.types.is_numeric_dtype(v.dtype):
                return "num"
            return "text"
        if isinstance(v, pd.Timestamp):
            return "date"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "num"
        return "str"

    def as_day(self, v: Any, node: Node) -> Any:
        if isinstance(v, pd.Timestamp):
            return v
        if isinstance(v, str):
            return _parse_date(v, node.pos)
        if isinstance(v, pd.Series):
            if pd.api.types.is_numeric_dtype(v.dtype) or pd.api.types.is_bool_dtype(v.dtype):
                raise ExprEvalError(f"column {getattr(node, 'name', '?')!r} does not hold dates")
            return local_day(self.times(v, node))
        raise ExprEvalError(f"cannot compare a date at character {node.pos + 1}")

    def as_num(self, v: Any, node: Node) -> Any:
        if isinstance(v, pd.Series):
            if pd.api.types.is_bool_dtype(v.dtype) or _is_time(v):
                raise ExprEvalError(f"column {getattr(node, 'name', '?')!r} does not hold numbers")
            if not pd.api.types.is_numeric_dtype(v.dtype):
                return pd.to_numeric(v, errors="coerce")
            return v
        if isinstance(v, str):
            raise ExprEvalError(f"cannot compare text {v!r} with a number")
        return v
