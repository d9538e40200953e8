{#
    One row per stitched identifier with its stable customer_id.

    Ids survive refreshes: each component keeps the customer_id its identifiers had in the
    previous build of this table. A component whose identifiers held several ids (two people
    found to be one) keeps the smallest and the others are recorded in customer_id_merges; an
    id split across components stays with the part holding most of its identifiers. A
    component never seen before gets a new id derived from its label, unless the part of a
    split that kept an id already holds that one (then it is derived a second way). A rebuild
    from scratch gives every component the id from its label: the same ids as the nightly
    history wherever no merge or split happened in between.

    A component holding a forgotten identifier (int_identity__forgotten_identifiers) gets no
    customer id at all: the person stays forgotten however much of their data still arrives,
    and no new identifier of theirs is stitched into a fresh profile.
#}
{{- identity_snapshot_is_current() }}
with all_components as (

    select * from {{ ref('int_identity__components') }}
    where component_label is not null

),

forgotten as (

    select * from {{ ref('int_identity__forgotten_identifiers') }}

),

forgotten_components as (

    select distinct all_components.component_label
    from all_components
    inner join forgotten on forgotten.identifier_key = all_components.identifier_key

),

components as (

    select all_components.*
    from all_components
    left join forgotten_components
        on forgotten_components.component_label = all_components.component_label
    where forgotten_components.component_label is null

),

previous_ids as (

    select identifier_key, customer_id from {{ ref('int_identity__previous_customer_ids') }}

),

claims as (

    select
        components.component_label,
        previous_ids.customer_id as previous_customer_id,
        count(*) as identifiers_held

    from components
    inner join previous_ids on previous_ids.identifier_key = components.identifier_key
    group by 1, 2

),

kept_claims as (

    select
        component_label,
        previous_customer_id,
        row_number() over (
            partition by previous_customer_id
            order by identifiers_held desc, component_label
        ) as claim_rank

    from claims

),

survivors as (

    select component_label, min(previous_customer_id) as customer_id
    from kept_claims
    where claim_rank = 1
    group by 1

),

labels as (

    select distinct component_label from components

),

fresh as (

    select
        labels.component_label,
        {{ dbt.concat(["'cu_'", dbt.safe_cast(dbt.hash('labels.component_label'), dbt.type_string())]) }} as label_id

    from labels
    left join survivors on survivors.component_label = labels.component_label
    where survivors.component_label is null

),

assigned as (

    select component_label, customer_id from survivors

    union all

    -- A part split off a customer can have the very label that customer's id was derived
    -- from; the id from its label is then taken by the part that kept it, and the two people
    -- would be one again. Such a part takes an id derived from its label a second way.
    select
        fresh.component_label,
        case
            when taken.customer_id is null then fresh.label_id
            else {{ dbt.concat(["'cu_'", dbt.safe_cast(dbt.hash(dbt.concat(['fresh.component_label', "'|split'"])), dbt.type_string())]) }}
        end as customer_id

    from fresh
    left join survivors as taken on taken.customer_id = fresh.label_id

),

final as (

    select
        components.identifier_key,
        components.id_type,
        assigned.customer_id,
        previous_ids.customer_id as previous_customer_id,
        components.component_label

    from components
    inner join assigned on assigned.component_label = components.component_label
    left join previous_ids on previous_ids.identifier_key = components.identifier_key

)

select * from final
