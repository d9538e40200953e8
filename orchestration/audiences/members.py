"""Audience membership: every definition evaluated against `customer_profile` in the warehouse.

Rule audiences run as SQL generated from their checked expression tree (never their text);
lookalike audiences rank the non-members of their seed (`lookalike.py`). Membership rows stay
in the warehouse; only a lookalike's features pass through Python. Three tables result:

- `audience_members`: audience x customer, with the customer's consent flag (exports drop the
  ones without), priority, and for a lookalike the likeness score and rank. With
  `exclusive: true` a customer stays only in their highest-priority audience (ties: the
  earlier audience in the file).
- `audience_overlaps`: for every pair of audiences, the customers in both (before exclusivity).
- `audiences`: one row per definition: owner, description, the expression as checked, sizes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from orchestration.audiences.definitions import (
    AudienceDefinition,
    AudienceDefinitionError,
    AudienceSet,
)
from orchestration.audiences.expression import (
    AudienceExpressionError,
    ColumnSpec,
    CompiledExpression,
    Kind,
    compile_expression,
)
from orchestration.audiences.lookalike import LookalikeConfig, lookalike_scores
from orchestration.warehouse import Warehouse, as_warehouse

PROFILE = "marts.customer_profile"  # what expressions filter (the dbt model's relation)
CATALOG = "marts.tag_catalog"  # where tag columns' allowed values come from
SCHEMA = "ml"
MEMBERS_TABLE = "audience_members"
OVERLAPS_TABLE = "audience_overlaps"
AUDIENCES_TABLE = "audiences"
_HITS = "audience_hits"  # temp table: every (audience, customer) before exclusivity
_HITS_COLUMNS = (  # its columns and types, with no rows: the start of the union of audiences
    "select cast(null as varchar) as audience_name, cast(null as varchar) as customer_id,"
    " cast(null as double) as likeness, cast(null as bigint) as likeness_rank where false"
)

_KINDS: dict[str, Kind] = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "date",
    "TIMESTAMP WITH TIME ZONE": "date",
}  # DuckDB's type names: the warehouse interface answers in them on every engine
_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")


def profile_columns(
    con: Warehouse | duckdb.DuckDBPyConnection, profile: str, catalog: str | None = None
) -> dict[str, ColumnSpec]:
    """The columns an audience may use: every profile column, typed; tags with their values."""
    opened = as_warehouse(con)
    allowed: dict[str, tuple[str, ...]] = {}
    if catalog is not None:
        for code, values in opened.query_rows(
            f"select tag_code, allowed_values from {catalog} where allowed_values is not null"
        ):
            allowed[code] = tuple(json.loads(values))
    columns = {}
    for name, duck_type in opened.columns(profile):
        kind = _kind(duck_type)
        if kind is None:
            continue  # a type no audience compares (lists, structs)
        values = allowed.get(name) if kind == "text" else None
        columns[name] = ColumnSpec(name, kind, values)
    return columns


def _kind(duck_type: str) -> Kind | None:
    if duck_type in _KINDS:
        return _KINDS[duck_type]
    if duck_type.startswith("DECIMAL") or duck_type in _NUMBER_TYPES or duck_type.startswith("U"):
        return "number"
    return None


def compile_definitions(
    definitions: AudienceSet, columns: Mapping[str, ColumnSpec]
) -> dict[str, CompiledExpression]:
    """Every rule audience's checked SQL; the first bad one fails with the audience named."""
    compiled = {}
    for audience in definitions.audiences:
        if audience.is_lookalike:
            continue
        try:
            compiled[audience.name] = compile_expression(audience.expression, columns)
        except AudienceExpressionError as error:
            raise AudienceDefinitionError(
                f"{definitions.source}: audience {audience.name!r}: {error}"
            ) from None
    return compiled


def count_expression(
    con: Warehouse | duckdb.DuckDBPyConnection,
    expr: str,
    profile: str = PROFILE,
    catalog: str = CATALOG,
) -> tuple[int, int]:
    """Ad-hoc use of the expression language: (customers selected, of them with consent)."""
    opened = as_warehouse(con)
    compiled = compile_expression(expr, profile_columns(opened, profile, catalog))
    try:
        total, consented = opened.query_rows(
            f"select count(*), count(*) filter (where has_marketing_consent)"
            f" from {profile} where {compiled.sql}"
        )[0]
    except Exception as error:  # checked, yet the engine fails on it (an overflow)
        raise AudienceExpressionError(
            f"the warehouse cannot evaluate it: {_first_line(error)}"
        ) from None
    return int(total), int(consented)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _failing_rule(
    opened: Warehouse,
    definitions: AudienceSet,
    rules: list[AudienceDefinition],
    compiled: Mapping[str, CompiledExpression],
    profile: str,
) -> None:
    """After the statement of every rule audience failed in the engine: evaluate each alone
    and raise naming the first that fails (the error must say which audience to fix)."""
    for audience in rules:
        try:
            opened.query_rows(f"select count(*) from {profile} where {compiled[audience.name].sql}")
        except Exception as error:
            raise AudienceDefinitionError(
                f"{definitions.source}: audience {audience.name!r}: the warehouse cannot"
                f" evaluate its expression: {_first_line(error)}"
            ) from error


@dataclass(frozen=True)
class AudienceBuild:
    sizes: dict[str, int]  # members after exclusivity
    consented: dict[str, int]  # of those, with marketing consent
    removed_by_exclusivity: dict[str, int]
    overlaps: list[tuple[str, str, int]]  # pairs with at least one shared customer
    skipped: dict[str, str] = field(default_factory=dict)  # audience -> why it has no members


def build_audiences(
    con: Warehouse | duckdb.DuckDBPyConnection,
    definitions: AudienceSet,
    profile: str,
    catalog: str | None,
    features: str,
    lookalike: LookalikeConfig | None = None,
) -> AudienceBuild:
    """Evaluate every audience and replace the three audience tables in schema `ml`."""
    opened = as_warehouse(con)
    compiled = compile_definitions(definitions, profile_columns(opened, profile, catalog))
    # Every rule audience in one statement (one pass per audience inside the engine); the
    # names are bound as parameters, in the order of the union.
    rules = [a for a in definitions.audiences if not a.is_lookalike]
    try:
        opened.temp_table(
            _HITS,
            " union all ".join(
                [_HITS_COLUMNS]
                + [
                    f"select ?, customer_id, null, null from {profile}"
                    f" where {compiled[audience.name].sql}"
                    for audience in rules
                ]
            ),
            params=[audience.name for audience in rules],
        )
    except Exception:
        _failing_rule(opened, definitions, rules, compiled, profile)
        raise
    skipped = {}
    for audience in definitions.audiences:
        if audience.is_lookalike:
            why = _insert_lookalike(opened, audience, features, lookalike)
            if why:
                skipped[audience.name] = why
    order = {a.name: i for i, a in enumerate(definitions.audiences)}
    ranking = pd.DataFrame(
        {
            "audience_name": list(order),
            "priority": [a.priority for a in definitions.audiences],
            "file_order": list(order.values()),
        }
    )
    opened.temp_table("audience_ranking", ranking)
    opened.replace_table_from_query(
        SCHEMA, MEMBERS_TABLE, _members_sql(profile, definitions.exclusive)
    )
    overlaps = opened.query_rows(
        f"""
        select a.audience_name, b.audience_name, count(*)
        from {_HITS} as a inner join {_HITS} as b
            on a.customer_id = b.customer_id and a.audience_name < b.audience_name
        group by 1, 2 order by 1, 2
        """
    )
    opened.replace_table(
        SCHEMA,
        OVERLAPS_TABLE,
        pd.DataFrame(overlaps, columns=["audience_a", "audience_b", "customers_in_both"]).astype(
            {"audience_a": "string", "audience_b": "string", "customers_in_both": "int64"}
        ),
    )
    build = _sizes(opened)
    build = AudienceBuild(
        **{**build.__dict__, "overlaps": [tuple(o) for o in overlaps], "skipped": skipped}
    )
    opened.replace_table(SCHEMA, AUDIENCES_TABLE, _catalog_frame(definitions, compiled, build))
    return build


def _insert_lookalike(
    opened: Warehouse,
    audience: AudienceDefinition,
    features: str,
    config: LookalikeConfig | None,
) -> str | None:
    """Add the lookalike's members to the hits; or, when its seed is too small this run, add
    none and say why (the seed's size depends on the day's data: no reason to stop the run)."""
    seed = opened.query_frame(
        f"select customer_id from {_HITS} where audience_name = ?", [audience.lookalike_of]
    )["customer_id"]
    if len(seed) < 2:
        return (
            f"its seed {audience.lookalike_of!r} has {len(seed)} member(s) as of this run;"
            " a lookalike needs at least 2"
        )
    # In customer order: the folds of the fit follow row positions, so the same rows in the
    # same order give the same lookalike on any engine.
    frame = opened.query_frame(f"select * from {features} order by customer_id")
    expansion = lookalike_scores(frame.drop(columns=["as_of_date"]), seed, audience.size, config)
    expansion.insert(0, "audience_name", audience.name)
    opened.temp_table(
        _HITS, expansion[["audience_name", "customer_id", "likeness", "rank"]], append=True
    )
    return None


def _members_sql(profile: str, exclusive: bool) -> str:
    keep = "where audience_order = 1" if exclusive else ""
    return f"""
        with ranked as (
            select
                hits.audience_name,
                hits.customer_id,
                ranking.priority,
                hits.likeness,
                hits.likeness_rank,
                row_number() over (
                    partition by hits.customer_id
                    order by ranking.priority desc, ranking.file_order
                ) as audience_order
            from {_HITS} as hits
            inner join audience_ranking as ranking using (audience_name)
        )
        select
            ranked.audience_name,
            ranked.customer_id,
            profile.as_of_date,
            ranked.priority,
            ranked.audience_order = 1 as is_top_priority,
            coalesce(profile.has_marketing_consent, false) as has_marketing_consent,
            ranked.likeness,
            ranked.likeness_rank
        from ranked
        inner join {profile} as profile using (customer_id)
        {keep}
        order by ranked.audience_name, ranked.customer_id
    """


def _sizes(opened: Warehouse) -> AudienceBuild:
    sizes, consented, removed = {}, {}, {}
    for name, members, with_consent, hits in opened.query_rows(
        f"""
        with hits as (select audience_name, count(*) as hits from {_HITS} group by 1),
        members as (
            select audience_name, count(*) as members,
                   count(*) filter (where has_marketing_consent) as with_consent
            from {SCHEMA}.{MEMBERS_TABLE} group by 1
        )
        select
            ranking.audience_name,
            coalesce(members, 0),
            coalesce(with_consent, 0),
            coalesce(hits, 0)
        from audience_ranking as ranking  -- every audience, those that matched no one too
        left join hits using (audience_name)
        left join members using (audience_name)
        order by ranking.file_order
        """
    ):
        sizes[name], consented[name], removed[name] = members, with_consent, hits - members
    return AudienceBuild(sizes, consented, removed, [])


def _catalog_frame(
    definitions: AudienceSet, compiled: Mapping[str, CompiledExpression], build: AudienceBuild
) -> pd.DataFrame:
    rows = []
    for audience in definitions.audiences:
        rows.append(
            {
                "audience_name": audience.name,
                "kind": "lookalike" if audience.is_lookalike else "rule",
                "owner": audience.owner,
                "description": audience.description,
                "expression": None if audience.is_lookalike else compiled[audience.name].display,
                "lookalike_of": audience.lookalike_of,
                "requested_size": audience.size,
                "priority": audience.priority,
                "members": build.sizes.get(audience.name, 0),
                "members_with_consent": build.consented.get(audience.name, 0),
                "removed_by_exclusivity": build.removed_by_exclusivity.get(audience.name, 0),
            }
        )
    frame = pd.DataFrame(rows, columns=_CATALOG_COLUMNS)
    return frame.astype(_CATALOG_COLUMNS)


_CATALOG_COLUMNS = {
    "audience_name": "string",
    "kind": "string",
    "owner": "string",
    "description": "string",
    "expression": "string",
    "lookalike_of": "string",
    "requested_size": "Int64",
    "priority": "int64",
    "members": "int64",
    "members_with_consent": "int64",
    "removed_by_exclusivity": "int64",
}
