with source as (

    select * from {{ source('behaviour', 'events') }}

),

renamed as (

    select
        event_id,
        session_id,
        id_type,
        id_value,
        event_type,
        category as category_name,
        platform,
        {{ dbt.safe_cast('dwell_seconds', dbt.type_int()) }} as dwell_seconds,
        {{ dbt.safe_cast('event_at', dbt.type_timestamp()) }} as event_at

    from source

)

select * from renamed
