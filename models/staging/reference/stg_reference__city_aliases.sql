{#
    Every spelling of a city we recognise, mapped to the canonical city: the Chinese name with
    and without its 市 suffix, and the English name, all lower-cased for matching. Derived
    from the one cities seed, so adding a city there adds its aliases here.
#}
with cities as (

    select * from {{ ref('cn_cities') }}

),

aliases as (

    select city_code, lower(city_name_zh) as alias from cities
    union
    select city_code, lower({{ regexp_replace_all('city_name_zh', '市$', '') }}) from cities
    union
    select city_code, lower(city_name_en) from cities

),

final as (

    select
        aliases.alias,
        cities.city_code,
        cities.city_name_zh,
        cities.city_name_en,
        cities.province_name_zh,
        cities.province_name_en,
        cities.city_tier

    from aliases
    inner join cities on cities.city_code = aliases.city_code

)

select * from final
