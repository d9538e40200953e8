{#
    The cut-offs of customer_feature_history, as ISO date strings, oldest first (empty at parse
    time). which='all': every cut-off the table should hold: the var feature_history_cutoffs,
    or the last day of each of the feature_history_months months before as_of_date's month.
    which='to_build': the ones this build computes for every customer: all on a full build, or
    when identity_refresh says 'rebuild' (feature_history_definition: a changed var, or an
    optional source that began or stopped delivering) or the last build's work tables are
    missing; otherwise the ones not yet in the table, those within incremental_lookback_days
    of the as_of_date the table was last built at, and those from the earliest day whose rows
    changed in any input since (feature_history_changed_from: a lagging roll-up that caught
    up, a late ticket export). The customers whose identifiers or member record changed are
    recomputed at the other cut-offs too (feature_history_build). The last build's as_of_date
    lives in the model's build_state.
#}
{% macro feature_history_cutoffs(which='all') -%}
    {%- if not execute -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set explicit = var('feature_history_cutoffs') -%}
    {%- set expressions = [] -%}
    {%- if explicit -%}
        {%- for cutoff in explicit -%}
            {%- do expressions.append("cast('" ~ cutoff ~ "' as date)") -%}
        {%- endfor -%}
    {%- else -%}
        {%- set as_of = as_of_date() -%}
        {%- for months_back in range(1, var('feature_history_months') + 1) -%}
            {%- do expressions.append(dbt.last_day(dbt.dateadd('month', -months_back, as_of), 'month')) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set all_cutoffs -%}
        {%- for expression in expressions %}
        select cast({{ expression }} as date) as cutoff_date{{ ' union all' if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- set state = build_state() -%}
    {%- set refresh = feature_history_refresh() if which == 'to_build' else none -%}
    {%- if which == 'all' or refresh == 'rebuild'
        or side_table_written('built_customers') is none or side_table_written('recent_rows') is none -%}
        {%- set query = 'select distinct cast(cutoff_date as ' ~ dbt.type_string() ~ ') from (' ~ all_cutoffs ~ ') as cutoffs order by 1' -%}
    {%- else -%}
        {%- set changed_from = feature_history_changed_from(activity_changed_customers(refresh)) -%}
        {%- set query -%}
            with cutoffs as ({{ all_cutoffs }}),
            built as (select * from {{ state }})
            select distinct cast(cutoffs.cutoff_date as {{ dbt.type_string() }})
            from cutoffs
            cross join built
            where cutoffs.cutoff_date not in (select distinct as_of_date from {{ this }})
                or cutoffs.cutoff_date >= {{ dbt.dateadd('day', -var('incremental_lookback_days'), 'built.built_as_of_date') }}
                {%- if changed_from %}
                or cutoffs.cutoff_date >= cast('{{ changed_from }}' as date)
                {%- endif %}
            order by 1
        {%- endset -%}
    {%- endif -%}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}
