{#
    The rows of a relation with copy_number: 1 for the first row of each key, 2.. for later
    rows with the same key (the duplicates staging quarantines). Only keys that occur more
    than once are ranked with a window, after a cheap aggregate finds them: windows over
    every row of a hundred-million-row source are what make duplicate checks slow.
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
    (
        with repeated_keys as (
            select {{ quoted_keys | join(', ') }}
            from {{ relation }}
            group by {{ quoted_keys | join(', ') }}
            having count(*) > 1
        )

        select rows_.*, 1 as copy_number
        from {{ relation }} as rows_
        left join repeated_keys
            on {% for column in quoted_keys %}repeated_keys.{{ column }} = rows_.{{ column }}{{ " and " if not loop.last }}{% endfor %}
        where repeated_keys.{{ quoted_keys[0] }} is null

        union all

        select
            rows_.*,
            row_number() over (
                partition by {% for column in quoted_keys %}rows_.{{ column }}{{ ", " if not loop.last }}{% endfor %}
                order by {% for column in quoted_order %}rows_.{{ column }} nulls last{{ ", " if not loop.last }}{% endfor %}
            ) as copy_number
        from {{ relation }} as rows_
        inner join repeated_keys
            on {% for column in quoted_keys %}repeated_keys.{{ column }} = rows_.{{ column }}{{ " and " if not loop.last }}{% endfor %}
    )
{%- endmacro %}
