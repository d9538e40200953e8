{#
    Every raw order line, normalised and checked; see base_commerce__orders.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('commerce', 'order_items') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('quantity', dbt.type_int()) }} as quantity_parsed,
        {{ dbt.safe_cast('unit_price', dbt.type_numeric()) }} as unit_price_parsed

    from {{ numbered_copies(source_relation, raw_columns, raw_columns) }} as numbered

),

checked as (

    select
        *,
        {{ first_problem([
            ("order_id is null", "null_key:order_id"),
            ("copy_number > 1", "duplicate"),
            ("quantity_parsed is null", "unparseable_amount:quantity"),
            ("quantity_parsed <= 0", "negative_amount:quantity"),
            ("quantity_parsed > " ~ var('max_plausible_quantity'), "implausible_amount:quantity"),
            ("unit_price_parsed is null", "unparseable_amount:unit_price"),
            ("unit_price_parsed < 0", "negative_amount:unit_price"),
            ("unit_price_parsed > " ~ var('max_plausible_order_amount'), "implausible_amount:unit_price"),
        ]) }} as quarantine_reason

    from parsed

),

final as (

    select
        order_id,
        sku,
        trim(category) as category_name,
        trim(brand) as brand_name,
        quantity_parsed as quantity,
        unit_price_parsed as unit_price,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
