{#
    The daypart (a key of the var `dayparts`, e.g. morning) a timestamp falls in, by its hour.
    A daypart [start, end) with start > end wraps past midnight (night: 23 -> 6).
    A timestamp at exactly midnight is taken as a date without a time of day (exports of
    dates are read so) and has no daypart.
    Arguments: timestamp (SQL expression).
#}
{% macro daypart(timestamp) -%}
    case
        when extract(hour from {{ timestamp }}) = 0 and extract(minute from {{ timestamp }}) = 0
            and extract(second from {{ timestamp }}) = 0 then null
        {%- for name, hours in var('dayparts').items() %}
        {%- if hours[0] < hours[1] %}
        when extract(hour from {{ timestamp }}) >= {{ hours[0] }} and extract(hour from {{ timestamp }}) < {{ hours[1] }} then '{{ name }}'
        {%- else %}
        when extract(hour from {{ timestamp }}) >= {{ hours[0] }} or extract(hour from {{ timestamp }}) < {{ hours[1] }} then '{{ name }}'
        {%- endif %}
        {%- endfor %}
    end
{%- endmacro %}
