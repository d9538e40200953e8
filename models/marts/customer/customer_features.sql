{#
    One row per customer as of as_of_date: every feature, from data on or before that day.
    The SQL lives in the customer_features_at macro, shared with customer_feature_history.
#}
{{ customer_features_at('select ' ~ as_of_date() ~ ' as cutoff_date') }}
