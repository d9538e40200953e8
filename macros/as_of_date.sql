{#
    The date every time-dependent model is computed as of, as a SQL date literal.
    The dbt var `as_of_date` when set; otherwise the data's own "today": the latest order date
    that has at least `as_of_min_daily_orders` orders and at least `as_of_min_daily_share` of
    the average orders per order day, so rows with impossible future timestamps cannot drag it
    forward, however many customers make them (a fixed count alone let a million customers'
    typos set it three years late). Never current_date: same inputs, same outputs.
    Arguments: none.
#}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        {{ return("cast('" ~ var('as_of_date') ~ "' as date)") }}
    {%- endif -%}
    {%- set orders = source('commerce', 'orders') -%}
    {%- if not execute -%}
        {{ return("cast('1970-01-01' as date)") }}
    {%- endif -%}
    {%- set query -%}
        with daily as (
            select order_date, count(*) as orders
            from (
                select cast({{ dbt.safe_cast('ordered_at', dbt.type_timestamp()) }} as date) as order_date
                from {{ orders }}
            ) as dated
            where order_date is not null
            group by order_date
        )

        select max(order_date)
        from daily
        where orders >= {{ var('as_of_min_daily_orders') }}
            and orders >= {{ var('as_of_min_daily_share') }} * (select avg(orders) from daily)
    {%- endset -%}
    {%- set found = run_query(query).columns[0].values() -%}
    {%- if not found or found[0] is none -%}
        {{ exceptions.raise_compiler_error(
            "cannot infer as_of_date: no order date has at least "
            ~ var('as_of_min_daily_orders') ~ " orders and " ~ var('as_of_min_daily_share')
            ~ " of the average orders per day; set the dbt var as_of_date") }}
    {%- endif -%}
    {{ return("cast('" ~ found[0] ~ "' as date)") }}
{%- endmacro %}
