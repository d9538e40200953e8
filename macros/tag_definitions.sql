{#
    Every tag declared in the project: one dict per column with `meta.tag` in the models
    listed in var('tag_models'), in declaration order, with keys code, model, name_zh,
    name_en, category, owner, refresh, definition, source ('rule' unless meta says otherwise)
    and values (a dict of allowed value -> English name, or none for an open value set), and
    value_names_from (for an open set: a model with each value's English name, as a dict of
    model, value and name_en columns; none when there is no such model).
    Empty while dbt parses (the graph is filled at execution).
    Arguments: none.
#}
{% macro tag_definitions() -%}
    {%- set definitions = [] -%}
    {%- if not execute -%}
        {{ return(definitions) }}
    {%- endif -%}
    {%- for model_name in var('tag_models') -%}
        {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ model_name) -%}
        {%- if node is none -%}
            {{ exceptions.raise_compiler_error("var tag_models names " ~ model_name ~ ", which is not a model of this project") }}
        {%- endif -%}
        {%- for column in node.columns.values() if column.meta.get('tag') -%}
            {%- set tag = column.meta['tag'] -%}
            {%- do definitions.append({
                'code': column.name,
                'model': model_name,
                'name_zh': tag['name_zh'],
                'name_en': tag['name_en'],
                'category': tag['category'],
                'owner': tag['owner'],
                'refresh': tag.get('refresh', 'daily'),
                'definition': tag['definition'],
                'source': tag.get('source', 'rule'),
                'values': tag.get('values'),
                'value_names_from': tag.get('value_names_from'),
            }) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(definitions) }}
{%- endmacro %}
