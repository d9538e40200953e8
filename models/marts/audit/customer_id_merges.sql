{#- incremental, unlike the rest of marts: it keeps the history across builds -#}
{{ config(materialized="incremental") }}
{#
    One row per customer_id retired or split off in a refresh: the old id, the id its
    identifiers now belong to, and when. Appended on every build (incremental), so the table
    is the full history of identity changes. Downstream systems holding old ids remap them
    with it.
#}
with changes as (

    select distinct
        previous_customer_id as old_customer_id,
        customer_id as new_customer_id

    from {{ ref('int_identity__customer_ids') }}
    where previous_customer_id is not null
        and previous_customer_id <> customer_id

),

still_active as (

    select distinct customer_id from {{ ref('int_identity__customer_ids') }}

),

final as (

    select
        changes.old_customer_id,
        changes.new_customer_id,
        case
            when still_active.customer_id is null then 'merged'
            else 'split'
        end as change_type,
        {{ as_of_date() }} as changed_as_of

    from changes
    left join still_active on still_active.customer_id = changes.old_customer_id

)

select * from final
{% if is_incremental() %}
where not exists (
    select 1 from {{ this }} as recorded
    where recorded.old_customer_id = final.old_customer_id
        and recorded.new_customer_id = final.new_customer_id
        and recorded.changed_as_of = final.changed_as_of
)
{% endif %}
