{#
    One row: fingerprints of the identifier -> customer_id mapping before and after this build
    (set_fingerprint: order-independent, changed by any moved identifier). An incremental model
    records the version its rows were attributed with; if that is previous_identity_version,
    int_identity__changed_customers names exactly the customers whose rows went stale, and if
    it is neither, it rebuilds from scratch (see identity_refresh).
#}
select
    (
        select coalesce({{ set_fingerprint(['identifier_key', 'customer_id']) }}, 0)
        from {{ ref('int_identity__previous_customer_ids') }}
    ) as previous_identity_version,
    (
        select coalesce({{ set_fingerprint(['identifier_key', 'customer_id']) }}, 0)
        from {{ ref('int_identity__customer_ids') }}
    ) as identity_version
