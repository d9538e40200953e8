"""The CDNOW purchase log (Fader, Hardie & Lee 2005) mapped onto the raw `orders` contract.

A real orders-only shop: 2,357 customers' purchases of CDs, 1997-01-01..1998-06-30, with a
member id, a date, a number of CDs and dollars per row. Used to show the project works for a
shop that has nothing but an order export, and to reproduce the paper's BG/NBD figures
through the project's own path (raw orders -> dbt -> model).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CDNOW_COLUMNS = ("master_id", "sample_id", "date", "cds", "dollars")


def read_cdnow(path: Path) -> pd.DataFrame:
    """The whitespace-separated, header-less CDNOW_sample.txt as a typed frame."""
    frame = pd.read_csv(
        path, sep=r"\s+", header=None, names=list(CDNOW_COLUMNS), dtype={"master_id": str}
    )
    if frame.isna().any().any():
        bad = frame[frame.isna().any(axis=1)].index[0] + 1
        raise ValueError(f"{path}: line {bad} does not have the five CDNOW columns")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


def write_cdnow_orders(source: Path, raw_dir: Path) -> int:
    """Write CDNOW as raw/orders/cdnow.parquet (the only source); returns the order count.

    Every row is an order on its day (a date: the log has no time of day), paid in full, by the
    member named by its master id; the number of CDs has no place in the contract and is
    left out. Several orders by one customer on one day stay separate orders: counting
    purchase days is the models' job.
    """
    frame = read_cdnow(source)
    orders = pd.DataFrame(
        {
            "order_id": "CD" + frame["master_id"] + "-" + (frame.index + 1).astype(str),
            "customer_ref": "CD" + frame["master_id"],
            "ordered_at": frame["date"].dt.strftime("%Y-%m-%d"),
            "total_amount": frame["dollars"].astype(float),
            "status": "completed",
        }
    )
    folder = raw_dir / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(orders, preserve_index=False), folder / "cdnow.parquet")
    return len(orders)
