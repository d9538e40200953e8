{#
    One row per identifier with the identity component (one real person) it belongs to, or
    the reason it is shared and stitches no one.

    1. Anchor identifiers (member ids, phones, emails) not judged shared are joined into
       components through CRM records, anchor-to-anchor links and orders (label propagation
       run to convergence).
    2. Every other identifier (device, openid, cookie) attaches to the one anchor component
       it is linked to. Linked to several, it is shared (a family tablet, a recycled cookie)
       and attaches to none.
    3. Identifiers linked to no anchor form their own components among themselves (a guest
       known only by a mini-program openid is still a customer).
    The label is the smallest identifier key of the component; stable customer ids are
    assigned from it in int_identity__customer_ids.
#}
{%- set identifiers = ref('int_identity__identifiers') -%}
{%- set edges = ref('int_identity__edges') -%}
{%- set shared_anchors = ref('int_identity__shared_anchors') -%}
{%- set max_rounds = var('identity_max_rounds') -%}

{#- Components join only the nodes given: an edge to an identifier outside them (a shared
    anchor, a device) is ignored by connected_components. -#}
{%- set anchor_nodes -%}
    select identifier_key as node
    from {{ identifiers }}
    where is_anchor and identifier_key not in (select identifier_key from {{ shared_anchors }})
{%- endset -%}
{%- set anchor_labels = connected_components(this.identifier ~ '__anchors', anchor_nodes, edges, max_rounds) -%}

{#- Which anchor components each non-anchor identifier is linked to: a join of every edge,
    read by the unattached nodes and the final query, so settled into a work table once (at a
    million customers, 2.5 s a time). -#}
{%- set attachments = api.Relation.create(database=this.database, schema=this.schema, identifier=this.identifier ~ '__attachments', type='table') -%}
{%- set attachments_sql -%}
    select
        edges.node_a as node,
        count(distinct anchor_labels.label) as anchor_components,
        min(anchor_labels.label) as anchor_label
    from {{ edges }} as edges
    inner join {{ identifiers }} as a on a.identifier_key = edges.node_a and not a.is_anchor
    inner join {{ anchor_labels }} as anchor_labels on anchor_labels.node = edges.node_b
    group by edges.node_a
{%- endset -%}
{%- do work_table(attachments, attachments_sql) -%}
{%- set unattached_nodes -%}
    select identifiers.identifier_key as node
    from {{ identifiers }} as identifiers
    left join {{ attachments }} as attachments on attachments.node = identifiers.identifier_key
    where not identifiers.is_anchor and attachments.node is null
{%- endset -%}
{%- set unattached_labels = connected_components(this.identifier ~ '__unattached', unattached_nodes, edges, max_rounds) -%}

with identifiers as (

    select * from {{ identifiers }}

),

edges as (

    select * from {{ edges }}

),

shared_anchors as (

    select * from {{ shared_anchors }}

),

anchor_labels as (

    {#- work tables unknown to dbt: name their columns (column lineage cannot expand a *) #}
    select node, label from {{ anchor_labels }}

),

attachments as (

    select node, anchor_components, anchor_label from {{ attachments }} as attachments

),

unattached_labels as (

    select node, label from {{ unattached_labels }}

),

{#- A component of unattached identifiers joins the anchor component it reaches through
    links to attached identifiers, if exactly one. -#}
unattached_reach as (

    select
        unattached_labels.label as unattached_label,
        count(distinct attachments.anchor_label) as anchor_components,
        min(attachments.anchor_label) as anchor_label

    from unattached_labels
    inner join edges on edges.node_a = unattached_labels.node
    inner join attachments
        on attachments.node = edges.node_b
        and attachments.anchor_components = 1
    group by 1

),

tentative as (

    select
        identifiers.identifier_key,
        identifiers.id_type,
        identifiers.is_anchor,
        coalesce(attachments.anchor_components, unattached_reach.anchor_components, 0) as linked_components,
        case
            when shared_anchors.identifier_key is not null then shared_anchors.shared_reason
            when attachments.anchor_components > 1 then 'linked_to_several_people'
            when unattached_reach.anchor_components > 1 then 'linked_to_several_people'
        end as shared_reason,
        case
            when shared_anchors.identifier_key is not null then null
            when attachments.anchor_components > 1 then null
            when unattached_reach.anchor_components > 1 then null
            else coalesce(
                anchor_labels.label,
                attachments.anchor_label,
                unattached_reach.anchor_label,
                unattached_labels.label
            )
        end as component_label

    from identifiers
    left join shared_anchors on shared_anchors.identifier_key = identifiers.identifier_key
    left join anchor_labels on anchor_labels.node = identifiers.identifier_key
    left join attachments on attachments.node = identifiers.identifier_key
    left join unattached_labels on unattached_labels.node = identifiers.identifier_key
    left join unattached_reach on unattached_reach.unattached_label = unattached_labels.label

),

{#- Last guard: a non-anchor identifier linked to a stitched identifier of another component
    (two devices paired across two people) stitches no one. -#}
crossing as (

    select distinct tentative.identifier_key

    from tentative
    inner join edges on edges.node_a = tentative.identifier_key
    inner join tentative as neighbour on neighbour.identifier_key = edges.node_b
    where not tentative.is_anchor
        and tentative.component_label <> neighbour.component_label

),

final as (

    select
        tentative.identifier_key,
        tentative.id_type,
        tentative.is_anchor,
        case when crossing.identifier_key is null then tentative.component_label end as component_label,
        case
            when crossing.identifier_key is not null then 'linked_to_several_people'
            else tentative.shared_reason
        end as shared_reason,
        tentative.linked_components

    from tentative
    left join crossing on crossing.identifier_key = tentative.identifier_key

)

select * from final
