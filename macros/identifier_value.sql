{#
    The value of an identifier as the identity graph keys it: phones and emails normalised
    and salted-hashed (so "+86 138 0013 8001" and "138-0013-8001" are one identifier and no
    raw PII travels on), every other type as given. Every place that reads an identifier
    uses this, so keys from different sources always meet.
    Arguments: id_type (canonical type expression), id_value (raw value expression).
#}
{% macro identifier_value(id_type, id_value) -%}
    case {{ id_type }}
        when 'phone' then {{ hash_pii(normalize_phone(id_value)) }}
        when 'email' then {{ hash_pii(normalize_email(id_value)) }}
        else {{ id_value }}
    end
{%- endmacro %}
