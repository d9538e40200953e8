{#
    One row per audience x customer as of as_of_date, from the definitions file analysts edit
    (audiences.yml), evaluated by the audiences asset against customer_profile. Exports read
    this table and drop every row without marketing consent.
#}
select * from {{ source_or_empty('activation', 'audience_members') }}
