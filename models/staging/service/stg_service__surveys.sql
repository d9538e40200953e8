with source as (

    select * from {{ source('service', 'surveys') }}

),

renamed as (

    select
        customer_ref,
        {{ dbt.safe_cast('nps_score', dbt.type_int()) }} as nps_score,
        {{ dbt.safe_cast('answered_at', dbt.type_timestamp()) }} as answered_at

    from source

)

select * from renamed
