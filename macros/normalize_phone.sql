{#
    A phone number in one canonical form: digits only, mainland country code (+86, 86, 0086)
    removed, so "+86 138 1234 5678", "138-1234-5678" and "13812345678" are one identifier.
    Returns null when no digits remain.
    Arguments: expression (text).
#}
{% macro normalize_phone(expression) -%}
    {%- set digits = regexp_replace_all(expression, '[^0-9]', '') -%}
    case
        when {{ digits }} = '' then null
        when length({{ digits }}) = 13 and {{ digits }} like '86%' then substr({{ digits }}, 3)
        when length({{ digits }}) = 15 and {{ digits }} like '0086%' then substr({{ digits }}, 5)
        else {{ digits }}
    end
{%- endmacro %}
