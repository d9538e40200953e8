{#
    Hooks of customer_feature_history, which computes one cut-off per statement: a single
    cut-off's aggregates fit in memory at a million customers, while all twelve at once spilled
    tens of GB to disk. The model's own query builds the first cut-off to build;
    feature_history_build('insert_remaining') (post-hook) inserts the others one by one and then
    records the build's as_of_date and identity version in the state table;
    feature_history_build('delete_stale') (pre-hook, incremental builds) deletes the cut-offs
    about to be rebuilt and those no longer wanted.

    Arguments: step, 'delete_stale' or 'insert_remaining'.
#}
{% macro feature_history_build(step) -%}
    {%- if not execute -%}
        {{- return('') -}}
    {%- endif -%}
    {%- if step == 'delete_stale' -%}
        {%- set keep = feature_history_cutoffs('all') -%}
        {%- set rebuild = feature_history_cutoffs('to_build') -%}
        delete from {{ this }}
        where as_of_date not in ({{ feature_history_dates(keep) }})
        {%- if rebuild %}
            or as_of_date in ({{ feature_history_dates(rebuild) }})
        {%- endif %}
    {%- elif step == 'insert_remaining' -%}
        {%- set present = run_query('select distinct cast(as_of_date as varchar) from ' ~ this).columns[0].values() | list -%}
        {%- for cutoff in feature_history_cutoffs('to_build') if cutoff not in present -%}
            {%- do run_query('insert into ' ~ this ~ '\n' ~ customer_features_at('select ' ~ feature_history_dates([cutoff]) ~ ' as cutoff_date')) -%}
        {%- endfor -%}
        {%- set state = api.Relation.create(database=this.database, schema='intermediate', identifier=this.identifier ~ '__build_state') -%}
        {%- do run_query('create or replace table ' ~ state ~ ' as select ' ~ as_of_date() ~ ' as built_as_of_date, identity_version from (' ~ identity_version() ~ ') as current_identity') -%}
    {%- else -%}
        {{- exceptions.raise_compiler_error('feature_history_build: unknown step ' ~ step) -}}
    {%- endif -%}
{%- endmacro %}

{#- A comma-separated list of date literals. #}
{% macro feature_history_dates(dates) -%}
    {%- for day in dates -%}cast('{{ day }}' as date){{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}
