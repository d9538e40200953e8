{#
    Every raw behaviour event, normalised and checked; see base_commerce__orders.

    Incremental (the largest source: a hundred million rows at a million customers): a
    refresh checks again, after deleting them, the raw rows from recheck_from's day on (the
    newest usable day minus incremental_lookback_days), those without a readable timestamp,
    and every row of an older day whose raw rows differ from those it last took in
    (late_days.sql: events delivered late, removed or corrected); other rows were checked
    before and are final, as in the daily roll-ups. Duplicates are found among the rows
    checked together, so a copy of an older event under another timestamp is not seen (nor
    are older rows re-mapped after a seed changes): after such a change, run with
    --full-refresh. On Spark (no delete) a table.
#}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ snapshot_input_days(fingerprint_per_day(source('behaviour', 'events'), dbt.safe_cast('event_at', dbt.type_timestamp()))) }}",
        "{% if is_incremental() %}{{ find_late_days(recheck_from('event_at')) }}{% endif %}",
        "{% if is_incremental() %}{% do log_late_days() %}delete from {{ this }} where {{ is_rechecked('event_at', recheck_from('event_at')) }}{% endif %}",
    ],
    post_hook=["{{ record_input_days() }}"],
) }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('behaviour', 'events') -%}
{%- set raw_columns = relation_columns(source_relation) -%}
{%- set recheck_day = recheck_from('event_at') -%}

with
{%- if recheck_day %}

{#- read three times by numbered_copies: materialised once, a day or so of rows #}
rechecked_rows as materialized (

    select * from {{ source_relation }}
    where {{ is_rechecked(dbt.safe_cast('event_at', dbt.type_timestamp()), recheck_day) }}

),
{%- endif %}

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('event_at', dbt.type_timestamp()) }} as event_at_parsed,
        {{ dbt.safe_cast('dwell_seconds', dbt.type_int()) }} as dwell_seconds_parsed

    from {{ numbered_copies('rechecked_rows' if recheck_day else source_relation, ["event_id"], raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        id_type_map.canonical_value as id_type_code,
        event_type_map.canonical_value as event_type_code,
        platform_map.canonical_value as platform_code

    from parsed
    {{ join_enum('id_type', 'parsed.id_type', 'id_type_map') }}
    {{ join_enum('event_type', 'parsed.event_type', 'event_type_map') }}
    {{ join_enum('platform', 'parsed.platform', 'platform_map') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("event_id is null", "null_key:event_id"),
            ("id_value is null or id_type is null", "null_key:id_value"),
            ("copy_number > 1", "duplicate"),
            ("event_at_parsed is null", "unparseable_timestamp:event_at"),
            ("cast(event_at_parsed as date) > " ~ as_of_date(), "future_timestamp:event_at"),
            ("dwell_seconds is not null and dwell_seconds_parsed is null", "unparseable_amount:dwell_seconds"),
            ("dwell_seconds_parsed < 0", "negative_amount:dwell_seconds"),
            ("dwell_seconds_parsed > " ~ var('max_plausible_dwell_seconds'), "implausible_amount:dwell_seconds"),
            ("id_type_code is null", "unknown_enum:id_type"),
            ("event_type is null or event_type_code is null", "unknown_enum:event_type"),
            ("platform is not null and platform_code is null", "unknown_enum:platform"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        event_id,
        session_id,
        id_type_code as id_type,
        {{ identifier_value('id_type_code', 'id_value') }} as id_value,
        event_type_code as event_type,
        trim(category) as category_name,
        platform_code as platform,
        dwell_seconds_parsed as dwell_seconds,
        event_at_parsed as event_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
