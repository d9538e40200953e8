{#
    The rows of a relation with copy_number: 1 for the first row of each key, 2.. for later
    rows with the same key (the duplicates staging quarantines). Only keys that occur more
    than once are ranked with a window, after a cheap aggregate finds them: windows over
    every row of a hundred-million-row source are what make duplicate checks slow. The
    aggregate groups 64-bit hashes of the keys, not the keys: a hundred million text ids
    spill to disk where their hashes fit in memory. A key whose hash collides with a repeated
    one is ranked too, in its own partition, so it stays a first copy: hashes only choose
    which rows are ranked, the keys themselves rank them.
    Rows with a null key count as first copies (the null-key check catches them).
    Arguments:
      relation: the raw relation (a relation, not a CTE: a CTE read three times gets
        materialised in full, which on a large source costs more than three scans);
      key_columns: columns that identify a record (all columns when the source has no key);
      order_columns: tie-break among copies, normally every column, so the kept copy is
        deterministic (nulls last, spelled out: DuckDB sorts them last, Spark first).
#}
{% macro numbered_copies(relation, key_columns, order_columns) -%}
    {%- set quoted_keys = [] -%}
    {%- for column in key_columns -%}{%- do quoted_keys.append(adapter.quote(column)) -%}{%- endfor -%}
    {%- set quoted_order = [] -%}
    {%- for column in order_columns -%}{%- do quoted_order.append(adapter.quote(column)) -%}{%- endfor -%}
    {%- set row_key_hash = [] -%}{%- set row_key_known = [] -%}
    {%- for column in quoted_keys -%}
        {%- do row_key_hash.append('rows_.' ~ column) -%}
        {%- do row_key_known.append('rows_.' ~ column ~ ' is not null') -%}
    {%- endfor -%}
    (
        with repeated_keys as (
            select {{ key_hash(quoted_keys) }} as key_hash
            from {{ relation }}
            where {{ quoted_keys | join(' is not null and ') }} is not null
            group by 1
            having count(*) > 1
        )

        select rows_.*, 1 as copy_number
        from {{ relation }} as rows_
        left join repeated_keys
            on repeated_keys.key_hash = {{ key_hash(row_key_hash) }}
            and {{ row_key_known | join(' and ') }}
        where repeated_keys.key_hash is null

        union all

        select
            rows_.*,
            row_number() over (
                partition by {{ row_key_hash | join(', ') }}
                order by {% for column in quoted_order %}rows_.{{ column }} nulls last{{ ", " if not loop.last }}{% endfor %}
            ) as copy_number
        from {{ relation }} as rows_
        inner join repeated_keys
            on repeated_keys.key_hash = {{ key_hash(row_key_hash) }}
            and {{ row_key_known | join(' and ') }}
    )
{%- endmacro %}
