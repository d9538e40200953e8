"""The mess of real exports: valid-but-untidy formats, and rows that are simply wrong.

Untidy values (phone formats, email case, city spellings) must be normalised by staging. Bad
rows (null keys, impossible amounts, broken timestamps, unknown codes, duplicates) must be
quarantined. Both are planted here at known rates so tests can check they are handled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sampledata.world import Cities

_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def phone_variant(canonical: str, rng: np.random.Generator) -> str:
    """A mainland mobile number as people and systems actually type it."""
    a, b, c = canonical[:3], canonical[3:7], canonical[7:]
    forms = (
        canonical,
        f"+86 {a} {b} {c}",
        f"{a}-{b}-{c}",
        f"+86{canonical}",
        f" {a} {b} {c} ",
        f"86-{canonical}",
    )
    return forms[rng.choice(len(forms), p=(0.5, 0.15, 0.12, 0.1, 0.08, 0.05))]


def email_variant(canonical: str, rng: np.random.Generator) -> str:
    u = rng.random()
    if u < 0.1:
        local, domain = canonical.split("@")
        return f"{local.capitalize()}@{domain.upper()}"
    if u < 0.2:
        return f"  {canonical} "
    return canonical


def city_variant(cities: Cities, city: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(city))
    zh = cities.name_zh[city]
    en = cities.name_en[city]
    return np.where(
        u < 0.8,
        zh,
        np.where(
            u < 0.92,
            np.array([_strip_suffix(z) for z in zh], dtype=object),
            np.where(u < 0.97, en, np.array([f" {e.lower()}" for e in en], dtype=object)),
        ),
    )


def province_variant(cities: Cities, city: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    zh = cities.province_zh[city]
    return np.where(
        rng.random(len(city)) < 0.85, zh, np.array([_strip_suffix(z) for z in zh], dtype=object)
    )


def gender_variant(female: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(female))
    code = np.where(female, "F", "M")
    zh = np.where(female, "女", "男")
    word = np.where(female, "female", "male")
    return np.where(u < 0.8, code, np.where(u < 0.92, zh, np.where(u < 0.97, word, None)))


# ---- bad rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRowSpec:
    """Which columns of a source can carry which kind of defect."""

    key: str
    timestamps: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    enums: tuple[str, ...] = ()
    kinds: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        kinds = ["null_key", "duplicate"]
        if self.timestamps:
            kinds += ["future_timestamp", "unparseable_timestamp"]
        if self.amounts:
            kinds += ["negative_amount", "absurd_amount"]
        if self.enums:
            kinds.append("unknown_enum")
        object.__setattr__(self, "kinds", tuple(kinds))


BAD_ROW_SPECS: dict[str, BadRowSpec] = {
    "customers": BadRowSpec(
        "customer_ref", ("registered_at", "updated_at"), (), ("register_channel",)
    ),
    "identity_links": BadRowSpec("id_value_b", ("observed_at",), (), ("id_type_a",)),
    "orders": BadRowSpec("order_id", ("ordered_at",), ("total_amount",), ("channel", "status")),
    "order_items": BadRowSpec("order_id", (), ("unit_price", "quantity")),
    "events": BadRowSpec("id_value", ("event_at",), ("dwell_seconds",), ("event_type", "platform")),
    "support_tickets": BadRowSpec("ticket_id", ("opened_at",), ("satisfaction",), ("topic",)),
    "campaign_touches": BadRowSpec("customer_ref", ("sent_at",), (), ("group",)),
    "surveys": BadRowSpec("customer_ref", ("answered_at",), ("nps_score",)),
}

UNPARSEABLE_TIMESTAMPS = ("N/A", "2025-02-30 25:61:00", "昨天下午", "0000-00-00 00:00:00", "")
UNKNOWN_ENUMS = ("???", "unknown_value", "测试")
ABSURD = 99_999_999


def inject_bad_rows(
    table: pa.Table, spec: BadRowSpec, rate: float, rng: np.random.Generator, end_date: date
) -> tuple[pa.Table, Counter]:
    """Spoil about `rate` of the rows, each with one defect; returns the counts by kind."""
    n = table.num_rows
    counts: Counter = Counter()
    if n == 0 or rate <= 0:
        return table, counts
    rows = rng.choice(n, size=rng.binomial(n, rate), replace=False)
    kind_of_row = rng.integers(0, len(spec.kinds), len(rows))
    duplicates = np.zeros(0, dtype=int)
    for k, kind in enumerate(spec.kinds):
        r = np.sort(rows[kind_of_row == k])
        if not len(r):
            continue
        counts[kind] += len(r)
        if kind == "duplicate":
            duplicates = r
            continue
        if kind == "null_key":
            name = spec.key
        else:
            names = spec.timestamps if "timestamp" in kind else spec.amounts or spec.enums
            names = spec.enums if kind == "unknown_enum" else names
            name = names[rng.integers(0, len(names))]
        column = table.column(name).combine_chunks()
        replacement = _replacement(kind, column.take(pa.array(r)), rng, end_date)
        mask = np.zeros(n, dtype=bool)
        mask[r] = True
        spoiled = pc.replace_with_mask(column, pa.array(mask), replacement.cast(column.type))
        table = table.set_column(table.schema.get_field_index(name), name, spoiled)
    if len(duplicates):
        order = np.sort(np.concatenate([np.arange(n), duplicates]), kind="stable")
        table = table.take(pa.array(order))
    return table, counts


def _replacement(kind: str, values: pa.Array, rng: np.random.Generator, end_date: date) -> pa.Array:
    k = len(values)
    if kind == "null_key":
        return pa.nulls(k, values.type)
    if kind == "future_timestamp":
        days = rng.integers(30, 3 * 365, k)
        return pa.array(
            [f"{end_date + timedelta(days=int(d))} 12:00:00" for d in days], type=pa.string()
        )
    if kind == "unparseable_timestamp":
        return pa.array(np.array(UNPARSEABLE_TIMESTAMPS, dtype=object)[rng.integers(0, 5, k)])
    if kind == "negative_amount":
        return pc.multiply(pc.add(pc.abs(pc.fill_null(values, 1)), 1), -1)
    if kind == "absurd_amount":
        return pa.array(np.full(k, ABSURD))
    if kind == "unknown_enum":
        return pa.array(np.array(UNKNOWN_ENUMS, dtype=object)[rng.integers(0, 3, k)])
    raise ValueError(f"unknown bad-row kind {kind!r}")
