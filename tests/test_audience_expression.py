"""Audience expressions: hostile text is rejected with a pointed message, good text selects
exactly the rows a person would pick by hand from a six-customer table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.audiences import (
    AudienceExpressionError,
    ColumnSpec,
    CompiledExpression,
    compile_expression,
    count_audience,
)

COLUMNS = {
    spec.name: spec
    for spec in (
        ColumnSpec("customer_id", "number"),
        ColumnSpec("city_name_zh", "text", ("上海", "北京", "广州")),
        ColumnSpec("age_band", "text", ("00后", "90后", "80后", "70后")),
        ColumnSpec("monetary_30d", "number"),
        ColumnSpec("top_category", "text"),
        ColumnSpec("last_order_date", "date"),
        ColumnSpec("is_member", "boolean"),
        ColumnSpec("nickname", "text"),
    )
}

# id, city, age band, spend, category, last order, member, nickname
ROWS = [
    (1, "上海", "90后", 800, "面部护理", date(2025, 3, 1), True, "Amy"),
    (2, "上海", "90后", 300, "面部护理", date(2025, 1, 15), False, None),
    (3, "北京", "90后", 900, "面部护理", date(2024, 12, 31), True, "bob"),
    (4, "上海", "80后", 1200, "彩妆", date(2025, 2, 10), False, "O'Neil"),
    (5, "上海", "90后", 600, "彩妆", None, True, None),
    (6, "广州", "00后", 50, "个护", date(2025, 3, 20), False, "a--b"),
]

EXAMPLE = (
    "city_name_zh = '上海' and age_band = '90后' and monetary_30d > 500 "
    "and top_category = '面部护理'"
)


def _create_profile(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table customer_profile (
            customer_id integer, city_name_zh varchar, age_band varchar, monetary_30d double,
            top_category varchar, last_order_date date, is_member boolean, nickname varchar
        )
        """
    )
    con.executemany("insert into customer_profile values (?, ?, ?, ?, ?, ?, ?, ?)", ROWS)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    _create_profile(connection)
    yield connection
    connection.close()


def _selected(con: duckdb.DuckDBPyConnection, expr: str) -> set[int]:
    compiled = compile_expression(expr, COLUMNS)
    rows = con.execute(f"select customer_id from customer_profile where {compiled.sql}").fetchall()
    return {row[0] for row in rows}


# --- hostile and malformed input --------------------------------------------------------------

HOSTILE = [
    pytest.param("1=1; drop table customer_profile", "one expression", id="stacked-statement"),
    pytest.param("is_member; select 1", "one expression", id="trailing-select"),
    pytest.param("age_band = '90后' -- and 1=1", "comment", id="line-comment"),
    pytest.param("/* */", "comment", id="block-comment-only"),
    pytest.param("is_member /* x */ or true", "comment", id="block-comment"),
    pytest.param("is_member # x", "comment", id="hash-comment"),
    pytest.param("customer_id in (select customer_id from secrets)", "subquery", id="in-subquery"),
    pytest.param(
        "monetary_30d > (select max(monetary_30d) from x)", "subquery", id="scalar-subquery"
    ),
    pytest.param("is_member union select 1", "select", id="union"),
    pytest.param("select * from customer_profile", "select", id="bare-select"),
    pytest.param("read_csv('/etc/passwd') is not null", "read_csv", id="read-csv"),
    pytest.param("read_parquet('s3://x/*.parquet') is null", "read_parquet", id="read-parquet"),
    pytest.param("getenv('HOME') = 'x'", "getenv", id="getenv"),
    pytest.param("glob('/etc/*') is null", "glob", id="glob-function"),
    pytest.param("current_setting('threads') = '4'", "current_setting", id="setting"),
    pytest.param("version() = 'x'", "version", id="system-function"),
    pytest.param("lower(getenv('HOME')) = 'x'", "getenv", id="forbidden-inside-allowed"),
    pytest.param("coalesce(nickname, read_csv('x')) = 'a'", "read_csv", id="forbidden-in-coalesce"),
    pytest.param('"a"" or 1=1 --" = 1', 'unknown column "a" or 1=1 --"', id="quoted-escape"),
    pytest.param("nickname = 'abc", "unbalanced quote", id="unbalanced-quote"),
    pytest.param('"nickname = 1', "unbalanced quote", id="unbalanced-double-quote"),
    pytest.param("(is_member or true", "never closed", id="unclosed-paren"),
    pytest.param("is_member)", "closes nothing", id="extra-paren"),
    pytest.param("is_member or " * 10_000, "too long", id="100kb"),
    pytest.param("favourite_colour = 'red'", 'unknown column "favourite_colour"', id="unknown"),
    pytest.param("customer_profile.is_member", "qualified column", id="qualified-column"),
    pytest.param("*", "'*'", id="star"),
    pytest.param("monetary_30d > $1", "parameter", id="dollar-parameter"),
    pytest.param("monetary_30d > ?", "parameter", id="question-placeholder"),
    pytest.param("monetary_30d > :limit", "parameter", id="named-placeholder"),
    pytest.param("monetary_30d > @x", "parameter", id="at-parameter"),
    pytest.param("pragma database_list", "PRAGMA statements", id="pragma"),
    pytest.param("attach 'evil.db' as evil", "ATTACH statements", id="attach"),
    pytest.param("copy customer_profile to 'out.csv'", "COPY statements", id="copy"),
    pytest.param("install httpfs", "INSTALL statements", id="install"),
    pytest.param("set threads = 1", "SET statements", id="set"),
    pytest.param("drop table customer_profile", "DROP statements", id="drop"),
    pytest.param("cast(monetary_30d as customer_profile) > 1", "casts", id="cast-to-table-type"),
    pytest.param("monetary_30d::varchar = '1'", "casts", id="double-colon-cast"),
    pytest.param("list_filter(nickname, x -> x = 'a') = 'a'", "list_filter", id="arrow-lambda"),
    pytest.param("list_filter(nickname, lambda x: x = 'a') = 'a'", "list_filter", id="lambda"),
    pytest.param("exists(select 1)", "EXISTS", id="exists"),
    pytest.param("nickname = 'Amy' || ''' or 1=1'", "concatenation", id="string-concat"),
    pytest.param("row_number() over () = 1", "window", id="window"),
    pytest.param("", "empty", id="empty"),
    pytest.param("   \n ", "empty", id="blank"),
    pytest.param("nickname = 'a\x00'", "control character", id="nul-byte"),
    pytest.param("(" * 40 + "is_member" + ")" * 40, "nest deeper", id="deep-parens"),
    pytest.param("not " * 400 + "is_member", "too deeply nested", id="deep-not"),
    pytest.param("is_member as x", "aliases", id="alias"),
    pytest.param("nickname = N'x'", "single-quoted", id="national-string"),
    pytest.param("nickname = $$x$$", "single-quoted", id="dollar-string"),
    pytest.param("nickname = e'\\x27'", "single-quoted", id="escape-string"),
    pytest.param("nickname similar to 'x'", "operator", id="similar-to"),
    pytest.param("monetary_30d % 2 = 1", "operator", id="modulo"),
    pytest.param("nickname = null", "IS NULL", id="equals-null"),
    pytest.param("is_member is true", "IS NULL", id="is-true"),
    pytest.param("age_band in ()", "list of values", id="empty-in"),
    pytest.param("age_band in (nickname)", "literal values only", id="in-column"),
    pytest.param("monetary_30d", "must be a condition", id="not-boolean"),
    pytest.param("round(monetary_30d, customer_id) > 1", "whole number", id="round-decimals"),
    pytest.param("round(monetary_30d, 100000000000) > 1", "-18 to 18", id="round-overflow"),
    pytest.param("last_order_date > current_date - 30", "current_date", id="current-date"),
    pytest.param("monetary_30d = 1e999", "out of range", id="infinite-number"),
    pytest.param("is_member and", "could not be parsed", id="dangling-and"),
    pytest.param("{'a': 1} = nickname", "struct", id="struct-literal"),
    pytest.param("monetary_30d = any([1, 2])", "operator", id="any-array"),
]


@pytest.mark.parametrize(("expr", "message"), HOSTILE)
def test_hostile_or_malformed_expressions_are_rejected_with_a_pointed_message(expr, message):
    with pytest.raises(AudienceExpressionError) as error:
        compile_expression(expr, COLUMNS)
    assert message.lower() in str(error.value).lower()


def test_a_tag_value_outside_its_allowed_values_lists_them_all():
    with pytest.raises(AudienceExpressionError) as error:
        compile_expression("city_name_zh = '上海' and age_band = '95后'", COLUMNS)
    message = str(error.value)
    assert "'95后' is not a value of age_band" in message
    assert all(f"'{value}'" in message for value in COLUMNS["age_band"].allowed_values)
    assert "did you mean '90后'" in message


def test_a_tag_value_outside_its_allowed_values_is_caught_inside_in_lists():
    with pytest.raises(AudienceExpressionError, match="'香港' is not a value of city_name_zh"):
        compile_expression("city_name_zh in ('上海', '香港')", COLUMNS)


@pytest.mark.parametrize(
    "expr",
    ["age_band between '80后' and '90後'", "age_band > '90後'", "'90後' <= age_band"],
)
def test_a_tag_value_outside_its_allowed_values_is_caught_in_ranges(expr):
    with pytest.raises(AudienceExpressionError, match="'90後' is not a value of age_band"):
        compile_expression(expr, COLUMNS)


def test_a_zero_divisor_gives_null_so_a_share_of_nothing_selects_no_one():
    # In DuckDB 0 / 0 is NaN, which compares above every number: without nullif a customer
    # with no spend at all would have "more than half of their spend in the last 30 days".
    con = duckdb.connect()
    con.execute("create table spend as select * from (values (1, 80.0, 100.0), (2, 0.0, 0.0),"
                " (3, 10.0, 100.0)) as t(customer_id, monetary_30d, monetary_365d)")  # fmt: skip
    columns = {
        name: ColumnSpec(name, "number")
        for name in ("customer_id", "monetary_30d", "monetary_365d")
    }
    compiled = compile_expression("monetary_30d / monetary_365d > 0.5", columns)
    assert "nullif" in compiled.sql.lower()
    rows = con.execute(f"select customer_id from spend where {compiled.sql}").fetchall()
    assert rows == [(1,)]


def test_a_number_compared_with_a_text_column_suggests_quoting_it():
    with pytest.raises(AudienceExpressionError) as error:
        compile_expression("age_band = 90", COLUMNS)
    assert '"age_band" is text, "90" is number' in str(error.value)
    assert "quote the value: '90'" in str(error.value)


def test_a_quoted_number_compared_with_a_number_column_suggests_dropping_the_quotes():
    with pytest.raises(AudienceExpressionError, match="drop the quotes: 500"):
        compile_expression("monetary_30d > '500'", COLUMNS)


def test_an_impossible_date_is_rejected_with_the_expected_format():
    with pytest.raises(AudienceExpressionError, match="'2025-02-30' is not a date; write it as"):
        compile_expression("last_order_date > '2025-02-30'", COLUMNS)


def test_the_error_points_a_caret_at_the_unknown_column():
    expr = "age_band = '90后' and favourite_colour = 'red'"
    with pytest.raises(AudienceExpressionError) as error:
        compile_expression(expr, COLUMNS)
    assert error.value.position == expr.index("favourite_colour")
    line, carets = str(error.value).splitlines()[1:3]
    # '90后' holds one double-width character, so the caret column counts it twice
    assert carets.index("^") == line.index("favourite_colour") + 1
    assert carets.strip() == "^" * len("favourite_colour")


def test_an_unknown_column_suggests_the_closest_known_one():
    with pytest.raises(AudienceExpressionError, match="did you mean monetary_30d"):
        compile_expression("monetary_3od > 1", COLUMNS)


def test_the_length_limit_is_the_callers_to_choose():
    expr = "monetary_30d > 1"
    with pytest.raises(AudienceExpressionError, match="too long: 16 characters, the limit is 10"):
        compile_expression(expr, COLUMNS, max_length=10)
    assert compile_expression(expr, COLUMNS, max_length=16).columns == {"monetary_30d"}


def test_a_column_spec_rejects_names_and_values_that_cannot_be_matched_safely():
    with pytest.raises(ValueError, match="lowercase snake_case"):
        ColumnSpec("Age Band", "text")
    with pytest.raises(ValueError, match="text columns only"):
        ColumnSpec("monetary_30d", "number", ("1",))
    with pytest.raises(ValueError, match="named 'x'"):
        compile_expression("x = 1", {"x": ColumnSpec("y", "number")})


# --- what compiles, and what it selects --------------------------------------------------------


def test_the_marketers_example_selects_exactly_the_matching_customer(con):
    assert _selected(con, EXAMPLE) == {1}


def test_the_compiled_sql_is_regenerated_from_the_tree_not_the_input():
    compiled = compile_expression("City_Name_ZH   =   '上海' AND \"Is_Member\"", COLUMNS)
    assert compiled.sql == '"city_name_zh" = \'上海\' AND "is_member"'
    assert compiled.display == "city_name_zh = '上海' AND is_member"
    assert compiled.columns == frozenset({"city_name_zh", "is_member"})


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param("city_name_zh in ('北京', '广州')", {3, 6}, id="in"),
        pytest.param("age_band not in ('90后')", {4, 6}, id="not-in"),
        pytest.param("monetary_30d between 300 and 800", {1, 2, 5}, id="between"),
        pytest.param("monetary_30d not between 300 and 800", {3, 4, 6}, id="not-between"),
        pytest.param("nickname like '%b%'", {3, 6}, id="like"),
        pytest.param("nickname ilike 'a%'", {1, 6}, id="ilike"),
        pytest.param("nickname not like 'A%'", {3, 4, 6}, id="not-like"),
        pytest.param("nickname is null", {2, 5}, id="is-null"),
        pytest.param("nickname is not null", {1, 3, 4, 6}, id="is-not-null"),
        pytest.param("not is_member", {2, 4, 6}, id="not"),
        pytest.param("is_member = false", {2, 4, 6}, id="boolean-literal"),
        pytest.param("city_name_zh = '北京' or monetary_30d > 1000", {3, 4}, id="or"),
        pytest.param(
            "city_name_zh = '上海' and (age_band = '80后' or monetary_30d < 400)",
            {2, 4},
            id="parentheses",
        ),
        pytest.param(
            "city_name_zh = '上海' and age_band = '80后' or monetary_30d < 400",
            {2, 4, 6},
            id="and-binds-tighter-than-or",
        ),
        pytest.param("not (is_member or monetary_30d > 1000)", {2, 6}, id="not-parentheses"),
        pytest.param("top_category <> '面部护理'", {4, 5, 6}, id="chinese-not-equal"),
        pytest.param("last_order_date >= date '2025-02-01'", {1, 4, 6}, id="date-literal"),
        pytest.param("last_order_date < '2025-01-01'", {3}, id="string-read-as-date"),
        pytest.param(
            "last_order_date between '2025-01-01' and '2025-02-28'", {2, 4}, id="date-between"
        ),
        pytest.param("nickname = 'a--b'", {6}, id="comment-marker-inside-string"),
        pytest.param("nickname = 'O''Neil'", {4}, id="escaped-quote"),
        pytest.param("lower(nickname) = 'amy'", {1}, id="lower"),
        pytest.param("upper(nickname) = 'BOB'", {3}, id="upper"),
        pytest.param("length(nickname) = 3", {1, 3}, id="length"),
        pytest.param("coalesce(nickname, 'none') = 'none'", {2, 5}, id="coalesce"),
        pytest.param("abs(-monetary_30d) > 1000", {4}, id="abs-and-unary-minus"),
        pytest.param("round(monetary_30d / 100) = 8", {1}, id="round-and-divide"),
        pytest.param("round(monetary_30d / 7, 1) > 114.2", {1, 3, 4}, id="round-decimals"),
        pytest.param("monetary_30d * 2 - 100 > 1500", {3, 4}, id="arithmetic"),
        pytest.param("monetary_30d > -1", {1, 2, 3, 4, 5, 6}, id="negative-literal"),
        pytest.param("true", {1, 2, 3, 4, 5, 6}, id="everyone"),
    ],
)
def test_a_compiled_expression_selects_exactly_the_rows_it_describes(con, expr, expected):
    assert _selected(con, expr) == expected


def test_count_audience_counts_the_compiled_audience(con):
    assert count_audience(con, "customer_profile", compile_expression(EXAMPLE, COLUMNS)) == 1
    compiled = compile_expression("is_member", COLUMNS)
    assert count_audience(con, "main.customer_profile", compiled) == 3


def test_count_audience_refuses_raw_text_and_a_relation_that_is_not_a_dotted_name(con):
    with pytest.raises(TypeError, match="CompiledExpression"):
        count_audience(con, "customer_profile", "1=1")
    compiled = compile_expression("is_member", COLUMNS)
    with pytest.raises(ValueError, match="dotted identifier"):
        count_audience(con, "customer_profile; drop table customer_profile", compiled)
    with pytest.raises(ValueError, match="not duckdb"):
        postgres = compile_expression("is_member", COLUMNS, dialect="postgres")
        count_audience(con, "customer_profile", postgres)
    assert isinstance(compiled, CompiledExpression)


def _snapshot(con: duckdb.DuckDBPyConnection, folder: Path) -> tuple:
    tables = con.execute(
        "select database_name, schema_name, table_name from duckdb_tables() order by all"
    ).fetchall()
    contents = {
        name: con.execute(f'select * from "{name}" order by all').fetchall()
        for _, _, name in tables
    }
    databases = con.execute("select database_name from duckdb_databases() order by 1").fetchall()
    files = sorted(p.name for p in folder.iterdir())
    return tables, contents, databases, files


def test_running_every_hostile_expression_leaves_the_database_unchanged(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _create_profile(con)
    con.execute("create table secrets as select 'keep me' as secret")
    before = _snapshot(con, tmp_path)
    executed = 0
    for param in HOSTILE:
        expr = param.values[0]
        try:
            compiled = compile_expression(expr, COLUMNS)
        except AudienceExpressionError:
            continue
        count_audience(con, "customer_profile", compiled)
        executed += 1
    assert _snapshot(con, tmp_path) == before
    assert executed == 0
    con.close()
