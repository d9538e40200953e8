{#
    Every customer feature as of one or more cut-off dates: one row per customer and cut-off,
    computed only from data on or before the cut-off (point in time), so the same SQL serves
    `customer_features` (one cut-off: as_of_date) and `customer_feature_history` (many).

    Order and behaviour features are summed from the daily per-customer roll-ups; service and
    campaign features read their (small) staging tables. A feature whose optional source is
    absent (no rows at all) is null rather than zero: "no events tracked" is not "no visits".
    A customer appears at a cut-off once first seen on or before it (registration, order or
    event); windows are the last N days up to and including the cut-off.

    Arguments: cutoffs_sql, a query with one column, cutoff_date; customers_sql (optional), a
    query with one column, customer_id: the customers to compute (all when empty). A
    customer's rows depend only on that customer's data and on the category prices, which
    are everyone's, so computing a few customers gives the rows computing all would.
#}
{% macro customer_features_at(cutoffs_sql, customers_sql='') -%}
{%- set only_listed = 'where customer_id in (' ~ customers_sql ~ ')' if customers_sql else '' -%}
{%- set channels = var('sales_channels') -%}
{%- set dayparts = var('dayparts').keys() | list -%}
{%- set weekdays = range(1, 8) | list -%}
with cutoffs as (

    {{ cutoffs_sql }}

),

daily_orders as {{ not_materialized() }} (

    select * from {{ ref('int_daily_orders_per_customer') }}
    {{ only_listed }}

),

daily_items as (

    select * from {{ ref('int_daily_items_per_customer') }}
    {{ only_listed }}

),

daily_events as {{ not_materialized() }} (

    select * from {{ ref('int_daily_events_per_customer') }}
    {{ only_listed }}

),

customers as {{ not_materialized() }} (

    select * from {{ ref('customer_360') }}
    {{ only_listed }}

),

customer_ids as {{ not_materialized() }} (

    select * from {{ ref('int_identity__customer_ids') }}
    {{ only_listed }}

),

tickets as (

    select
        customer_ids.customer_id,
        tickets.*

    from {{ ref('stg_service__tickets') }} as tickets
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key("'member_id'", 'tickets.customer_ref') }}

),

surveys as (

    select
        customer_ids.customer_id,
        surveys.*

    from {{ ref('stg_service__surveys') }} as surveys
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key("'member_id'", 'surveys.customer_ref') }}

),

campaign_sends as (

    select
        customer_ids.customer_id,
        touches.*

    from {{ ref('stg_marketing__campaign_touches') }} as touches
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key("'member_id'", 'touches.customer_ref') }}
    where touches.assignment_group = 'treatment'

),

{#- Which optional sources delivered any rows at all: their features are null, not zero,
    when they did not. #}
sources_present as (

    select {{ optional_sources_present() }}

),

first_seen as (

    select customer_id, min(first_date) as first_seen_date
    from (
        select customer_id, cast(registered_at as date) as first_date from customers
        union all
        select customer_id, min(order_date) from daily_orders group by 1
        union all
        select customer_id, min(event_date) from daily_events group by 1
    ) as firsts
    group by 1

),

population as (

    select
        first_seen.customer_id,
        cutoffs.cutoff_date,
        first_seen.first_seen_date

    from first_seen
    inner join cutoffs on first_seen.first_seen_date <= cutoffs.cutoff_date

),

orders_before_cutoff as (

    select
        daily_orders.*,
        cutoffs.cutoff_date,
        {{ dbt.datediff('daily_orders.order_date', 'cutoffs.cutoff_date', 'day') }} as days_before,
        {{ iso_weekday('daily_orders.order_date') }} as weekday

    from daily_orders
    inner join cutoffs on daily_orders.order_date <= cutoffs.cutoff_date

),

order_features as (

    select
        customer_id,
        cutoff_date,
        min(case when purchases > 0 then order_date end) as first_order_date,
        max(case when purchases > 0 then order_date end) as last_order_date,
        {{ arg_max('previous_purchase_date', 'case when purchases > 0 then order_date end') }} as previous_order_date,
        sum(case when purchases > 0 then 1 else 0 end) as purchase_days,
        sum(purchases) as order_count,
        sum(orders_placed) as orders_placed,
        sum(refunds) as refunds,
        {%- for days in [30, 90, 365] %}
        sum(case when days_before < {{ days }} then purchases else 0 end) as order_count_{{ days }}d,
        sum(case when days_before < {{ days }} then spend else 0 end) as monetary_{{ days }}d,
        {%- endfor %}
        sum(case when days_before >= 90 and days_before < 180 then purchases else 0 end) as order_count_prior_90d,
        sum(case when days_before >= 90 and days_before < 180 then spend else 0 end) as monetary_prior_90d,
        sum(spend) as monetary_total,
        sum(discount_known_spend) as discount_known_spend,
        sum(discount_amount) as discount_amount,
        sum(coupon_known_purchases) as coupon_known_purchases,
        sum(coupon_purchases) as coupon_purchases,
        {%- for channel in channels %}
        sum(purchases_{{ channel }}) as purchases_{{ channel }},
        {%- endfor %}
        {%- for name in dayparts %}
        sum(case when days_before < 365 then purchases_{{ name }} else 0 end) as purchases_{{ name }},
        {%- endfor %}
        {%- for day in weekdays %}
        sum(case when days_before < 365 and weekday = {{ day }} then purchases else 0 end) as purchases_weekday_{{ day }}{{ ',' if not loop.last }}
        {%- endfor %}

    from orders_before_cutoff
    group by 1, 2

),

items_before_cutoff as (

    select
        daily_items.customer_id,
        cutoffs.cutoff_date,
        daily_items.category_name,
        daily_items.brand_name,
        sum(daily_items.item_spend) as item_spend,
        sum(daily_items.units) as units

    from daily_items
    inner join cutoffs on daily_items.order_date <= cutoffs.cutoff_date
    group by 1, 2, 3, 4

),

{#- What a unit of each category cost on average, over every order line up to the cut-off:
    the yardstick for where in a category's price range a customer buys. #}
category_prices as (

    select
        cutoffs.cutoff_date,
        daily_category_sales.category_name,
        {#- fixed-point, so the sums over it below are exact and do not depend on the order
            the engine adds rows in (a float here made rebuilds differ in the last bits) #}
        cast(sum(daily_category_sales.item_spend) / nullif(sum(daily_category_sales.units), 0) as {{ dbt.type_numeric() }}) as category_unit_price

    from {{ ref('int_daily_category_sales') }} as daily_category_sales
    inner join cutoffs on daily_category_sales.order_date <= cutoffs.cutoff_date
    where daily_category_sales.category_name != 'unknown'
    group by 1, 2

),

price_features as (

    select
        items_before_cutoff.customer_id,
        items_before_cutoff.cutoff_date,
        sum(items_before_cutoff.item_spend) / nullif(sum(items_before_cutoff.units), 0) as avg_item_price,
        {#- spend over what the same units would cost at each category's average price; in
            doubles, as DuckDB divides decimals (Spark rounds a decimal quotient to a few places) #}
        cast(
            sum(case when category_prices.category_unit_price is not null then items_before_cutoff.item_spend end)
        as {{ dbt.type_float() }})
            / nullif(sum(items_before_cutoff.units * category_prices.category_unit_price), 0) as price_level_index,
        sum(items_before_cutoff.units) as units

    from items_before_cutoff
    left join category_prices
        on category_prices.cutoff_date = items_before_cutoff.cutoff_date
        and category_prices.category_name = items_before_cutoff.category_name
    group by 1, 2

),

{#- Preference for a category or brand: the one with the most spend (ties: alphabetical),
    its share of spend, how many were bought, and the Herfindahl concentration of spend
    (1 = all on one, near 0 = spread evenly). #}
{%- for dimension in ['category', 'brand'] %}

{{ dimension }}_spend as (

    select
        customer_id,
        cutoff_date,
        {{ dimension }}_name,
        sum(item_spend) as spend,
        row_number() over (
            partition by customer_id, cutoff_date
            order by sum(item_spend) desc, {{ dimension }}_name
        ) as spend_rank

    from items_before_cutoff
    where {{ dimension }}_name != 'unknown'
    group by 1, 2, 3

),

{{ dimension }}_features as (

    select
        customer_id,
        cutoff_date,
        max(case when spend_rank = 1 then {{ dimension }}_name end) as top_{{ dimension }},
        {#- a double, not a decimal: Spark divides decimals exactly, DuckDB in doubles #}
        cast(max(case when spend_rank = 1 then spend end) as {{ dbt.type_float() }}) / nullif(sum(spend), 0) as top_{{ dimension }}_share,
        count(*) as {{ dimension }}_count,
        cast(sum(spend * spend) as {{ dbt.type_float() }}) / nullif(sum(spend) * sum(spend), 0) as {{ dimension }}_concentration

    from {{ dimension }}_spend
    group by 1, 2

),
{%- endfor %}

events_before_cutoff as (

    select
        daily_events.*,
        cutoffs.cutoff_date,
        {{ dbt.datediff('daily_events.event_date', 'cutoffs.cutoff_date', 'day') }} as days_before,
        {{ iso_weekday('daily_events.event_date') }} as weekday

    from daily_events
    inner join cutoffs
        on daily_events.event_date <= cutoffs.cutoff_date
        {#- older events only feed day-part and weekday activity, over the last year #}
        and daily_events.event_date > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}

),

event_features as (

    select
        customer_id,
        cutoff_date,
        min(days_before) as days_since_last_event,
        {%- for measure in ['sessions', 'events', 'product_views', 'add_to_carts', 'favourites', 'shares', 'comments', 'dwell_seconds', 'dwelled_events'] %}
        sum(case when days_before < 90 then {{ measure }} else 0 end) as {{ measure }}_90d,
        {%- endfor %}
        sum(case when days_before < 90 then 1 else 0 end) as active_days_90d,
        {#- the whole window (the last 365 days): rates of rare actions need the longer span #}
        sum(sessions) as sessions_365d,
        sum(events) as events_365d,
        sum(shares) + sum(comments) as social_actions_365d,
        sum(coupon_claims) as coupon_claims_365d,
        {%- for name in dayparts %}
        sum(events_{{ name }}) as events_{{ name }},
        {%- endfor %}
        {%- for day in weekdays %}
        sum(case when weekday = {{ day }} then events else 0 end) as events_weekday_{{ day }}{{ ',' if not loop.last }}
        {%- endfor %}

    from events_before_cutoff
    group by 1, 2

),

service_features as (

    select
        tickets.customer_id,
        cutoffs.cutoff_date,
        sum(case when {{ dbt.datediff('cast(tickets.opened_at as date)', 'cutoffs.cutoff_date', 'day') }} < 365 then 1 else 0 end) as tickets_365d,
        sum(case when {{ dbt.datediff('cast(tickets.opened_at as date)', 'cutoffs.cutoff_date', 'day') }} < 365
            and tickets.ticket_topic = 'complaint' then 1 else 0 end) as complaints_365d,
        {#- unanswered as of the cut-off: not resolved then, whatever happened later #}
        sum(case when {{ dbt.datediff('cast(tickets.opened_at as date)', 'cutoffs.cutoff_date', 'day') }} < 365
            and (tickets.resolved_at is null or cast(tickets.resolved_at as date) > cutoffs.cutoff_date)
            then 1 else 0 end) as unresolved_tickets_365d,
        {#- a satisfaction score exists once the ticket is resolved #}
        avg(case when cast(tickets.resolved_at as date) <= cutoffs.cutoff_date then tickets.satisfaction_score end) as avg_satisfaction

    from tickets
    inner join cutoffs on cast(tickets.opened_at as date) <= cutoffs.cutoff_date
    group by 1, 2

),

survey_features as (

    select
        surveys.customer_id,
        cutoffs.cutoff_date,
        {{ arg_max('surveys.nps_score', 'surveys.answered_at') }} as latest_nps_score

    from surveys
    inner join cutoffs on cast(surveys.answered_at as date) <= cutoffs.cutoff_date
    group by 1, 2

),

campaign_features as (

    select
        campaign_sends.customer_id,
        cutoffs.cutoff_date,
        min({{ dbt.datediff('cast(campaign_sends.sent_at as date)', 'cutoffs.cutoff_date', 'day') }}) as days_since_last_campaign,
        count(*) as campaign_touches_365d,
        sum(case when cast(campaign_sends.opened_at as date) <= cutoffs.cutoff_date then 1 else 0 end) as campaign_opens_365d,
        sum(case when cast(campaign_sends.clicked_at as date) <= cutoffs.cutoff_date then 1 else 0 end) as campaign_clicks_365d

    from campaign_sends
    inner join cutoffs
        on cast(campaign_sends.sent_at as date) <= cutoffs.cutoff_date
        and cast(campaign_sends.sent_at as date) > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
    group by 1, 2

),

final as (

    select
        population.customer_id,
        population.cutoff_date as as_of_date,

        -- purchases: recency, frequency, monetary
        cast({{ dbt.datediff('last_order_date', 'population.cutoff_date', 'day') }} as {{ dbt.type_bigint() }}) as recency_days,
        cast({{ dbt.datediff('population.first_seen_date', 'population.cutoff_date', 'day') }} as {{ dbt.type_bigint() }}) as tenure_days,
        {%- for count in ['order_count', 'purchase_days', 'order_count_30d', 'order_count_90d', 'order_count_prior_90d', 'order_count_365d'] %}
        cast(coalesce({{ count }}, 0) as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
        {%- for amount in ['monetary_total', 'monetary_30d', 'monetary_90d', 'monetary_prior_90d', 'monetary_365d'] %}
        cast(coalesce({{ amount }}, 0) as {{ dbt.type_numeric() }}) as {{ amount }},
        {%- endfor %}
        cast(monetary_total / nullif(order_count, 0) as {{ dbt.type_numeric() }}) as avg_order_value,
        cast(avg_item_price as {{ dbt.type_numeric() }}) as avg_item_price,
        cast({{ dbt.datediff('first_order_date', 'last_order_date', 'day') }} as {{ dbt.type_float() }})
            / nullif(purchase_days - 1, 0) as avg_days_between_orders,
        cast({{ dbt.datediff('previous_order_date', 'last_order_date', 'day') }} as {{ dbt.type_bigint() }}) as days_between_last_two_orders,
        cast(coalesce(order_count_90d, 0) - coalesce(order_count_prior_90d, 0) as {{ dbt.type_bigint() }}) as order_trend_90d,
        cast(coalesce(monetary_90d, 0) - coalesce(monetary_prior_90d, 0) as {{ dbt.type_numeric() }}) as spend_trend_90d,
        cast(refunds as {{ dbt.type_float() }}) / nullif(orders_placed, 0) as refund_share,
        cast(units as {{ dbt.type_float() }}) / nullif(order_count, 0) as units_per_order,
        cast(price_level_index as {{ dbt.type_float() }}) as price_level_index,

        -- category and brand preference
        case when has_items then top_category end as top_category,
        case when has_items then top_category_share end as top_category_share,
        case when has_items then cast(coalesce(category_count, 0) as {{ dbt.type_bigint() }}) end as category_count,
        case when has_items then category_concentration end as category_concentration,
        case when has_items then top_brand end as top_brand,
        case when has_items then top_brand_share end as top_brand_share,
        case when has_items then cast(coalesce(brand_count, 0) as {{ dbt.type_bigint() }}) end as brand_count,
        case when has_items then brand_concentration end as brand_concentration,

        -- price sensitivity
        cast(discount_amount as {{ dbt.type_float() }}) / nullif(discount_known_spend + discount_amount, 0) as discount_share,
        cast(coupon_purchases as {{ dbt.type_float() }}) / nullif(coupon_known_purchases, 0) as coupon_order_share,

        -- channels, over the purchases whose channel is known
        {%- set channel_known = 'purchases_' ~ channels | join(' + purchases_') %}
        case
            when {{ channel_known }} > 0 then case greatest(purchases_{{ channels | join(', purchases_') }})
            {%- for channel in channels %}
                when purchases_{{ channel }} then '{{ channel }}'
            {%- endfor %}
            end
        end as preferred_channel,
        cast(greatest(purchases_{{ channels | join(', purchases_') }}) as {{ dbt.type_float() }}) / nullif({{ channel_known }}, 0) as preferred_channel_share,
        cast(
            {%- for channel in channels %}
            case when purchases_{{ channel }} > 0 then 1 else 0 end{{ ' +' if not loop.last }}
            {%- endfor %}
        as {{ dbt.type_bigint() }}) as channel_count,
        1 - cast(purchases_offline_store as {{ dbt.type_float() }}) / nullif({{ channel_known }}, 0) as online_order_share,
        {%- for channel in channels %}
        cast(purchases_{{ channel }} as {{ dbt.type_float() }}) / nullif({{ channel_known }}, 0) as {{ channel }}_order_share,
        {%- endfor %}

        -- when they are active: purchases and behaviour events of the last year together
        {%- set daypart_activity = [] %}
        {%- for name in dayparts %}{% do daypart_activity.append('coalesce(purchases_' ~ name ~ ', 0) + coalesce(events_' ~ name ~ ', 0)') %}{% endfor %}
        {%- set weekday_activity = [] %}
        {%- for day in weekdays %}{% do weekday_activity.append('coalesce(purchases_weekday_' ~ day ~ ', 0) + coalesce(events_weekday_' ~ day ~ ', 0)') %}{% endfor %}
        case when greatest({{ daypart_activity | join(', ') }}) > 0 then
            case greatest({{ daypart_activity | join(', ') }})
            {%- for name in dayparts %}
                when {{ daypart_activity[loop.index0] }} then '{{ name }}'
            {%- endfor %}
            end
        end as active_daypart,
        case when greatest({{ weekday_activity | join(', ') }}) > 0 then
            case greatest({{ weekday_activity | join(', ') }})
            {%- for day in weekdays %}
                when {{ weekday_activity[loop.index0] }} then {{ day }}
            {%- endfor %}
            end
        end as active_weekday,
        cast({{ weekday_activity[5] }} + {{ weekday_activity[6] }} as {{ dbt.type_float() }})
            / nullif({{ weekday_activity | join(' + ') }}, 0) as weekend_activity_share,

        -- browsing and engagement, last 90 days (null when no events are tracked at all)
        {%- for measure in ['sessions', 'events', 'shares', 'comments'] %}
        case when has_events then cast(coalesce({{ measure }}_90d, 0) as {{ dbt.type_bigint() }}) end as {{ measure }}_90d,
        {%- endfor %}
        case when has_events then cast(coalesce(active_days_90d, 0) as {{ dbt.type_bigint() }}) end as active_days_90d,
        cast(events_90d as {{ dbt.type_float() }}) / nullif(sessions_90d, 0) as browse_depth,
        cast(dwell_seconds_90d as {{ dbt.type_float() }}) / nullif(dwelled_events_90d, 0) as avg_dwell_seconds,
        cast(add_to_carts_90d as {{ dbt.type_float() }}) / nullif(product_views_90d, 0) as add_to_cart_rate,
        cast(favourites_90d as {{ dbt.type_float() }}) / nullif(product_views_90d, 0) as favourite_rate,
        cast(days_since_last_event as {{ dbt.type_bigint() }}) as days_since_last_event,
        case when has_events then cast(coalesce(sessions_365d, 0) as {{ dbt.type_bigint() }}) end as sessions_365d,
        cast(social_actions_365d as {{ dbt.type_float() }}) / nullif(events_365d, 0) as social_action_rate,
        cast(coupon_claims_365d as {{ dbt.type_float() }}) / nullif(events_365d, 0) as coupon_claim_rate,

        -- who they are: age from the member record, once registered by the cut-off
        case
            when cast(customers.registered_at as date) <= population.cutoff_date
                and customers.birth_date <= population.cutoff_date
            then cast({{ dbt.datediff('customers.birth_date', 'population.cutoff_date', 'day') }} as {{ dbt.type_float() }}) / 365.25
        end as age_years,

        -- service
        case when has_tickets then cast(coalesce(tickets_365d, 0) as {{ dbt.type_bigint() }}) end as tickets_365d,
        case when has_tickets then cast(coalesce(complaints_365d, 0) as {{ dbt.type_bigint() }}) end as complaints_365d,
        case when has_tickets then cast(coalesce(unresolved_tickets_365d, 0) as {{ dbt.type_bigint() }}) end as unresolved_tickets_365d,
        cast(avg_satisfaction as {{ dbt.type_float() }}) as avg_satisfaction,
        cast(latest_nps_score as {{ dbt.type_int() }}) as latest_nps_score,

        -- campaigns (treatment sends of the last year)
        case when has_campaigns then cast(coalesce(campaign_touches_365d, 0) as {{ dbt.type_bigint() }}) end as campaign_touches_365d,
        cast(campaign_opens_365d as {{ dbt.type_float() }}) / nullif(campaign_touches_365d, 0) as campaign_open_rate,
        cast(campaign_clicks_365d as {{ dbt.type_float() }}) / nullif(campaign_touches_365d, 0) as campaign_click_rate,
        cast(days_since_last_campaign as {{ dbt.type_bigint() }}) as days_since_last_campaign,

        population.first_seen_date,
        first_order_date,
        last_order_date

    from population
    cross join sources_present
    left join customers
        on customers.customer_id = population.customer_id
    {%- for features in ['order_features', 'price_features', 'category_features', 'brand_features', 'event_features', 'service_features', 'survey_features', 'campaign_features'] %}
    left join {{ features }}
        on {{ features }}.customer_id = population.customer_id
        and {{ features }}.cutoff_date = population.cutoff_date
    {%- endfor %}

)

select * from final
{%- endmacro %}

{#- A select list of flags, one per optional source a feature reads, true once it has any row
    at all: has_items, has_events, has_tickets, has_surveys, has_campaigns. Part of the
    history's definition (feature_history_definition): a source arriving turns its features
    from null to zero for everyone at every cut-off. #}
{% macro optional_sources_present() -%}
    {%- set sources = [
        ('has_items', 'stg_commerce__order_items'),
        ('has_events', 'stg_behaviour__events'),
        ('has_tickets', 'stg_service__tickets'),
        ('has_surveys', 'stg_service__surveys'),
        ('has_campaigns', 'stg_marketing__campaign_touches'),
    ] -%}
    {%- for flag, model in sources %}
        (select count(*) from (select 1 as present from {{ ref(model) }} limit 1) as probe) > 0 as {{ flag }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
