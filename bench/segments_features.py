"""Throwaway approximation of `customer_features` from raw generated files, for the segment bench.

The real table is built by dbt (identity resolution, staging rules); this stand-in attributes
rows to people through the generator's truth (`order_owners`, `identifiers`) so the segment
model can be measured before that table exists. Column names follow the feature contract.
Only the bench imports it; delete it once `customer_features` is built.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

FEATURES_SQL = """
with
orders_raw as (
    select o.*, w.person_id, try_cast(o.ordered_at as timestamp) as ordered_ts
    from read_parquet('{raw}/orders/*.parquet', union_by_name = true) as o
    inner join read_parquet('{truth}/order_owners/*.parquet') as w using (order_id)
),
orders as (
    select distinct on (order_id)
        order_id, person_id, ordered_ts, cast(ordered_ts as date) as order_date, channel,
        total_amount, coalesce(discount_amount, 0) as discount_amount,
        coalesce(coupon_used, false) as coupon_used
    from orders_raw
    where ordered_ts is not null
        and cast(ordered_ts as date) <= date '{as_of}'
        and status in ('completed', 'shipped', 'paid')
        and total_amount > 0 and total_amount < 100000
        and channel in ('offline_store', 'online_store', 'app', 'mini_program')
),
items as (
    select distinct i.order_id, i.sku, i.category, i.brand, i.quantity, i.unit_price, o.person_id
    from read_parquet('{raw}/order_items/*.parquet', union_by_name = true) as i
    inner join orders as o using (order_id)
    where i.quantity > 0 and i.unit_price > 0 and i.unit_price < 100000
),
order_facts as (
    select
        person_id,
        date '{as_of}' - max(order_date) as recency_days,
        date '{as_of}' - min(order_date) as tenure_days,
        count(*) as order_count,
        count(*) filter (where order_date > date '{as_of}' - 30) as order_count_30d,
        count(*) filter (where order_date > date '{as_of}' - 90) as order_count_90d,
        count(*) filter (
            where order_date > date '{as_of}' - 180 and order_date <= date '{as_of}' - 90
        ) as order_count_prior_90d,
        count(*) filter (where order_date > date '{as_of}' - 365) as order_count_365d,
        sum(total_amount) as monetary_total,
        coalesce(sum(total_amount) filter (where order_date > date '{as_of}' - 30), 0)
            as monetary_30d,
        coalesce(sum(total_amount) filter (where order_date > date '{as_of}' - 90), 0)
            as monetary_90d,
        coalesce(sum(total_amount) filter (
            where order_date > date '{as_of}' - 180 and order_date <= date '{as_of}' - 90
        ), 0) as monetary_prior_90d,
        coalesce(sum(total_amount) filter (where order_date > date '{as_of}' - 365), 0)
            as monetary_365d,
        avg(total_amount) as avg_order_value,
        case when count(*) > 1
            then (max(order_date) - min(order_date)) / (count(*) - 1) end
            as avg_days_between_orders,
        sum(discount_amount) / nullif(sum(total_amount + discount_amount), 0) as discount_share,
        avg(coupon_used::int) as coupon_order_share,
        avg((channel <> 'offline_store')::int) as online_order_share,
        mode(channel) as preferred_channel,
        mode(case
            when hour(ordered_ts) < 6 then 'night'
            when hour(ordered_ts) < 12 then 'morning'
            when hour(ordered_ts) < 18 then 'afternoon'
            else 'evening' end) as active_daypart,
        mode(dayname(ordered_ts)) as active_weekday,
        avg((isodow(ordered_ts) >= 6)::int) as weekend_activity_share
    from orders
    group by person_id
),
channel_share as (
    select person_id, max(n) / sum(n) as preferred_channel_share
    from (select person_id, channel, count(*) as n from orders group by all)
    group by person_id
),
item_facts as (
    select person_id, sum(unit_price * quantity) / sum(quantity) as avg_item_price
    from items group by person_id
),
category_spend as (
    select person_id, category, sum(unit_price * quantity) as spend
    from items where category is not null group by all
),
category_facts as (
    select
        person_id,
        arg_max(category, spend) as top_category,
        max(spend) / sum(spend) as top_category_share,
        count(*) as category_count,
        sum(power(spend, 2)) / power(sum(spend), 2) as category_concentration
    from category_spend group by person_id
),
brand_spend as (
    select person_id, brand, sum(unit_price * quantity) as spend
    from items where brand is not null group by all
),
brand_facts as (
    select
        person_id,
        arg_max(brand, spend) as top_brand,
        max(spend) / sum(spend) as top_brand_share,
        count(*) as brand_count,
        sum(power(spend, 2)) / power(sum(spend), 2) as brand_concentration
    from brand_spend group by person_id
),
personal_ids as (
    select id_type, id_value, person_id
    from read_parquet('{truth}/identifiers/*.parquet') where kind = 'personal'
),
events as (
    select p.person_id, e.event_type, e.session_id, e.dwell_seconds,
        try_cast(e.event_at as timestamp) as event_ts
    from read_parquet('{raw}/events/*.parquet', union_by_name = true) as e
    inner join personal_ids as p using (id_type, id_value)
    where e.dwell_seconds between 0 and 3600
),
event_facts as (
    select
        person_id,
        count(distinct session_id) filter (where event_ts > date '{as_of}' - 89)
            as sessions_90d,
        count(*) filter (where event_ts > date '{as_of}' - 89) as events_90d,
        count(*) filter (where event_ts > date '{as_of}' - 89)
            / nullif(count(distinct session_id) filter (where event_ts > date '{as_of}' - 89), 0)
            as browse_depth,
        avg(dwell_seconds) filter (where event_ts > date '{as_of}' - 89) as avg_dwell_seconds,
        count(*) filter (where event_type = 'add_to_cart')
            / nullif(count(*) filter (where event_type = 'product_view'), 0) as add_to_cart_rate,
        count(*) filter (where event_type = 'favourite')
            / nullif(count(*) filter (where event_type = 'product_view'), 0) as favourite_rate,
        count(*) filter (where event_type = 'share' and event_ts > date '{as_of}' - 89)
            as shares_90d,
        count(*) filter (where event_type = 'comment' and event_ts > date '{as_of}' - 89)
            as comments_90d,
        date '{as_of}' - max(cast(event_ts as date)) as days_since_last_event
    from events
    where event_ts is not null and cast(event_ts as date) <= date '{as_of}'
    group by person_id
),
members as (
    select id_value as customer_ref, person_id
    from read_parquet('{truth}/identifiers/*.parquet')
    where id_type = 'member_id' and kind = 'personal'
),
ticket_facts as (
    select m.person_id,
        count(*) as tickets_365d,
        count(*) filter (where t.topic in ('product_quality', 'complaint')) as complaints_365d,
        avg(t.satisfaction) filter (where t.satisfaction between 1 and 5) as avg_satisfaction
    from read_parquet('{raw}/support_tickets/*.parquet', union_by_name = true) as t
    inner join members as m using (customer_ref)
    where try_cast(t.opened_at as timestamp) between date '{as_of}' - 364 and date '{as_of}' + 1
    group by m.person_id
),
survey_facts as (
    select m.person_id, arg_max(s.nps_score, try_cast(s.answered_at as timestamp))
        as latest_nps_score
    from read_parquet('{raw}/surveys/*.parquet', union_by_name = true) as s
    inner join members as m using (customer_ref)
    where try_cast(s.answered_at as timestamp) < date '{as_of}' + 1
        and s.nps_score between 0 and 10
    group by m.person_id
),
touch_facts as (
    select m.person_id,
        count(*) as campaign_touches_365d,
        avg((c.opened_at is not null)::int) as campaign_open_rate,
        avg((c.clicked_at is not null)::int) as campaign_click_rate
    from read_parquet('{raw}/campaign_touches/*.parquet', union_by_name = true) as c
    inner join members as m using (customer_ref)
    where try_cast(c.sent_at as timestamp) between date '{as_of}' - 364 and date '{as_of}' + 1
    group by m.person_id
),
people as (
    select person_id from order_facts
    {all_people}
)
select
    people.person_id as customer_id,
    date '{as_of}' as as_of_date,
    o.recency_days, o.tenure_days, o.order_count, o.order_count_30d, o.order_count_90d,
    o.order_count_prior_90d, o.order_count_365d, o.monetary_total, o.monetary_30d,
    o.monetary_90d, o.monetary_prior_90d, o.monetary_365d, o.avg_order_value,
    i.avg_item_price, o.avg_days_between_orders,
    (o.order_count_90d - o.order_count_prior_90d)
        / greatest(o.order_count_90d + o.order_count_prior_90d, 1) as order_trend_90d,
    (o.monetary_90d - o.monetary_prior_90d)
        / greatest(o.monetary_90d + o.monetary_prior_90d, 1) as spend_trend_90d,
    c.top_category, c.top_category_share, c.category_count, c.category_concentration,
    b.top_brand, b.top_brand_share, b.brand_count, b.brand_concentration,
    o.discount_share, o.coupon_order_share, o.preferred_channel, ch.preferred_channel_share,
    o.online_order_share, o.active_daypart, o.active_weekday, o.weekend_activity_share,
    e.sessions_90d, e.events_90d, e.browse_depth, e.avg_dwell_seconds, e.add_to_cart_rate,
    e.favourite_rate, e.shares_90d, e.comments_90d, e.days_since_last_event,
    t.tickets_365d, t.complaints_365d, t.avg_satisfaction, s.latest_nps_score,
    tc.campaign_touches_365d, tc.campaign_open_rate, tc.campaign_click_rate
from people
left join order_facts as o using (person_id)
left join channel_share as ch using (person_id)
left join item_facts as i using (person_id)
left join category_facts as c using (person_id)
left join brand_facts as b using (person_id)
left join event_facts as e using (person_id)
left join ticket_facts as t using (person_id)
left join survey_facts as s using (person_id)
left join touch_facts as tc using (person_id)
order by customer_id
"""


def build_features(
    raw: Path, truth: Path, as_of: date, include_non_buyers: bool = False
) -> pd.DataFrame:
    """One row per person with at least one valid order by `as_of` (or every known person)."""
    all_people = (
        f"union select person_id from read_parquet('{truth}/persons/*.parquet')"
        if include_non_buyers
        else ""
    )
    sql = FEATURES_SQL.format(raw=raw, truth=truth, as_of=as_of.isoformat(), all_people=all_people)
    with duckdb.connect() as con:
        return con.sql(sql).df()


def load_personas(truth: Path) -> pd.DataFrame:
    """Planted persona per person, keyed like the feature table."""
    with duckdb.connect() as con:
        return con.sql(
            f"select person_id as customer_id, persona, secondary_persona, is_alive_at_end "
            f"from read_parquet('{truth}/persons/*.parquet')"
        ).df()
