{#
    The over-merge report: one row per identifier kept out of identity stitching, why, and
    the evidence (member records and distinct names on its CRM records, orders naming it as
    buyer, anchor components it links), plus how many orders and events it alone names,
    which therefore belong to no customer.
#}
with components as (

    select * from {{ ref('int_identity__components') }}
    where shared_reason is not null

),

identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

shared_anchors as (

    select * from {{ ref('int_identity__shared_anchors') }}

),

final as (

    select
        components.identifier_key,
        components.id_type,
        components.shared_reason,
        shared_anchors.member_records,
        shared_anchors.distinct_names,
        components.linked_components,
        identifiers.order_mentions,
        identifiers.mentions,
        identifiers.first_seen_at,
        identifiers.last_seen_at

    from components
    inner join identifiers on identifiers.identifier_key = components.identifier_key
    left join shared_anchors on shared_anchors.identifier_key = components.identifier_key

)

select * from final
