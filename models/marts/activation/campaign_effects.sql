{#
    Per campaign and per segment (and for all customers, segment_id 'all'): conversion in the
    attribution window for treatment vs control, the absolute uplift (treatment rate minus
    control rate) with a 95% confidence interval, and whether the interval excludes zero.

    Interval: Newcombe's hybrid score interval for a difference of two proportions (method 10
    of Newcombe 1998), built from each arm's Wilson interval. It keeps close to its nominal
    coverage for the small cells and low conversion rates of a segment read-out, where the
    textbook Wald interval undercovers. Segments are the customers' segments as of as_of_date.
#}
{%- set z = var('uplift_confidence_z') -%}

with conversions as (

    select * from {{ ref('int_campaign_conversions') }}

),

segments as (

    select customer_id, segment_id, segment_name_zh, segment_name_en
    from {{ ref('customer_segments') }}

),

labelled as (

    select
        conversions.*,
        coalesce(segments.segment_id, 'unsegmented') as segment_id,
        coalesce(segments.segment_name_zh, '未分群') as segment_name_zh,
        coalesce(segments.segment_name_en, 'Unsegmented') as segment_name_en

    from conversions
    left join segments on segments.customer_id = conversions.customer_id

),

cells as (

    select
        campaign_id, segment_id, segment_name_zh, segment_name_en,
        min(sent_date) as first_sent_date,
        sum(case when assignment_group = 'treatment' then 1 else 0 end) as treatment_customers,
        sum(case when assignment_group = 'control' then 1 else 0 end) as control_customers,
        sum(case when assignment_group = 'treatment' and converted then 1 else 0 end) as treatment_conversions,
        sum(case when assignment_group = 'control' and converted then 1 else 0 end) as control_conversions
    from labelled
    group by 1, 2, 3, 4

    union all

    select
        campaign_id, 'all', '全部客户', 'All customers',
        min(sent_date),
        sum(case when assignment_group = 'treatment' then 1 else 0 end),
        sum(case when assignment_group = 'control' then 1 else 0 end),
        sum(case when assignment_group = 'treatment' and converted then 1 else 0 end),
        sum(case when assignment_group = 'control' and converted then 1 else 0 end)
    from labelled
    group by 1

),

rates as (

    select
        cells.*,
        cast(treatment_conversions as {{ dbt.type_float() }}) / nullif(treatment_customers, 0) as treatment_rate,
        cast(control_conversions as {{ dbt.type_float() }}) / nullif(control_customers, 0) as control_rate,
        case when treatment_customers > 0 then {{ wilson_interval('treatment_conversions', 'treatment_customers', 'lower', z) }} end as treatment_low,
        case when treatment_customers > 0 then {{ wilson_interval('treatment_conversions', 'treatment_customers', 'upper', z) }} end as treatment_high,
        case when control_customers > 0 then {{ wilson_interval('control_conversions', 'control_customers', 'lower', z) }} end as control_low,
        case when control_customers > 0 then {{ wilson_interval('control_conversions', 'control_customers', 'upper', z) }} end as control_high
    from cells

),

final as (

    select
        campaign_id,
        segment_id,
        segment_name_zh,
        segment_name_en,
        {{ as_of_date() }} as as_of_date,
        first_sent_date,
        cast({{ var('attribution_window_days') }} as integer) as attribution_window_days,
        cast(treatment_customers as bigint) as treatment_customers,
        cast(control_customers as bigint) as control_customers,
        cast(treatment_conversions as bigint) as treatment_conversions,
        cast(control_conversions as bigint) as control_conversions,
        treatment_rate,
        control_rate,
        treatment_rate - control_rate as uplift,
        treatment_rate - control_rate
            - sqrt((treatment_rate - treatment_low) * (treatment_rate - treatment_low)
                   + (control_high - control_rate) * (control_high - control_rate)) as uplift_ci_low,
        treatment_rate - control_rate
            + sqrt((treatment_high - treatment_rate) * (treatment_high - treatment_rate)
                   + (control_rate - control_low) * (control_rate - control_low)) as uplift_ci_high
    from rates

)

select
    final.*,
    coalesce(uplift_ci_low > 0 or uplift_ci_high < 0, false) as is_significant
from final
