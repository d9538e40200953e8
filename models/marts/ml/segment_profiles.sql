{#
    One row per segment as of as_of_date: the persona card from the customer_segments asset,
    with the lifecycle and churn-risk mix of its members counted here in the warehouse.
#}
with cards as (

    select * from {{ source_or_empty('ml', 'segment_profiles', computed=['lifecycle_mix', 'churn_risk_mix']) }}

),

members as (

    select
        segments.segment_id,
        lifecycle.lifecycle_stage,
        model_tags.churn_risk

    from {{ ref('customer_segments') }} as segments
    inner join {{ ref('int_tags__lifecycle') }} as lifecycle on lifecycle.customer_id = segments.customer_id
    inner join {{ ref('int_tags__model') }} as model_tags on model_tags.customer_id = segments.customer_id

),

{%- for mix, column in [('lifecycle_mix', 'lifecycle_stage'), ('churn_risk_mix', 'churn_risk')] %}

{{ mix }}_counts as (

    select
        segment_id,
        {{ column }} as value,
        count(*) as customers,
        row_number() over (partition by segment_id order by count(*) desc, {{ column }} nulls last) as value_rank

    from members
    group by 1, 2

),

{{ mix }} as (

    select
        segment_id,
        {{ dbt.concat(["'{'", dbt.listagg(
            dbt.concat(["'\"'", 'value', "'\": '", dbt.cast('customers', dbt.type_string())]),
            "', '",
            'order by value_rank',
        ), "'}'"]) }} as {{ mix }}

    from {{ mix }}_counts
    group by 1

),
{%- endfor %}

final as (

    select
        cards.*,
        lifecycle_mix.lifecycle_mix,
        churn_risk_mix.churn_risk_mix

    from cards
    left join lifecycle_mix on lifecycle_mix.segment_id = cards.segment_id
    left join churn_risk_mix on churn_risk_mix.segment_id = cards.segment_id

)

select * from final
