{#
    One row per customer who has bought, as of as_of_date: P(alive), expected purchases,
    spend and revenue over the horizon and discounted CLV, from the customer_value asset.
#}
select * from {{ source_or_empty('ml', 'customer_value') }}
