"""The warehouse interface every asset goes through, its DuckDB implementation, and the raw
landing zone.

Raw files are not copied: each source becomes a view in schema `raw` over its folder of
Parquet and/or CSV files, after the files are checked against the raw contract. Checking here,
before dbt runs, is what lets a bad export fail fast with the file and column named.
"""

from __future__ import annotations

import codecs
import csv
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.raw_contract import CONTRACT, RawContract, RawSource
from orchestration.raw_files import source_files, unread_files
from orchestration.settings import Settings

log = logging.getLogger(__name__)
RAW_SCHEMA = "raw"
PRIVACY_SCHEMA = "privacy"
DELETION_REQUESTS = "deletion_requests"  # read by int_identity__forgotten_identifiers
DELETION_COLUMNS = ("id_type", "id_value", "customer_id", "requested_at")


class RawDataError(ValueError):
    """A raw file or folder that the pipeline cannot use; the message names what and where."""


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        str(settings.warehouse_path),
        read_only=read_only,
        config={"threads": settings.threads, "memory_limit": settings.memory_limit},
    )
    try:
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class RegisteredSource:
    name: str
    files: tuple[Path, ...]
    rows: int
    missing_optional_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    unread_files: tuple[str, ...] = ()  # in the folder, not .parquet or .csv: not read


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# How DuckDB reads every CSV export (raw sources and the deletion list): the contract's
# dialect, RFC 4180 with commas, every column text. Left to the sniffer, a file with one
# ragged row was read as a single column (every row of it reaching staging as a null key)
# and a stray quote was kept inside a value. Spark reads them alike (spark_raw.CSV_OPTIONS).
CSV_READ_OPTIONS = (
    "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"',"
    " union_by_name = true"
)

# Encodings Chinese exports arrive in besides UTF-8 (Excel on a Chinese Windows saves GBK);
# GB18030 is the superset of GBK and GB2312, so one attempt covers all three.
LEGACY_ENCODINGS = ("gb18030",)


def _encoding_problem(path: Path) -> str | None:
    """Why a CSV is not UTF-8 (and what it looks like instead), or None when it is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[: exc.start].count(b"\n")
                break
            line += block.count(b"\n")
        else:
            return None
    raw = path.read_bytes()
    for encoding in LEGACY_ENCODINGS:
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return (
            f"is not UTF-8 (line {line}); it reads as {encoding.upper()} (GBK): re-save it as UTF-8"
        )
    return f"is not UTF-8 (line {line}) and not GBK either: re-save it as UTF-8"


def _nested_columns(schema: pa.Schema, columns: Iterable[str]) -> list[tuple[str, pa.DataType]]:
    """Contract columns whose Parquet type holds no single value (a list, struct or map)."""
    return [
        (name, schema.field(name).type)
        for name in columns
        if name in schema.names and pa.types.is_nested(schema.field(name).type)
    ]


def _file_columns(path: Path) -> list[str]:
    try:
        if path.suffix == ".parquet":
            return pq.read_schema(path).names
        with path.open(encoding="utf-8-sig") as f:
            header = f.readline()
    except Exception as exc:  # any reader failure means the same thing to the operator
        raise RawDataError(f"{path}: cannot be read ({exc})") from exc
    return [c.strip().strip('"') for c in header.rstrip("\r\n").split(",")]


def _check_file(source: RawSource, path: Path) -> list[str]:
    if path.suffix == ".csv":
        problem = _encoding_problem(path)
        if problem:
            raise RawDataError(f"{path}: {problem}")
    columns = _file_columns(path)
    if path.suffix == ".parquet":
        nested = _nested_columns(pq.read_schema(path), source.columns)
        if nested:
            name, kind = nested[0]
            raise RawDataError(
                f"{path}: column {name!r} of source {source.name!r} has type {kind},"
                " which cannot be cast to a single value"
            )
    missing = [c for c in source.required_columns if c not in columns]
    if missing:
        raise RawDataError(
            f"{path}: required column {missing[0]!r} of source {source.name!r} is missing"
            f" (required: {', '.join(source.required_columns)})"
        )
    if source.identified_by and not any(
        all(c in columns for c in group) for group in source.identified_by
    ):
        options = " or ".join("+".join(group) for group in source.identified_by)
        raise RawDataError(f"{path}: source {source.name!r} needs column(s) {options}")
    return columns


def check_source_files(
    raw_dir: Path, source: RawSource
) -> tuple[list[Path], set[str], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """One source's files checked against the contract, whichever engine reads them next:
    (files, columns seen, optional columns missing, extra columns, other files in the folder,
    which are not read), with a warning for each missing or extra column and for the files
    not read; raises when a required source has no files."""
    files = source_files(raw_dir, source)
    unread = tuple(unread_files(raw_dir, source))
    besides = f" (it holds {', '.join(unread)}, which are not read)" if unread else ""
    if not files:
        if source.required:
            raise RawDataError(
                f"{raw_dir / source.name}: required source {source.name!r} has no"
                f" .parquet or .csv files{besides}"
            )
        log.warning("optional source %r is absent (no .parquet or .csv files%s); its view is"
                    " empty", source.name, besides)  # fmt: skip
    elif unread:
        log.warning(
            "source %r: %s in %s are not read (only .parquet and .csv files directly in the"
            " folder are)", source.name, ", ".join(unread), raw_dir / source.name,
        )  # fmt: skip
    seen: set[str] = set()
    for path in files:
        seen.update(_check_file(source, path))
    missing = tuple(c for c in source.optional_columns if c not in seen) if files else ()
    extra = tuple(sorted(seen - set(source.columns)))
    for column in missing:
        log.warning("source %r: optional column %r is absent; it will be null", source.name, column)
    for column in extra:
        log.warning(
            "source %r: column %r is not in the contract and is ignored", source.name, column
        )
    return files, seen, missing, extra, unread


def register_raw_sources(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    contract: RawContract = CONTRACT,
    deletion_list: Path | None = None,
) -> list[RegisteredSource]:
    """Check every raw source against the contract and (re)create its view in schema raw;
    also the deletion list's view (`deletion_list`, or CP_DELETION_LIST when not given)."""
    if deletion_list is None:
        deletion_list = Settings.from_env().deletion_list
    register_deletion_requests(con, deletion_list)
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    registered = []
    for source in contract.sources:
        files, seen, missing, extra, unread = check_source_files(raw_dir, source)
        try:
            con.execute(
                f"create or replace view {RAW_SCHEMA}.{source.name} as "
                + _select_sql(source, raw_dir, files, seen)
            )
            rows = con.execute(f"select count(*) from {RAW_SCHEMA}.{source.name}").fetchone()[0]
        except duckdb.Error as exc:  # a ragged CSV row, one column typed two ways in two files
            raise RawDataError(_unreadable_source(raw_dir, source, files, exc)) from exc
        if source.required and rows == 0:
            raise RawDataError(
                f"{raw_dir / source.name}: required source {source.name!r} has files but no rows"
                f" ({', '.join(p.name for p in files)})"
            )
        registered.append(
            RegisteredSource(
                source.name,
                tuple(files),
                rows,
                missing,
                extra,
                unread,
            )
        )
    return registered


def _unreadable_source(raw_dir: Path, source: RawSource, files: list[Path], exc: Exception) -> str:
    """Why a source's files cannot be read, for either engine: the first CSV row whose
    fields do not match its header when there is one (the engine's own message may name
    neither the file nor the line), else the engine's message."""
    return first_malformed_csv(files) or (
        f"{raw_dir / source.name}: the files of source {source.name!r} cannot be read"
        f" together ({exc})"
    )


def first_malformed_csv(files: Iterable[Path]) -> str | None:
    """`<file>: <problem>` for the first CSV of `files` with a malformed row, or None."""
    for path in files:
        if path.suffix == ".csv" and (problem := _malformed_csv_row(path)):
            return f"{path}: {problem}"
    return None


def _malformed_csv_row(path: Path) -> str | None:
    """The first row of a CSV (RFC 4180, as both engines read it) whose field count is not
    its header's, or whose quoting is broken; None when every row fits."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            for row in reader:
                if row and header and len(row) != len(header):
                    text = ",".join(row)
                    shown = text if len(text) <= 120 else text[:117] + "..."
                    return (
                        f"line {reader.line_num} has {len(row)} fields where the header has"
                        f" {len(header)}: {shown}"
                    )
        except csv.Error as error:
            return f"line {reader.line_num}: {error}"
    return None


def check_deletion_headers(files: list[Path]) -> None:
    """Every deletion-list file names people by customer_id or id_type + id_value, and has no
    other columns; for both engines' loaders."""
    for file in files:
        header = _file_columns(file)
        unknown = sorted(set(header) - set(DELETION_COLUMNS))
        if unknown:
            raise RawDataError(
                f"{file}: deletion list column {unknown[0]!r} is not one of"
                f" {', '.join(DELETION_COLUMNS)}"
            )
        if "customer_id" not in header and not {"id_type", "id_value"} <= set(header):
            raise RawDataError(f"{file}: deletion list needs customer_id or id_type + id_value")


def _deletion_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.glob("*.csv"))
    if not path.exists():
        raise RawDataError(f"{path}: deletion list (CP_DELETION_LIST) does not exist")
    if path.suffix != ".csv":
        raise RawDataError(f"{path}: deletion list must be a .csv file or a folder of them")
    return [path]


def register_deletion_requests(con: duckdb.DuckDBPyConnection, path: Path | None) -> int:
    """(Re)create privacy.deletion_requests over the operator's deletion list; returns its rows.

    Checked strictly, because a request that silently does nothing leaves a person in the
    published tables: every row must name a customer_id, or an id_type with an id_value.
    """
    con.execute(f"create schema if not exists {PRIVACY_SCHEMA}")
    relation = f"{PRIVACY_SCHEMA}.{DELETION_REQUESTS}"
    files = _deletion_files(path) if path is not None else []
    columns_sql = ", ".join(f'cast(null as varchar) as "{c}"' for c in DELETION_COLUMNS)
    if not files:
        con.execute(f"create or replace view {relation} as select {columns_sql} where false")
        return 0
    check_deletion_headers(files)
    names = ", ".join(_sql_string(str(f.resolve())) for f in files)
    present = {c for f in files for c in _file_columns(f)}
    select = ", ".join(
        f'"{c}"' if c in present else f'cast(null as varchar) as "{c}"' for c in DELETION_COLUMNS
    )
    try:
        con.execute(
            f"create or replace view {relation} as select {select}"
            f" from read_csv([{names}], {CSV_READ_OPTIONS})"
        )
        rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
    except duckdb.Error as exc:
        raise RawDataError(
            first_malformed_csv(files) or f"{path}: the deletion list cannot be read ({exc})"
        ) from exc
    incomplete = con.execute(
        f"select count(*) from {relation} where nullif(trim(customer_id), '') is null"
        " and (nullif(trim(id_type), '') is null or nullif(trim(id_value), '') is null)"
    ).fetchone()[0]
    if incomplete:
        raise RawDataError(
            f"{path}: {incomplete} deletion request(s) name neither a customer_id nor an"
            " id_type with an id_value"
        )
    return int(rows)


def _select_sql(source: RawSource, raw_dir: Path, files: list[Path], seen: set[str]) -> str:
    """Contract columns only, in contract order; absent optional columns as typed nulls."""
    columns = ", ".join(
        f'"{c}"' if c in seen else f'cast(null as varchar) as "{c}"' for c in source.columns
    )
    if not files:
        return f"select {columns} from (select 1) as empty where false"
    folder = (raw_dir / source.name).resolve()
    readers = []
    if any(p.suffix == ".parquet" for p in files):
        pattern = _sql_string(str(folder / "*.parquet"))
        readers.append(f"select * from read_parquet({pattern}, union_by_name = true)")
    if any(p.suffix == ".csv" for p in files):
        pattern = _sql_string(str(folder / "*.csv"))
        readers.append(f"select * from read_csv({pattern}, {CSV_READ_OPTIONS})")
    return f"select {columns} from ({' union all by name '.join(readers)}) as files"


def replace_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    batches: pd.DataFrame | pa.Table | Iterable[pd.DataFrame | pa.Table],
) -> int:
    """Replace `schema.table` with the rows of `batches` (one frame, or frames streamed one
    at a time so memory stays flat); returns the row count.

    The rows go to a side table first, swapped in by one transaction at the end: readers see
    the old table or the new one, never half of it, and a failure leaves the old one.
    """
    frames = [batches] if isinstance(batches, pd.DataFrame | pa.Table) else batches
    staging = f"{schema}.{table}__new"
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"drop table if exists {staging}")
    rows = 0
    for frame in frames:
        con.register("_batch", frame)
        try:
            if rows == 0 and not table_exists(con, schema, f"{table}__new"):
                con.execute(f"create table {staging} as select * from _batch")
            else:
                con.execute(f"insert into {staging} select * from _batch")
        finally:
            con.unregister("_batch")
        rows += len(frame)
    if not table_exists(con, schema, f"{table}__new"):
        raise ValueError(f"no rows (not even an empty frame) to write to {schema}.{table}")
    _swap_in(con, schema, table)
    return rows


def stream_batches(
    con: duckdb.DuckDBPyConnection, select_sql: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """A query's rows as frames of about `batch_rows` (whole DuckDB vectors of 2,048), read
    through a cursor of their own so the connection stays free to write the results."""
    reader = con.cursor().execute(select_sql)
    while True:
        batch = reader.fetch_df_chunk(max(1, batch_rows // 2048))
        if batch.empty:
            return
        yield batch


def replace_table_from_query(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, select_sql: str
) -> int:
    """Replace `schema.table` with the result of a query run inside the warehouse (no rows
    pass through Python), swapped in like `replace_table`; returns the row count."""
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace table {schema}.{table}__new as {select_sql}")
    rows = con.execute(f"select count(*) from {schema}.{table}__new").fetchone()[0]
    _swap_in(con, schema, table)
    return int(rows)


def _swap_in(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Put `schema.table__new` in the place of `schema.table` in one transaction."""
    con.execute("begin transaction")
    try:
        con.execute(f"drop table if exists {schema}.{table}")
        con.execute(f"alter table {schema}.{table}__new rename to {table}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists (a table or a view)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


# --- The one way assets reach the warehouse --------------------------------------------------
#
# Assets write their SQL once, in DuckDB's dialect, against this interface; `DuckDBWarehouse`
# runs it as it is, `orchestration.warehouse_spark.SparkWarehouse` transpiles it to Spark SQL
# with sqlglot. Frames in and out follow DuckDB's pandas conventions on both (dates and
# timestamps as datetime64, decimals as float, nullable integers), so modelling code sees the
# same frame whichever engine holds the tables. `open_warehouse` picks the implementation
# from `Settings.target`.

Params = Sequence[Any]
Rows = pd.DataFrame | pa.Table


class Warehouse(Protocol):
    """What an asset may ask of the warehouse; SQL is DuckDB's dialect, `?` binds `params`."""

    target: str  # "duckdb" | "spark": for metadata and for the rare engine-specific branch

    def query_frame(self, sql: str, params: Params = ()) -> pd.DataFrame: ...

    def query_rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    def scalar(self, sql: str, params: Params = ()) -> Any: ...

    def stream_batches(self, sql: str, batch_rows: int) -> Iterator[pd.DataFrame]:
        """Frames of about `batch_rows`, never the whole result in memory at once."""
        ...

    def stream_arrow(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Arrow batches of a result, at least one (empty, with the schema) when no rows."""
        ...

    def replace_table(self, schema: str, table: str, batches: Rows | Iterable[Rows]) -> int:
        """Swap in a table of these rows (a failure leaves the old one); returns the rows."""
        ...

    def replace_table_from_query(self, schema: str, table: str, sql: str) -> int:
        """Swap in a table computed inside the engine from `sql`; returns the rows."""
        ...

    def upsert(
        self, schema: str, table: str, rows: pa.Table, keys: Sequence[str], create_sql: str
    ) -> None:
        """Replace the rows with `rows`' keys; `create_sql` (DuckDB) creates the table."""
        ...

    def temp_table(
        self, name: str, source: str | Rows, params: Params = (), append: bool = False
    ) -> None:
        """A table for this session only, from a query or rows, fixed when it is made."""
        ...

    def table_exists(self, schema: str, table: str) -> bool: ...

    def columns(self, relation: str) -> list[tuple[str, str]]:
        """(name, type) of every column, types named as DuckDB names them."""
        ...

    def register_raw_sources(
        self, raw_dir: Path, deletion_list: Path | None = None
    ) -> list[RegisteredSource]:
        """Check the raw files against the contract and expose them in schema `raw`."""
        ...


class DuckDBWarehouse:
    """The warehouse on one DuckDB connection: the module's functions, unchanged, behind
    the interface (zero-copy Arrow registration, a cursor of its own per stream)."""

    target = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def query_frame(self, sql: str, params: Params = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    def query_rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.con.execute(sql, list(params)).fetchone()
        return None if row is None else row[0]

    def stream_batches(self, sql: str, batch_rows: int) -> Iterator[pd.DataFrame]:
        return stream_batches(self.con, sql, batch_rows)

    def stream_arrow(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        cursor = self.con.cursor()  # its own, so the connection stays free to write
        try:
            reader = cursor.sql(sql).to_arrow_reader(max(1, batch_rows))
            empty = True
            for batch in reader:
                empty = False
                yield batch
            if empty:  # callers need the schema even when there are no rows
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
        finally:
            cursor.close()

    def replace_table(self, schema: str, table: str, batches: Rows | Iterable[Rows]) -> int:
        return replace_table(self.con, schema, table, batches)

    def replace_table_from_query(self, schema: str, table: str, sql: str) -> int:
        return replace_table_from_query(self.con, schema, table, sql)

    def upsert(
        self, schema: str, table: str, rows: pa.Table, keys: Sequence[str], create_sql: str
    ) -> None:
        """Delete the rows with `rows`' keys and insert `rows`, in one transaction;
        `create_sql` makes the table (with its constraints) when it does not exist."""
        self.con.execute(f"create schema if not exists {schema}")
        self.con.execute(create_sql)
        self.con.register("_upsert", rows)
        try:
            self.con.execute("begin transaction")
            try:
                matches = " and ".join(f"{schema}.{table}.{k} = _upsert.{k}" for k in keys)
                self.con.execute(f"delete from {schema}.{table} using _upsert where {matches}")
                self.con.execute(f"insert into {schema}.{table} select * from _upsert")
                self.con.execute("commit")
            except Exception:
                self.con.execute("rollback")
                raise
        finally:
            self.con.unregister("_upsert")

    def temp_table(
        self, name: str, source: str | Rows, params: Params = (), append: bool = False
    ) -> None:
        """A session-scoped table (gone when the connection closes), from a query or rows."""
        if not isinstance(source, str):
            self.con.register("_temp_rows", source)
            source = "select * from _temp_rows"
        try:
            if append:
                self.con.execute(f"insert into {name} {source}", list(params))
            else:
                self.con.execute(f"create or replace temp table {name} as {source}", list(params))
        finally:
            self.con.unregister("_temp_rows")

    def table_exists(self, schema: str, table: str) -> bool:
        return table_exists(self.con, schema, table)

    def columns(self, relation: str) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.con.execute(f"describe {relation}").fetchall()]

    def register_raw_sources(
        self, raw_dir: Path, deletion_list: Path | None = None
    ) -> list[RegisteredSource]:
        return register_raw_sources(self.con, raw_dir, deletion_list=deletion_list)


def as_warehouse(con: Warehouse | duckdb.DuckDBPyConnection) -> Warehouse:
    """A bare DuckDB connection (a notebook's, a test's) behind the interface."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckDBWarehouse(con)
    return con


@contextmanager
def open_warehouse(settings: Settings, read_only: bool = False) -> Iterator[Warehouse]:
    """The warehouse of `settings.target`: a DuckDB connection, or the process's Spark
    session (left running after the block: a step's process starts it once, at 10-30 s)."""
    if settings.target == "spark":
        from orchestration.warehouse_spark import SparkWarehouse

        yield SparkWarehouse.from_settings(settings)
        return
    with connect(settings, read_only=read_only) as con:
        yield DuckDBWarehouse(con)


def hash_share_filter(column: str, share: float) -> str:
    """A condition keeping about `share` of the values of `column`: the same values on every
    run and on both engines (md5 is the same function on DuckDB and Spark; `hash` is not)."""
    if share >= 1:
        return "true"
    threshold = max(0, int(share * 16**8))
    return f"substr(md5(cast({column} as varchar)), 1, 8) < '{threshold:08x}'"


def hash_order(column: str) -> str:
    """An order by which a `limit` takes a fixed pseudo-random sample, the same on both
    engines (ties, impossible in practice, fall to the value itself)."""
    return f"md5(cast({column} as varchar)), {column}"
