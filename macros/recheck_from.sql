{#
    The first day an incremental build of a checked base model (base_behaviour__events)
    checks again, as a SQL date literal (empty on a full build, which checks every raw row):
    `incremental_lookback_days` before the newest day of its usable rows or the as_of_date,
    whichever is earlier, so late rows of the last days are still checked, every row
    quarantined as in the future then is looked at again (the as_of_date has moved on), and a
    rerun of an earlier day quarantines the rows after it, as a full build would. Rows whose
    timestamp cannot be read are always checked
    again: they have no day. Queried at compile time, so the pre-hook delete and the model's
    filter see the same day. (Older days whose raw rows changed are checked again too:
    is_rechecked reads the late days a pre-hook wrote before the delete, late_days.sql.)

    Arguments: timestamp_column, the base model's parsed timestamp column.
#}
{% macro recheck_from(timestamp_column) -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set query -%}
        select cast({{ dbt.dateadd('day', -var('incremental_lookback_days'), 'least(max(cast(' ~ timestamp_column ~ ' as date)), ' ~ as_of_date() ~ ')') }} as date)
        from {{ this }}
        where quarantine_reason is null
    {%- endset -%}
    {%- set recheck_day = run_query(query).columns[0].values()[0] -%}
    {{- return("cast('" ~ (recheck_day or '0001-01-01') ~ "' as date)") -}}
{%- endmacro %}

{#- Whether a row's timestamp (an expression) falls on or after recheck_from's day or on a
    late day (find_late_days, a pre-hook before the delete), or is unknown. #}
{% macro is_rechecked(timestamp_expression, recheck_day) -%}
    ({{ timestamp_expression }} is null or cast({{ timestamp_expression }} as date) >= {{ recheck_day }}
        or {{ is_late_day('cast(' ~ timestamp_expression ~ ' as date)') }})
{%- endmacro %}
