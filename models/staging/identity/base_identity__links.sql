{#
    Every raw identifier pairing, normalised and checked; see base_commerce__orders.
    Phone and email values are normalised and hashed here: only hashes leave staging.
#}
{%- set source_relation = source('identity', 'identity_links') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

parsed as (

    select
        source.*,
        {{ dbt.safe_cast('observed_at', dbt.type_timestamp()) }} as observed_at_parsed,
        {{ copy_number(raw_columns) }} as copy_number

    from source

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
        case id_type_a_code
            when 'phone' then {{ hash_pii(normalize_phone('id_value_a')) }}
            when 'email' then {{ hash_pii(normalize_email('id_value_a')) }}
            else id_value_a
        end as id_value_a,
        id_type_b_code as id_type_b,
        case id_type_b_code
            when 'phone' then {{ hash_pii(normalize_phone('id_value_b')) }}
            when 'email' then {{ hash_pii(normalize_email('id_value_b')) }}
            else id_value_b
        end as id_value_b,
        source as link_source,
        observed_at_parsed as observed_at,
        quarantine_reason,
        {{ row_as_json(raw_columns) }} as original_values

    from checked

)

select * from final
