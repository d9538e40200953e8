{#
    One row per pair of identifiers observed together, in both directions (the form the
    label propagation reads), with the kind of evidence and how often it was seen: a CRM
    record (member id with its phone and email), an identity link, or an order naming both a
    member and a phone / email.
#}
with customers as (

    select * from {{ ref('stg_crm__customers') }}

),

links as (

    select * from {{ ref('stg_identity__links') }}

),

orders as (

    select * from {{ ref('stg_commerce__orders') }}

),

observed as (

    select
        'member_id' as id_type_a, customer_ref as id_value_a,
        'phone' as id_type_b, phone_hash as id_value_b,
        'crm_record' as evidence
    from customers
    union all
    select 'member_id', customer_ref, 'email', email_hash, 'crm_record' from customers
    union all
    select id_type_a, id_value_a, id_type_b, id_value_b, 'identity_link' from links
    union all
    select 'member_id', customer_ref, buyer_id_type, buyer_id_value, 'order' from orders

),

keyed as (

    select
        {{ identifier_key('id_type_a', 'id_value_a') }} as node_a,
        id_type_a,
        {{ identifier_key('id_type_b', 'id_value_b') }} as node_b,
        id_type_b,
        evidence
    from observed

),

both_directions as (

    select node_a, id_type_a, node_b, id_type_b, evidence from keyed
    union all
    select node_b, id_type_b, node_a, id_type_a, evidence from keyed

),

final as (

    select
        node_a,
        id_type_a,
        node_b,
        id_type_b,
        evidence,
        count(*) as observations

    from both_directions
    where node_a is not null and node_b is not null and node_a <> node_b
    group by 1, 2, 3, 4, 5

)

select * from final
