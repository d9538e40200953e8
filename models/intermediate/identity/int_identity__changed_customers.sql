{#
    One row per customer_id whose identifiers changed since the previous build: it gained one
    (a new member, a device stitched to it, a merge into it) or lost one (merged away, a device
    found shared, forgotten). Rows attributed through the identifier mapping moved to or from
    exactly these customers, so the incremental models re-aggregate them, and only them, in
    full (see activity_refresh); every other customer's rows are unchanged.
#}
with previous_ids as (

    select * from {{ ref('int_identity__previous_customer_ids') }}

),

customer_ids as (

    select * from {{ ref('int_identity__customer_ids') }}

),

moved as (

    select
        previous_ids.customer_id as previous_customer_id,
        customer_ids.customer_id

    from previous_ids
    full outer join customer_ids on customer_ids.identifier_key = previous_ids.identifier_key
    where previous_ids.customer_id is null
        or customer_ids.customer_id is null
        or previous_ids.customer_id != customer_ids.customer_id

),

final as (

    select previous_customer_id as customer_id from moved where previous_customer_id is not null
    union
    select customer_id from moved where customer_id is not null

)

select * from final
