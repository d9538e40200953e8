{#
    One row per customer, tag and validity interval (SCD type 2): the tag had tag_value from
    valid_from (inclusive) until valid_to (exclusive; null = still current). Each run at an
    as_of_date closes the intervals whose value changed or whose customer left, and opens
    one for each new value, so only changes are recorded.

    Incremental by design (history is the one thing a rebuild cannot recreate). Before
    extending, the pre-hook rewinds anything recorded at or after this as_of_date, so a rerun
    of the same day is idempotent and a run for an earlier day rewrites history from that day.
    A third pre-hook erases every row of a forgotten customer (int_identity__forgotten_identifiers):
    the right to be forgotten outranks the rule that history is never rewritten.
#}
-- depends_on: {{ ref('int_identity__forgotten_identifiers') }}
{#- Spark's Parquet tables can neither delete nor update rows: there a pre-hook copies the
    table aside (__previous), the model rewinds and purges that copy in SQL and returns the
    whole new history, and insert_overwrite replaces the table with it (docs/spark.md). #}
{%- set rewrites_whole_table = target.type == 'spark' -%}
{%- set previous = this.incorporate(path={'identifier': this.identifier ~ '__previous'}) -%}
{#- Hooks render when they run: `this` there is the built table (here, at parse, it is not yet),
    and as_of_date() there is the run's. Called out here at parse time, as_of_date() would
    say 1970-01-01 whenever it is inferred from the data, and the rewind would erase all
    history. #}
{%- set previous_in_hook = "{{ this.incorporate(path={'identifier': this.identifier ~ '__previous'}) }}" -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite' if rewrites_whole_table else 'delete+insert',
        unique_key=none if rewrites_whole_table else ['customer_id', 'tag_code', 'valid_from'],
        on_schema_change='fail',
        pre_hook=[
            "{% if is_incremental() %}drop table if exists " ~ previous_in_hook ~ "{% endif %}",
            "{% if is_incremental() %}create table " ~ previous_in_hook ~ " as select * from {{ this }}{% endif %}",
        ] if rewrites_whole_table else [
            "{% if is_incremental() %}delete from {{ this }} where valid_from >= {{ as_of_date() }}{% endif %}",
            "{% if is_incremental() %}update {{ this }} set valid_to = null where valid_to >= {{ as_of_date() }}{% endif %}",
            "{% if is_incremental() %}delete from {{ this }} where customer_id in (select customer_id from {{ ref('int_identity__forgotten_identifiers') }} where customer_id is not null){% endif %}",
        ],
        post_hook=["drop table if exists " ~ previous_in_hook] if rewrites_whole_table else [],
    )
}}

{#- current_tags and open_intervals are each read twice (fingerprints, then the changed
    customers' tags): not copied first (macro not_materialized). #}
with current_tags as {{ not_materialized() }} (

    select customer_id, tag_code, tag_value, as_of_date from {{ ref('customer_tags') }}

),

{% if is_incremental() %}

{%- if rewrites_whole_table %}

{#- what the DuckDB pre-hooks do in place: rewind to before this as_of_date, forget #}
recorded as (

    select
        customer_id,
        tag_code,
        tag_value,
        valid_from,
        case when valid_to < {{ as_of_date() }} then valid_to end as valid_to

    from {{ previous }}
    where valid_from < {{ as_of_date() }}
        and customer_id not in (
            select customer_id from {{ ref('int_identity__forgotten_identifiers') }}
            where customer_id is not null
        )

),
{%- else %}

recorded as {{ not_materialized() }} (

    select * from {{ this }}

),
{%- endif %}

open_intervals as {{ not_materialized() }} (

    select * from recorded
    where valid_to is null

),

{#- Most customers' tags are yesterday's (at a million customers, 85 thousand of a million
    changed any tag on an ordinary night). A fingerprint of each customer's tag set (macro
    set_fingerprint, and the tag count) finds the customers that changed in two aggregates,
    and only their tags are compared one by one. A change goes unrecorded only if two tag sets
    of one customer share the 64-bit fingerprint, a chance of about 2^-64. -#}
current_fingerprints as (

    select
        customer_id,
        count(*) as tags,
        {{ set_fingerprint(['tag_code', 'tag_value']) }} as fingerprint

    from current_tags
    group by 1

),

open_fingerprints as (

    select
        customer_id,
        count(*) as tags,
        {{ set_fingerprint(['tag_code', 'tag_value']) }} as fingerprint

    from open_intervals
    group by 1

),

changed_customers as (

    select coalesce(current_fingerprints.customer_id, open_fingerprints.customer_id) as customer_id

    from current_fingerprints
    full outer join open_fingerprints
        on open_fingerprints.customer_id = current_fingerprints.customer_id
    where open_fingerprints.customer_id is null
        or current_fingerprints.customer_id is null
        or open_fingerprints.tags != current_fingerprints.tags
        or open_fingerprints.fingerprint != current_fingerprints.fingerprint

),

{#- One full outer join over the changed customers finds both sides of every change (a tag
    whose value changed, a tag new to the customer, one the customer lost): at a million
    customers it took 13 s over all of them where a left join from each side took 53 s. #}
changes as (

    select
        current_tags.customer_id as current_customer_id,
        current_tags.tag_code as current_tag_code,
        current_tags.tag_value as current_tag_value,
        current_tags.as_of_date as current_as_of_date,
        open_intervals.customer_id as open_customer_id,
        open_intervals.tag_code as open_tag_code,
        open_intervals.tag_value as open_tag_value,
        open_intervals.valid_from as open_valid_from

    from (
        select * from current_tags
        where customer_id in (select customer_id from changed_customers)
    ) as current_tags
    full outer join (
        select * from open_intervals
        where customer_id in (select customer_id from changed_customers)
    ) as open_intervals
        on open_intervals.customer_id = current_tags.customer_id
        and open_intervals.tag_code = current_tags.tag_code
    where open_intervals.customer_id is null
        or current_tags.customer_id is null
        or open_intervals.tag_value != current_tags.tag_value

),

opened as (

    select
        current_customer_id as customer_id,
        current_tag_code as tag_code,
        current_tag_value as tag_value,
        current_as_of_date as valid_from,
        cast(null as date) as valid_to

    from changes
    where current_customer_id is not null

),

closed as (

    select
        open_customer_id as customer_id,
        open_tag_code as tag_code,
        open_tag_value as tag_value,
        open_valid_from as valid_from,
        {{ as_of_date() }} as valid_to

    from changes
    where open_customer_id is not null

),

final as (

    select * from opened
    union all
    select * from closed
    {%- if rewrites_whole_table %}
    union all
    {#- the rest of history, as delete+insert keeps it: all but the intervals closed above #}
    select recorded.*
    from recorded
    left join closed
        on closed.customer_id = recorded.customer_id
        and closed.tag_code = recorded.tag_code
        and closed.valid_from = recorded.valid_from
    where closed.customer_id is null
    {%- endif %}

)

{% else %}

final as (

    select
        customer_id,
        tag_code,
        tag_value,
        as_of_date as valid_from,
        cast(null as date) as valid_to

    from current_tags

)

{% endif %}

select * from final
