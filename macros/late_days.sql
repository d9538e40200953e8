{#
    Late rows: rows dated before an incremental model's lookback window when they are
    delivered or changed (an app uploading its offline buffer a week later, a day's export
    sent again with the rows it missed or corrected, an order refunded seven weeks after it
    was placed). The lookback never reads them, so the models over events and orders also
    compare, per day, a fingerprint of their input with the one they recorded when they last
    took it in (snapshot_input_days, record_input_days), and process every day that differs
    again, besides the lookback window:

    - base_behaviour__events: the raw events per day (fingerprint_per_day);
    - int_daily_events_per_customer: the usable events per day (fingerprint_per_day);
    - the order roll-ups: the orders and their lines per day (int_order_day_fingerprints);
      the orders roll-up re-aggregates every day of the customers who ordered on a changed
      day (find_late_customers), since it chains each purchase day to the one before;
    - customer_feature_history fingerprints those records like its other inputs
      (feature_history_inputs), so the cut-offs after a late day are recomputed.

    A fingerprint sees a row delivered late, removed or changed in place, for one more scan
    of the input: at a million customers, 12.0 s to fingerprint the raw events per day against
    5.7 s to count them, and 5.9 s against 0.9 s for the usable events (measured alone); in
    the l refresh the two models took 8.5 s more than with counts. A copy of an event already
    taken in under another day's timestamp is seen as a late row, but not as a duplicate:
    duplicates are found among the rows checked together (base_behaviour__events).
#}

{#- A query: (day, fingerprint) of the rows of `relation` per day of a timestamp expression,
    over every column (multiset_fingerprint: raw events may repeat). -#}
{% macro fingerprint_per_day(relation, timestamp_expression) -%}
    {%- set columns = [] -%}
    {%- for column in (adapter.get_columns_in_relation(relation) if execute else []) -%}
        {%- do columns.append(column.quoted) -%}
    {%- endfor -%}
    select
        cast({{ timestamp_expression }} as date) as day,
        {{ multiset_fingerprint(columns or ['1']) }} as fingerprint
    from {{ relation }}
    group by 1
{%- endmacro %}

{#- Pre-hook of an incremental build, after snapshot_input_days: writes side_table('late_days'),
    the days before `before` (a SQL date: the window processed anyway) whose fingerprint in
    the snapshot of the input differs from the one recorded when the model last took it in
    (taken_input_days). -#}
{% macro find_late_days(before) -%}
    create or replace table {{ side_table('late_days') }} as
    select coalesce(input_days.day, taken_days.day) as day
    from {{ side_table('input_days_now') }} as input_days
    full outer join ({{ taken_input_days() }}) as taken_days
        on taken_days.day = input_days.day
    where coalesce(input_days.day, taken_days.day) < {{ before }}
        and (input_days.fingerprint is null or taken_days.fingerprint is null
            or input_days.fingerprint <> taken_days.fingerprint)
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

{#- Pre-hook of a model that watches for late rows: keeps its input per day now
    (`input_days`: a query, fingerprint_per_day or int_order_day_fingerprints) as
    side_table('input_days_now'), which record_input_days makes the record once the build
    succeeds (the model reads the same input in between); nothing when the model is a table
    rebuilt on every run (Spark). -#}
{% macro snapshot_input_days(input_days) -%}
    {%- if config.get('materialized') == 'incremental' -%}
        {%- do adapter.create_schema(side_table('input_days_now')) if execute -%}  {#- base models build before it #}
        create or replace table {{ side_table('input_days_now') }} as {{ input_days }}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of a model that watches for late rows: snapshot_input_days' table becomes
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

{#- What a model recorded with record_input_days, as a (day, fingerprint) query; no rows
    before its first record, nor from a record that holds counts (written by an older
    version): every day before the window is then late, and processed again once. -#}
{% macro taken_input_days() -%}
    {%- set recorded = side_table_written('input_days') -%}
    {%- set columns = adapter.get_columns_in_relation(recorded) | map(attribute='name') | list if recorded is not none else [] -%}
    {%- if 'fingerprint' not in columns -%}
        {{- return('select cast(null as date) as day, cast(0 as ubigint) as fingerprint where 1 = 0') -}}
    {%- endif -%}
    {{- return('select day, fingerprint from ' ~ recorded) -}}
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
