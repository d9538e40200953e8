{#
    A query returning one row, identity_version: an order-independent fingerprint of the whole
    identifier -> customer_id mapping. Incremental models store it beside their rows and
    rebuild from scratch when it changes, since rows aggregated per customer_id go stale when
    identifiers move between customers.
#}
{% macro identity_version() -%}
    {{ return(adapter.dispatch('identity_version', 'customer_profiles')()) }}
{%- endmacro %}

{% macro default__identity_version() -%}
    {{ exceptions.raise_compiler_error('identity_version has no implementation for ' ~ target.type) }}
{%- endmacro %}

{% macro duckdb__identity_version() -%}
    select coalesce(bit_xor(hash(identifier_key, customer_id)), 0) as identity_version
    from {{ ref('int_identity__customer_ids') }}
{%- endmacro %}

{% macro spark__identity_version() -%}
    select coalesce(bit_xor(xxhash64(identifier_key, customer_id)), 0) as identity_version
    from {{ ref('int_identity__customer_ids') }}
{%- endmacro %}
