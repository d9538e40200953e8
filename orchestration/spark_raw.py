"""The raw landing zone on Spark: the same checks and the same `raw.<source>` views as DuckDB.

`orchestration.warehouse.register_raw_sources` checks raw files against the contract and makes
one DuckDB view per source. This is its Spark twin, for CP_DBT_TARGET=spark: it calls the
same checking helpers, so a bad export fails with the same message on both engines, and makes
the same views (contract columns in contract order, absent optional columns as null strings).

Spark SQL cannot read a CSV with options inside a view, so the files sit behind external
tables in database `raw_files` (Parquet: one table over the folder, merged by column name;
CSV: one table per file, since Spark maps every CSV file of a table to the first file's
header). `raw_files` is dropped and rebuilt on every call; dropping external tables never
touches the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.raw_contract import CONTRACT, RawContract, RawSource
from orchestration.settings import Settings
from orchestration.warehouse import (
    DELETION_COLUMNS,
    DELETION_REQUESTS,
    PRIVACY_SCHEMA,
    RAW_SCHEMA,
    RawDataError,
    RegisteredSource,
    _deletion_files,
    _file_columns,
    check_deletion_headers,
    check_source_files,
    first_malformed_csv,
)

if TYPE_CHECKING:  # pyspark is the optional [spark] dependency
    from pyspark.sql import SparkSession

FILES_SCHEMA = "raw_files"  # the external tables the raw views read; not a dbt source

# How DuckDB's read_csv(header = true, all_varchar = true, delim = ',') reads an export:
# every column a string, RFC 4180 quoting (a quote inside a field doubled), fields that span
# lines, and a row with more or fewer fields than the header an error (Spark's default
# PERMISSIVE mode would cut or pad it silently).
CSV_OPTIONS = {
    "header": "true",
    "multiLine": "true",
    "escape": '"',
    "encoding": "UTF-8",
    "mode": "FAILFAST",
}


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _options_sql(options: dict[str, str]) -> str:
    return ", ".join(f"{key} {_sql_string(value)}" for key, value in options.items())


def _select_columns(columns: tuple[str, ...], present: set[str]) -> str:
    """Every wanted column, by name when the file has it, else a null string (DuckDB's view
    does the same with `cast(null as varchar)`)."""
    return ", ".join(
        f"`{c}`" if c in present else f"cast(null as string) as `{c}`" for c in columns
    )


def _file_tables(
    spark: SparkSession, name: str, folder: Path, files: list[Path]
) -> list[tuple[str, set[str]]]:
    """External tables over one source's files: (table, the columns its files carry)."""
    tables: list[tuple[str, set[str]]] = []
    parquet = [p for p in files if p.suffix == ".parquet"]
    if parquet:
        table = f"{FILES_SCHEMA}.{name}__parquet"
        options = {"pathGlobFilter": "*.parquet"}
        if len(parquet) > 1:  # merging footers is a Spark job: only when there are several
            options["mergeSchema"] = "true"
        spark.sql(
            f"create table {table} using parquet options ({_options_sql(options)})"
            f" location {_sql_string(str(folder.resolve()))}"
        )
        tables.append((table, {c for p in parquet for c in _file_columns(p)}))
    for number, path in enumerate(p for p in files if p.suffix == ".csv"):
        table = f"{FILES_SCHEMA}.{name}__csv_{number}"
        spark.sql(
            f"create table {table} using csv options ({_options_sql(CSV_OPTIONS)})"
            f" location {_sql_string(str(path.resolve()))}"
        )
        tables.append((table, set(_file_columns(path))))
    return tables


def _view_sql(columns: tuple[str, ...], tables: list[tuple[str, set[str]]]) -> str:
    if not tables:
        return f"select {_select_columns(columns, set())} where false"
    return " union all ".join(
        f"select {_select_columns(columns, present)} from {table}" for table, present in tables
    )


def _count(spark: SparkSession, relation: str, files: list[Path], what: str) -> int:
    """Rows of a view over `files`; when they cannot be read, the error names the first
    malformed CSV row, else Spark's message."""
    try:
        return int(spark.sql(f"select count(*) from {relation}").collect()[0][0])
    except Exception as exc:  # py4j / AnalysisException: a ragged CSV row, a column typed twice
        raise RawDataError(
            first_malformed_csv(files) or f"{what} cannot be read together ({exc})"
        ) from exc


def register_raw_sources_spark(
    spark: SparkSession,
    raw_dir: Path,
    contract: RawContract = CONTRACT,
    deletion_list: Path | None = None,
) -> list[RegisteredSource]:
    """Check every raw source against the contract and (re)create its view `raw.<source>` in
    Spark's catalog, and the deletion list's view `privacy.deletion_requests` (`deletion_list`,
    or CP_DELETION_LIST when not given). The Spark twin of `warehouse.register_raw_sources`:
    same checks, same errors, same columns; returns what it registered."""
    if deletion_list is None:
        deletion_list = Settings.from_env().deletion_list
    spark.sql(f"drop database if exists {FILES_SCHEMA} cascade")
    spark.sql(f"create database {FILES_SCHEMA}")
    register_deletion_requests_spark(spark, deletion_list)
    spark.sql(f"create database if not exists {RAW_SCHEMA}")
    return [_register_source(spark, raw_dir, source) for source in contract.sources]


def _register_source(spark: SparkSession, raw_dir: Path, source: RawSource) -> RegisteredSource:
    files, _, missing, extra, unread = check_source_files(raw_dir, source)
    tables = _file_tables(spark, source.name, raw_dir / source.name, files)
    relation = f"{RAW_SCHEMA}.{source.name}"
    spark.sql(f"create or replace view {relation} as {_view_sql(source.columns, tables)}")
    rows = _count(
        spark, relation, files, f"{raw_dir / source.name}: the files of source {source.name!r}"
    )
    if source.required and rows == 0:
        raise RawDataError(
            f"{raw_dir / source.name}: required source {source.name!r} has files but no rows"
            f" ({', '.join(p.name for p in files)})"
        )
    return RegisteredSource(source.name, tuple(files), rows, missing, extra, unread)


def register_deletion_requests_spark(spark: SparkSession, path: Path | None) -> int:
    """(Re)create privacy.deletion_requests over the operator's deletion list; returns its rows.

    The same strict checks as `warehouse.register_deletion_requests`: every row must name a
    customer_id, or an id_type with an id_value, or the run stops.
    """
    spark.sql(f"create database if not exists {PRIVACY_SCHEMA}")
    spark.sql(f"create database if not exists {FILES_SCHEMA}")
    relation = f"{PRIVACY_SCHEMA}.{DELETION_REQUESTS}"
    files = _deletion_files(path) if path is not None else []
    check_deletion_headers(files)
    tables = []
    for number, file in enumerate(files):
        table = f"{FILES_SCHEMA}.{DELETION_REQUESTS}__csv_{number}"
        spark.sql(f"drop table if exists {table}")
        spark.sql(
            f"create table {table} using csv options ({_options_sql(CSV_OPTIONS)})"
            f" location {_sql_string(str(file.resolve()))}"
        )
        tables.append((table, set(_file_columns(file))))
    spark.sql(f"create or replace view {relation} as {_view_sql(DELETION_COLUMNS, tables)}")
    if not files:
        return 0
    rows = _count(spark, relation, files, f"{path}: the deletion list")
    incomplete = spark.sql(
        f"select count(*) from {relation} where nullif(trim(customer_id), '') is null"
        " and (nullif(trim(id_type), '') is null or nullif(trim(id_value), '') is null)"
    ).collect()[0][0]
    if incomplete:
        raise RawDataError(
            f"{path}: {incomplete} deletion request(s) name neither a customer_id nor an"
            " id_type with an id_value"
        )
    return rows
