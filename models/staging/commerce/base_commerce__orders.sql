{#
    Every raw order, normalised and checked. stg_commerce__orders keeps the usable rows;
    audit.quarantine_rows keeps the others with the reason and the original values.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('commerce', 'orders') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('ordered_at', dbt.type_timestamp()) }} as ordered_at_parsed,
        {{ dbt.safe_cast('total_amount', dbt.type_numeric()) }} as total_amount_parsed,
        {{ dbt.safe_cast('discount_amount', dbt.type_numeric()) }} as discount_amount_parsed

    from {{ numbered_copies(source_relation, ["order_id"], raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        channel_map.canonical_value as channel_code,
        status_map.canonical_value as status_code,
        currency_map.canonical_value as currency_code,
        id_type_map.canonical_value as id_type_code

    from parsed
    {{ join_enum('channel', 'parsed.channel', 'channel_map') }}
    {{ join_enum('order_status', 'parsed.status', 'status_map') }}
    {{ join_enum('currency', 'parsed.currency', 'currency_map') }}
    {{ join_enum('id_type', 'parsed.id_type', 'id_type_map') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("order_id is null", "null_key:order_id"),
            ("customer_ref is null and (id_type is null or id_value is null)", "null_key:buyer"),
            ("copy_number > 1", "duplicate"),
            ("ordered_at_parsed is null", "unparseable_timestamp:ordered_at"),
            ("cast(ordered_at_parsed as date) > " ~ as_of_date(), "future_timestamp:ordered_at"),
            ("total_amount_parsed is null", "unparseable_amount:total_amount"),
            ("total_amount_parsed < 0", "negative_amount:total_amount"),
            ("total_amount_parsed > " ~ var('max_plausible_order_amount'), "implausible_amount:total_amount"),
            ("discount_amount is not null and discount_amount_parsed is null", "unparseable_amount:discount_amount"),
            ("discount_amount_parsed < 0", "negative_amount:discount_amount"),
            ("channel is not null and channel_code is null", "unknown_enum:channel"),
            ("status is not null and status_code is null", "unknown_enum:status"),
            ("currency is not null and currency_code is null", "unknown_enum:currency"),
            ("id_type is not null and id_type_code is null", "unknown_enum:id_type"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        order_id,
        customer_ref,
        id_type_code as buyer_id_type,
        {{ identifier_value('id_type_code', 'id_value') }} as buyer_id_value,
        channel_code as channel,
        store_city as store_city_raw,
        status_code as order_status,
        coalesce(currency_code, 'CNY') as currency_code,
        total_amount_parsed as total_amount,
        coalesce(discount_amount_parsed, 0) as discount_amount,
        {{ dbt.safe_cast('coupon_used', dbt.type_boolean()) }} as has_coupon,
        ordered_at_parsed as ordered_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
