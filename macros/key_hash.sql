{#
    A 64-bit hash of one or more SQL expressions, as a bigint-sized integer: DuckDB's hash,
    Spark's xxhash64. For grouping and fingerprints where an integer key is cheaper than the
    values themselves; equal values give equal hashes, unequal ones almost always differ.

    Arguments: expressions, a list of SQL expressions.
#}
{% macro key_hash(expressions) -%}
    {{ return(adapter.dispatch('key_hash', 'customer_profiles')(expressions)) }}
{%- endmacro %}

{% macro default__key_hash(expressions) -%}
    hash({{ expressions | join(', ') }})
{%- endmacro %}

{% macro spark__key_hash(expressions) -%}
    xxhash64({{ expressions | join(', ') }})
{%- endmacro %}
