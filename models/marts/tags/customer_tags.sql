{#
    One row per customer and tag as of as_of_date (long form): every tag declared with
    meta.tag in the var('tag_models') models, with its value's English name. Generated from
    that metadata, so a new tag column appears here without touching this model.

    Built wide (one row per customer, a column per tag), then unpivoted: each customer's
    tags come out, and are stored, together, which is what makes this 46-row-per-customer
    table cheap to write, publish and diff into customer_tag_history (see macro unpivot).
#}
{%- set tags = tag_definitions() -%}
-- depends_on: {{ ref('customer_segments') }} (the segments' English names, meta value_names_from)

with features as (

    select customer_id, as_of_date from {{ ref('customer_features') }}

),
{% for model_name in var('tag_models') %}
{{ model_name }} as (

    select * from {{ ref(model_name) }}

),
{% endfor %}
tag_meta as (

    {%- for tag in tags %}
    select '{{ tag.code }}' as tag_code, '{{ tag.category }}' as tag_category, '{{ tag.source }}' as tag_source
    {{- ' union all' if not loop.last }}
    {%- endfor %}

),

{#- English value names: a closed tag's from its meta; an open tag's (cities, brands) are
    names already, except the values for none (var open_tag_value_names_en) and those of a
    model that names them in both languages (meta value_names_from: the segments). #}
{%- set names = [] %}
{%- for tag in tags %}
    {%- set value_names = tag['values'] or var('open_tag_value_names_en') %}
    {%- for value, name_en in value_names.items() %}
        {%- do names.append("select '" ~ tag.code ~ "' as tag_code, '" ~ value ~ "' as tag_value, '" ~ dbt.escape_single_quotes(name_en) ~ "' as tag_value_en") %}
    {%- endfor %}
    {%- if tag['value_names_from'] and not tag['values'] %}
        {%- set source = tag['value_names_from'] %}
        {%- do names.append("select distinct '" ~ tag.code ~ "', " ~ source['value'] ~ ", " ~ source['name_en'] ~ " from " ~ ref(source['model']) ~ " where " ~ source['value'] ~ " is not null") %}
    {%- endif %}
{%- endfor %}
value_names as (

    {{ names | join('\n    union all\n    ') }}

),

wide as (

    select
        features.customer_id,
        {%- for tag in tags %}
        cast({{ tag.model }}.{{ tag.code }} as {{ dbt.type_string() }}) as {{ tag.code }},
        {%- endfor %}
        features.as_of_date

    from features
    {%- for model_name in var('tag_models') %}
    left join {{ model_name }} on {{ model_name }}.customer_id = features.customer_id
    {%- endfor %}

),

{#- a customer without a row in a tag model has none of its tags: unpivot drops nulls #}
long as (

    {{ unpivot('wide', tags | map(attribute='code') | list, 'tag_code', 'tag_value') }}

),

final as (

    select
        long.customer_id,
        long.tag_code,
        long.tag_value,
        {#- open value sets (cities, brands) are names already #}
        coalesce(value_names.tag_value_en, long.tag_value) as tag_value_en,
        tag_meta.tag_category,
        tag_meta.tag_source,
        long.as_of_date

    from long
    inner join tag_meta on tag_meta.tag_code = long.tag_code
    left join value_names
        on value_names.tag_code = long.tag_code
        and value_names.tag_value = long.tag_value

)

select * from final
