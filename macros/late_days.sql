{#
    Late rows: events dated before an incremental model's lookback window when they are
    delivered (an app uploading its offline buffer a week later, a day's export sent again
    with the rows it missed). The lookback never reads them, so the models over behaviour
    events also compare, per day, how many rows their input holds with how many they last
    took in, and process every day that differs again, besides the lookback window:

    - base_behaviour__events: raw events per day against its own rows per day (every raw row
      becomes one of its rows, usable or quarantined);
    - int_daily_events_per_customer: usable events per day against the counts it recorded
      when it last aggregated them (record_input_days);
    - customer_feature_history fingerprints that record like its other inputs
      (feature_history_inputs), so the cut-offs after a late day are recomputed.

    Counts, not fingerprints: events are an append-only log, so a late or removed row changes
    its day's count, for one more scan of the input's timestamps. An event corrected in place
    keeps the count and is not seen: run with --full-refresh after such a correction.
#}

{#- A query: the rows of `relation` per day of a timestamp expression (day, row_count). -#}
{% macro rows_per_day(relation, timestamp_expression) -%}
    select cast({{ timestamp_expression }} as date) as day, count(*) as row_count
    from {{ relation }}
    group by 1
{%- endmacro %}

{#- Pre-hook of an incremental build: writes side_table('late_days'), the days before `before`
    (a SQL date: the window processed anyway) whose rows in `input_days` differ from those in
    `taken_days` (rows_per_day queries: the input now, what the model last took in). -#}
{% macro find_late_days(input_days, taken_days, before) -%}
    {%- do adapter.create_schema(side_table('late_days')) -%}  {#- base models build before it #}
    create or replace table {{ side_table('late_days') }} as
    select coalesce(input_days.day, taken_days.day) as day
    from ({{ input_days }}) as input_days
    full outer join ({{ taken_days }}) as taken_days
        on taken_days.day = input_days.day
    where coalesce(input_days.day, taken_days.day) < {{ before }}
        and (input_days.row_count is null or taken_days.row_count is null
            or input_days.row_count <> taken_days.row_count)
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
            {{- log(this.identifier ~ ': ' ~ found[0] ~ ' older day(s) changed since the last build, from ' ~ found[1] ~ ' to ' ~ found[2] ~ ' (rows delivered late): processed again', info=True) -}}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of a roll-up that watches for late rows: records the rows per day of its input
    (`relation`, dated by `timestamp_expression`) as side_table('input_days'), what the next
    build's find_late_days compares with; nothing when the roll-up is a table rebuilt on every
    run (Spark). -#}
{% macro record_input_days(relation, timestamp_expression) -%}
    {%- if config.get('materialized') == 'incremental' -%}
        {%- set recorded = side_table('input_days').incorporate(type='table') -%}
        {#- in dbt's relation cache too: a history built later in the same run looks it up -#}
        {%- do adapter.cache_added(recorded) -%}
        create or replace table {{ recorded }} as {{ rows_per_day(relation, timestamp_expression) }}
    {%- endif -%}
{%- endmacro %}

{#- What a roll-up recorded with record_input_days, as a rows_per_day query (no rows before
    its first record: every day before the window is then late, and re-aggregated once). -#}
{% macro taken_input_days() -%}
    {%- set recorded = side_table_written('input_days') -%}
    {%- if recorded is none -%}
        {{- return('select cast(null as date) as day, cast(0 as bigint) as row_count where 1 = 0') -}}
    {%- endif -%}
    {{- return('select day, row_count from ' ~ recorded) -}}
{%- endmacro %}
