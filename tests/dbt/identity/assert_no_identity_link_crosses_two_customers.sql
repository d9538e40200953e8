{{ config(meta={"dagster": {"ref": {"name": "int_identity__customer_ids"}}}) }}
{#
    Identity resolution converged and respected its guardrails: no observed link between two
    stitched identifiers joins two different customers. (Links touching a shared identifier
    are deliberately not used, so they are not checked.)
#}
select
    edges.node_a,
    edges.node_b,
    edges.evidence,
    side_a.customer_id as customer_id_a,
    side_b.customer_id as customer_id_b

from {{ ref('int_identity__edges') }} as edges
inner join {{ ref('int_identity__customer_ids') }} as side_a on side_a.identifier_key = edges.node_a
inner join {{ ref('int_identity__customer_ids') }} as side_b on side_b.identifier_key = edges.node_b
where side_a.customer_id <> side_b.customer_id
