"""The local Spark session: one configuration for dbt-spark and the Python assets.

dbt-spark's `method: session` calls `SparkSession.builder.getOrCreate()` in our process, so
whichever of dbt and the Python code starts first decides the configuration. Both use
`spark_conf`: profiles.yml's `server_side_parameters` repeat it in Jinja (a test keeps the two
equal). Tables are Parquet files under `<spark_dir>/warehouse`, the catalog an embedded Derby
metastore under `<spark_dir>/metastore_db`, so tables outlive the process, as the DuckDB file
does. Derby admits one process at a time, the same one-writer rule as DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.settings import Settings

if TYPE_CHECKING:  # pyspark is the optional [spark] dependency
    from pyspark.sql import SparkSession


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for a small local warehouse on this machine's cores."""
    root = settings.spark_dir
    return {
        "spark.master": f"local[{settings.threads}]",
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        # derby.log beside the metastore, not in whatever directory the process started in
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={root}",
        "spark.driver.memory": settings.memory_limit.replace("GB", "g"),
        # The default 200 shuffle partitions cost seconds per query on small data; adaptive
        # execution coalesces further.
        "spark.sql.shuffle.partitions": str(4 * settings.threads),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
    }


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The process's Spark session, created with `spark_conf` if none is running yet."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeError(
            "CP_DBT_TARGET=spark needs the optional Spark dependencies: pip install -e '.[spark]'"
        ) from exc
    settings = settings or Settings.from_env()
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
