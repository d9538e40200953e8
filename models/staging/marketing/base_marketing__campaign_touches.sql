{#
    Every raw campaign touch, normalised and checked; see base_commerce__orders.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('marketing', 'campaign_touches') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('sent_at', dbt.type_timestamp()) }} as sent_at_parsed,
        {{ dbt.safe_cast('opened_at', dbt.type_timestamp()) }} as opened_at_parsed,
        {{ dbt.safe_cast('clicked_at', dbt.type_timestamp()) }} as clicked_at_parsed

    from {{ numbered_copies(source_relation, ["campaign_id", "customer_ref"], raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        group_map.canonical_value as group_code,
        channel_map.canonical_value as channel_code

    from parsed
    {{ join_enum('assignment_group', 'parsed.' ~ adapter.quote('group'), 'group_map') }}
    {{ join_enum('touch_channel', 'parsed.channel', 'channel_map') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("campaign_id is null", "null_key:campaign_id"),
            ("customer_ref is null", "null_key:customer_ref"),
            ("copy_number > 1", "duplicate"),
            ("sent_at_parsed is null", "unparseable_timestamp:sent_at"),
            ("cast(sent_at_parsed as date) > " ~ as_of_date(), "future_timestamp:sent_at"),
            ("opened_at is not null and opened_at_parsed is null", "unparseable_timestamp:opened_at"),
            ("clicked_at is not null and clicked_at_parsed is null", "unparseable_timestamp:clicked_at"),
            ("group_code is null", "unknown_enum:group"),
            ("channel is not null and channel_code is null", "unknown_enum:channel"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        campaign_id,
        customer_ref,
        channel_code as touch_channel,
        group_code as assignment_group,
        sent_at_parsed as sent_at,
        opened_at_parsed as opened_at,
        clicked_at_parsed as clicked_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
