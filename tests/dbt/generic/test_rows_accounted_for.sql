{#
    Fails unless raw rows = staged rows + quarantined rows for one source: staging never
    loses a row silently, and never duplicates one.
    Arguments: model (the staging model), raw (the source() relation), source_name (as written
    in audit.quarantine_rows).
#}
{% test rows_accounted_for(model, raw, source_name) %}

with counts as (

    select
        (select count(*) from {{ raw }}) as raw_rows,
        (select count(*) from {{ model }}) as staged_rows,
        (
            select count(*) from {{ ref('quarantine_rows') }}
            where source_name = '{{ source_name }}'
        ) as quarantined_rows

)

select *
from counts
where raw_rows != staged_rows + quarantined_rows

{% endtest %}
