{#
    The first failed check of a row as "reason:column" text, or null when every check passes.
    Checks are evaluated in order, so the most basic problem (a missing key) is the one named.
    Arguments: checks, a list of (condition, reason) pairs, each condition true when the row
    is unusable, e.g. [("order_id is null", "null_key:order_id")].
#}
{% macro first_problem(checks) -%}
    case
        {%- for condition, reason in checks %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
    end
{%- endmacro %}
