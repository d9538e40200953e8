{#
    One row per customer as of as_of_date: their segment (persona) with its bilingual name,
    from the customer_segments asset.
#}
select * from {{ source_or_empty('ml', 'customer_segments') }}
