"""A real grocery purchase log mapped onto the raw `orders` contract.

`groceryElog.csv` (from the R package CLVTools, GPL: read from `../shared/data/grocery/`,
never copied into this repository): 10,483 purchase days of 1,525 customers of a grocery
store, 2006-01-01..2007-12-30, one row per customer and day, columns `cust` and `date`, and
no spend. Used to show churn risk and P(alive) on a real orders-only shop whose purchases
carry no amount.

Spend: the orders contract requires `total_amount` and staging quarantines a null one (an
unreadable amount), so every order is written with 0. Zero-amount orders are still purchases
(the warehouse counts completed orders, not revenue), so purchase days, recency and cadence
are exact; every spend feature is 0 for everyone and carries no information, and the log
supports no spend model (Gamma-Gamma, CLV), only the purchase-process models.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

GROCERY_COLUMNS = ("cust", "date")
UNKNOWN_SPEND = 0.0  # see the module notes: null would be quarantined


def read_grocery(path: Path) -> pd.DataFrame:
    """The comma-separated log (header `cust,date`) as a typed frame."""
    frame = pd.read_csv(path, dtype={"cust": str})
    missing = [c for c in GROCERY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(GROCERY_COLUMNS)}")
    if frame[list(GROCERY_COLUMNS)].isna().any().any():
        bad = frame[frame[list(GROCERY_COLUMNS)].isna().any(axis=1)].index[0] + 2
        raise ValueError(f"{path}: line {bad} has an empty cust or date")
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame[list(GROCERY_COLUMNS)]


def write_grocery_orders(source: Path, raw_dir: Path) -> int:
    """Write the log as raw/orders/grocery.parquet (the only source); returns the order count.

    Each row is one completed order on its day (the log has dates only) by the member named
    by its customer number, with spend unknown and written as 0.
    """
    frame = read_grocery(source)
    orders = pd.DataFrame(
        {
            "order_id": "GR" + frame["cust"] + "-" + (frame.index + 1).astype(str),
            "customer_ref": "GR" + frame["cust"],
            "ordered_at": frame["date"].dt.strftime("%Y-%m-%d"),
            "total_amount": UNKNOWN_SPEND,
            "status": "completed",
        }
    )
    folder = raw_dir / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(orders, preserve_index=False), folder / "grocery.parquet")
    return len(orders)
