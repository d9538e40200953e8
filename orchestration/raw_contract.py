"""The raw-data contract: which sources exist, which columns each must or may carry.

This is the one machine-readable copy of the input contract that README.md describes in
"Using your own data". The sample-data generator writes to it, the raw loader checks files
against it, and a test (tests/test_pipeline.py) keeps the dbt source declarations
(`models/staging/<area>/_<area>__sources.yml`, schema raw) in step with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawSource:
    name: str
    grain: str
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...] = ()
    # A row must be attributable to someone: at least one of these column groups must exist.
    identified_by: tuple[tuple[str, ...], ...] = ()
    required: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required_columns + self.optional_columns


@dataclass(frozen=True)
class RawContract:
    sources: tuple[RawSource, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> RawSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no raw source named {name!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(source.name for source in self.sources)


CONTRACT = RawContract(
    sources=(
        RawSource(
            name="customers",
            grain="one CRM / member record per source system",
            required_columns=("customer_ref", "source_system"),
            optional_columns=(
                "name",
                "gender",
                "birth_date",
                "phone",
                "email",
                "province",
                "city",
                "registered_at",
                "register_channel",
                "member_level",
                "marketing_consent",
                "updated_at",
            ),
        ),
        RawSource(
            name="identity_links",
            grain="one observed pairing of two identifiers",
            required_columns=("id_type_a", "id_value_a", "id_type_b", "id_value_b"),
            optional_columns=("observed_at", "source"),
        ),
        RawSource(
            name="orders",
            grain="one order",
            required=True,
            required_columns=("order_id", "ordered_at", "total_amount"),
            optional_columns=(
                "customer_ref",
                "id_type",
                "id_value",
                "channel",
                "store_city",
                "discount_amount",
                "coupon_used",
                "status",
                "currency",
            ),
            identified_by=(("customer_ref",), ("id_type", "id_value")),
        ),
        RawSource(
            name="order_items",
            grain="one order line",
            required_columns=("order_id", "quantity", "unit_price"),
            optional_columns=("sku", "category", "brand"),
        ),
        RawSource(
            name="events",
            grain="one behaviour event on web, app or mini-program",
            required_columns=("event_id", "id_type", "id_value", "event_type", "event_at"),
            optional_columns=("session_id", "category", "dwell_seconds", "platform"),
        ),
        RawSource(
            name="support_tickets",
            grain="one service ticket",
            required_columns=("ticket_id", "customer_ref", "opened_at"),
            optional_columns=("topic", "satisfaction", "resolved_at"),
        ),
        RawSource(
            name="campaign_touches",
            grain="one send (or hold-out assignment) of one campaign to one customer",
            required_columns=("campaign_id", "customer_ref", "sent_at", "group"),
            optional_columns=("channel", "opened_at", "clicked_at"),
        ),
        RawSource(
            name="surveys",
            grain="one survey answer",
            required_columns=("customer_ref", "answered_at", "nps_score"),
        ),
    )
)
