"""What is in the raw directory, without reading it: the files of each source and a fingerprint.

The fingerprint is what Dagster records as the data version of a raw folder and what the
raw-files sensor compares between ticks. It hashes each file's name, size and modification
time, not its bytes: listing a folder of multi-gigabyte exports must stay instant, and an
export tool that rewrites a file changes its modification time even when the size is equal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestration.raw_contract import CONTRACT, RawContract, RawSource

RAW_SUFFIXES = (".parquet", ".csv")


def source_files(raw_dir: Path, source: RawSource) -> list[Path]:
    """The Parquet and CSV files of one source, in a stable order."""
    folder = raw_dir / source.name
    return sorted(p for p in folder.glob("*") if p.suffix in RAW_SUFFIXES)


def unread_files(raw_dir: Path, source: RawSource) -> list[str]:
    """What else is in a source's folder, which no run reads: other suffixes (`.CSV`,
    `.csv.gz`, `.json`) and subfolders (a `day=2025-12-31/` partition). Hidden files (`.`)
    are an operating system's or a tool's own and are left out."""
    folder = raw_dir / source.name
    if not folder.is_dir():
        return []
    return sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in folder.iterdir()
        if not p.name.startswith(".") and not (p.is_file() and p.suffix in RAW_SUFFIXES)
    )


@dataclass(frozen=True)
class SourceFingerprint:
    source: str
    files: int
    bytes: int
    last_modified: datetime | None
    version: str  # "absent" when the folder has no files, else a short hash

    @property
    def present(self) -> bool:
        return self.files > 0


def fingerprint_source(raw_dir: Path, source: RawSource) -> SourceFingerprint:
    files = source_files(raw_dir, source)
    if not files:
        return SourceFingerprint(source.name, 0, 0, None, "absent")
    digest = hashlib.sha256()
    total, newest = 0, 0
    for path in files:
        stat = path.stat()
        total += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    modified = datetime.fromtimestamp(newest / 1e9, tz=UTC)
    return SourceFingerprint(source.name, len(files), total, modified, digest.hexdigest()[:16])


def fingerprint_raw_dir(
    raw_dir: Path, contract: RawContract = CONTRACT
) -> dict[str, SourceFingerprint]:
    """One fingerprint per source of the contract, present or not, in contract order."""
    return {source.name: fingerprint_source(raw_dir, source) for source in contract.sources}
