{#
    One row per customer and tag as of as_of_date (long form): every tag declared with
    meta.tag in the var('tag_models') models, with its value's English name. Generated from
    that metadata, so a new tag column appears here without touching this model.
#}
{%- set tags = tag_definitions() -%}

with features as (

    select customer_id, as_of_date from {{ ref('customer_features') }}

),
{% for model_name in var('tag_models') %}
{{ model_name }} as {{ not_materialized() }} (

    select * from {{ ref(model_name) }}

),
{% endfor %}
value_names as (

    {%- for tag in tags if tag['values'] %}
    {%- set tag_loop = loop %}
    {%- for value, name_en in tag['values'].items() %}
    select '{{ tag.code }}' as tag_code, '{{ value }}' as tag_value, '{{ dbt.escape_single_quotes(name_en) }}' as tag_value_en
    {{- ' union all' if not (tag_loop.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}

),

long as (

    {%- for tag in tags %}
    select
        customer_id,
        '{{ tag.code }}' as tag_code,
        '{{ tag.category }}' as tag_category,
        '{{ tag.source }}' as tag_source,
        cast({{ tag.code }} as {{ dbt.type_string() }}) as tag_value
    from {{ tag.model }}
    {{- ' union all' if not loop.last }}
    {%- endfor %}

),

final as (

    select
        long.customer_id,
        long.tag_code,
        long.tag_value,
        {#- open value sets (cities, brands) are names already #}
        coalesce(value_names.tag_value_en, long.tag_value) as tag_value_en,
        long.tag_category,
        long.tag_source,
        features.as_of_date

    from long
    inner join features on features.customer_id = long.customer_id
    left join value_names
        on value_names.tag_code = long.tag_code
        and value_names.tag_value = long.tag_value

)

select * from final
