{#
    What an incremental build of a daily activity roll-up re-aggregates, queried at compile
    time so the pre-hook delete (activity_delete_stale) and the model's filter agree:

    - activity_reprocess_from: the first day re-aggregated for everyone, as a SQL date literal
      (empty on a full build): `lookback_days` (default incremental_lookback_days; the order
      roll-ups pass order_lookback_days) before the newest day built, so rows that arrive or
      change a few days late are counted; the beginning of time when identity_refresh says
      'rebuild' (a changed definition or an older mapping; a mapping that merely moved,
      'changed', keeps the window: activity_delete_stale adds the moved customers of a roll-up
      attributed to them).
    - activity_changed_customers: when identity_refresh says 'changed', a query for the
      customers whose every day is re-aggregated (int_identity__changed_customers: rows
      moved to or from them); otherwise empty. `refresh`: identity_refresh's answer for a
      model with a definition of its own (customer_feature_history).

    And, for the roll-ups that watch for late rows (events and orders), the older days whose
    input changed since they last took them in (activity_find_late_days, written to a table by
    a pre-hook that runs before the delete, which reads it like the model's filter).
#}
{% macro activity_reprocess_from(date_column, lookback_days=none) -%}
    {%- set refresh = identity_refresh() -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set query -%}
        select cast({{ dbt.dateadd('day', -(lookback_days or var('incremental_lookback_days')), 'max(' ~ date_column ~ ')') }} as date)
        from {{ this }}
    {%- endset -%}
    {%- set reprocess_from = run_query(query).columns[0].values()[0] if refresh != 'rebuild' else none -%}
    {{- return("cast('" ~ (reprocess_from or '0001-01-01') ~ "' as date)") -}}
{%- endmacro %}

{% macro activity_changed_customers(refresh=none) -%}
    {%- set changed = ref('int_identity__changed_customers') -%}
    {%- if (refresh or identity_refresh()) == 'changed' -%}
        {{- return('select customer_id from ' ~ changed) -}}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}

{#- Pre-hook of a roll-up that watches for late rows (late_days.sql), after
    snapshot_input_days and before activity_delete_stale: finds the days before
    activity_reprocess_from whose input (the snapshot's fingerprint) changed since it last
    took them in. -#}
{% macro activity_find_late_days(date_column, lookback_days=none) -%}
    {%- if not is_incremental() -%}
        {{- return('') -}}
    {%- endif -%}
    {{ find_late_days(activity_reprocess_from(date_column, lookback_days)) }}
{%- endmacro %}

{#- Pre-hook of a roll-up: delete the days and customers about to be re-aggregated (and the
    late days activity_find_late_days found, when `late_days`; every day of the customers
    find_late_customers found, when `late_customers`). -#}
{% macro activity_delete_stale(date_column, attributed=true, lookback_days=none, late_days=false, late_customers=false) -%}
    {%- if not is_incremental() -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set changed = activity_changed_customers() if attributed else '' -%}
    delete from {{ this }}
    where {{ date_column }} >= {{ activity_reprocess_from(date_column, lookback_days) }}
    {%- if late_days or late_customers %}{% do log_late_days() %}{% endif %}
    {%- if late_days %}
        or {{ is_late_day(date_column) }}
    {%- endif %}
    {%- if late_customers %}
        or customer_id in (select customer_id from {{ side_table('late_customers') }})
    {%- endif %}
    {%- if changed %}
        or customer_id in ({{ changed }})
    {%- endif %}
{%- endmacro %}
