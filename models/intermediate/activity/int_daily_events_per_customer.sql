{#
    One row per customer per day with behaviour events: sessions, events by type, dwell time
    and when in the day they happened. Events are attributed through the identifier they
    were logged under (device, cookie, openid, member id); events under a shared or unknown
    identifier belong to nobody and are left out.

    Incremental (activity_refresh): a refresh re-aggregates the days from
    activity_reprocess_from on (the newest built day minus the lookback), the older days whose
    events changed since (late_days.sql: an app's offline buffer uploaded a week late, a day
    of the export corrected), and every day of the customers whose identifiers changed, after
    deleting them, so history is not rescanned.
#}
{{ config(
    pre_hook=[
        "{{ snapshot_input_days(fingerprint_per_day(ref('stg_behaviour__events'), 'event_at')) }}",
        "{{ activity_find_late_days('event_date') }}",
        "{{ activity_delete_stale('event_date', late_days=true) }}",
    ],
    post_hook=["{{ record_input_days() }}", "{{ record_build_state() }}"],
) }}
{%- set reprocess_from = activity_reprocess_from('event_date') -%}
{%- set changed_customers = activity_changed_customers() -%}
{%- set event_counts = {
    'page_view': 'page_views', 'product_view': 'product_views', 'search': 'searches',
    'add_to_cart': 'add_to_carts', 'favourite': 'favourites', 'share': 'shares',
    'comment': 'comments', 'coupon_claim': 'coupon_claims',
} -%}

with customer_ids as (

    select * from {{ ref('int_identity__customer_ids') }}

),

events as (

    select * from {{ ref('stg_behaviour__events') }}
    {%- if reprocess_from %}
    where event_at >= cast({{ reprocess_from }} as {{ dbt.type_timestamp() }})
        or {{ is_late_day('cast(event_at as date)') }}
        {%- if changed_customers %}
        {#- by identifier before the join: the old days of a few customers, not of everyone #}
        or {{ identifier_key('id_type', 'id_value') }} in (
            select identifier_key from customer_ids
            where customer_id in ({{ changed_customers }})
        )
        {%- endif %}
    {%- endif %}

),

attributed as (

    select
        customer_ids.customer_id,
        events.*

    from events
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key('events.id_type', 'events.id_value') }}

),

final as (

    select
        customer_id,
        cast(event_at as date) as event_date,
        count(*) as events,
        count(distinct session_id) as sessions,
        {#- the canonical event types (seeds/enum_mappings.csv), counted per day #}
        {%- for event_type, counted_as in event_counts.items() %}
        sum(case when event_type = '{{ event_type }}' then 1 else 0 end) as {{ counted_as }},
        {%- endfor %}
        {%- for name in var('dayparts') %}
        sum(case when {{ daypart('event_at') }} = '{{ name }}' then 1 else 0 end) as events_{{ name }},
        {%- endfor %}
        sum(dwell_seconds) as dwell_seconds,
        count(dwell_seconds) as dwelled_events

    from attributed
    group by 1, 2

)

select * from final
{{ stored_in_order('customer_id, event_date') }}
