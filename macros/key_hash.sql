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

{#
    An order-independent fingerprint of a set of distinct rows, as an aggregate expression:
    the xor over rows of a 64-bit hash of each row's hash. Hashing twice is the point. DuckDB
    combines the hashes of several arguments by xor, so an xor over rows of key_hash(a, b)
    splits into a part per column, and a change that keeps each column's values but regroups
    them cancels out: a customer renamed with exactly two identifiers (both rows gain the same
    new id) left identity_version unchanged, and the incremental roll-ups kept its rows under
    the old id. Hashing the row's hash again (a non-linear mix of its 64 bits) removes the
    parts, at no measurable cost.

    Arguments: columns, a list of SQL expressions.
#}
{% macro set_fingerprint(columns) -%}
    bit_xor({{ key_hash([key_hash(columns)]) }})
{%- endmacro %}

{#
    An order-independent fingerprint of a multiset of rows, as an aggregate expression: the
    sum over rows of the same 64-bit hash of each row's hash, exact in 38 digits, hashed once
    more. For rows that may repeat (raw events sent twice, two identical order lines), where
    set_fingerprint's xor cancels a pair, and the same correction made to both copies would
    go unseen.

    Arguments: columns, a list of SQL expressions.
#}
{% macro multiset_fingerprint(columns) -%}
    {{ key_hash(['sum(cast(' ~ key_hash([key_hash(columns)]) ~ ' as decimal(38, 0)))']) }}
{%- endmacro %}
