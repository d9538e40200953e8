"""Audience expressions: marketer-written boolean filters over `customer_profile`, made safe.

An audience is a string such as
`city = '上海市' and age_band = '90后' and monetary_30d > 500`. It comes from a YAML file or
the command line, so it is hostile input. It is never pasted into SQL: it is checked
lexically, parsed with sqlglot, every node of the tree is checked against an allow-list and
type-checked against the known columns, and the SQL that runs is generated from that tree.

What is accepted (everything else is rejected with a message that quotes the offending part):

- `and`, `or`, `not`, parentheses;
- comparisons `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`; `in (literal, ...)`; `between .. and ..`;
  `like`, `ilike` (and their `not` forms); `is null`, `is not null`;
- unqualified column names of the table, quoted or not. Names are matched case-insensitively
  (folded to lowercase, as DuckDB does, quoted names included) against the known columns,
  which are lowercase snake_case; a quoted name is read whole, so `"a"" or 1=1 --"` is
  simply an unknown column. The SQL carries the canonical name, always quoted;
- plain single-quoted strings, numbers, `true`/`false`, date literals (`date '2025-01-01'`; a
  plain string compared with a date column is read as a date), unary minus;
- `+ - * /` on numbers (`a / b` runs as `a / nullif(b, 0)`: a zero divisor gives null, which
  no comparison selects; DuckDB's 0 / 0 is NaN, which compares above every number, so
  `monetary_30d / monetary_365d > 0.5` would select everyone without spend); the functions in
  `ALLOWED_FUNCTIONS`.

Type checks: both sides of a comparison must have the same kind (a text column against a
number is an error, with a hint), and a tag compared with a value outside its allowed values
is an error that lists the allowed values, with `=`, `!=`, `<`, `>`, `in` and `between` alike.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, NoReturn

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

Kind = Literal["text", "number", "date", "boolean"]
KINDS: tuple[Kind, ...] = ("text", "number", "date", "boolean")

# The functions a marketer needs to normalise values; none reads files, settings or the
# environment. Keyed by sqlglot node class, so aliases the dialect maps to the same node
# (duckdb `len`, `ifnull`) are accepted under the same rule.
ALLOWED_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Abs: "abs",
    exp.Coalesce: "coalesce",
    exp.Length: "length",
    exp.Lower: "lower",
    exp.Round: "round",
    exp.Upper: "upper",
}
_FUNCTION_LIST = ", ".join(sorted(ALLOWED_FUNCTIONS.values()))
# round(x, n) beyond this many digits either way means nothing for money or counts, and an
# absurd n overflows in the engine rather than in the check.
MAX_ROUND_DECIMALS = 18

# Parentheses or operators nested deeper than this are not a marketer's expression, and
# sqlglot's recursive parser overflows Python's stack around 900 levels: refuse long before.
# A chain of AND/OR terms counts as one level.
MAX_NESTING = 32

_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_RELATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
_ARITHMETIC: dict[type[exp.Expression], str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
}
# Arguments each allowed node may carry; any other argument set (IN with a subquery, LIKE with
# ESCAPE, a qualified column, BETWEEN SYMMETRIC, ...) is a form we did not review: rejected.
_ALLOWED_ARGS: dict[type[exp.Expression], frozenset[str]] = {
    exp.And: frozenset({"this", "expression"}),
    exp.Or: frozenset({"this", "expression"}),
    exp.Not: frozenset({"this"}),
    exp.Paren: frozenset({"this"}),
    exp.In: frozenset({"this", "expressions"}),
    exp.Between: frozenset({"this", "low", "high"}),
    exp.Like: frozenset({"this", "expression", "negate"}),
    exp.ILike: frozenset({"this", "expression", "negate"}),
    exp.Is: frozenset({"this", "expression", "negate"}),
    exp.Column: frozenset({"this"}),
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Literal: frozenset({"this", "is_string"}),
    exp.Boolean: frozenset({"this"}),
    exp.Neg: frozenset({"this"}),
    exp.Cast: frozenset({"this", "to"}),
    exp.Abs: frozenset({"this"}),
    exp.Lower: frozenset({"this"}),
    exp.Upper: frozenset({"this"}),
    exp.Length: frozenset({"this"}),
    exp.Round: frozenset({"this", "decimals"}),
    exp.Coalesce: frozenset({"this", "expressions", "is_nvl", "is_null"}),
    **dict.fromkeys(_COMPARISONS, frozenset({"this", "expression"})),
    **dict.fromkeys(_ARITHMETIC, frozenset({"this", "expression", "typed", "safe"})),
}


# Names, for the error message, of the node arguments outside `_ALLOWED_ARGS` that parse.
_FORMS = {
    "query": "a subquery",
    "unnest": "UNNEST",
    "field": "IN without a parenthesised list",
    "table": "a qualified column name (table.column)",
    "db": "a qualified column name",
    "catalog": "a qualified column name",
    "symmetric": "BETWEEN SYMMETRIC",
    "truncate": "round() with a third argument",
}


class AudienceExpressionError(ValueError):
    """A rejected audience expression; the message says what is wrong and points at where."""

    def __init__(
        self, problem: str, expr: str = "", start: int | None = None, end: int | None = None
    ):
        self.problem = problem
        self.position = start
        super().__init__(problem + _pointer(expr, start, end))


@dataclass(frozen=True)
class ColumnSpec:
    """A column an audience may filter on; `allowed_values` (text tags) turns typos into errors."""

    name: str
    kind: Kind
    allowed_values: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not _COLUMN_NAME.fullmatch(self.name):
            raise ValueError(f"column name {self.name!r} must be lowercase snake_case")
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.allowed_values is not None:
            if self.kind != "text":
                raise ValueError(f"column {self.name}: allowed_values apply to text columns only")
            if not self.allowed_values or not all(isinstance(v, str) for v in self.allowed_values):
                raise ValueError(f"column {self.name}: allowed_values must be non-empty strings")


@dataclass(frozen=True)
class CompiledExpression:
    """The checked expression: SQL regenerated from the tree, never the input text."""

    sql: str  # identifiers quoted, for `where <sql>` in `dialect`
    display: str  # the same tree, printed for people (unquoted identifiers)
    columns: frozenset[str]
    dialect: str


def compile_expression(
    expr: str,
    columns: Mapping[str, ColumnSpec],
    dialect: str = "duckdb",
    max_length: int = 2000,
) -> CompiledExpression:
    """Check an untrusted audience expression and return SQL built from its parsed tree."""
    _check_columns_argument(columns)
    if not isinstance(expr, str):
        raise AudienceExpressionError(f"an audience expression is text, got {type(expr).__name__}")
    if len(expr) > max_length:
        raise AudienceExpressionError(
            f"the expression is too long: {len(expr):,} characters, the limit is {max_length:,}"
        )
    if not expr.strip():
        raise AudienceExpressionError("the expression is empty")
    for i, ch in enumerate(expr):
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r":
            raise AudienceExpressionError(f"control character {ch!r} is not allowed", expr, i, i)
    _check_characters(expr)
    _check_tokens(expr, dialect)
    try:
        statements = sqlglot.parse(expr, read=dialect)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        start, end = _parse_error_span(expr, first)
        description = first.get("description") or str(error).splitlines()[0]
        raise AudienceExpressionError(
            f"the expression could not be parsed: {description}", expr, start, end
        ) from None
    except RecursionError:
        raise AudienceExpressionError("the expression is too deeply nested") from None
    except Exception as error:  # a parser crash on hostile input is still a rejection
        raise AudienceExpressionError(
            f"the expression could not be parsed ({type(error).__name__})"
        ) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise AudienceExpressionError(
            f"an audience is exactly one expression, found {len(statements)} statements"
        )
    tree = statements[0]
    checker = _Checker(expr, columns)
    try:
        kind = checker.check(tree, root=True)
        if kind != "boolean":
            checker.fail(
                tree,
                f"the expression must be a condition (true or false), "
                f"but {_quote(tree, dialect)} is a {kind} value",
            )
        sql = tree.sql(dialect=dialect, identify=True, comments=False)
        readable = tree.copy()
        for ident in readable.find_all(exp.Identifier):
            ident.set("quoted", False)
        display = readable.sql(dialect=dialect, comments=False)
        # Belt and braces: the generated text must parse back to the very tree we checked.
        if sqlglot.parse_one(sql, read=dialect) != tree:
            raise AudienceExpressionError(
                "the expression could not be regenerated faithfully; please simplify it"
            )
    except RecursionError:
        raise AudienceExpressionError("the expression is too deeply nested") from None
    return CompiledExpression(
        sql=sql, display=display, columns=frozenset(checker.used), dialect=dialect
    )


def count_audience(
    con: duckdb.DuckDBPyConnection, relation: str, compiled: CompiledExpression
) -> int:
    """Count an audience; takes only a compiled expression so raw text cannot reach the SQL."""
    if not isinstance(compiled, CompiledExpression):
        raise TypeError(
            f"count_audience needs a CompiledExpression from compile_expression, "
            f"got {type(compiled).__name__}"
        )
    if compiled.dialect != "duckdb":
        raise ValueError(f"the expression was compiled for {compiled.dialect}, not duckdb")
    if not isinstance(relation, str) or not _RELATION.fullmatch(relation):
        raise ValueError(
            f"relation {relation!r} must be a dotted identifier such as main.customer_profile"
        )
    quoted = ".".join(f'"{part}"' for part in relation.split("."))
    row = con.execute(f"select count(*) from {quoted} where {compiled.sql}").fetchone()
    return int(row[0])


# --- lexical checks ---------------------------------------------------------------------------


def _check_columns_argument(columns: Mapping[str, ColumnSpec]) -> None:
    for key, spec in columns.items():
        if not isinstance(spec, ColumnSpec) or key != spec.name:
            raise ValueError(f"columns[{key!r}] must be a ColumnSpec named {key!r}")


def _check_characters(expr: str) -> None:
    """Reject comments and statement separators before any parser sees them, reading quotes
    the standard way ('' and "" escape), so `like '%--%'` is fine and a marker outside a
    literal is refused whether or not the dialect would treat it as a comment."""
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "'\"":
            close = _closing_quote(expr, i)
            if close is None:
                what = "string" if ch == "'" else "quoted name"
                raise AudienceExpressionError(
                    f"unbalanced quote: the {what} opened here is never closed", expr, i, i
                )
            i = close + 1
            continue
        if expr.startswith(("--", "/*", "*/"), i):
            raise AudienceExpressionError(
                f"SQL comments ({expr[i : i + 2]}) are not allowed", expr, i, i + 1
            )
        if ch == "#":
            raise AudienceExpressionError(
                "'#' is not allowed (it starts a comment in some SQL dialects)", expr, i, i
            )
        if ch == ";":
            raise AudienceExpressionError(
                "';' is not allowed: an audience is exactly one expression, not statements",
                expr,
                i,
                i,
            )
        i += 1


def _closing_quote(expr: str, start: int) -> int | None:
    quote, j = expr[start], start + 1
    while True:
        k = expr.find(quote, j)
        if k == -1:
            return None
        if expr.startswith(quote * 2, k):
            j = k + 2
            continue
        return k


def _check_tokens(expr: str, dialect: str) -> None:
    """Second lexical pass with the dialect's own tokenizer: comments it recognises,
    parameters and placeholders, and parentheses that do not balance or nest too deep."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(expr)
    except TokenError:
        raise AudienceExpressionError(
            "the expression could not be read (an unterminated string, name or comment?)"
        ) from None
    opened: list[int] = []
    for token in tokens:
        if token.comments:
            raise AudienceExpressionError(
                "SQL comments are not allowed", expr, token.start, token.end
            )
        if token.token_type in (TokenType.PARAMETER, TokenType.PLACEHOLDER):
            raise AudienceExpressionError(
                f"query parameters ({token.text}) are not allowed: write the value itself",
                expr,
                token.start,
                token.end,
            )
        if token.token_type == TokenType.L_PAREN:
            opened.append(token.start)
            if len(opened) > MAX_NESTING:
                raise AudienceExpressionError(
                    f"parentheses nest deeper than {MAX_NESTING} levels", expr, token.start
                )
        elif token.token_type == TokenType.R_PAREN:
            if not opened:
                raise AudienceExpressionError(
                    "unbalanced parentheses: this ')' closes nothing", expr, token.start
                )
            opened.pop()
    if opened:
        raise AudienceExpressionError(
            "unbalanced parentheses: this '(' is never closed", expr, opened[-1]
        )


# --- the allow-list walk ------------------------------------------------------------------------


class _Checker:
    """Walks the parsed tree, allowing only reviewed node types and inferring their kinds."""

    def __init__(self, expr: str, columns: Mapping[str, ColumnSpec]):
        self.expr = expr
        self.columns = columns
        self.used: set[str] = set()
        self.depth = 0
        self.handlers: dict[type[exp.Expression], Callable[[exp.Expression], Kind]] = {
            exp.And: self._connective,
            exp.Or: self._connective,
            exp.Not: self._not,
            exp.Paren: lambda node: self.check(node.this),
            exp.In: self._in,
            exp.Between: self._between,
            exp.Like: self._like,
            exp.ILike: self._like,
            exp.Is: self._is,
            exp.Column: self._column,
            exp.Literal: self._literal,
            exp.Boolean: lambda node: "boolean",
            exp.Neg: self._neg,
            exp.Cast: self._cast,
            **dict.fromkeys(_COMPARISONS, self._comparison),
            **dict.fromkeys(_ARITHMETIC, self._arithmetic),
            **dict.fromkeys(ALLOWED_FUNCTIONS, self._function),
        }

    def fail(self, node: exp.Expression, problem: str) -> NoReturn:
        start, end = _span(node)
        raise AudienceExpressionError(problem, self.expr, start, end)

    def check(self, node: exp.Expression, root: bool = False) -> Kind:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                self.fail(node, "the expression is too deeply nested")
            return self._check(node, root)
        finally:
            self.depth -= 1

    def _check(self, node: exp.Expression, root: bool) -> Kind:
        handler = self.handlers.get(type(node))
        if handler is None:
            self.fail(node, _forbidden(node, self.expr, root))
        extra = self._has_extra_args(node)
        if extra:
            what = ", ".join(_FORMS.get(arg, arg) for arg in sorted(extra))
            self.fail(node, f"{_quote(node)}: {what} is not allowed")
        return handler(node)

    @staticmethod
    def _has_extra_args(node: exp.Expression) -> set[str]:
        present = {k for k, v in node.args.items() if v is not None and v is not False and v != []}
        return present - _ALLOWED_ARGS[type(node)]

    # connectives

    def _connective(self, node: exp.Expression) -> Kind:
        # `a and b and c ...` nests one level per term: walk the chain without recursing, so a
        # long list of conditions is not mistaken for deep nesting.
        chain, operands = [node], []
        while chain:
            current = chain.pop()
            for side in (current.expression, current.this):
                if type(side) is type(node) and not self._has_extra_args(side):
                    chain.append(side)
                else:
                    operands.append(side)
        for side in reversed(operands):
            self._expect(side, "boolean", f"{node.key.upper()} joins conditions")
        return "boolean"

    def _not(self, node: exp.Expression) -> Kind:
        self._expect(node.this, "boolean", "NOT applies to a condition")
        return "boolean"

    def _expect(self, node: exp.Expression, want: Kind, why: str) -> None:
        kind = self.check(node)
        if kind != want:
            self.fail(node, f"{why}, but {_quote(node)} is a {kind} value")

    # predicates

    def _comparison(self, node: exp.Expression) -> Kind:
        left, right = node.this, node.expression
        if isinstance(left, exp.Null) or isinstance(right, exp.Null):
            self.fail(node, f"{_quote(node)}: comparing with NULL is never true; use IS NULL")
        lk, rk = self.check(left), self.check(right)
        self._unify(node, [(left, lk), (right, rk)])
        self._check_allowed_value(left, right)
        self._check_allowed_value(right, left)
        return "boolean"

    def _in(self, node: exp.Expression) -> Kind:
        items = node.expressions
        if not items:
            self.fail(node, f"{_quote(node)}: IN needs a list of values, e.g. IN ('a', 'b')")
        subject = self.check(node.this)
        pairs = [(node.this, subject)]
        for item in items:
            if isinstance(item, (exp.Query, exp.Subquery)):
                self.fail(item, "a subquery is not allowed inside IN: list the values")
            if not _is_literal(item):
                self.fail(item, f"IN lists literal values only, {_quote(item)} is not one")
            pairs.append((item, self.check(item)))
        self._unify(node, pairs)
        for item in items:
            self._check_allowed_value(node.this, item)
        return "boolean"

    def _between(self, node: exp.Expression) -> Kind:
        parts = [node.this, node.args["low"], node.args["high"]]
        self._unify(node, [(part, self.check(part)) for part in parts])
        for bound in parts[1:]:
            self._check_allowed_value(node.this, bound)
        return "boolean"

    def _like(self, node: exp.Expression) -> Kind:
        for side in (node.this, node.expression):
            self._expect(side, "text", f"{node.key.upper()} matches text")
        return "boolean"

    def _is(self, node: exp.Expression) -> Kind:
        if not isinstance(node.expression, exp.Null):
            self.fail(node, f"{_quote(node)}: only IS NULL and IS NOT NULL are allowed")
        self.check(node.this)
        return "boolean"

    def _unify(self, node: exp.Expression, pairs: list[tuple[exp.Expression, Kind]]) -> Kind:
        """All operands must share a kind; a string literal next to a date is read as a date."""
        kinds = {kind for _, kind in pairs}
        if kinds == {"date", "text"} and all(
            kind == "date" or _is_string(operand) for operand, kind in pairs
        ):
            for operand, kind in pairs:
                if kind == "text":
                    operand.replace(self._as_date(operand))
            return "date"
        if len(kinds) > 1:
            described = ", ".join(f"{_quote(o)} is {k}" for o, k in pairs)
            self.fail(node, f"cannot compare values of different kinds: {described}{_hint(pairs)}")
        return pairs[0][1]

    def _check_allowed_value(self, column: exp.Expression, value: exp.Expression) -> None:
        if not isinstance(column, exp.Column) or not _is_string(value):
            return
        spec = self.columns[column.name]
        if spec.allowed_values is None or value.this in spec.allowed_values:
            return
        close = difflib.get_close_matches(value.this, spec.allowed_values, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        allowed = ", ".join(f"'{v}'" for v in spec.allowed_values)
        self.fail(
            value,
            f"'{value.this}' is not a value of {spec.name}{suggestion}; allowed values: {allowed}",
        )

    # values

    def _column(self, node: exp.Expression) -> Kind:
        ident = node.this
        if not isinstance(ident, exp.Identifier) or self._has_extra_args(ident):
            self.fail(node, f"{_quote(node)} is not a column name")
        name = ident.this.lower()
        spec = self.columns.get(name)
        if spec is None:
            self.fail(node, _unknown_column(ident.this, self.columns))
        # Regenerate with the canonical name so the SQL never carries the user's spelling.
        ident.set("this", spec.name)
        ident.set("quoted", True)
        self.used.add(spec.name)
        return spec.kind

    def _literal(self, node: exp.Expression) -> Kind:
        if node.is_string:
            return "text"
        try:
            value = float(node.this)
        except ValueError:
            self.fail(node, f"{_quote(node)} is not a number")
        if not math.isfinite(value):
            self.fail(node, f"{_quote(node)} is out of range")
        return "number"

    def _neg(self, node: exp.Expression) -> Kind:
        self._expect(node.this, "number", "unary minus applies to numbers")
        return "number"

    def _cast(self, node: exp.Expression) -> Kind:
        to = node.args["to"]
        if not (_is_date_type(to) and _is_string(node.this)):
            self.fail(
                node,
                f"casts are not allowed ({_quote(node)}); the only conversion is a date literal "
                "such as DATE '2025-01-01'",
            )
        self._valid_date(node.this)
        return "date"

    def _as_date(self, literal: exp.Expression) -> exp.Expression:
        self._valid_date(literal)
        return exp.Cast(this=literal.copy(), to=exp.DataType.build("date"))

    def _valid_date(self, literal: exp.Expression) -> None:
        text = literal.this
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            date.fromisoformat(text)
        except ValueError:
            self.fail(literal, f"'{text}' is not a date; write it as YYYY-MM-DD")

    def _arithmetic(self, node: exp.Expression) -> Kind:
        op = _ARITHMETIC[type(node)]
        for side in (node.this, node.expression):
            self._expect(side, "number", f"'{op}' applies to numbers")
        if isinstance(node, exp.Div):
            divisor = node.expression
            divisor.replace(exp.Nullif(this=divisor.copy(), expression=exp.Literal.number(0)))
        return "number"

    def _function(self, node: exp.Expression) -> Kind:
        name = ALLOWED_FUNCTIONS[type(node)]
        if isinstance(node, (exp.Lower, exp.Upper)):
            self._expect(node.this, "text", f"{name}() takes text")
            return "text"
        if isinstance(node, exp.Length):
            self._expect(node.this, "text", f"{name}() takes text")
            return "number"
        if isinstance(node, exp.Abs):
            self._expect(node.this, "number", f"{name}() takes a number")
            return "number"
        if isinstance(node, exp.Round):
            self._expect(node.this, "number", f"{name}() takes a number")
            decimals = node.args.get("decimals")
            if decimals is not None and not (
                isinstance(decimals, exp.Literal)
                and not decimals.is_string
                and decimals.is_int
                and abs(int(decimals.this)) <= MAX_ROUND_DECIMALS
            ):
                self.fail(
                    decimals,
                    "round() takes a whole number of decimals from"
                    f" -{MAX_ROUND_DECIMALS} to {MAX_ROUND_DECIMALS}, e.g. round(x, 2)",
                )
            return "number"
        operands = [node.this, *node.expressions]  # coalesce
        return self._unify(node, [(o, self.check(o)) for o in operands])


# --- helpers ----------------------------------------------------------------------------------


def _is_string(node: exp.Expression) -> bool:
    return type(node) is exp.Literal and node.is_string


def _is_date_type(node: exp.Expression) -> bool:
    """A plain DATE: no parameters, no collation, nothing else the type could carry."""
    if not isinstance(node, exp.DataType) or node.this != exp.DataType.Type.DATE:
        return False
    return not any(v for k, v in node.args.items() if k not in ("this", "nested"))


def _is_literal(node: exp.Expression) -> bool:
    if type(node) in (exp.Literal, exp.Boolean):
        return True
    if isinstance(node, exp.Neg):
        return type(node.this) is exp.Literal and not node.this.is_string
    return isinstance(node, exp.Cast) and _is_string(node.this)


def _quote(node: exp.Expression, dialect: str = "duckdb") -> str:
    readable = node.copy()
    for ident in readable.find_all(exp.Identifier):
        ident.set("quoted", False)
    text = readable.sql(dialect=dialect, comments=False)
    return f'"{text}"' if len(text) <= 80 else f'"{text[:77]}..."'


def _span(node: exp.Expression) -> tuple[int | None, int | None]:
    """Where a node sits in the input, from the token positions sqlglot keeps on its leaves."""
    starts, ends = [], []
    for sub in node.walk():
        meta = sub.meta if sub._meta else {}
        if "start" in meta:
            starts.append(meta["start"])
            ends.append(meta["end"])
    return (min(starts), max(ends)) if starts else (None, None)


def _function_name(node: exp.Expression, expr: str) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    meta = node.meta if node._meta else {}
    if "start" in meta:
        return expr[meta["start"] : meta["end"] + 1]
    return node.sql_name().lower()


def _forbidden(node: exp.Expression, expr: str, root: bool) -> str:
    """A message for a node outside the allow-list, naming the category a reader recognises."""
    fragment = _quote(node)
    if isinstance(node, exp.Exists):
        return f"EXISTS is not allowed ({fragment}): subqueries cannot appear in an audience"
    if isinstance(node, (exp.Query, exp.Subquery)):
        return f"a subquery or SELECT is not allowed ({fragment})"
    if isinstance(node, exp.Star):
        return "'*' is not allowed: name the columns to filter on"
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return f"query parameters ({fragment}) are not allowed: write the value itself"
    if isinstance(node, exp.Window):
        return f"window functions (OVER ...) are not allowed ({fragment})"
    if isinstance(node, exp.Lambda):
        return f"lambda functions are not allowed ({fragment})"
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return f"casts are not allowed ({fragment})"
    if isinstance(node, exp.DPipe):
        return f"string concatenation (||) is not allowed ({fragment})"
    if isinstance(node, exp.Null):
        return "NULL can only be tested with IS NULL / IS NOT NULL"
    if isinstance(node, exp.Alias):
        return f"aliases are not allowed ({fragment})"
    if isinstance(node, exp.Escape):
        return f"LIKE ... ESCAPE is not supported ({fragment})"
    if isinstance(node, exp.Func):
        name = _function_name(node, expr)
        return f"function {name}() is not allowed; allowed functions: {_FUNCTION_LIST}"
    if isinstance(node, (exp.Binary, exp.Predicate)):
        return f"the operator in {fragment} is not allowed"
    if root and not isinstance(node, exp.Condition):
        kind = str(node.this) if isinstance(node, exp.Command) else node.key
        return (
            f"{kind.upper()} statements are not allowed: an audience is one boolean "
            "expression such as age_band = '90后' and monetary_30d > 500"
        )
    if isinstance(node, (exp.National, exp.ByteString, exp.HexString, exp.RawString)) or (
        "String" in type(node).__name__
    ):
        return f"only plain 'single-quoted' strings are allowed, not {fragment}"
    return f"{fragment} ({node.key}) is not allowed in an audience expression"


def _unknown_column(name: str, columns: Mapping[str, ColumnSpec]) -> str:
    known = sorted(columns)
    close = difflib.get_close_matches(name.lower(), known, n=3)
    message = f'unknown column "{name}"'
    if close:
        message += f" (did you mean {', '.join(close)}?)"
    shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
    return f"{message}; known columns: {shown}"


def _hint(pairs: list[tuple[exp.Expression, Kind]]) -> str:
    for (a, ak), (b, bk) in zip(pairs, pairs[1:], strict=False):
        for col, ck, val, vk in ((a, ak, b, bk), (b, bk, a, ak)):
            if isinstance(col, exp.Column) and ck == "text" and vk == "number":
                return f"; {col.name} holds text, so quote the value: '{val.sql()}'"
            if isinstance(col, exp.Column) and ck == "number" and _is_string(val):
                return f"; {col.name} is a number, so drop the quotes: {val.this}"
    return ""


def _parse_error_span(expr: str, error: dict) -> tuple[int | None, int | None]:
    """sqlglot reports a 1-based line and the column where the offending token ends."""
    line, col, highlight = error.get("line"), error.get("col"), error.get("highlight") or ""
    if not line or not col:
        return None, None
    offset = sum(len(text) + 1 for text in expr.split("\n")[: line - 1])
    end = offset + col - 1
    start = max(offset, end - max(len(highlight), 1) + 1)
    return start, end


def _pointer(expr: str, start: int | None, end: int | None) -> str:
    """The input line with carets under the offending part (CJK characters count double)."""
    if not expr or start is None:
        return ""
    end = start if end is None else max(start, end)
    line_start = expr.rfind("\n", 0, start) + 1
    line_end = expr.find("\n", start)
    line = expr[line_start : line_end if line_end != -1 else len(expr)]
    line = "".join(
        " " if c == "\t" else "?" if unicodedata.category(c) == "Cc" else c for c in line
    )
    if len(line) > 160:  # keep the message readable for very long lines
        return f"\n  at character {start + 1}"

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    pad = width(expr[line_start:start])
    carets = max(1, width(expr[start : min(end + 1, line_start + len(line))]))
    return f"\n  {line}\n  {' ' * pad}{'^' * carets}"
