{#
    ISO day of the week of a date: 1 = Monday .. 7 = Sunday (engines number weekdays
    differently, so always go through this macro).
    Arguments: date (SQL expression).
#}
{% macro iso_weekday(date) -%}
    {{ return(adapter.dispatch('iso_weekday', 'customer_profiles')(date)) }}
{%- endmacro %}

{% macro default__iso_weekday(date) -%}
    cast(extract(isodow from {{ date }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__iso_weekday(date) -%}
    cast(extract(dayofweek_iso from {{ date }}) as {{ dbt.type_int() }})
{%- endmacro %}
