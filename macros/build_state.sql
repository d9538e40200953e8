{#
    What an incremental model's last build saw, in a one-row table beside it
    (intermediate.<model>__build_state): the identity version its rows were attributed with,
    its definition (build_definition), and any columns the model adds
    (customer_feature_history: the as_of_date and how far the roll-ups reached). Written by
    record_build_state as the model's last post-hook, in the model's transaction.
#}

{#- A table an incremental model keeps beside it, intermediate.<model>__<name> (`model`: a
    relation, default this model): its build_state; customer_feature_history's work tables;
    the late days and input days of the models that watch for late rows (late_days.sql). -#}
{% macro side_table(name, model=none) -%}
    {%- set model = model or this -%}
    {{- return(api.Relation.create(database=model.database, schema='intermediate', identifier=model.identifier ~ '__' ~ name)) -}}
{%- endmacro %}

{#- side_table(name, model) if a build has written it, or none. -#}
{% macro side_table_written(name, model=none) -%}
    {%- set table = side_table(name, model) -%}
    {{- return(adapter.get_relation(table.database, table.schema, table.identifier)) -}}
{%- endmacro %}

{#- The state table, or none before the first build. -#}
{% macro build_state() -%}
    {{- return(side_table_written('build_state')) -}}
{%- endmacro %}

{#- What shapes an incremental model's rows besides the data and the identity mapping, as a
    fingerprint: the vars that define its columns and buckets (sales_channels, dayparts) or
    which staged rows it sums (the plausibility limits of the fully rebuilt order tables), and
    `extra` (customer_feature_history: which optional sources have rows, and the layout of
    its state). A build whose definition differs from the last build's rebuilds from scratch
    (identity_refresh): new day-part bounds or a newly delivered source change every old row. -#}
{% macro build_definition(extra='') -%}
    {%- set shaping_vars = ['sales_channels', 'dayparts', 'max_plausible_order_amount', 'max_plausible_quantity'] -%}
    {%- set values = {} -%}
    {%- for name in shaping_vars -%}
        {%- do values.update({name: var(name)}) -%}
    {%- endfor -%}
    {{- return(local_md5(tojson(values, sort_keys=true) ~ extra)) -}}
{%- endmacro %}

{#- Post-hook: record this build's identity version and definition, and `columns` (a select
    list), unless the model is a table rebuilt on every run (Spark), which no next build
    reads the state of. -#}
{% macro record_build_state(columns='', definition=none) -%}
    {%- set versions = ref('int_identity__versions') -%}
    {%- if execute and config.get('materialized') == 'incremental' -%}
        create or replace table {{ side_table('build_state') }} as
        select {{ columns ~ ', ' if columns }}identity_version, '{{ definition or build_definition() }}' as definition
        from {{ versions }}
    {%- endif -%}
{%- endmacro %}

{#
    How the identifier -> customer_id mapping moved since this incremental model's last build,
    queried at compile time: 'unchanged'; 'changed', from the mapping this build's identity
    models started from, so exactly int_identity__changed_customers' rows went stale; or
    'rebuild': a full build, no state yet, a state from before definitions were recorded, a
    definition other than `definition` (default build_definition()), or a mapping more than
    one build old (a run that stopped between the identity models and this one), where only a
    rebuild is safe.
#}
{% macro identity_refresh(definition=none) -%}
    {%- set versions = ref('int_identity__versions') -%}
    {%- set state = build_state() if execute else none -%}
    {%- if not (execute and is_incremental()) or state is none -%}
        {{- return('rebuild') -}}
    {%- endif -%}
    {%- if 'definition' not in adapter.get_columns_in_relation(state) | map(attribute='name') | map('lower') | list -%}
        {{- return('rebuild') -}}
    {%- endif -%}
    {%- set query -%}
        select case
            when built.definition <> '{{ definition or build_definition() }}' then 'rebuild'
            when built.identity_version = versions.identity_version then 'unchanged'
            when built.identity_version = versions.previous_identity_version then 'changed'
            else 'rebuild'
        end
        from {{ state }} as built
        cross join {{ versions }} as versions
    {%- endset -%}
    {{- return(run_query(query).columns[0].values()[0]) -}}
{%- endmacro %}

{#
    Stops a build of int_identity__customer_ids whose previous mapping
    (int_identity__previous_customer_ids) is not a copy of its own last build: a selection
    that left the copy out (`-s int_identity__customer_ids`) would keep ids against an older
    mapping, give new ids to recent customers, record no merge for them, and resolve a
    deletion request by such an id to nobody. Checked when the model runs, not when it is
    only compiled; nothing to check before the first build.
#}
{% macro identity_snapshot_is_current() -%}
    {%- if not execute or flags.WHICH not in ('run', 'build') -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set built = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- set snapshot = ref('int_identity__previous_customer_ids') -%}
    {%- if built is none -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set query -%}
        select
            (select coalesce({{ set_fingerprint(['identifier_key', 'customer_id']) }}, 0) from {{ snapshot }})
            = (select coalesce({{ set_fingerprint(['identifier_key', 'customer_id']) }}, 0) from {{ built }})
    {%- endset -%}
    {%- if not run_query(query).columns[0].values()[0] -%}
        {{- exceptions.raise_compiler_error(
            snapshot.identifier ~ ' is not a copy of the last build of ' ~ this.identifier
            ~ ': build the two together (select int_identity__previous_customer_ids too, for'
            ~ ' example `dbt build -s int_identity__components+`), so that customer ids stay'
            ~ ' stable against the mapping they were last given in') -}}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}
