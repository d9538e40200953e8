{#
    A salted SHA-256 of a PII value, so marts can join on people without holding their phone,
    email or name. The salt comes from the CP_PII_SALT environment variable; the default is a
    public demo value (see orchestration/settings.py) and must be replaced in production.
    Null in, null out.
    Arguments: expression (text, already normalised).
#}
{% macro hash_pii(expression) -%}
    {{ return(adapter.dispatch('hash_pii', 'customer_profiles')(expression)) }}
{%- endmacro %}

{% macro pii_salt() -%}
    {{ return(env_var('CP_PII_SALT', 'customer-profiles-DEMO-salt-not-secret')) }}
{%- endmacro %}

{% macro default__hash_pii(expression) -%}
    case when {{ expression }} is not null
        then sha2({{ dbt.concat(["'" ~ pii_salt() ~ "'", expression]) }}, 256)
    end
{%- endmacro %}

{% macro duckdb__hash_pii(expression) -%}
    case when {{ expression }} is not null
        then sha256({{ dbt.concat(["'" ~ pii_salt() ~ "'", expression]) }})
    end
{%- endmacro %}
