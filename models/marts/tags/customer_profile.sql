{#
    One row per customer as of as_of_date (wide form): the golden record's keys, every
    feature and every tag as a column. The one table a BI user or an audience starts from.
#}
{%- set tags = tag_definitions() -%}

with features as (

    select * from {{ ref('customer_features') }}

),

customers as (

    select * from {{ ref('customer_360') }}

),
{% for model_name in var('tag_models') %}
{{ model_name }} as (

    select * from {{ ref(model_name) }}

),
{% endfor %}
final as (

    select
        features.customer_id,
        features.as_of_date,
        customers.primary_customer_ref,
        customers.is_member,
        customers.has_marketing_consent,
        customers.city_code,
        {%- for tag in tags %}
        {{ tag.model }}.{{ tag.code }},
        {%- endfor %}
        {%- for column in relation_columns(ref('customer_features')) if column not in ['customer_id', 'as_of_date'] %}
        features.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from features
    inner join customers on customers.customer_id = features.customer_id
    {%- for model_name in var('tag_models') %}
    inner join {{ model_name }} on {{ model_name }}.customer_id = features.customer_id
    {%- endfor %}

)

select * from final
