{#
    Label propagation to convergence, in plain SQL run one round at a time (no recursive CTE,
    which distributed engines lack). Each round every node takes the smallest label among
    itself and its neighbours, then jumps to its label's label, so components collapse in a
    few rounds even when long. Rounds stop when no label changes; not converging within
    `max_rounds` is an error, never a silently partial result.

    Arguments:
      work_name: a name for the working table, unique per caller;
      seed_sql: select yielding (node, label), every node with its starting label;
      edges: relation with (node_a, node_b), both directions present;
      max_rounds: the most rounds to run.
    Returns the relation holding the final (node, label); run only when executing.
#}
{% macro connected_components(work_name, seed_sql, edges, max_rounds) -%}
    {%- set labels = api.Relation.create(database=this.database, schema=this.schema, identifier=work_name ~ '__labels', type='table') -%}
    {%- set next_labels = api.Relation.create(database=this.database, schema=this.schema, identifier=work_name ~ '__next', type='table') -%}
    {%- set work_edges = api.Relation.create(database=this.database, schema=this.schema, identifier=work_name ~ '__edges', type='table') -%}
    {%- if not execute -%}
        {{ return(labels) }}
    {%- endif -%}
    {#- The edges are read every round: settle them into a table once. -#}
    {% do adapter.drop_relation(work_edges) %}
    {% do run_query(create_table_as(False, work_edges, 'select node_a, node_b from ' ~ edges ~ ' as edges')) %}
    {% do adapter.drop_relation(labels) %}
    {% do run_query(create_table_as(False, labels, seed_sql)) %}
    {%- set state = namespace(converged=false, rounds=0) -%}
    {%- for round in range(max_rounds) if not state.converged -%}
        {%- set step_sql -%}
            with neighbour_minimum as (
                select labels.node, min(neighbours.label) as label
                from {{ labels }} as labels
                inner join {{ work_edges }} as edges on edges.node_a = labels.node
                inner join {{ labels }} as neighbours on neighbours.node = edges.node_b
                group by labels.node
            ),
            hooked as (
                select
                    labels.node,
                    case
                        when neighbour_minimum.label < labels.label then neighbour_minimum.label
                        else labels.label
                    end as label
                from {{ labels }} as labels
                left join neighbour_minimum on neighbour_minimum.node = labels.node
            )
            select
                hooked.node,
                case when jumped.label < hooked.label then jumped.label else hooked.label end as label
            from hooked
            left join hooked as jumped on jumped.node = hooked.label
        {%- endset -%}
        {% do adapter.drop_relation(next_labels) %}
        {% do run_query(create_table_as(False, next_labels, step_sql)) %}
        {%- set changed_sql -%}
            select count(*) from {{ next_labels }} as next_labels
            inner join {{ labels }} as labels on labels.node = next_labels.node
            where next_labels.label <> labels.label
        {%- endset -%}
        {%- set changed = run_query(changed_sql).columns[0].values()[0] -%}
        {% do adapter.drop_relation(labels) %}
        {% do adapter.rename_relation(next_labels, labels) %}
        {%- set state.rounds = round + 1 -%}
        {%- if changed == 0 -%}
            {%- set state.converged = true -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not state.converged -%}
        {% do adapter.drop_relation(work_edges) %}
        {{ exceptions.raise_compiler_error(
            work_name ~ ": labels still changing after " ~ max_rounds
            ~ " rounds; raise the dbt var identity_max_rounds") }}
    {%- endif -%}
    {% do adapter.drop_relation(work_edges) %}
    {{ log(work_name ~ ": converged in " ~ state.rounds ~ " rounds", info=true) }}
    {{ return(labels) }}
{%- endmacro %}
