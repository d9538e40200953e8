{#
    One row per customer as of as_of_date: calibrated churn probability, risk tier and the
    three features pushing the risk up most, from the churn_scores asset.
#}
select * from {{ source_or_empty('ml', 'churn_scores') }}
