{#
    One row per customer and past cut-off: the same features as customer_features, each
    computed only from data on or before its cut-off (point in time), for training models.
    Cut-offs: the var feature_history_cutoffs, or the last day of each of the
    feature_history_months months before as_of_date's month. Month ends do not move as
    as_of_date advances day by day, so a past cut-off's rows stay the same between refreshes.
#}
{%- set explicit = var('feature_history_cutoffs') -%}
{%- set cutoffs = [] -%}
{%- if explicit -%}
    {%- for cutoff in explicit -%}
        {%- do cutoffs.append("cast('" ~ cutoff ~ "' as date)") -%}
    {%- endfor -%}
{%- else -%}
    {%- for months_back in range(1, var('feature_history_months') + 1) -%}
        {%- do cutoffs.append(dbt.last_day(dbt.dateadd('month', -months_back, as_of_date()), 'month')) -%}
    {%- endfor -%}
{%- endif -%}

{%- set cutoffs_sql -%}
    {%- for cutoff in cutoffs %}
    select cast({{ cutoff }} as date) as cutoff_date{{ ' union all' if not loop.last }}
    {%- endfor %}
{%- endset -%}

{{ customer_features_at(cutoffs_sql) }}
