{#
    The date every time-dependent model is computed as of, as a SQL date literal.
    The dbt var `as_of_date` when set; otherwise the data's own "today": the latest order date
    with at least `as_of_min_daily_share` of the average orders per order day, and within a
    week after a day that also has at least `as_of_min_daily_orders` orders. Rows with
    impossible future timestamps cannot drag it forward, however many customers make them (a
    fixed count alone let a million customers' typos set it three years late), and a small
    shop's quiet last day (one order, after days of three) is still its last day (it used to
    be cut off, its orders quarantined as future). Never current_date: same inputs, same
    outputs.

    Inferring it reads every raw order, and a build asks for it about thirty times (the
    checks of the base models, each incremental model's window, the history's cut-offs): at a
    million customers 0.5-1.2 s a time, 13.7 s of a nightly refresh. So the first call of an
    invocation records the date in the table on-run-start prepares (as_of_date_cache), and
    the others read it there. Raw data does not change while dbt runs, so every model of an
    invocation still sees the date a query of its own would find.
    Arguments: none.
#}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        {{ return("cast('" ~ var('as_of_date') ~ "' as date)") }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return("cast('1970-01-01' as date)") }}
    {%- endif -%}
    {%- set cache = adapter.get_relation(**as_of_date_cache()) -%}
    {%- set invocation = "'" ~ invocation_id ~ "'" -%}
    {%- set cached = run_query('select cast(as_of_date as ' ~ dbt.type_string() ~ ') from ' ~ cache ~ ' where invocation_id = ' ~ invocation ~ ' limit 1').columns[0].values() if cache is not none else [] -%}
    {%- if cached -%}
        {%- set found = cached[0] -%}
    {%- else -%}
        {%- set found = run_query(inferred_as_of_date_sql()).columns[0].values()[0] -%}
        {%- if cache is not none and found is not none -%}
            {#- two threads may both miss and both insert: the same date, read with limit 1 -#}
            {%- do run_query('insert into ' ~ cache ~ ' values (' ~ invocation ~ ", cast('" ~ found ~ "' as date))") -%}
        {%- endif -%}
    {%- endif -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error(
            "cannot infer as_of_date: no order date has at least "
            ~ var('as_of_min_daily_orders') ~ " orders and " ~ var('as_of_min_daily_share')
            ~ " of the average orders per day; set the dbt var as_of_date") }}
    {%- endif -%}
    {{ return("cast('" ~ found ~ "' as date)") }}
{%- endmacro %}

{#- The raw orders' days, one row per order (null where ordered_at does not parse). -#}
{% macro order_dates_sql() -%}
    select cast({{ dbt.safe_cast('ordered_at', dbt.type_timestamp()) }} as date) as order_date
    from {{ source('commerce', 'orders') }}
{%- endmacro %}

{#- The query inferring the as_of_date from the raw orders: one row, the date or null. -#}
{% macro inferred_as_of_date_sql() -%}
    with daily as (
        select order_date, count(*) as orders
        from ({{ order_dates_sql() }}) as dated
        where order_date is not null
        group by order_date
    )

    , plausible as (
        select order_date, orders
        from daily
        where orders >= {{ var('as_of_min_daily_share') }} * (select avg(orders) from daily)
    )

    -- a full day anchors; a quiet day counts when a full one lies within the 6 days before it
    select max(later.order_date)
    from plausible as later
    inner join plausible as anchor
        on anchor.order_date <= later.order_date
        and anchor.order_date >= {{ dbt.dateadd('day', -6, 'later.order_date') }}
    where anchor.orders >= {{ var('as_of_min_daily_orders') }}
{%- endmacro %}

{#- Where an invocation records its inferred as_of_date: database, schema and identifier. -#}
{% macro as_of_date_cache() -%}
    {#- Spark's target has no database: None there -#}
    {{- return({'database': target.get('database'), 'schema': 'intermediate', 'identifier': 'inferred_as_of_date'}) -}}
{%- endmacro %}

{#- on-run-start: an empty as_of_date_cache for this invocation, made before any model runs
    (so threads never race to create it); when the var sets the date, a check that it falls
    within the raw orders' dates instead. -#}
{% macro prepare_as_of_date_cache() -%}
    {%- if execute and var('as_of_date') -%}
        {%- do check_as_of_date_within_orders() -%}
    {%- elif execute -%}
        {%- set cache = api.Relation.create(type='table', **as_of_date_cache()) -%}
        {%- do adapter.create_schema(cache) -%}
        {%- do work_table(cache, 'select cast(null as ' ~ dbt.type_string() ~ ') as invocation_id, cast(null as date) as as_of_date where 1 = 0') -%}
        {%- do adapter.cache_added(cache) -%}
    {%- endif -%}
{%- endmacro %}

{#- A set as_of_date outside the data is a mistake that used to surface only at the end of
    the build (2099: every customer lapsed, and churn had a single label to learn). Before the
    first order nobody has bought yet; a year after the last, nothing in the data describes
    that day (a typed 2099 for 2029). Quiet last days are fine: a shop's period may end after
    its last order, and a test may pick a round date months after its few orders.
    "The last" is the date inference would find, so typo dates years ahead do not stretch it
    (the plain last order date in a shop too small for inference). -#}
{% macro check_as_of_date_within_orders() -%}
    {%- set orders = source('commerce', 'orders') -%}
    {#- a step before the raw views exist (the seeds, on a new warehouse) has nothing to check -#}
    {%- if adapter.get_relation(database=orders.database, schema=orders.schema, identifier=orders.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        'select cast(min(order_date) as ' ~ dbt.type_string() ~ '), cast('
        ~ dbt.dateadd('day', 365, 'coalesce((' ~ inferred_as_of_date_sql() ~ '), max(order_date))') ~ ' as ' ~ dbt.type_string()
        ~ ') from (' ~ order_dates_sql() ~ ') as dated').rows[0] -%}
    {%- set first, latest, wanted = found[0], found[1], var('as_of_date') | string -%}
    {%- if first is none -%}
        {{ exceptions.raise_compiler_error("as_of_date " ~ wanted ~ " is set, but the raw orders have no readable order date") }}
    {%- endif -%}
    {#- agate may read the text back as a date: compare the first ten characters of its text -#}
    {%- set first, latest = (first | string)[:10], (latest | string)[:10] -%}
    {%- if wanted < first or wanted > latest -%}
        {{ exceptions.raise_compiler_error(
            "as_of_date " ~ wanted ~ " is outside the raw orders: "
            ~ ("the first order is on " ~ first ~ ", so no customer had bought yet" if wanted < first
               else "it is more than a year after the orders' last day, so nothing in the data describes it")
            ~ ". Set a date from " ~ first ~ " to " ~ latest ~ ", or leave as_of_date unset to infer it") }}
    {%- endif -%}
{%- endmacro %}
