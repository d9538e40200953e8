{#
    A left join that maps a free-text code to its canonical value via the enum_mappings seed.
    The canonical value is then `<alias>.canonical_value`; null means "not in the closed set".
    Arguments: enum_name (seed's enum_name), expression (the raw column), alias.
#}
{% macro join_enum(enum_name, expression, alias) -%}
    left join {{ ref('enum_mappings') }} as {{ alias }}
        on {{ alias }}.enum_name = '{{ enum_name }}'
        and {{ alias }}.raw_value = {{ normalize_text(expression) }}
{%- endmacro %}
