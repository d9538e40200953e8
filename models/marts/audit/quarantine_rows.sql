{#
    One row per raw row that staging could not use, with its source, the first problem found
    ("reason:column") and the original values as JSON. With the staged rows it accounts for
    every raw row (tested per staging model).
#}
{%- set checked_sources = [
    ('customers', 'base_crm__customers'),
    ('identity_links', 'base_identity__links'),
    ('orders', 'base_commerce__orders'),
    ('order_items', 'base_commerce__order_items'),
    ('events', 'base_behaviour__events'),
    ('support_tickets', 'base_service__tickets'),
    ('campaign_touches', 'base_marketing__campaign_touches'),
    ('surveys', 'base_service__surveys'),
] -%}

with quarantined as (

    {% for source_name, base_model in checked_sources %}
    select
        '{{ source_name }}' as source_name,
        {{ dbt.split_part('quarantine_reason', "':'", 1) }} as reason,
        quarantine_reason as reason_detail,
        original_values
    from {{ ref(base_model) }}
    where quarantine_reason is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from quarantined
