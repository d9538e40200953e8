{#
    A bound of the Wilson score interval for a proportion successes / trials (the interval
    that stays inside [0, 1] and keeps its coverage for small counts and rare events).
    Arguments: successes, trials (SQL expressions, trials > 0), side ('lower' or 'upper'),
    z (the normal quantile; var uplift_confidence_z).
    Campaign uplift combines two of these into Newcombe's interval for a difference
    (orchestration/audiences/uplift.py has the same formula for evaluation; a test keeps them equal).
#}
{% macro wilson_interval(successes, trials, side, z) -%}
    {%- set p = '(cast(' ~ successes ~ ' as ' ~ dbt.type_float() ~ ') / ' ~ trials ~ ')' -%}
    {%- set z2 = '(' ~ z ~ ' * ' ~ z ~ ')' -%}
    (({{ p }} + {{ z2 }} / (2.0 * {{ trials }}))
        {{ '-' if side == 'lower' else '+' }} {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / {{ trials }} + {{ z2 }} / (4.0 * {{ trials }} * {{ trials }})))
        / (1 + {{ z2 }} / {{ trials }})
{%- endmacro %}
