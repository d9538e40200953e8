{#
    One row per phone or email that must not stitch people together, with the first rule it
    breaks: on the denylist (placeholder numbers), on the CRM records of too many members or
    of members with different names (a store phone keyed in at sign-up, a family email), or
    named as the buyer on more orders than one person plausibly places (a counter phone).
    Thresholds are dbt vars (identity_max_*); the denylist is the identity_denylist seed.
#}
with customers as (

    select * from {{ ref('stg_crm__customers') }}

),

identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

denylist as (

    select * from {{ ref('identity_denylist') }}

),

on_crm_records as (

    select {{ identifier_key("'phone'", 'phone_hash') }} as identifier_key, customer_ref, name_hash
    from customers
    union all
    select {{ identifier_key("'email'", 'email_hash') }}, customer_ref, name_hash
    from customers

),

crm_use as (

    select
        identifier_key,
        count(distinct customer_ref) as member_records,
        count(distinct name_hash) as distinct_names

    from on_crm_records
    where identifier_key is not null
    group by 1

),

denylisted as (

    select
        {{ identifier_key('id_type', identifier_value('id_type', 'id_value')) }} as identifier_key,
        reason

    from denylist

),

judged as (

    select
        identifiers.identifier_key,
        identifiers.id_type,
        coalesce(crm_use.member_records, 0) as member_records,
        coalesce(crm_use.distinct_names, 0) as distinct_names,
        identifiers.order_mentions,
        case
            when denylisted.identifier_key is not null then 'denylisted'
            when crm_use.member_records > {{ var('identity_max_members_per_identifier') }}
                then 'on_too_many_member_records'
            when crm_use.distinct_names > {{ var('identity_max_names_per_identifier') }}
                then 'on_records_with_different_names'
            when identifiers.order_mentions > {{ var('identity_max_orders_per_identifier') }}
                then 'buyer_on_too_many_orders'
        end as shared_reason

    from identifiers
    left join crm_use on crm_use.identifier_key = identifiers.identifier_key
    left join denylisted on denylisted.identifier_key = identifiers.identifier_key
    where identifiers.id_type in ('phone', 'email')

),

final as (

    select * from judged where shared_reason is not null

)

select * from final
