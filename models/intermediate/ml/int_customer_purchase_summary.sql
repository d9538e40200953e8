{#
    One row per customer who bought on or before as_of_date: the purchase summary the
    buy-till-you-die models (BG/NBD, Gamma-Gamma) fit on. As in Fader, Hardie & Lee (2005),
    several purchases on one day are one transaction: frequency counts repeat purchase days,
    recency is the time from the first to the last purchase day, age the time from the first
    purchase day to as_of_date, and repeat spend excludes the first day.
#}
with daily_orders as (

    select * from {{ ref('int_daily_orders_per_customer') }}
    where purchases > 0
        and order_date <= {{ as_of_date() }}

),

first_days as (

    select
        customer_id,
        min(order_date) as first_purchase_date

    from daily_orders
    group by 1

),

final as (

    select
        daily_orders.customer_id,
        {{ as_of_date() }} as as_of_date,
        cast(count(*) - 1 as {{ dbt.type_bigint() }}) as repeat_purchase_days,
        cast({{ dbt.datediff('min(daily_orders.order_date)', 'max(daily_orders.order_date)', 'day') }} as {{ dbt.type_bigint() }}) as recency_days,
        cast({{ dbt.datediff('min(daily_orders.order_date)', as_of_date(), 'day') }} as {{ dbt.type_bigint() }}) as age_days,
        {#- in doubles, as DuckDB divides decimals (Spark rounds a decimal quotient to 6 places) #}
        cast(
            sum(case when daily_orders.order_date > first_days.first_purchase_date then daily_orders.spend end)
        as {{ dbt.type_float() }}) / nullif(count(*) - 1, 0) as repeat_spend_per_day,
        min(daily_orders.order_date) as first_purchase_date,
        max(daily_orders.order_date) as last_purchase_date

    from daily_orders
    inner join first_days on first_days.customer_id = daily_orders.customer_id
    group by 1

)

select * from final
