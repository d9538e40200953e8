{#
    Every raw service ticket, normalised and checked; see base_commerce__orders.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('service', 'support_tickets') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('opened_at', dbt.type_timestamp()) }} as opened_at_parsed,
        {{ dbt.safe_cast('resolved_at', dbt.type_timestamp()) }} as resolved_at_parsed,
        {{ dbt.safe_cast('satisfaction', dbt.type_int()) }} as satisfaction_parsed

    from {{ numbered_copies(source_relation, ["ticket_id"], raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        topic_map.canonical_value as topic_code

    from parsed
    {{ join_enum('ticket_topic', 'parsed.topic', 'topic_map') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("ticket_id is null", "null_key:ticket_id"),
            ("customer_ref is null", "null_key:customer_ref"),
            ("copy_number > 1", "duplicate"),
            ("opened_at_parsed is null", "unparseable_timestamp:opened_at"),
            ("cast(opened_at_parsed as date) > " ~ as_of_date(), "future_timestamp:opened_at"),
            ("resolved_at is not null and resolved_at_parsed is null", "unparseable_timestamp:resolved_at"),
            ("satisfaction is not null and satisfaction_parsed is null", "unparseable_amount:satisfaction"),
            ("satisfaction_parsed < 1 or satisfaction_parsed > 5", "out_of_range:satisfaction"),
            ("topic is not null and topic_code is null", "unknown_enum:topic"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        ticket_id,
        customer_ref,
        topic_code as ticket_topic,
        satisfaction_parsed as satisfaction_score,
        opened_at_parsed as opened_at,
        resolved_at_parsed as resolved_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
