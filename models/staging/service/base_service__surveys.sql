{#
    Every raw survey answer, normalised and checked; see base_commerce__orders.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('service', 'surveys') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('answered_at', dbt.type_timestamp()) }} as answered_at_parsed,
        {{ dbt.safe_cast('nps_score', dbt.type_int()) }} as nps_score_parsed

    from {{ numbered_copies(source_relation, raw_columns, raw_columns) }} as numbered

),

checked as (

    select
        *,
        {{ first_problem([
            ("customer_ref is null", "null_key:customer_ref"),
            ("copy_number > 1", "duplicate"),
            ("answered_at_parsed is null", "unparseable_timestamp:answered_at"),
            ("cast(answered_at_parsed as date) > " ~ as_of_date(), "future_timestamp:answered_at"),
            ("nps_score_parsed is null", "unparseable_amount:nps_score"),
            ("nps_score_parsed < 0 or nps_score_parsed > 10", "out_of_range:nps_score"),
        ]) }} as quarantine_reason

    from parsed

),

final as (

    select
        customer_ref,
        nps_score_parsed as nps_score,
        answered_at_parsed as answered_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
