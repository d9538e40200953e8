{#
    dbt's accepted_values for a tag column, with the values read from the column's own
    `meta.tag.values`, so a tag's value set is declared once. Fails on null too.
#}
{% test tag_accepted_values(model, column_name) %}
{%- set values = [] -%}
{%- if execute -%}
    {%- for tag in tag_definitions() if tag.code == column_name and tag.model == model.identifier -%}
        {%- do values.extend(tag['values'].keys() | list) -%}
    {%- endfor -%}
    {%- if not values -%}
        {{ exceptions.raise_compiler_error("tag_accepted_values on " ~ model.identifier ~ "." ~ column_name ~ ": no meta.tag.values declared") }}
    {%- endif -%}
{%- endif -%}

select {{ column_name }} as value_field
from {{ model }}
where {{ column_name }} is null
    {%- if values %}
    or {{ column_name }} not in ({% for value in values %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor %})
    {%- endif %}

{% endtest %}
