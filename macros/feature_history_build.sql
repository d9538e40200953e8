{#
    Hooks of customer_feature_history, in the order they run:
    - 'delete_stale' (pre-hook, incremental builds): deletes the cut-offs about to be rebuilt,
      those no longer wanted, and every row of the customers whose identifiers or member
      record changed (feature_history_changed_customers, settled into a work table first);
    - 'redo_changed_customers' (pre-hook): computes those customers again at the cut-offs
      kept (the others are rebuilt for everyone);
    - 'insert_later_batches' (post-hook): builds every wanted cut-off not in the table yet, a
      batch per query: on a first build those the model's query left for later, on an
      incremental one (whose model query builds none) those delete_stale removed and the new;
    - 'record_state' (post-hook): records the build's as_of_date, where each input's recent
      rows begin and their fingerprints (feature_history_recent_rows), the member fields, its
      definition and identity version (record_build_state), for the next build's choice of
      cut-offs and customers.

    Arguments: step, one of the four above.
#}
{% macro feature_history_build(step) -%}
    {%- if not execute -%}
        {{- return('') -}}
    {%- endif -%}
    {%- if step == 'delete_stale' -%}
        {%- set keep = feature_history_cutoffs('all') -%}
        {%- set rebuild = feature_history_cutoffs('to_build') -%}
        {%- set changed = feature_history_changed_customers() -%}
        {%- if changed -%}
            {#- read by every import CTE of each batch below: computed once (0.3 s a time at l) -#}
            {%- do run_query('create or replace table ' ~ side_table('changed_customers') ~ ' as ' ~ changed) -%}
            {%- set changed = 'select customer_id from ' ~ side_table('changed_customers') -%}
        {%- endif -%}
        delete from {{ this }}
        where as_of_date not in ({{ feature_history_dates(keep) }})
        {%- if rebuild %}
            or as_of_date in ({{ feature_history_dates(rebuild) }})
        {%- endif %}
        {%- if changed %}
            or customer_id in ({{ changed }})
        {%- endif %}
    {%- elif step == 'redo_changed_customers' -%}
        {%- set changed = 'select customer_id from ' ~ side_table('changed_customers') if feature_history_changed_customers() else '' -%}
        {%- set kept = feature_history_present() -%}  {#- what delete_stale left -#}
        {%- if changed and kept -%}
            {{- log(this.identifier ~ ': the customers whose identifiers or member record changed, at ' ~ kept | length ~ ' kept cut-offs', info=True) -}}
            {%- for batch in feature_history_batches(kept) -%}
                {%- do run_query('insert into ' ~ this ~ ' select * from (' ~ customer_features_at(feature_history_cutoffs_sql(batch), changed) ~ ') as changed_customers') -%}
            {%- endfor -%}
        {%- endif -%}
        {{- return('') -}}
    {%- elif step == 'insert_later_batches' -%}
        {%- set built = feature_history_present() -%}
        {%- set missing = [] -%}
        {%- for cutoff in feature_history_cutoffs('all') if cutoff not in built -%}
            {%- do missing.append(cutoff) -%}
        {%- endfor -%}
        {%- set batches = feature_history_batches(missing) -%}
        {%- for batch in batches -%}
            {{- log(this.identifier ~ ': cut-offs ' ~ batch | join(', ') ~ ' (' ~ loop.index ~ ' of ' ~ batches | length ~ ' more)', info=True) -}}
            {%- do run_query('insert into ' ~ this ~ ' select * from (' ~ customer_features_at(feature_history_cutoffs_sql(batch)) ~ ') as cutoff_batch') -%}
        {%- endfor -%}
        {{- return('') -}}
    {%- elif step == 'record_state' -%}
        {%- if config.get('materialized') == 'incremental' -%}
            {%- do run_query('create or replace table ' ~ side_table('built_customers') ~ ' as select customer_id, ' ~ feature_history_member_fields() | join(', ') ~ ' from ' ~ ref('customer_360')) -%}
            {%- do run_query('create or replace table ' ~ side_table('recent_rows') ~ ' as ' ~ feature_history_recent_rows(feature_history_window_starts())) -%}
        {%- endif -%}
        {%- set window_starts = [] -%}
        {%- for name, start in feature_history_window_starts().items() -%}
            {%- do window_starts.append(start ~ ' as ' ~ name ~ '_from') -%}
        {%- endfor -%}
        {{ record_build_state(as_of_date() ~ ' as built_as_of_date, ' ~ window_starts | join(', '), feature_history_definition()) }}
    {%- else -%}
        {{- exceptions.raise_compiler_error('feature_history_build: unknown step ' ~ step) -}}
    {%- endif -%}
{%- endmacro %}

{#- The cut-offs the table holds now, as ISO date strings, oldest first. #}
{% macro feature_history_present() -%}
    {{- return(run_query('select distinct cast(as_of_date as ' ~ dbt.type_string() ~ ') from ' ~ this ~ ' order by 1').columns[0].values() | list) -}}
{%- endmacro %}

{#- A comma-separated list of date literals. #}
{% macro feature_history_dates(dates) -%}
    {%- for day in dates -%}cast('{{ day }}' as date){{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}

{#- The cut-offs (ISO date strings, oldest first) in groups of feature_history_cutoffs_per_query,
    newest group first, so the model's own query (the first group) holds the latest cut-offs. #}
{% macro feature_history_batches(cutoffs) -%}
    {{- return(cutoffs | reverse | batch(var('feature_history_cutoffs_per_query')) | list) -}}
{%- endmacro %}

{#- A query with one column, cutoff_date, one row per cut-off (none for an empty list). #}
{% macro feature_history_cutoffs_sql(cutoffs) -%}
    {%- for cutoff in cutoffs %}
    select cast('{{ cutoff }}' as date) as cutoff_date{{ ' union all' if not loop.last }}
    {%- else %}
    select cast(null as date) as cutoff_date where 1 = 0
    {%- endfor %}
{%- endmacro %}

{#- The member-record fields of customer_360 that customer_features_at reads (first seen, age):
    a change in them (a record arriving or corrected) changes a customer's history at every
    cut-off without any identifier moving. #}
{% macro feature_history_member_fields() -%}
    {{- return(['registered_at', 'birth_date']) -}}
{%- endmacro %}

{#- A query for the customers whose history must be recomputed at every kept cut-off: those
    whose identifiers changed (activity_changed_customers) or whose member fields did since
    the last build. Empty before built_customers exists (every cut-off is then rebuilt:
    feature_history_cutoffs). #}
{% macro feature_history_changed_customers() -%}
    {%- set built = side_table_written('built_customers') -%}
    {%- if built is none -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set identity = activity_changed_customers(feature_history_refresh()) -%}
    {%- set fields = 'customer_id, ' ~ feature_history_member_fields() | join(', ') -%}
    {%- set query -%}
        select customer_id from (
            select {{ fields }} from {{ ref('customer_360') }}
            except
            select {{ fields }} from {{ built }}
        ) as gained
        union
        select customer_id from (
            select {{ fields }} from {{ built }}
            except
            select {{ fields }} from {{ ref('customer_360') }}
        ) as lost
        {%- if identity %}
        union
        {{ identity }}
        {%- endif %}
    {%- endset -%}
    {{- return(query) -}}
{%- endmacro %}

{#- identity_refresh for the history, against its own definition. -#}
{% macro feature_history_refresh() -%}
    {{- return(identity_refresh(feature_history_definition())) -}}
{%- endmacro %}

{#- The history's build_definition: the roll-ups' vars, which optional sources have rows
    (customer_features_at: a source's features are null at every cut-off until its first row
    arrives, zero after), and the version of its build_state's layout (`<input>_from` columns
    and the recent_rows table), so a state written by older code is rebuilt, not misread. -#}
{% macro feature_history_definition() -%}
    {%- set present = run_query('select ' ~ optional_sources_present()) -%}
    {%- set flags = {'state_layout': 5} -%}
    {%- for column in present.columns -%}
        {%- do flags.update({column.name: column.values()[0]}) -%}
    {%- endfor -%}
    {{- return(build_definition(tojson(flags, sort_keys=true))) -}}
{%- endmacro %}

{#- What the history reads that can change in place below the as_of_date's lookback, as
    (name, relation, day expression, customer column or none, recent days or none). Each
    daily roll-up re-aggregates from its own newest day minus its lookback at every build
    (incremental_lookback_days; order_lookback_days for the order roll-ups, whose orders are
    refunded weeks later), so a lagging one (an events export days behind the orders) catches
    up on days the as_of_date's lookback does not cover, and an old order's refund changes an
    old day. The sources read from staging (tickets, surveys, campaign sends) change anywhere:
    a ticket is resolved, scored or reclassified days after it opened. So the history keeps a
    fingerprint of each input's rows from its newest day minus its recent days on (all rows
    where none: the staging sources are small), per customer and day where the rows have a
    customer (feature_history_recent_rows), and the next build recomputes every cut-off from
    the earliest day whose rows differ (feature_history_changed_from). The roll-ups also
    re-aggregate older days whose input changed (late_days.sql: events delivered late, an
    order refunded after the lookback): what each recorded of its input per day, fingerprinted
    whole as `late_<roll-up>`, shows which. An input whose rows did not change (a source no
    longer delivered) costs nothing. -#}
{% macro feature_history_inputs() -%}
    {%- set days, order_days = var('incremental_lookback_days'), var('order_lookback_days') -%}
    {%- set inputs = [
        ('orders', ref('int_daily_orders_per_customer'), 'order_date', 'customer_id', order_days),
        ('events', ref('int_daily_events_per_customer'), 'event_date', 'customer_id', days),
        ('items', ref('int_daily_items_per_customer'), 'order_date', 'customer_id', order_days),
        ('category_sales', ref('int_daily_category_sales'), 'order_date', none, order_days),
        ('tickets', ref('stg_service__tickets'), 'cast(opened_at as date)', none, none),
        ('surveys', ref('stg_service__surveys'), 'cast(answered_at as date)', none, none),
        ('campaign_sends', ref('stg_marketing__campaign_touches'), 'cast(sent_at as date)', none, none),
    ] -%}
    {#- each roll-up's record, once it has one (none on Spark, nor before the roll-up's first
        build with this code: a history built alone then goes without, and the next build,
        finding every day new, recomputes every cut-off). The three order roll-ups record the
        same fingerprints when built together; each is read, since `dbt build -s` may build
        one of them alone. -#}
    {%- set records = [
        ('late_events', ref('int_daily_events_per_customer')),
        ('late_orders', ref('int_daily_orders_per_customer')),
        ('late_items', ref('int_daily_items_per_customer')),
        ('late_category_sales', ref('int_daily_category_sales')),
    ] -%}
    {%- for name, rollup in records -%}
        {%- set taken = side_table_written('input_days', rollup) if execute else none -%}
        {%- if taken is not none -%}
            {%- do inputs.append((name, taken, 'day', none, none)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(inputs) -}}
{%- endmacro %}

{#- Where each input's recent rows begin, by name: its newest day minus its recent days (the
    beginning of time for an input fingerprinted whole), as a SQL expression; recorded as
    <name>_from in the history's build_state. -#}
{% macro feature_history_window_starts() -%}
    {%- set starts = {} -%}
    {%- for name, relation, day, customer, recent_days in feature_history_inputs() -%}
        {%- if recent_days is none -%}
            {%- do starts.update({name: "cast('0001-01-01' as date)"}) -%}
        {%- else -%}
            {%- do starts.update({name: '(select ' ~ dbt.dateadd('day', -recent_days, 'max(' ~ day ~ ')') ~ ' from ' ~ relation ~ ')'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(starts) -}}
{%- endmacro %}

{#- A query: one fingerprint of every input's rows per customer ('' for an input without
    customers) and day, from the day `window_from` gives each input (a SQL date expression
    per name) on. -#}
{% macro feature_history_recent_rows(window_from) -%}
    {%- for name, relation, day, customer, recent_days in feature_history_inputs() %}
    select
        '{{ name }}' as input,
        {{ customer or "''" }} as customer_id,
        {{ day }} as day,
        {{ set_fingerprint(adapter.get_columns_in_relation(relation) | map(attribute='quoted') | list) }} as fingerprint
    from {{ relation }}
    where {{ day }} >= {{ window_from[name] }}
    group by {{ customer or "''" }}, {{ day }}
    {{- ' union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The earliest day (ISO string) whose rows in any input differ from the last build's recent
    rows, leaving out the customers recomputed in full anyway (`changed`, a query or ''); none
    when nothing differs. -#}
{% macro feature_history_changed_from(changed) -%}
    {%- set state = build_state() -%}
    {%- set window_from = {} -%}
    {%- set starts = feature_history_window_starts() -%}
    {%- for name, relation, day, customer, recent_days in feature_history_inputs() -%}
        {#- an input fingerprinted whole starts at the beginning of time, in every build #}
        {%- do window_from.update({name: starts[name] if recent_days is none else '(select ' ~ name ~ '_from from ' ~ state ~ ')'}) -%}
    {%- endfor -%}
    {%- set query -%}
        with previous as (

            select input, customer_id, day, fingerprint from {{ side_table('recent_rows') }}

        ),

        current_rows as (
            {{ feature_history_recent_rows(window_from) }}
        ),

        differing as (

            select
                coalesce(previous.customer_id, current_rows.customer_id) as customer_id,
                coalesce(previous.day, current_rows.day) as day

            from previous
            full outer join current_rows
                on current_rows.input = previous.input
                and current_rows.customer_id = previous.customer_id
                and current_rows.day = previous.day
            where previous.fingerprint is null
                or current_rows.fingerprint is null
                or previous.fingerprint <> current_rows.fingerprint

        )

        select cast(min(day) as {{ dbt.type_string() }}) from differing
        {%- if changed %}
        where customer_id not in ({{ changed }})
        {%- endif %}
    {%- endset -%}
    {{- return(run_query(query).columns[0].values()[0]) -}}
{%- endmacro %}
