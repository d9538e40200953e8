{#
    Every raw CRM record, normalised and checked; see base_commerce__orders.
    Names, phones and emails are normalised and hashed here: only hashes leave staging.
    Cities and provinces are matched to the canonical list (a lookup join, the one kind of
    join staging does).
#}
{{ config(materialized='table') }}  {#- checked once per build; stg_ and quarantine_rows read it -#}
{%- set source_relation = source('crm', 'customers') -%}
{%- set raw_columns = relation_columns(source_relation) -%}

with source as (

    select * from {{ source_relation }}

),

city_aliases as (

    select * from {{ ref('stg_reference__city_aliases') }}

),

province_aliases as (

    select * from {{ ref('stg_reference__province_aliases') }}

),

parsed as (

    select
        numbered.*,
        {{ dbt.safe_cast('registered_at', dbt.type_timestamp()) }} as registered_at_parsed,
        {{ dbt.safe_cast('updated_at', dbt.type_timestamp()) }} as updated_at_parsed,
        {{ dbt.safe_cast('birth_date', api.Column.translate_type('date')) }} as birth_date_parsed,
        {{ dbt.safe_cast('marketing_consent', dbt.type_boolean()) }} as marketing_consent_parsed

    from {{ numbered_copies(source_relation, ["customer_ref", "source_system"], raw_columns) }} as numbered

),

mapped as (

    select
        parsed.*,
        gender_map.canonical_value as gender_code,
        channel_map.canonical_value as register_channel_code,
        level_map.canonical_value as member_level_code,
        city_aliases.city_code,
        city_aliases.city_name_zh,
        city_aliases.city_tier,
        coalesce(city_aliases.province_name_zh, province_aliases.province_name_zh) as province_name_zh

    from parsed
    {{ join_enum('gender', 'parsed.gender', 'gender_map') }}
    {{ join_enum('channel', 'parsed.register_channel', 'channel_map') }}
    {{ join_enum('member_level', 'parsed.member_level', 'level_map') }}
    left join city_aliases on city_aliases.alias = {{ normalize_text('parsed.city') }}
    left join province_aliases on province_aliases.alias = {{ normalize_text('parsed.province') }}

),

checked as (

    select
        *,
        {{ first_problem([
            ("customer_ref is null", "null_key:customer_ref"),
            ("source_system is null", "null_key:source_system"),
            ("copy_number > 1", "duplicate"),
            ("registered_at is not null and registered_at_parsed is null", "unparseable_timestamp:registered_at"),
            ("cast(registered_at_parsed as date) > " ~ as_of_date(), "future_timestamp:registered_at"),
            ("updated_at is not null and updated_at_parsed is null", "unparseable_timestamp:updated_at"),
            ("cast(updated_at_parsed as date) > " ~ as_of_date(), "future_timestamp:updated_at"),
            ("birth_date is not null and birth_date_parsed is null", "unparseable_timestamp:birth_date"),
            ("gender is not null and gender_code is null", "unknown_enum:gender"),
            ("register_channel is not null and register_channel_code is null", "unknown_enum:register_channel"),
            ("member_level is not null and member_level_code is null", "unknown_enum:member_level"),
        ]) }} as quarantine_reason

    from mapped

),

final as (

    select
        customer_ref,
        lower(trim(source_system)) as source_system,
        {{ hash_pii('nullif(trim(name), \'\')') }} as name_hash,
        {{ hash_pii(normalize_phone('phone')) }} as phone_hash,
        {{ hash_pii(normalize_email('email')) }} as email_hash,
        coalesce(gender_code, 'unknown') as gender,
        city_code,
        city_name_zh,
        city_tier,
        province_name_zh,
        register_channel_code as register_channel,
        member_level_code as member_level,
        marketing_consent_parsed as has_marketing_consent,
        birth_date_parsed as birth_date,
        registered_at_parsed as registered_at,
        updated_at_parsed as updated_at,
        quarantine_reason,
        case when quarantine_reason is not null then {{ row_as_json(raw_columns) }} end as original_values

    from checked

)

select * from final
