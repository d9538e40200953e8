{#
    One row per customer and past cut-off: the same features as customer_features, each
    computed only from data on or before its cut-off (point in time), for training models.
    Cut-offs: the var feature_history_cutoffs, or the last day of each of the
    feature_history_months months before as_of_date's month. Month ends do not move as
    as_of_date advances day by day, so a past cut-off's rows stay the same between refreshes.

    Incremental: a refresh builds only the cut-offs that are new or whose inputs changed
    (feature_history_cutoffs; usually none, one when a month ends), after deleting them and
    those no longer wanted, and recomputes at every other cut-off only the customers whose
    identifiers or member record changed (feature_history_build hooks, which do all of a
    refresh's work: the model's own query then builds no cut-off).

    A few cut-offs per query (var feature_history_cutoffs_per_query): on a first build the
    model's query builds the first ones and a post-hook inserts the rest (positionally: a test
    compares the rows with one query's). At a million customers, twelve cut-offs in one query
    aggregate twelve million customer-rows at once and spilled to disk for 1,241 s; three at a
    time (and one dbt model at a time, no core lost to polling), 302 s. With the daily
    roll-ups stored clustered by customer (stored_in_order), three per query still beat six:
    34 s against 125 s.
#}
{#- Spark's Parquet tables cannot delete the cut-offs being rebuilt: rebuilt in full there. #}
{{ config(
    materialized='table' if target.type == 'spark' else 'incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{% if is_incremental() %}{{ feature_history_build('delete_stale') }}{% endif %}",
        "{% if is_incremental() %}{{ feature_history_build('redo_changed_customers') }}{% endif %}",
    ],
    post_hook=["{{ feature_history_build('insert_later_batches') }}", "{{ feature_history_build('record_state') }}"],
) }}  {#- an exception to the marts' tables: history only grows by a month at a time #}
-- depends_on: {{ ref('int_identity__versions') }}, {{ ref('int_identity__changed_customers') }} (read by the hooks)
{%- set batches = feature_history_batches([] if is_incremental() else feature_history_cutoffs('all')) %}
{{ customer_features_at(feature_history_cutoffs_sql(batches[0] if batches else [])) }}
