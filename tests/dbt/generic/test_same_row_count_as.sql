{#
    Fails when the model and `compare_to` (a ref() or source()) have different row counts:
    the guard that a layer never silently drops or duplicates rows.
    Arguments: model, compare_to.
#}
{% test same_row_count_as(model, compare_to) %}

with model_rows as (
    select count(*) as row_count from {{ model }}
),

compared_rows as (
    select count(*) as row_count from {{ compare_to }}
)

select
    model_rows.row_count as model_row_count,
    compared_rows.row_count as compared_row_count
from model_rows
cross join compared_rows
where model_rows.row_count != compared_rows.row_count

{% endtest %}
