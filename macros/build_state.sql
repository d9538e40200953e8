{#
    What an incremental model's last build saw, in a one-row table beside it
    (intermediate.<model>__build_state): the identity version its rows were attributed with,
    and any columns the model adds (customer_feature_history: the as_of_date). Written by
    record_build_state as the model's last post-hook, in the model's transaction.
#}

{#- The state table, or none before the first build. -#}
{% macro build_state() -%}
    {{- return(adapter.get_relation(this.database, 'intermediate', this.identifier ~ '__build_state')) -}}
{%- endmacro %}

{#- Post-hook: record this build's identity version, and `columns` (a select list), unless the
    model is a table rebuilt on every run (Spark), which no next build reads the state of. -#}
{% macro record_build_state(columns='') -%}
    {%- set versions = ref('int_identity__versions') -%}
    {%- if execute and config.get('materialized') == 'incremental' -%}
        create or replace table {{ api.Relation.create(database=this.database, schema='intermediate', identifier=this.identifier ~ '__build_state') }} as
        select {{ columns ~ ', ' if columns }}identity_version
        from {{ versions }}
    {%- endif -%}
{%- endmacro %}

{#
    How the identifier -> customer_id mapping moved since this incremental model's last build,
    queried at compile time: 'unchanged'; 'changed', from the mapping this build's identity
    models started from, so exactly int_identity__changed_customers' rows went stale; or
    'rebuild': a full build, no state yet, or a mapping more than one build old (a run that
    stopped between the identity models and this one), where only a rebuild is safe.
#}
{% macro identity_refresh() -%}
    {%- set versions = ref('int_identity__versions') -%}
    {%- set state = build_state() if execute else none -%}
    {%- if not (execute and is_incremental()) or state is none -%}
        {{- return('rebuild') -}}
    {%- endif -%}
    {%- set query -%}
        select case
            when built.identity_version = versions.identity_version then 'unchanged'
            when built.identity_version = versions.previous_identity_version then 'changed'
            else 'rebuild'
        end
        from {{ state }} as built
        cross join {{ versions }} as versions
    {%- endset -%}
    {{- return(run_query(query).columns[0].values()[0]) -}}
{%- endmacro %}
