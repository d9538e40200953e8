{#
    One row per customer and labelled cut-off of customer_feature_history: whether the
    customer churned, i.e. made no purchase in the churn_horizon_days after the cut-off.
    Eligible: at least one purchase on or before the cut-off (a customer who never bought
    cannot lapse). Labelled: cut-offs whose whole horizon lies on or before as_of_date, so
    no label is guessed from a window that has not finished.
#}
with history as (

    select customer_id, as_of_date as cutoff_date from {{ ref('customer_feature_history') }}
    where order_count > 0
        and {{ dbt.dateadd('day', var('churn_horizon_days'), 'as_of_date') }} <= {{ as_of_date() }}

),

daily_orders as (

    select customer_id, order_date from {{ ref('int_daily_orders_per_customer') }}
    where purchases > 0

),

bought_after as (

    select
        history.customer_id,
        history.cutoff_date

    from history
    inner join daily_orders
        on daily_orders.customer_id = history.customer_id
        and daily_orders.order_date > history.cutoff_date
        and daily_orders.order_date <= {{ dbt.dateadd('day', var('churn_horizon_days'), 'history.cutoff_date') }}
    group by 1, 2

),

final as (

    select
        history.customer_id,
        history.cutoff_date,
        bought_after.customer_id is null as is_churned

    from history
    left join bought_after
        on bought_after.customer_id = history.customer_id
        and bought_after.cutoff_date = history.cutoff_date

)

select * from final
