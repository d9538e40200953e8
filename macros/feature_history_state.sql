{#
    The state table customer_feature_history's post-hook writes after each build (one row: the
    as_of_date it was built at and the identity version), so the next incremental build knows
    which cut-offs may have changed. None when it does not exist yet. Call from that model only.
#}
{% macro feature_history_state() -%}
    {{- return(adapter.get_relation(this.database, 'intermediate', this.identifier ~ '__build_state')) -}}
{%- endmacro %}
