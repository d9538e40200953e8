{#
    Hooks of customer_feature_history. feature_history_build('delete_stale') (pre-hook,
    incremental builds) deletes the cut-offs about to be rebuilt and those no longer wanted;
    feature_history_build('insert_later_batches') (post-hook) builds the cut-offs the model's
    query left for later: every wanted cut-off not in the table yet, a batch per query;
    feature_history_build('record_state') (post-hook) records the build's as_of_date and
    identity version in the state table, for the next build's choice of cut-offs (nothing
    when the model is a table, as on Spark, which rebuilds every cut-off on every run).

    Arguments: step, 'delete_stale', 'insert_later_batches' or 'record_state'.
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
    {%- elif step == 'insert_later_batches' -%}
        {%- set built = run_query('select distinct cast(as_of_date as ' ~ dbt.type_string() ~ ') from ' ~ this).columns[0].values() -%}
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
