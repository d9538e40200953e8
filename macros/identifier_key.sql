{#
    The key of an identifier node in the identity graph: "<type>:<value>", e.g.
    "member_id:M001", "phone:<salted hash>". Values of PII types arrive already hashed.
    Arguments: id_type (SQL expression), id_value (SQL expression).
#}
{% macro identifier_key(id_type, id_value) -%}
    case when {{ id_type }} is not null and {{ id_value }} is not null
        then {{ dbt.concat([id_type, "':'", id_value]) }}
    end
{%- endmacro %}
