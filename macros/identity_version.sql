{#
    A query returning one row, identity_version: an order-independent fingerprint of the whole
    identifier -> customer_id mapping. Incremental models store it beside their rows and
    rebuild from scratch when it changes, since rows aggregated per customer_id go stale when
    identifiers move between customers.
#}
{% macro identity_version() -%}
    select coalesce({{ set_fingerprint(['identifier_key', 'customer_id']) }}, 0) as identity_version
    from {{ ref('int_identity__customer_ids') }}
{%- endmacro %}
