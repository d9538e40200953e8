{#
    Hooks of customer_feature_history. feature_history_build('delete_stale') (pre-hook,
    incremental builds) deletes the cut-offs about to be rebuilt and those no longer wanted;
    feature_history_build('record_state') (post-hook) records the build's as_of_date and
    identity version in the state table, for the next build's choice of cut-offs (nothing
    when the model is a table, as on Spark, which rebuilds every cut-off on every run).

    Arguments: step, 'delete_stale' or 'record_state'.
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
    {%- elif step == 'record_state' and config.get('materialized') != 'incremental' -%}
        {#- rebuilt in full on every run (Spark): no next build reads the state #}
        {{- return('') -}}
    {%- elif step == 'record_state' -%}
        {%- set state = api.Relation.create(database=this.database, schema='intermediate', identifier=this.identifier ~ '__build_state') -%}
        create or replace table {{ state }} as
        select {{ as_of_date() }} as built_as_of_date, identity_version
        from ({{ identity_version() }}) as current_identity
    {%- else -%}
        {{- exceptions.raise_compiler_error('feature_history_build: unknown step ' ~ step) -}}
    {%- endif -%}
{%- endmacro %}

{#- A comma-separated list of date literals. #}
{% macro feature_history_dates(dates) -%}
    {%- for day in dates -%}cast('{{ day }}' as date){{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}
