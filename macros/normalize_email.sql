{#
    An email address trimmed and lower-cased; null when empty or without an "@".
    Arguments: expression (text).
#}
{% macro normalize_email(expression) -%}
    case
        when lower(trim({{ expression }})) like '%_@_%' then lower(trim({{ expression }}))
    end
{%- endmacro %}
