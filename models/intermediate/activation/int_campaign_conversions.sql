{#
    One row per campaign x customer assigned to it (treatment or control) whose attribution
    window has closed by as_of_date: did they buy (a kept order) on the day of the send or in
    the attribution_window_days after it (the send day counts as day one). A customer put in
    both groups of one campaign is dropped from the read-out (contaminated), not guessed at.
#}
with touches as (

    select * from {{ ref('stg_marketing__campaign_touches') }}
    where assignment_group in ('treatment', 'control')

),

customer_ids as (

    select * from {{ ref('int_identity__customer_ids') }}

),

assigned as (

    select
        touches.campaign_id,
        customer_ids.customer_id,
        min(touches.assignment_group) as assignment_group,
        count(distinct touches.assignment_group) as groups_seen,
        min(cast(touches.sent_at as date)) as sent_date

    from touches
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key("'member_id'", 'touches.customer_ref') }}
    group by 1, 2

),

in_window as (

    select
        assigned.campaign_id,
        assigned.customer_id,
        assigned.assignment_group,
        assigned.sent_date,
        {{ dbt.dateadd('day', var('attribution_window_days') - 1, 'assigned.sent_date') }} as window_end_date

    from assigned
    where assigned.groups_seen = 1

),

purchases as (

    select customer_id, order_date
    from {{ ref('int_daily_orders_per_customer') }}
    where purchases > 0

),

final as (

    select
        in_window.campaign_id,
        in_window.customer_id,
        in_window.assignment_group,
        in_window.sent_date,
        in_window.window_end_date,
        count(purchases.order_date) > 0 as converted

    from in_window
    left join purchases
        on purchases.customer_id = in_window.customer_id
        and purchases.order_date >= in_window.sent_date
        and purchases.order_date <= in_window.window_end_date
    where in_window.window_end_date <= {{ as_of_date() }}
    group by 1, 2, 3, 4, 5

)

select * from final
