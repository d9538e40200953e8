{#
    The first day an incremental build of a daily activity roll-up re-aggregates, as a SQL date
    literal (empty on a full build, which aggregates everything): `incremental_lookback_days`
    before the newest day already built, so rows that arrive a few days late are counted; or
    the beginning of time when the identity mapping changed since the roll-up was built (its
    rows would sit under stale customer_ids). Runs a query at compile time, so the pre-hook
    delete and the model's filter see the same day.

    Arguments: date_column, the roll-up's day column.
#}
{% macro activity_reprocess_from(date_column) -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set query -%}
        select
            case when built.identity_version = current_identity.identity_version
                then cast({{ dbt.dateadd('day', -var('incremental_lookback_days'), 'built.last_day') }} as date)
            end as reprocess_from

        from (
            select max({{ date_column }}) as last_day, max(identity_version) as identity_version
            from {{ this }}
        ) as built
        cross join ({{ identity_version() }}) as current_identity
    {%- endset -%}
    {%- set reprocess_from = run_query(query).columns[0].values()[0] -%}
    {{- return("cast('" ~ (reprocess_from or '0001-01-01') ~ "' as date)") -}}
{%- endmacro %}
