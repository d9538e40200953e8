{#
    The form a free-text code is matched in against a lookup seed: trimmed and lower-cased,
    null when empty.
    Arguments: expression (text).
#}
{% macro normalize_text(expression) -%}
    nullif(lower(trim({{ dbt.safe_cast(expression, dbt.type_string()) }})), '')
{%- endmacro %}
