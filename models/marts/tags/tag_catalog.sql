{#
    One row per tag: its names, category, owner, definition and allowed values, generated
    from the meta.tag of the tag models (the one source of truth), with measured coverage
    (share of customers whose value is known) and value distribution as of as_of_date.
#}
{%- set tags = tag_definitions() -%}

with customer_tags as (

    select * from {{ ref('customer_tags') }}

),

definitions as (

    {%- for tag in tags %}
    {%- set allowed = [] %}
    {%- for value, name_en in (tag['values'] or {}).items() %}
    {%- do allowed.append('"' ~ value ~ '": "' ~ name_en ~ '"') %}
    {%- endfor %}
    select
        {{ loop.index }} as tag_order,
        '{{ tag.code }}' as tag_code,
        '{{ tag.name_zh }}' as name_zh,
        '{{ dbt.escape_single_quotes(tag.name_en) }}' as name_en,
        '{{ tag.category }}' as category,
        '{{ tag.source }}' as tag_source,
        '{{ dbt.escape_single_quotes(tag.definition) }}' as definition,
        '{{ tag.owner }}' as owner,
        '{{ tag.refresh }}' as refresh,
        '{{ tag.model }}' as defined_in,
        {%- if tag['values'] %}
        '{{ dbt.escape_single_quotes('{' ~ allowed | join(', ') ~ '}') }}' as allowed_values,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as allowed_values,
        {%- endif %}
        {{ 'false' if tag['values'] else 'true' }} as is_open_value_set
    {{- ' union all' if not loop.last }}
    {%- endfor %}

),

value_counts as (

    select
        tag_code,
        tag_value,
        count(*) as customers

    from customer_tags
    group by 1, 2

),

value_shares as (

    select
        tag_code,
        tag_value,
        customers,
        cast(customers as {{ dbt.type_float() }}) / sum(customers) over (partition by tag_code) as share,
        row_number() over (partition by tag_code order by customers desc, tag_value nulls last) as value_rank

    from value_counts

),

measured as (

    select
        tag_code,
        sum(customers) as customers,
        count(*) as distinct_values,
        {#- "known" is any value but 未知: 未购买 (never bought) is a known fact #}
        cast(sum(case when tag_value != '未知' then customers else 0 end) as {{ dbt.type_float() }})
            / sum(customers) as coverage

    from value_shares
    group by 1

),

distributions as (

    select
        tag_code,
        {{ dbt.listagg(
            dbt.concat(["'\"'", 'tag_value', "'\": '", dbt.cast('round(share, 4)', dbt.type_string())]),
            "', '",
            'order by value_rank',
        ) }} as entries

    from value_shares
    {#- the 20 most common values: open value sets (cities) can have hundreds #}
    where value_rank <= 20
    group by 1

),

final as (

    select
        definitions.tag_code,
        definitions.name_zh,
        definitions.name_en,
        definitions.category,
        definitions.tag_source,
        definitions.definition,
        definitions.owner,
        definitions.refresh,
        definitions.defined_in,
        definitions.allowed_values,
        definitions.is_open_value_set,
        cast(coalesce(measured.customers, 0) as {{ dbt.type_bigint() }}) as customers,
        cast(coalesce(measured.distinct_values, 0) as {{ dbt.type_bigint() }}) as distinct_values,
        cast(measured.coverage as {{ dbt.type_float() }}) as coverage,
        {{ dbt.concat(["'{'", 'distributions.entries', "'}'"]) }} as value_distribution,
        definitions.tag_order

    from definitions
    left join measured on measured.tag_code = definitions.tag_code
    left join distributions on distributions.tag_code = definitions.tag_code

)

select * from final
