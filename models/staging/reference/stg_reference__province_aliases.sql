{#
    Every spelling of a province we recognise: the full Chinese name, the short one without
    its 省 / 市 / 自治区 suffix, and the English name, lower-cased for matching.
#}
with provinces as (

    select distinct province_name_zh, province_name_en from {{ ref('cn_cities') }}

),

aliases as (

    select province_name_zh, lower(province_name_zh) as alias from provinces
    union
    select
        province_name_zh,
        lower({{ regexp_replace_all('province_name_zh', '(维吾尔自治区|壮族自治区|回族自治区|自治区|省|市)$', '') }})
    from provinces
    union
    select province_name_zh, lower(province_name_en) from provinces

),

final as (

    select
        aliases.alias,
        provinces.province_name_zh,
        provinces.province_name_en

    from aliases
    inner join provinces on provinces.province_name_zh = aliases.province_name_zh

)

select * from final
