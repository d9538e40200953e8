"""`customer-profiles`: the command line to generate data, run, evaluate, count and export
audiences, and start the UI."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from orchestration.sampledata.simulate import GeneratorConfig
from orchestration.settings import DEFAULT_RAW_DIR, PROJECT_DIR, Settings

DEFAULT_CUSTOMERS = 20_000
DEFAULT_SEED = 42
DEFAULTS = GeneratorConfig(customers=DEFAULT_CUSTOMERS, seed=DEFAULT_SEED)
# sysexits.h EX_TEMPFAIL: the warehouse was busy; the same command later will work.
EXIT_BUSY = 75


def _generate(args: argparse.Namespace) -> int:
    from orchestration.sampledata.generate import default_truth_dir, generate

    config = GeneratorConfig(
        customers=args.customers,
        seed=args.seed,
        end_date=args.end_date,
        days=args.days,
        bad_row_rate=args.bad_row_rate,
    )
    truth = args.truth or default_truth_dir(args.out)
    started = time.perf_counter()
    manifest = generate(config, args.out, truth, progress=not args.quiet, workers=args.workers)
    seconds = time.perf_counter() - started
    print(f"wrote {args.customers:,} customers to {args.out} (truth: {truth}) in {seconds:.1f}s")
    for source, rows in manifest["rows"].items():
        print(f"  {source:<18} {rows:>12,} rows")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from orchestration.evaluate import evaluate, format_table

    warehouse = args.warehouse or Settings.from_env().warehouse_path
    results = evaluate(warehouse, args.truth)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(format_table(results))
    print(f"\nwrote {args.out}")
    return 0


class _CannotWrite(OSError):
    """An output folder that cannot be written (the message names it)."""


@contextmanager
def _reading(warehouse: Path, settings: Settings) -> Iterator[Any]:
    """The warehouse file, read-only, never while a run writes it (WarehouseBusyError): a
    reader between two of a run's steps would make the next one fail (writer_lock.py)."""
    import duckdb

    from orchestration.writer_lock import WarehouseBusyError, reading_warehouse

    if warehouse.is_dir():
        raise FileNotFoundError(f"{warehouse} is a folder; give the DuckDB file in it")
    if not warehouse.exists():
        hint = (
            "run `make run` first"
            if warehouse == settings.warehouse_path
            else f"no such file (the working warehouse is {settings.warehouse_path}, the"
            f" published copy {settings.published_dir / 'customer_profiles.duckdb'})"
        )
        raise FileNotFoundError(f"{warehouse}: {hint}")
    with reading_warehouse(warehouse):
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
        except duckdb.Error as error:  # a writer without the writer lock, or not DuckDB
            if not isinstance(error, duckdb.IOException) or "lock" not in str(error).lower():
                raise FileNotFoundError(
                    f"{warehouse}: not a DuckDB database file ({error})"
                ) from None
            published = settings.published_dir / "customer_profiles.duckdb"
            raise WarehouseBusyError(
                f"{warehouse} is being written by another process; try again when it finishes"
                f" (the published copy, {published}, can be read meanwhile)"
            ) from None
        try:
            yield con
        finally:
            con.close()


def _audience_count(args: argparse.Namespace) -> int:
    """Count who an expression selects in customer_profile (read-only): in the working
    warehouse, or in a published copy, which holds the public tables in its schema `main`."""
    from orchestration.audiences.members import CATALOG, PROFILE, count_expression
    from orchestration.warehouse import table_exists

    settings = Settings.from_env()
    with _reading(args.warehouse or settings.warehouse_path, settings) as con:
        profile, catalog = PROFILE, CATALOG
        if not table_exists(con, *PROFILE.split(".")) and table_exists(
            con, "main", "customer_profile"
        ):
            profile, catalog = "main.customer_profile", "main.tag_catalog"
        total, consented = count_expression(con, args.expression, profile, catalog)
    print(f"{total:,} customers ({consented:,} with marketing consent)")
    return 0


def _export(args: argparse.Namespace) -> int:
    """Write one audience's consenting members as hashed identifiers, with a manifest."""
    from orchestration.audiences.export import export_audience

    settings = Settings.from_env()
    out = args.out or settings.export_dir
    with _reading(args.warehouse or settings.warehouse_path, settings) as con:
        try:
            result = export_audience(con, args.audience, args.format, out)
        except OSError as error:  # a file where the folder should be, no permission, a full disk
            raise _CannotWrite(f"cannot write the export to {out}: {error}") from None
    print(
        f"wrote {result.rows:,} customers to {result.data_file}"
        f" ({result.excluded_for_consent:,} left out: no marketing consent)"
    )
    print(f"manifest: {result.manifest_file}")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Generate sample data if the raw `orders` folder is empty, then materialise every asset."""
    from orchestration.sampledata.generate import generate

    settings = Settings.from_env()
    settings.export()
    _check_writable(settings.published_dir, "CP_PUBLISHED_DIR")  # before the build, not after
    if not any((settings.raw_dir / "orders").glob("*")):
        if settings.raw_dir.resolve() != (PROJECT_DIR / DEFAULT_RAW_DIR).resolve():
            # A mistyped CP_RAW_DIR must not build and publish 20,000 invented customers.
            raise FileNotFoundError(
                f"CP_RAW_DIR={settings.raw_dir}: no files in {settings.raw_dir / 'orders'};"
                f" sample data is generated only into the default {DEFAULT_RAW_DIR}"
            )
        print(f"no raw data in {settings.raw_dir}: generating {args.customers:,} sample customers")
        generate(GeneratorConfig(customers=args.customers, seed=DEFAULT_SEED), settings.raw_dir)

    from orchestration.pipeline import materialize_all
    from orchestration.writer_lock import WarehouseBusyError, WriterLockConfig

    lock = WriterLockConfig.from_env()
    if args.wait_seconds is not None:
        lock = replace(lock, wait_seconds=args.wait_seconds)
    try:
        return materialize_all(
            settings, as_of_date=args.as_of_date and args.as_of_date.isoformat(), lock=lock
        )
    except WarehouseBusyError as busy:
        print(f"error: {busy}", file=sys.stderr)
        return EXIT_BUSY


def _check_writable(folder: Path, variable: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _CannotWrite(f"{variable}={folder}: cannot create the folder ({error})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _CannotWrite(f"{variable}={folder}: the folder is not writable")


def _non_negative_seconds(text: str) -> float:
    seconds = float(text)
    if not seconds >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, 0 or more")
    return seconds


def _ui(args: argparse.Namespace) -> int:
    """Start `dagster dev` on the project's persistent instance."""
    import os
    import signal

    from orchestration.instance import ensure_instance

    settings = Settings.from_env()
    settings.export()
    ensure_instance(settings)
    # No dbt parse here: the code server that `dagster dev` starts parses on load.
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [
        dagster,
        "dev",
        "-m",
        "orchestration.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    # A shell starting a command in the background from a script (`make ui &`, nohup) sets it
    # to ignore SIGINT, which exec keeps: `dagster dev` would then ignore the SIGINT it shuts
    # down its webserver and daemon on, and only a kill would stop it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(dagster, command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="customer-profiles", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a realistic sample dataset with ground truth")
    gen.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="people to simulate")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed + size = same bytes")
    gen.add_argument("--out", type=Path, required=True, help="raw directory to write")
    gen.add_argument("--truth", type=Path, help="ground-truth directory (default: OUT/../truth)")
    gen.add_argument("--end-date", type=date.fromisoformat, default=DEFAULTS.end_date,
                     help="last day of the data (YYYY-MM-DD)")  # fmt: skip
    gen.add_argument(
        "--days", type=int, default=DEFAULTS.days, help="length of the data window in days"
    )
    gen.add_argument("--bad-row-rate", type=float, default=DEFAULTS.bad_row_rate,
                     help="share of rows per source spoiled with one defect")  # fmt: skip
    gen.add_argument(
        "--workers", type=int, default=2, help="processes (output does not depend on it)"
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate)

    ev = commands.add_parser("evaluate", help="compare the warehouse with the ground truth")
    ev.add_argument("--truth", type=Path, required=True, help="ground-truth directory")
    ev.add_argument("--out", type=Path, required=True, help="JSON file of metrics to write")
    ev.add_argument("--warehouse", type=Path, help="warehouse file (default: $CP_WAREHOUSE)")
    ev.set_defaults(func=_evaluate)

    run = commands.add_parser("run", help="generate sample data if needed, then build everything")
    run.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS,
                     help="sample size when no raw data exists")  # fmt: skip
    run.add_argument("--as-of-date", type=date.fromisoformat, default=None,
                     help="compute as of this day (YYYY-MM-DD); default: the latest order date")  # fmt: skip
    run.add_argument("--wait-seconds", type=_non_negative_seconds, default=None,
                     help="how long to wait while another run writes the warehouse"
                     " (default: $CP_WRITER_WAIT_SECONDS or 7200; 0 = give up at once)")  # fmt: skip
    run.set_defaults(func=_run)

    audience = commands.add_parser("audience", help="try audience expressions on the warehouse")
    audience_commands = audience.add_subparsers(dest="audience_command", required=True)
    count = audience_commands.add_parser("count", help="count who an expression selects")
    count.add_argument("expression", help="e.g. \"city = '上海市' and age_band = '90后'\"")
    count.add_argument("--warehouse", type=Path, help="warehouse file (default: $CP_WAREHOUSE)")
    count.set_defaults(func=_audience_count)

    export = commands.add_parser(
        "export", help="write an audience's consenting members (hashed ids) and a manifest"
    )
    export.add_argument("audience", help="an audience name from audiences.yml")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--out", type=Path, help="folder to write (default: $CP_EXPORT_DIR)")
    export.add_argument("--warehouse", type=Path, help="warehouse file (default: $CP_WAREHOUSE)")
    export.set_defaults(func=_export)

    ui = commands.add_parser("ui", help="start the Dagster UI on this project")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_ui)

    args = parser.parse_args(argv)
    from orchestration.writer_lock import WarehouseBusyError

    try:
        return args.func(args)
    except WarehouseBusyError as busy:
        print(f"error: {busy}", file=sys.stderr)
        return EXIT_BUSY
    except (FileNotFoundError, ValueError, _CannotWrite) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
