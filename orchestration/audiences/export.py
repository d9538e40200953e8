"""Consent-safe activation export: one audience as a file of hashed identifiers, with a manifest.

What leaves the warehouse: the customer id (a surrogate key) and the customer's phone and
email as the salted SHA-256 hashes staging made of them (`CP_PII_SALT`; an ad platform that
matches on unsalted hashes needs the same salt-free hashing on both sides, which this project
deliberately does not do). Never a raw phone, email or name: the export reads nothing that
holds them. Every member without marketing consent is left out and counted in the manifest.

The data file and its manifest are written under temporary names and renamed into place, so a
reader never picks up half a file or a manifest that describes another file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from orchestration.warehouse import table_exists

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")

MEMBERS = "marts.audience_members"
AUDIENCES = "ml.audiences"
IDENTIFIERS = "intermediate.int_identity__customer_ids"
PROFILE = "marts.customer_profile"  # the as_of_date of an audience with no members


@dataclass(frozen=True)
class ExportResult:
    data_file: Path
    manifest_file: Path
    rows: int
    excluded_for_consent: int


def export_audience(
    con: duckdb.DuckDBPyConnection, audience: str, fmt: Format, out_dir: Path
) -> ExportResult:
    """Write `out_dir/<audience>_<as_of>.<fmt>` and `<that name>.manifest.json`; returns what
    it wrote. A CSV and a Parquet export of the same audience and day have a manifest each."""
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    for relation in (MEMBERS, AUDIENCES, IDENTIFIERS, PROFILE):
        if not table_exists(con, *relation.split(".")):
            raise ValueError(
                f"the warehouse has no {relation}: exports read the working warehouse after a"
                " run (a published copy holds no identifiers to export)"
            )
    known = [r[0] for r in con.execute(f"select audience_name from {AUDIENCES}").fetchall()]
    if audience not in known:
        raise ValueError(
            f"no audience named {audience!r} in the warehouse"
            f" (built: {', '.join(sorted(known)) or 'none'}); is it in audiences.yml and was"
            " the pipeline run since?"
        )
    expression, lookalike_of, as_of = con.execute(
        f"select a.expression, a.lookalike_of,"
        f" coalesce(max(m.as_of_date), (select max(as_of_date) from {PROFILE}))"
        f" from {AUDIENCES} as a left join {MEMBERS} as m using (audience_name)"
        " where a.audience_name = ? group by 1, 2",
        [audience],
    ).fetchone()
    total, consented = con.execute(
        f"select count(*), count(*) filter (where has_marketing_consent) from {MEMBERS}"
        " where audience_name = ?",
        [audience],
    ).fetchone()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{audience}_{as_of or 'empty'}"
    data_file = out_dir / f"{stem}.{fmt}"
    partial = out_dir / f".{stem}.{fmt}.partial"
    query = f"""
        select
            members.customer_id,
            min(case when ids.id_type = 'phone' then substr(ids.identifier_key, 7) end) as phone_sha256,
            min(case when ids.id_type = 'email' then substr(ids.identifier_key, 7) end) as email_sha256
        from {MEMBERS} as members
        left join {IDENTIFIERS} as ids
            on ids.customer_id = members.customer_id and ids.id_type in ('phone', 'email')
        where members.audience_name = $audience and members.has_marketing_consent
        group by members.customer_id
        order by members.customer_id
    """  # noqa: S608 - relation names are constants; the audience is a bound parameter
    options = "format csv, header true" if fmt == "csv" else "format parquet"
    con.execute(f"copy ({query}) to '{_sql_path(partial)}' ({options})", {"audience": audience})
    checksum = _sha256(partial)
    manifest = {
        "audience": audience,
        "expression": expression,
        "lookalike_of": lookalike_of,
        "format": fmt,
        "file": data_file.name,
        "rows": consented,
        "excluded_for_consent": total - consented,
        "as_of_date": str(as_of) if as_of else None,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": checksum,
        "columns": ["customer_id", "phone_sha256", "email_sha256"],
        "identifier_hashing": "SHA-256 of the normalised value with the project's salt",
    }
    manifest_file = _manifest_path(data_file)
    partial_manifest = out_dir / f".{manifest_file.name}.partial"
    partial_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    os.replace(partial, data_file)
    os.replace(partial_manifest, manifest_file)
    return ExportResult(data_file, manifest_file, consented, total - consented)


def _manifest_path(data_file: Path) -> Path:
    return data_file.with_name(f"{data_file.name}.manifest.json")


def _existing_manifest(data_file: Path) -> Path | None:
    """The manifest describing an export on disk: `<file>.manifest.json`, or for an export
    written before the format had its own manifest, `<stem>.manifest.json` unless that
    describes another file."""
    manifest = _manifest_path(data_file)
    if manifest.exists():
        return manifest
    legacy = data_file.with_name(f"{data_file.stem}.manifest.json")
    if (
        legacy.exists()
        and json.loads(legacy.read_text()).get("file", data_file.name) == data_file.name
    ):
        return legacy
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def purge_forgotten(out_dir: Path, customer_ids: set[str]) -> list[Path]:
    """Rewrite every export in `out_dir` that holds a forgotten customer, without them; returns
    the files rewritten. An export already handed over cannot be recalled, but the copy kept
    here must not outlive the request (README.md, "Forgetting a customer")."""
    if not customer_ids or not out_dir.is_dir():
        return []
    rewritten = []
    con = duckdb.connect()
    try:
        con.execute("create temporary table forgotten (customer_id varchar)")
        con.executemany("insert into forgotten values (?)", [[c] for c in sorted(customer_ids)])
        for data_file in sorted(out_dir.iterdir()):
            fmt = data_file.suffix.lstrip(".")
            if fmt not in FORMATS or data_file.name.startswith("."):
                continue
            reader = (
                f"read_csv('{_sql_path(data_file)}', header = true, all_varchar = true)"
                if fmt == "csv"
                else f"read_parquet('{_sql_path(data_file)}')"
            )
            kept = f"select * from {reader} where customer_id not in (select * from forgotten)"
            total, remaining = con.execute(
                f"select (select count(*) from {reader}), (select count(*) from ({kept}))"
            ).fetchone()
            if total == remaining:
                continue
            partial = data_file.with_name(f".{data_file.name}.partial")
            options = "format csv, header true" if fmt == "csv" else "format parquet"
            con.execute(f"copy ({kept} order by customer_id) to '{_sql_path(partial)}' ({options})")
            manifest_file = _existing_manifest(data_file)
            if manifest_file is not None:
                manifest = json.loads(manifest_file.read_text())
                manifest.update(
                    rows=remaining,
                    sha256=_sha256(partial),
                    forgotten_removed=manifest.get("forgotten_removed", 0) + total - remaining,
                )
                partial_manifest = manifest_file.with_name(f".{manifest_file.name}.partial")
                partial_manifest.write_text(
                    json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
                )
                os.replace(partial, data_file)
                os.replace(partial_manifest, manifest_file)
            else:
                os.replace(partial, data_file)
            rewritten.append(data_file)
    finally:
        con.close()
    return rewritten
