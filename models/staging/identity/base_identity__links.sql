{#
    Every raw identifier pairing, normalised and checked; see base_commerce__orders.
    Phone and email values are normalised and hashed here: only hashes leave staging.
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('identity', 'identity_links') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('observed_at', dbt.type_timestamp()) }} as observed_at_parsed

    from {{ numbered_copies(source_relation, raw_columns, raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        type_a_map.canonical_value as id_type_a_code,
        type_b_map.canonical_value as id_type_b_code

    from parsed
    {{ join_enum('id_type', 'parsed.id_type_a', 'type_a_map') }}
    {{ join_enum('id_type', 'parsed.id_type_b', 'type_b_map') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("id_value_a is null or id_type_a is null", "null_key:id_value_a"),
            ("id_value_b is null or id_type_b is null", "null_key:id_value_b"),
            ("copy_number > 1", "duplicate"),
            ("observed_at is not null and observed_at_parsed is null", "unparseable_timestamp:observed_at"),
            ("cast(observed_at_parsed as date) > " ~ as_of_date(), "future_timestamp:observed_at"),
            ("id_type_a_code is null", "unknown_enum:id_type_a"),
            ("id_type_b_code is null", "unknown_enum:id_type_b"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        id_type_a_code as id_type_a,
        {{ identifier_value('id_type_a_code', 'id_value_a') }} as id_value_a,
        id_type_b_code as id_type_b,
        {{ identifier_value('id_type_b_code', 'id_value_b') }} as id_value_b,
        source as link_source,
        observed_at_parsed as observed_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
