{#
    One row per identifier forgotten at the request of its owner (right to be forgotten), with
    the customer id it belonged to. int_identity__customer_ids drops every component holding
    one of these keys, so nothing downstream (marts, tags, ML outputs, audiences, the published
    copy) sees the person again; customer_tag_history and publish purge them from history.

    The deletion list is the view privacy.deletion_requests that orchestration/warehouse.py makes
    over the CSV named by CP_DELETION_LIST (columns id_type, id_value, customer_id, requested_at,
    all text). It is read by name, not as a dbt source, on purpose: a source would become an
    asset in the Dagster graph that nothing produces. No view (a bare `dbt build`): no requests.

    Persistent by design: each request on the deletion list is resolved once, in the first run that sees it, and its keys are kept for good, even after
    the request leaves the list or a `--full-refresh`. A listed identifier expands to every
    identifier of its component in this run's graph; a listed customer id expands to the
    identifiers it held in the previous build of int_identity__customer_ids (the customer the
    operator saw), including an id since merged into another.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
    )
}}
{%- set deletion_requests = adapter.get_relation(this.database, 'privacy', 'deletion_requests') if execute else none -%}

with requests as (

    {% if deletion_requests is not none %}
    select id_type, id_value, customer_id from {{ deletion_requests }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as id_type,
        cast(null as {{ dbt.type_string() }}) as id_value,
        cast(null as {{ dbt.type_string() }}) as customer_id
    where 1 = 0
    {% endif %}

),

components as (

    select * from {{ ref('int_identity__components') }}

),

previous_ids as (

    select * from {{ ref('int_identity__previous_customer_ids') }}

),

typed as (

    select
        requests.*,
        type_map.canonical_value as id_type_code

    from requests
    {{ join_enum('id_type', 'requests.id_type', 'type_map') }}

),

{#- An identifier request is keyed like the graph keys it; a customer request by its id. -#}
keyed as (

    select distinct
        case
            when nullif(trim(customer_id), '') is not null
                then {{ dbt.concat(["'customer_id:'", 'trim(customer_id)']) }}
            else {{ identifier_key('id_type_code', identifier_value('id_type_code', 'trim(id_value)')) }}
        end as request_key,
        nullif(trim(customer_id), '') as requested_customer_id,
        {{ identifier_key('id_type_code', identifier_value('id_type_code', 'trim(id_value)')) }} as requested_identifier_key

    from typed

),

new_requests as (

    select * from keyed
    where request_key is not null
    {% if is_incremental() %}
        and request_key not in (select request_key from {{ this }})
    {% endif %}

),

by_identifier as (

    select
        new_requests.request_key,
        coalesce(component.identifier_key, new_requests.requested_identifier_key) as identifier_key

    from new_requests
    left join components as listed
        on listed.identifier_key = new_requests.requested_identifier_key
    left join components as component
        on component.component_label = listed.component_label
    where new_requests.requested_customer_id is null

),

by_customer as (

    select
        new_requests.request_key,
        previous_ids.identifier_key

    from new_requests
    left join previous_ids
        on new_requests.requested_customer_id in (previous_ids.customer_id, previous_ids.previous_customer_id)
    where new_requests.requested_customer_id is not null

),

resolved as (

    select request_key, identifier_key from by_identifier
    union all
    select request_key, identifier_key from by_customer

),

final as (

    select distinct
        resolved.request_key,
        resolved.identifier_key,
        coalesce(previous_ids.customer_id, new_requests.requested_customer_id) as customer_id,
        {{ as_of_date() }} as forgotten_on

    from resolved
    inner join new_requests on new_requests.request_key = resolved.request_key
    left join previous_ids on previous_ids.identifier_key = resolved.identifier_key

)

select * from final
