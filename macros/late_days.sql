{#
    Late rows: rows dated before an incremental model's lookback window when they are
    delivered or changed (an app uploading its offline buffer a week later, a day's export
    sent again with the rows it missed, an order refunded seven weeks after it was placed).
    The lookback never reads them, so the models over events and orders also compare, per
    day, their input with what they last took in, and process every day that differs again,
    besides the lookback window:

    - base_behaviour__events: raw events per day against its own rows per day (every raw row
      becomes one of its rows, usable or quarantined);
    - int_daily_events_per_customer: usable events per day against the counts it recorded
      when it last aggregated them (snapshot_input_days, record_input_days);
    - the order roll-ups: a fingerprint per day of the orders and their lines
      (int_order_day_fingerprints) against the one they recorded; the orders roll-up
      re-aggregates every day of the customers who ordered on a changed day
      (find_late_customers), since it chains each purchase day to the one before;
    - customer_feature_history fingerprints those records like its other inputs
      (feature_history_inputs), so the cut-offs after a late day are recomputed.

    Events are an append-only log, so a late or removed row changes its day's count, for one
    more scan of the input's timestamps; an event corrected in place keeps the count and is
    not seen: run with --full-refresh after such a correction. Orders change in place, and are
    few beside the events, so their days are fingerprinted whole.
#}

{#- A query: the rows of `relation` per day of a timestamp expression (day, row_count). -#}
{% macro rows_per_day(relation, timestamp_expression) -%}
    select cast({{ timestamp_expression }} as date) as day, count(*) as row_count
    from {{ relation }}
    group by 1
{%- endmacro %}

{#- Pre-hook of an incremental build: writes side_table('late_days'), the days before `before`
    (a SQL date: the window processed anyway) whose `signature` (a column of both queries: a
    count or a fingerprint) in `input_days` differs from that in `taken_days` (queries of
    (day, signature): the input now, what the model last took in). -#}
{% macro find_late_days(input_days, taken_days, before, signature='row_count') -%}
    {%- do adapter.create_schema(side_table('late_days')) -%}  {#- base models build before it #}
    create or replace table {{ side_table('late_days') }} as
    select coalesce(input_days.day, taken_days.day) as day
    from ({{ input_days }}) as input_days
    full outer join ({{ taken_days }}) as taken_days
        on taken_days.day = input_days.day
    where coalesce(input_days.day, taken_days.day) < {{ before }}
        and (input_days.{{ signature }} is null or taken_days.{{ signature }} is null
            or input_days.{{ signature }} <> taken_days.{{ signature }})
{%- endmacro %}

{#- Whether a date expression is one of the days find_late_days wrote. -#}
{% macro is_late_day(date_expression) -%}
    {{ date_expression }} in (select day from {{ side_table('late_days') }})
{%- endmacro %}

{#- Logs the late days find_late_days found, if any, for the operator: called while the next
    pre-hook renders (hooks render and run one after the other), so the table is written. -#}
{% macro log_late_days() -%}
    {%- if execute -%}
        {%- set found = run_query('select count(*), min(day), max(day) from ' ~ side_table('late_days')).rows[0] -%}
        {%- if found[0] > 0 -%}
            {{- log(this.identifier ~ ': ' ~ found[0] ~ ' older day(s), from ' ~ found[1] ~ ' to ' ~ found[2] ~ ', whose input differs from what the last build took in (rows delivered or changed late; every day on the first build that keeps a record): processed again', info=True) -}}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a roll-up that watches for late rows: keeps its input per day now
    (`input_days`: a query, rows_per_day or int_order_day_fingerprints) as
    side_table('input_days_now'), which record_input_days makes the record once the build
    succeeds (the model reads the same input in between); nothing when the roll-up is a table
    rebuilt on every run (Spark). -#}
{% macro snapshot_input_days(input_days) -%}
    {%- if config.get('materialized') == 'incremental' -%}
        create or replace table {{ side_table('input_days_now') }} as {{ input_days }}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of a roll-up that watches for late rows: snapshot_input_days' table becomes
    side_table('input_days'), the record the next build's find_late_days compares with (the
    old record is dropped while the hook renders, in the model's transaction). -#}
{% macro record_input_days() -%}
    {%- if execute and config.get('materialized') == 'incremental' -%}
        {%- set recorded = side_table('input_days').incorporate(type='table') -%}
        {%- do run_query('drop table if exists ' ~ recorded) -%}
        {#- in dbt's relation cache too: a history built later in the same run looks it up -#}
        {%- do adapter.cache_added(recorded) -%}
        alter table {{ side_table('input_days_now') }} rename to {{ adapter.quote(recorded.identifier) }}
    {%- endif -%}
{%- endmacro %}

{#- What a roll-up recorded with record_input_days, as a query with the `signature` column
    of its input_days query (no rows before its first record: every day before the window is
    then late, and re-aggregated once). -#}
{% macro taken_input_days(signature) -%}
    {%- set recorded = side_table_written('input_days') -%}
    {%- if recorded is none -%}
        {{- return('select cast(null as date) as day, cast(0 as bigint) as ' ~ signature ~ ' where 1 = 0') -}}
    {%- endif -%}
    {{- return('select day, ' ~ signature ~ ' from ' ~ recorded) -}}
{%- endmacro %}

{#- Pre-hook of the orders roll-up, after find_late_days: writes side_table('late_customers'),
    the customers with orders on a late day before or now, whose every day it re-aggregates:
    a purchase day changed there moves the previous_purchase_date of their later days. -#}
{% macro find_late_customers(relation, timestamp_expression, date_column) -%}
    {%- if is_incremental() -%}
        create or replace table {{ side_table('late_customers') }} as
        select customer_id from {{ relation }}
        where customer_id is not null and {{ is_late_day('cast(' ~ timestamp_expression ~ ' as date)') }}
        union
        select customer_id from {{ this }}
        where {{ is_late_day(date_column) }}
    {%- endif -%}
{%- endmacro %}
