{#
    One row per customer and past cut-off: the same features as customer_features, each
    computed only from data on or before its cut-off (point in time), for training models.
    Cut-offs: the var feature_history_cutoffs, or the last day of each of the
    feature_history_months months before as_of_date's month. Month ends do not move as
    as_of_date advances day by day, so a past cut-off's rows stay the same between refreshes.

    Incremental, one cut-off per statement (see the feature_history_build macro): this query
    builds the first cut-off to build, the post-hook the others; a refresh builds only the
    cut-offs that are new or within the lookback (feature_history_cutoffs).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}{{ feature_history_build('delete_stale') }}{% endif %}",
    post_hook="{{ feature_history_build('insert_remaining') }}",
) }}  {#- an exception to the marts' tables: history only grows by a month at a time #}
{%- set to_build = feature_history_cutoffs('to_build') -%}

{%- if to_build %}
{{ customer_features_at('select ' ~ feature_history_dates(to_build[:1]) ~ ' as cutoff_date') }}
{%- else %}
{{ customer_features_at('select cast(null as date) as cutoff_date where 1 = 0') }}
{%- endif %}
