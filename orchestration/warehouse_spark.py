"""The warehouse on Apache Spark: the interface of `orchestration.warehouse.Warehouse`, the same
SQL as on DuckDB.

Assets write SQL once, in DuckDB's dialect; here it is transpiled to Spark SQL with sqlglot
(which also makes NULL ordering and identifier quoting explicit). A construct sqlglot cannot
carry over raises instead of running with another meaning; the fix is portable SQL in the
asset, not a second copy. Tables are Parquet tables in the session's Hive catalog
(`orchestration.spark`). Rows come back through Arrow and leave as pandas frames with DuckDB's
conventions (converted by DuckDB itself), so modelling code cannot tell the engines apart.

Replacing a table. Parquet tables have no transactions, so a replace is catalog steps a crash
can interrupt: (1) write every batch into `<table>__new`; (2) mark it complete (a table
property: from here on the new rows win); (3) rename `<table>` to `<table>__old`; (4) rename
`<table>__new` to `<table>`; (5) drop `<table>__old`. What a crash leaves, and what the next
replace of the same table does about it before anything else (`recover`):

- in (1): `<table>` untouched, plus an incomplete `__new` (or only its files, when the crash
  came before Spark registered it): both are deleted;
- after (2), before (4): a complete `__new` and `<table>` or `__old`: the swap is finished;
- after (4): a stray `__old`: dropped.

Between (3) and (4), two catalog calls apart, a reader finds no table at all: the one window
DuckDB's transactional swap does not have. One writer at a time, as on DuckDB (Derby admits one
process).
"""

from __future__ import annotations

import functools
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlglot
from sqlglot.errors import ErrorLevel

from orchestration.settings import Settings
from orchestration.spark import spark_session

if TYPE_CHECKING:  # pyspark is the optional [spark] dependency
    from pyspark.sql import DataFrame, SparkSession

    from orchestration.warehouse import RegisteredSource

Params = Sequence[Any]
Rows = pd.DataFrame | pa.Table
COMPLETE_PROPERTY = "customer_profiles.complete"  # set on `__new` once every batch is in

# Spark's simple type names -> DuckDB's, so `columns()` answers in one vocabulary on both.
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


@functools.lru_cache(maxsize=1024)
def to_spark_sql(sql: str) -> str:
    """One DuckDB statement in Spark's dialect; raises when sqlglot cannot keep its meaning."""
    statements = sqlglot.transpile(
        sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE
    )
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}: {sql[:200]}")
    return statements[0]


def duckdb_type(spark_type: str) -> str:
    """A Spark column type under the name DuckDB gives the same type."""
    if spark_type.startswith("decimal"):
        return spark_type.upper()
    return _DUCKDB_TYPES.get(spark_type, spark_type.upper())


def _naive_utc(table: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """Timestamps as the DuckDB warehouse holds them: naive, in UTC (the session time zone)."""
    columns, changed = [], False
    for column, field in zip(table.columns, table.schema, strict=True):
        if pa.types.is_timestamp(field.type) and (field.type.tz or field.type.unit != "us"):
            column, changed = pc.cast(column, pa.timestamp("us")), True
        columns.append(column)
    if not changed:
        return table
    return type(table).from_arrays(columns, names=table.schema.names)


def _arrow_rows(rows: Rows) -> pa.Table:
    """Rows in a form Spark accepts: Arrow, with all-null columns typed as strings."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    table = table.replace_schema_metadata(None)
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.name, pa.nulls(table.num_rows, pa.string()))
    return table


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A later batch in the first batch's columns and types (by position, as DuckDB inserts)."""
    if table.num_columns != len(schema):
        raise ValueError(
            f"a batch has {table.num_columns} columns ({', '.join(table.schema.names)}),"
            f" the first had {len(schema)} ({', '.join(schema.names)})"
        )
    return table.rename_columns(schema.names).cast(schema)


class SparkWarehouse:
    """The warehouse as Parquet tables in a Spark session's catalog."""

    target = "spark"

    def __init__(self, spark: SparkSession, scratch_dir: Path) -> None:
        self.spark = spark
        # Query results land here as Parquet to be streamed back; a local folder, which is
        # right for the local session (a cluster would need shared storage).
        self.scratch_dir = scratch_dir
        self._local = duckdb.connect()  # converts Arrow to pandas exactly as DuckDB does
        self._schemas: dict[str, str] = {}  # schemas known to exist -> their location

    @classmethod
    def from_settings(cls, settings: Settings) -> SparkWarehouse:
        spark = spark_session(settings)
        # Parquet timestamps as DuckDB and pyarrow read them natively (not legacy INT96).
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        return cls(spark, settings.spark_dir / "scratch")

    # -- reading ------------------------------------------------------------------------

    def _sql(self, sql: str, params: Params = ()) -> DataFrame:
        return self.spark.sql(to_spark_sql(sql), args=list(params) if params else None)

    def _arrow(self, sql: str, params: Params = ()) -> pa.Table:
        return _naive_utc(self._sql(sql, params).toArrow())

    def _frame(self, table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
        return self._local.from_arrow(table).df()

    def query_frame(self, sql: str, params: Params = ()) -> pd.DataFrame:
        """The whole result as one frame: for results that fit in memory by design."""
        return self._frame(self._arrow(sql, params))

    def query_rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        table = self._arrow(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def scalar(self, sql: str, params: Params = ()) -> Any:
        rows = self.query_rows(sql, params)
        return rows[0][0] if rows else None

    def stream_arrow(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Batches of at most `batch_rows`: Spark writes the result to scratch Parquet, read
        back a batch at a time, so the driver never holds the whole result."""
        folder = self.scratch_dir / f"stream-{uuid.uuid4().hex}"
        try:
            self._sql(sql).write.parquet(str(folder))
            files = sorted(folder.glob("part-*.parquet"))  # in partition order: keeps `order by`
            empty = True
            for file in files:
                for batch in pq.ParquetFile(file).iter_batches(batch_size=max(1, batch_rows)):
                    if batch.num_rows:
                        empty = False
                        yield _naive_utc(batch)
            if empty:  # callers need the schema even when there are no rows
                schema = pq.read_schema(files[0]) if files else pa.schema([])
                yield _naive_utc(pa.RecordBatch.from_pylist([], schema=schema))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def stream_batches(self, sql: str, batch_rows: int) -> Iterator[pd.DataFrame]:
        for batch in self.stream_arrow(sql, batch_rows):
            if batch.num_rows:
                yield self._frame(batch)

    def table_exists(self, schema: str, table: str) -> bool:
        catalog = self.spark.catalog
        return catalog.databaseExists(schema) and catalog.tableExists(f"{schema}.{table}")

    def columns(self, relation: str) -> list[tuple[str, str]]:
        """(name, DuckDB type name) of every column of `schema.table`."""
        return [
            (field.name, duckdb_type(field.dataType.simpleString()))
            for field in self.spark.table(relation).schema.fields
        ]

    # -- writing ------------------------------------------------------------------------

    def replace_table(self, schema: str, table: str, batches: Rows | Iterable[Rows]) -> int:
        """Replace `schema.table` with the rows of `batches` (one frame, or frames streamed
        one at a time); returns the row count. Crash behaviour: the module docstring."""
        frames = [batches] if isinstance(batches, pd.DataFrame | pa.Table) else batches
        staging, exists = self._prepare(schema, table)
        rows, first, written = 0, None, False
        for frame in frames:
            data = _arrow_rows(frame)
            if first is None:
                first = data.schema
            elif data.num_rows == 0:
                continue  # nothing to add, and its columns may be untyped
            else:
                data = _conform(data, first)
            writer = self.spark.createDataFrame(data).write.format("parquet")
            writer.mode("append" if written else "errorifexists").saveAsTable(staging)
            rows, written = rows + data.num_rows, True
        if first is None:
            raise ValueError(f"no rows (not even an empty frame) to write to {schema}.{table}")
        self._swap_in(schema, table, exists)
        return rows

    def replace_table_from_query(self, schema: str, table: str, sql: str) -> int:
        """Replace `schema.table` with a query's result, computed in Spark; returns its rows."""
        staging, exists = self._prepare(schema, table)
        self.spark.sql(f"create table {staging} using parquet as {to_spark_sql(sql)}")
        rows = self.spark.table(staging).count()
        self._swap_in(schema, table, exists)
        return int(rows)

    def upsert(
        self, schema: str, table: str, rows: pa.Table, keys: Sequence[str], create_sql: str
    ) -> None:
        """Replace the rows with `rows`' keys, by rewriting the table: Parquet tables cannot
        delete rows, and what is upserted here (the model_runs log) is small. `create_sql`'s
        constraints are DuckDB's; here the table takes `rows`' types."""
        del create_sql
        combined = rows
        if self.table_exists(schema, table):
            existing = self._arrow(f"select * from {schema}.{table}")
            if existing.num_rows:
                existing = _conform(existing, rows.schema)
                kept = pc.invert(
                    pc.is_in(_key(existing, keys), value_set=_key(rows, keys).combine_chunks())
                )
                combined = pa.concat_tables([existing.filter(kept), rows])
        self.replace_table(schema, table, combined)

    def temp_table(
        self, name: str, source: str | Rows, params: Params = (), append: bool = False
    ) -> None:
        """A session-scoped view, materialised now (so later writes to the tables it reads do
        not change it), from a query or rows; `append` adds the rows to the existing one."""
        frame = (
            self._sql(source, params)
            if isinstance(source, str)
            else self.spark.createDataFrame(_arrow_rows(source))
        )
        if append:
            frame = self.spark.table(name).union(frame)
        frame.localCheckpoint().createOrReplaceTempView(name)

    def register_raw_sources(
        self, raw_dir: Path, deletion_list: Path | None = None
    ) -> list[RegisteredSource]:
        """The raw tables in Spark, with the same contract checks as DuckDB's views."""
        from orchestration.spark_raw import register_raw_sources_spark  # the dbt port's module

        if deletion_list is None:
            return register_raw_sources_spark(self.spark, raw_dir)
        return register_raw_sources_spark(self.spark, raw_dir, deletion_list=deletion_list)

    # -- the swap -----------------------------------------------------------------------

    def _prepare(self, schema: str, table: str) -> tuple[str, bool]:
        """Recover from an interrupted replace and clear the way for `__new`; returns its
        name and whether `schema.table` exists (one catalog listing, not one call per name)."""
        if schema not in self._schemas:
            self.spark.sql(f"create database if not exists {schema}")
            self._schemas[schema] = self.spark.catalog.getDatabase(schema).locationUri
        exists = self.recover(schema, table)
        self._remove_files(schema, f"{table}__new")
        return f"{schema}.{table}__new", exists

    def recover(self, schema: str, table: str) -> bool:
        """Finish (or undo) a replace of `schema.table` a crash interrupted; every replace
        calls it first, so the next run recovers by itself. Returns whether the table exists."""
        new, old = f"{table}__new", f"{table}__old"
        present = {
            row.tableName
            for row in self.spark.sql(
                f"show tables in {schema} like '{table}|{new}|{old}'"
            ).collect()
            if not row.isTemporary
        }
        if new in present and self._is_complete(schema, new):
            self._swap_in(schema, table, exists=table in present, old_exists=old in present)
            return True
        if new in present:
            self._drop(schema, new)
        if old in present and table in present:
            self._drop(schema, old)
        elif old in present:
            self._rename(schema, old, table)  # not a state the steps leave: never lose a table
            return True
        return table in present

    def _swap_in(self, schema: str, table: str, exists: bool, old_exists: bool = False) -> None:
        new, old = f"{table}__new", f"{table}__old"
        self.spark.sql(
            f"alter table {schema}.{new} set tblproperties ('{COMPLETE_PROPERTY}' = 'true')"
        )
        if exists:
            if old_exists:
                self._drop(schema, old)
            self._rename(schema, table, old)
        self._rename(schema, new, table)
        if exists or old_exists:
            self._drop(schema, old)

    def _is_complete(self, schema: str, table: str) -> bool:
        properties = {
            row[0]: row[1]
            for row in self.spark.sql(f"show tblproperties {schema}.{table}").collect()
        }
        return properties.get(COMPLETE_PROPERTY) == "true"

    def _rename(self, schema: str, table: str, to: str) -> None:
        self.spark.sql(f"alter table {schema}.{table} rename to {schema}.{to}")

    def _drop(self, schema: str, table: str) -> None:
        self.spark.sql(f"drop table if exists {schema}.{table}")

    def _remove_files(self, schema: str, table: str) -> None:
        """Delete files left at an unregistered table's location by a write that died before
        Spark registered the table: they would make the next write there fail."""
        jvm = self.spark._jvm
        path = jvm.org.apache.hadoop.fs.Path(f"{self._schemas[schema].rstrip('/')}/{table.lower()}")
        files = path.getFileSystem(self.spark._jsc.hadoopConfiguration())
        if files.exists(path):
            files.delete(path, True)


def _key(table: pa.Table, keys: Sequence[str]) -> pa.ChunkedArray:
    """One comparable value per row for a composite key."""
    parts = [pc.cast(table.column(k), pa.string()) for k in keys]
    return pc.binary_join_element_wise(*parts, "\x1f")
