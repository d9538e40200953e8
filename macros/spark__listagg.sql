{#
    dbt's listagg on Spark, honouring the order: dbt-spark's ignores `order_by_clause` (with a
    warning), and collect_list's order is whatever the shuffle delivered, so lists such as
    tag_catalog's value distribution came out in a different order on every run. Sorts
    (sort key, value) pairs instead; ascending sort keys only, as every caller uses.
    Reached through dbt.listagg() via the dispatch search order in dbt_project.yml.
    Arguments: measure, delimiter_text (SQL string literal), order_by_clause
    ("order by <expression>"), limit_num.
#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause -%}
        {%- set sort_key = order_by_clause | trim | replace('order by ', '', 1) | trim -%}
        {%- if ',' in sort_key or sort_key.lower().endswith(' desc') -%}
            {{ exceptions.raise_compiler_error("spark__listagg: one ascending sort key only, got '" ~ order_by_clause ~ "'") }}
        {%- endif -%}
        {%- set collected = 'transform(array_sort(collect_list(named_struct(\'sort_key\', ' ~ sort_key ~ ', \'value\', ' ~ measure ~ '))), entry -> entry.value)' -%}
    {%- else -%}
        {%- set collected = 'collect_list(' ~ measure ~ ')' -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    array_join({{ collected }}, {{ delimiter_text }})
{%- endmacro %}
