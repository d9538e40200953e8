"""Publish the public tables for BI: a read-only DuckDB file and Parquet, swapped in atomically.

BI tools never open the working warehouse (DuckDB has one writer, and a reader would block the
next run). They read a *published copy*: every publish writes a complete new DuckDB file beside
the old one under a temporary name and renames it over the old (`os.replace`, atomic on POSIX).
A reader that opened the old file keeps reading the old inode to the end of its session; the
next connection opens the new file. Nobody ever sees a half-written table, and a reader never
holds a lock the pipeline waits for. Parquet gets the same treatment one level up: each version
is a new folder, and the `current` symlink is swapped atomically to point at it.

Which tables are public is decided once, in dbt (`access: public` on the model), and read here
from the manifest, together with the descriptions that become the published tables' column
comments. `ml.model_runs` is written by Python (orchestration/model_runs.py), so it is declared
here, with its column descriptions. Every published file carries `publish_info`: the version,
run, as_of_date, publish time and the row count of every table, so a reader can tell which
version it sees and check it is whole.

The tables come from the DuckDB warehouse file, attached read-only and copied inside DuckDB;
or, when the warehouse is elsewhere (Spark), from the warehouse interface in Arrow batches
(`source`), so the published copy is the same DuckDB file and Parquet whichever engine built it.

Plain functions, no Dagster: `orchestration/assets/publish.py` is the asset around them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from orchestration.warehouse import Warehouse

PUBLIC_ACCESS = "public"  # dbt's `access` config: the one marker of a public model
DATABASE_NAME = "customer_profiles.duckdb"
PARQUET_DIR = "parquet"
CURRENT_LINK = "current"  # parquet/current -> parquet/<version>
PUBLISH_INFO = "publish_info"
TEMP_SUFFIX = ".tmp"
# The persisted right-to-be-forgotten keys (dbt model int_identity__forgotten_identifiers):
# older published versions and kept exports holding those customers are purged on publish.
FORGOTTEN_RELATION = "intermediate.int_identity__forgotten_identifiers"
# Rows per Arrow batch read from a `source` warehouse: bounds the publisher's memory.
SOURCE_BATCH_ROWS = 200_000


@dataclass(frozen=True)
class PublicColumn:
    name: str
    description: str


@dataclass(frozen=True)
class PublicTable:
    """A table BI reads: its published name, where it lives in the warehouse, its docs."""

    name: str  # the name in the published file (schema `main`) and of its Parquet file
    relation: str  # `schema.table` in the working warehouse
    description: str
    columns: tuple[PublicColumn, ...] = ()
    dbt_model: str | None = None  # the dbt model that builds it; None when Python writes it


# ml.model_runs is a log several Python assets append to (orchestration/model_runs.py), not a
# dbt model; its documentation lives here, beside the code that publishes it.
MODEL_RUNS = PublicTable(
    name="model_runs",
    relation="ml.model_runs",
    description=(
        "One row per fit of an ML model (segments, churn, customer value): its metrics,"
        " parameters, data window and code version. 模型运行记录：每次模型拟合的指标与参数。"
    ),
    columns=(
        PublicColumn("model_name", "The model fitted: segments, churn or value. 模型名称"),
        PublicColumn("run_id", "The Dagster run that fitted it. 运行编号"),
        PublicColumn("as_of_date", "The day the model was fitted as of. 计算基准日"),
        PublicColumn(
            "parameters_json", "The fit's configuration and fitted parameters, as JSON. 参数"
        ),
        PublicColumn(
            "metrics_json",
            "The fit's quality measures (AUC, calibration table, silhouette, ...) as JSON. 指标",
        ),
        PublicColumn("data_window_start", "First day of the data the fit saw. 数据起始日"),
        PublicColumn("data_window_end", "Last day of the data the fit saw. 数据截止日"),
        PublicColumn("code_version", "Version of the code that fitted it. 代码版本"),
        PublicColumn("created_at", "When the run started, UTC. 运行开始时间（UTC）"),
    ),
)
PYTHON_PUBLIC_TABLES: tuple[PublicTable, ...] = (MODEL_RUNS,)

PUBLISH_INFO_COLUMNS = (
    PublicColumn("version", "The published version: one value for every table of a publish."),
    PublicColumn("run_id", "The pipeline run that published it."),
    PublicColumn("as_of_date", "The latest as_of_date in the table (null if it has none)."),
    PublicColumn("published_at", "When this version was published, UTC."),
    PublicColumn("table_name", "A published table."),
    PublicColumn("row_count", "Rows in that table in this version."),
    PublicColumn("source_relation", "Where the table was copied from in the warehouse."),
    PublicColumn("description", "What the table holds."),
)


@dataclass(frozen=True)
class Published:
    """What a publish wrote: the version and where BI finds it."""

    version: str
    run_id: str | None
    database_path: Path
    parquet_dir: Path  # the version's folder; `<out>/parquet/current` points at it
    row_counts: Mapping[str, int]
    as_of_date: date | None
    published_at: datetime
    removed_versions: tuple[str, ...] = field(default=())


def is_public(node: Mapping[str, Any]) -> bool:
    return node.get("resource_type") == "model" and (
        node.get("access") == PUBLIC_ACCESS or node.get("config", {}).get("access") == PUBLIC_ACCESS
    )


def public_tables(manifest: Mapping[str, Any]) -> list[PublicTable]:
    """Every public dbt model (from the manifest) plus the Python-written public tables."""
    tables = [
        PublicTable(
            name=node.get("alias") or node["name"],
            relation=f"{node['schema']}.{node.get('alias') or node['name']}",
            description=(node.get("description") or "").strip(),
            dbt_model=node["name"],
            columns=tuple(
                PublicColumn(column["name"], (column.get("description") or "").strip())
                for column in node.get("columns", {}).values()
            ),
        )
        for node in manifest["nodes"].values()
        if is_public(node)
    ]
    tables = sorted(tables, key=lambda t: t.name) + list(PYTHON_PUBLIC_TABLES)
    names = [t.name for t in tables]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"two public tables would be published as {duplicated[0]!r}")
    if PUBLISH_INFO in names:
        raise ValueError(f"{PUBLISH_INFO!r} is reserved for the version stamp of a publish")
    return tables


def new_version(published_at: datetime, run_id: str | None) -> str:
    """Sortable by time, unique per run: `20260105T060000123456Z-1a2b3c4d`."""
    stamp = published_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{run_id[:8]}" if run_id else stamp


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment(con: duckdb.DuckDBPyConnection, table: str, description: str, columns) -> None:
    """Table and column comments: what DBeaver, DataGrip, Metabase and duckdb_columns() show."""
    if description:
        con.execute(f"comment on table {_quote(table)} is {_literal(description)}")
    present = {
        row[0].lower()
        for row in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database()"
            " and schema_name = 'main' and table_name = ?",
            [table],
        ).fetchall()
    }
    for column in columns:
        if column.description and column.name.lower() in present:
            con.execute(
                f"comment on column {_quote(table)}.{_quote(column.name)}"
                f" is {_literal(column.description)}"
            )


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, _, table = relation.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = 'warehouse'"
            " and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
        or con.execute(
            "select count(*) from duckdb_views() where database_name = 'warehouse'"
            " and schema_name = ? and view_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash cannot swap in a hole."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically: a new link under a temporary name, renamed over."""
    temporary = link.with_name(f".{link.name}{TEMP_SUFFIX}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, link)


def _remove_unpublished_versions(parquet_root: Path) -> None:
    """Delete Parquet folders newer than `current`: a publish killed before its swap left them,
    and kept, they would count as the newest versions and push a whole one out."""
    link = parquet_root / CURRENT_LINK
    current = os.readlink(link) if link.is_symlink() else None
    for folder in parquet_root.iterdir():
        if (
            folder.is_dir()
            and not folder.is_symlink()
            and (current is None or folder.name > current)
        ):
            shutil.rmtree(folder, ignore_errors=True)
    (parquet_root / f".{CURRENT_LINK}{TEMP_SUFFIX}").unlink(missing_ok=True)


def _remove_old_versions(parquet_root: Path, current: str, keep: int) -> tuple[str, ...]:
    """Delete Parquet versions beyond the newest `keep` (never the current one): the one
    before stays, so a reader that resolved the old link a moment ago can finish its scan."""
    versions = sorted(
        (p for p in parquet_root.iterdir() if p.is_dir() and not p.is_symlink()),
        key=lambda p: p.name,
        reverse=True,
    )
    removed = []
    for old in versions[keep:]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return tuple(removed)


def publish(
    warehouse_path: Path,
    out_dir: Path,
    tables: Sequence[PublicTable],
    *,
    run_id: str | None = None,
    published_at: datetime | None = None,
    keep_versions: int = 2,
    duckdb_config: Mapping[str, Any] | None = None,
    export_dir: Path | None = None,
    source: Warehouse | None = None,
) -> Published:
    """Copy `tables` from the warehouse into a new published file and Parquet folder, then swap
    both in atomically. Call it when no process writes the warehouse (DuckDB's one writer).

    Forgotten customers (FORGOTTEN_RELATION) are then purged from what outlives a run: older
    Parquet versions holding them are deleted, and exports in `export_dir` (default: the
    settings' export folder) are rewritten without them.

    `source`: read the tables through this warehouse (Spark) instead of the file at
    `warehouse_path`, which is then not used."""
    if keep_versions < 1:
        raise ValueError(f"keep_versions must be at least 1, got {keep_versions}")
    if not tables:
        raise ValueError("no public tables to publish: mark dbt models with `access: public`")
    if source is None and not Path(warehouse_path).exists():
        raise FileNotFoundError(f"warehouse {warehouse_path} does not exist: run the pipeline")
    published_at = (published_at or datetime.now(UTC)).astimezone(UTC)
    version = new_version(published_at, run_id)
    out_dir = Path(out_dir)
    parquet_root = out_dir / PARQUET_DIR
    parquet_root.mkdir(parents=True, exist_ok=True)
    database = out_dir / DATABASE_NAME
    temporary = out_dir / f".{DATABASE_NAME}.{version}{TEMP_SUFFIX}"
    version_dir = parquet_root / version
    for leftover in out_dir.glob(f".{DATABASE_NAME}.*{TEMP_SUFFIX}*"):  # a crashed publish
        leftover.unlink(missing_ok=True)
    _remove_unpublished_versions(parquet_root)
    version_dir.mkdir()

    row_counts: dict[str, int] = {}
    as_of_dates: dict[str, date | None] = {}
    con = duckdb.connect(str(temporary), config=dict(duckdb_config or {}))
    con.execute("set enable_progress_bar = false")  # a log line per table, not a bar
    try:
        if source is None:
            con.execute(f"attach {_literal(str(warehouse_path))} as warehouse (read_only)")
            missing = [t.relation for t in tables if not _relation_exists(con, t.relation)]
        else:
            missing = [t.relation for t in tables if not source.table_exists(*_split(t.relation))]
        if missing:
            where = (
                f"the warehouse {warehouse_path}"
                if source is None
                else f"the {source.target} warehouse"
            )
            raise ValueError(
                f"public table {missing[0]} is not in {where}: build it before publishing"
            )
        for table in tables:
            if source is None:
                con.execute(
                    f"create table main.{_quote(table.name)} as"
                    f" select * from warehouse.{table.relation}"
                )
            else:
                _copy_from_source(con, source, table)
            _comment(con, table.name, table.description, table.columns)
            row_counts[table.name] = con.execute(
                f"select count(*) from main.{_quote(table.name)}"
            ).fetchone()[0]
            as_of_dates[table.name] = _latest_as_of_date(con, table.name)
        if source is None:
            forgotten = _forgotten_customer_ids(con)
            con.execute("detach warehouse")
        else:
            forgotten = _forgotten_in_source(source)
        _write_publish_info(con, tables, version, run_id, published_at, row_counts, as_of_dates)
        for name in [*row_counts, PUBLISH_INFO]:
            target = version_dir / f"{name}.parquet"
            con.execute(
                f"copy main.{_quote(name)} to {_literal(str(target))}"
                " (format parquet, compression zstd)"
            )
        con.execute("checkpoint")
    except BaseException:
        con.close()
        temporary.unlink(missing_ok=True)
        shutil.rmtree(version_dir, ignore_errors=True)
        raise
    con.close()
    _fsync(temporary)
    os.replace(temporary, database)  # the swap: readers see the old file or the new, whole
    _swap_symlink(parquet_root / CURRENT_LINK, version)
    _fsync(out_dir)
    removed = _remove_old_versions(parquet_root, version, keep_versions)
    removed += _remove_versions_holding(parquet_root, version, forgotten)
    if forgotten:
        from orchestration.audiences.export import purge_forgotten
        from orchestration.settings import Settings

        purge_forgotten(export_dir or Settings.from_env().export_dir, forgotten)
    known = [d for d in as_of_dates.values() if d is not None]
    return Published(
        version=version,
        run_id=run_id,
        database_path=database,
        parquet_dir=version_dir,
        row_counts=row_counts,
        as_of_date=max(known) if known else None,
        published_at=published_at,
        removed_versions=removed,
    )


def _split(relation: str) -> tuple[str, str]:
    schema, _, table = relation.rpartition(".")
    return schema, table


def _copy_from_source(
    con: duckdb.DuckDBPyConnection, source: Warehouse, table: PublicTable
) -> None:
    """One public table from the source warehouse into `main`, an Arrow batch at a time."""
    # A cursor of its own: DuckDB refuses to register a frame on a connection whose last
    # result (a row count fetched with fetchone) is unfinished.
    cursor = con.cursor()
    created = False
    try:
        for batch in source.stream_arrow(f"select * from {table.relation}", SOURCE_BATCH_ROWS):
            cursor.register("_source_batch", pa.Table.from_batches([batch]))
            verb = "insert into {} select" if created else "create table {} as select"
            cursor.execute(f"{verb.format(f'main.{_quote(table.name)}')} * from _source_batch")
            cursor.unregister("_source_batch")
            created = True
    finally:
        cursor.close()


def _forgotten_in_source(source: Warehouse) -> set[str]:
    """`_forgotten_customer_ids`, read through the source warehouse."""
    if not source.table_exists(*_split(FORGOTTEN_RELATION)):
        return set()
    rows = source.query_rows(
        f"select distinct customer_id from {FORGOTTEN_RELATION} where customer_id is not null"
    )
    return {row[0] for row in rows}


def _forgotten_customer_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Customer ids forgotten so far, read from the attached warehouse (none before dbt built
    the list)."""
    if not _relation_exists(con, FORGOTTEN_RELATION):
        return set()
    rows = con.execute(
        f"select distinct customer_id from warehouse.{FORGOTTEN_RELATION}"
        " where customer_id is not null"
    ).fetchall()
    return {row[0] for row in rows}


def _remove_versions_holding(
    parquet_root: Path, current: str, customer_ids: set[str]
) -> tuple[str, ...]:
    """Delete every older Parquet version that names a forgotten customer: the courtesy copy
    kept for readers mid-scan must not outlive a deletion request."""
    if not customer_ids:
        return ()
    removed = []
    con = duckdb.connect()
    try:
        con.execute("create temporary table forgotten (customer_id varchar)")
        con.executemany("insert into forgotten values (?)", [[c] for c in sorted(customer_ids)])
        for folder in sorted(parquet_root.iterdir()):
            if folder.is_symlink() or not folder.is_dir() or folder.name == current:
                continue
            for file in folder.glob("*.parquet"):
                columns = con.execute(
                    f"select name from parquet_schema({_literal(str(file))})"
                ).fetchall()
                if ("customer_id",) not in columns:
                    continue
                held = con.execute(
                    f"select count(*) from read_parquet({_literal(str(file))})"
                    " where customer_id in (select customer_id from forgotten)"
                ).fetchone()[0]
                if held:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
                    break
    finally:
        con.close()
    return tuple(removed)


def _latest_as_of_date(con: duckdb.DuckDBPyConnection, table: str) -> date | None:
    has_column = con.execute(
        "select count(*) from duckdb_columns() where database_name = current_database()"
        " and schema_name = 'main' and table_name = ? and column_name = 'as_of_date'",
        [table],
    ).fetchone()[0]
    if not has_column:
        return None
    return con.execute(f"select max(as_of_date)::date from main.{_quote(table)}").fetchone()[0]


def _write_publish_info(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[PublicTable],
    version: str,
    run_id: str | None,
    published_at: datetime,
    row_counts: Mapping[str, int],
    as_of_dates: Mapping[str, date | None],
) -> None:
    con.execute(
        f"""
        create table main.{PUBLISH_INFO} (
            version varchar not null,
            run_id varchar,
            as_of_date date,
            published_at timestamp not null,
            table_name varchar not null primary key,
            row_count bigint not null,
            source_relation varchar not null,
            description varchar
        )
        """
    )
    con.executemany(
        f"insert into main.{PUBLISH_INFO} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                version,
                run_id,
                as_of_dates[t.name],
                published_at.replace(tzinfo=None),
                t.name,
                row_counts[t.name],
                t.relation,
                t.description,
            ]
            for t in tables
        ],
    )
    _comment(
        con,
        PUBLISH_INFO,
        "The version stamp of this published copy: one row per published table, all with the"
        " same version. 发布信息：版本、基准日、发布时间与各表行数。",
        PUBLISH_INFO_COLUMNS,
    )


def read_publish_info(database_path: Path) -> list[dict[str, Any]]:
    """The version stamp of a published file, as a BI tool or an operator would read it."""
    con = duckdb.connect(str(database_path), read_only=True)
    try:
        cursor = con.execute(f"select * from main.{PUBLISH_INFO} order by table_name")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
