with source as (

    select * from {{ source('identity', 'identity_links') }}

),

renamed as (

    select
        id_type_a,
        id_value_a,
        id_type_b,
        id_value_b,
        source as link_source,
        {{ dbt.safe_cast('observed_at', dbt.type_timestamp()) }} as observed_at

    from source

)

select * from renamed
