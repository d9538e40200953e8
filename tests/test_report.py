"""The marketer's HTML report: every chart, bilingual, offline, and true to the published data.

The published file here is hand-made (ten customers, two segments) and published through the
real `publish`, so every number a chart must show can be counted by eye.
"""

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.publish import DATABASE_NAME, PublicTable, publish
from orchestration.report import CHARTS, NO_AUDIENCES, build_report, report_path

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3,}")

CUSTOMERS = """
    select * from (values
        ('c1', '5', '5', '活跃'), ('c2', '5', '5', '活跃'), ('c3', '5', '1', '新客'),
        ('c4', '1', '1', '流失'), ('c5', '1', '1', '流失'), ('c6', '1', '1', '流失'),
        ('c7', '3', '2', '沉默'), ('c8', '3', '2', '沉默'), ('c9', '5', '2', '活跃'),
        ('c10', '未购买', '未购买', '潜客')
    ) as t(customer_id, r_score, f_score, lifecycle_stage)
"""
SEGMENTS = """
    select * from (values
        ('s1', '忠诚型', 'Loyal', 6, 0.6, 900.0, 300.0, 3.0, 20.0, '护肤 60%', 'app 70%',
         '晚间 50%', '{"low": 5, "high": 1}'),
        ('s2', '沉睡型', 'Dormant', 4, 0.4, 100.0, 100.0, 1.0, 200.0, '彩妆 50%', '门店 80%',
         '下午 40%', '{"high": 4}')
    ) as t(segment_id, name_zh, name_en, customers, share, avg_monetary_365d, avg_order_value,
        avg_order_count_365d, avg_recency_days, top_categories, top_channels, top_dayparts,
        churn_risk_mix)
"""
CHURN = """
    select * from (values
        ('c1', 0.02, 'low'), ('c2', 0.04, 'low'), ('c3', 0.31, 'medium'), ('c4', 0.97, 'high'),
        ('c5', 0.96, 'high'), ('c6', 0.99, 'high'), ('c7', 0.62, 'medium'), ('c8', 0.55, 'medium'),
        ('c9', 0.08, 'low'), ('c10', null, null)
    ) as t(customer_id, churn_probability, risk_tier)
"""
VALUE = """
    select *, 365 as horizon_days from (values
        ('c1', 1200.0, 1300.0), ('c2', 800.0, 850.0), ('c3', 300.0, 320.0), ('c4', 0.0, 0.0),
        ('c5', 10.0, 11.0), ('c6', 5.0, 5.0), ('c7', 150.0, 160.0), ('c8', 90.0, 95.0),
        ('c9', 400.0, 420.0)
    ) as t(customer_id, clv, expected_revenue)
"""
# lifecycle_stage's allowed values in the yml order (the funnel's order).
LIFECYCLE_VALUES = json.dumps(
    {"新客": "New", "活跃": "Active", "沉默": "Silent", "流失": "Churned", "潜客": "Prospect"},
    ensure_ascii=False,
)
CATALOG = f"""
    select * from (values
        ('lifecycle_stage', '生命周期', 'Lifecycle stage', 'lifecycle', 1.0, 1, '{LIFECYCLE_VALUES}'),
        ('nps_group', 'NPS分组', 'NPS group', 'service', 0.2, 2, null)
    ) as t(tag_code, name_zh, name_en, category, coverage, tag_order, allowed_values)
"""
CALIBRATION = [
    {"bin": 1, "mean_predicted": 0.1, "observed_rate": 0.12, "count": 3},
    {"bin": 2, "mean_predicted": 0.5, "observed_rate": 0.45, "count": 3},
    {"bin": 3, "mean_predicted": 0.9, "observed_rate": 0.93, "count": 3},
]
# The churn asset stores the table as JSON text inside metrics_json (assets/churn.py).
RUNS = f"""
    select * from (values
        ('churn', 'r1', timestamp '2026-01-01 06:00',
         '{json.dumps({"auc": 0.8, "calibration_table": json.dumps(CALIBRATION)})}'),
        ('churn', 'r0', timestamp '2025-12-01 06:00', '{{"auc": 0.7}}'),
        ('segments', 'r1', timestamp '2026-01-01 06:00', '{{}}')
    ) as t(model_name, run_id, created_at, metrics_json)
"""
TABLES = {
    "customer_profile": CUSTOMERS,
    "segment_profiles": SEGMENTS,
    "churn_scores": CHURN,
    "customer_value": VALUE,
    "tag_catalog": CATALOG,
    "model_runs": RUNS,
}


def _published(root: Path, audiences: str | None = None, **replaced: str) -> Path:
    """The hand-made tables in a warehouse, published the way the pipeline publishes."""
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    tables = {**TABLES, **replaced, **({"audience_members": audiences} if audiences else {})}
    for name, sql in tables.items():
        con.execute(f"create table marts.{name} as {sql}")
    con.close()
    public = [PublicTable(name, f"marts.{name}", f"The {name} table.") for name in tables]
    publish(warehouse, root / "published", public, run_id="hand-made")
    return root / "published"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return _published(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(published) -> str:
    build_report(published / DATABASE_NAME, report_path(published).parent)
    return report_path(published).read_text(encoding="utf-8")


def _chart(page: str, name: str) -> str:
    found = re.findall(rf'<svg class="chart" data-chart="{name}".*?</svg>', page, re.S)
    assert found, f"chart {name} is missing"
    return found[0]


def _numbers(svg: str) -> list[int]:
    """The numbers printed in a chart's labels, in drawing order."""
    return [int(n.replace(",", "")) for n in re.findall(r">([\d,]+)(?: \(|</text>)", svg)]


def test_the_report_draws_every_chart_as_inline_svg(page):
    for name in CHARTS:
        svg = _chart(page, name)
        shapes = re.findall(r"<(rect|polygon|polyline|circle)", svg)
        assert shapes or name == "audience_sizes", f"{name} draws nothing"
    # The only tables are the facts on the persona cards; the numbers are drawn, not listed.
    assert page.count("<table>") == page.count('data-chart="segment_radar"') == 2


def test_the_report_opens_offline_with_nothing_fetched_from_anywhere(page):
    assert not re.search(r"https?:|//cdn|<script|<link|<img|<iframe|@import|url\(", page)


def test_every_section_title_and_headline_label_is_in_chinese_and_english(page):
    titles = re.findall(r"<h2>(.*?)</h2>", page) + re.findall(r"<span>(.*?)</span>", page)
    assert len(titles) == 7 + 7
    for title in titles:
        assert CJK.search(title) and LATIN.search(title), title


def test_segment_sizes_and_one_persona_card_per_segment(page):
    sizes = _chart(page, "segment_sizes")
    assert "忠诚型 / Loyal" in sizes and "6 (60.0%)" in sizes and "4 (40.0%)" in sizes
    radars = re.findall(r'data-chart="segment_radar".*?</svg>', page, re.S)
    assert [("忠诚型 / Loyal" in r, "沉睡型 / Dormant" in r) for r in radars] == [
        (True, False),
        (False, True),
    ]


def test_the_rfm_grid_counts_each_buyer_in_their_recency_and_frequency_cell(page):
    grid = _chart(page, "rfm_grid")
    assert "未购买" not in grid  # c10 never bought: no scores, not on the grid
    # rows R5, R3, R1 (most recent first); columns F1, F2, F5
    assert _numbers(grid) == [1, 1, 2, 0, 2, 0, 3, 0, 0]


def test_the_lifecycle_funnel_follows_the_catalog_order(page):
    funnel = _chart(page, "lifecycle_funnel")
    stages = re.findall(r'text-anchor="end" fill="#333">(\S+) \w+</text>', funnel)
    assert stages == ["新客", "活跃", "沉默", "流失", "潜客"]
    assert _numbers(funnel) == [1, 3, 2, 3, 1]


def test_churn_risk_shows_every_scored_customer_and_the_latest_calibration_curve(page):
    bars = re.findall(r"<title>[^<]*: ([\d,]+)</title>", _chart(page, "churn_distribution"))
    assert sum(int(b) for b in bars) == 9  # c10 has no score
    calibration = _chart(page, "churn_calibration")
    assert calibration.count("<circle") == len(CALIBRATION)  # the r1 fit, not the older r0


def test_clv_distribution_counts_every_valued_customer(page):
    bars = re.findall(r"<title>[^<]*: ([\d,]+)</title>", _chart(page, "clv_distribution"))
    assert sum(int(b) for b in bars) == 9


def test_tag_coverage_shows_each_tag_share(page):
    coverage = _chart(page, "tag_coverage")
    assert "生命周期 / Lifecycle stage" in coverage and "100.0%" in coverage
    assert "NPS分组 / NPS group" in coverage and "20.0%" in coverage


def test_without_audience_members_the_report_says_none_are_defined(page):
    assert f">{NO_AUDIENCES}</text>" in _chart(page, "audience_sizes")  # drawn, not a tooltip


def test_audiences_appear_with_their_sizes_once_audience_members_is_published(tmp_path):
    members = """
        select * from (values ('vip_winback', 'c1'), ('vip_winback', 'c2'),
            ('vip_winback', 'c9'), ('new_skincare', 'c3'), ('new_skincare', 'c1'),
            ('lapsed', 'c4')) as t(audience_name, customer_id)
    """
    published = _published(tmp_path, audiences=members)
    report = build_report(published / DATABASE_NAME, tmp_path / "report")
    chart = _chart(report.path.read_text(encoding="utf-8"), "audience_sizes")
    assert NO_AUDIENCES not in chart
    names = re.findall(r'text-anchor="end" fill="#333">([a-z_]+)</text>', chart)
    assert names == ["vip_winback", "new_skincare", "lapsed"]  # largest first
    assert _numbers(chart) == [3, 2, 1]
    assert report.headline["audiences"] == 3


def test_the_report_asset_links_the_file_and_shows_the_headline_numbers(published, monkeypatch):
    from orchestration.assets.publish import profile_report
    from orchestration.resources import WarehouseResource

    monkeypatch.setenv("CP_PUBLISHED_DIR", str(published))
    result = dg.materialize([profile_report], resources={"warehouse": WarehouseResource()})
    (materialization,) = result.asset_materializations_for_node("profile_report")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["report"] == str(report_path(published))
    assert metadata["open"] == report_path(published).resolve().as_uri()
    assert (metadata["customers"], metadata["segments"], metadata["audiences"]) == (10, 2, 0)
    assert metadata["high_churn_risk_share"] == pytest.approx(3 / 9, abs=1e-4)
    assert metadata["median_clv"] == 150.0
    assert metadata["mean_tag_coverage"] == pytest.approx(0.6)


def test_the_headline_says_what_its_shares_and_sums_are_of(tmp_path):
    # 3 of 9 scored buyers are at high risk; the ten customers include one not scored.
    report = build_report(_published(tmp_path) / DATABASE_NAME, tmp_path / "report")
    page = report.path.read_text(encoding="utf-8")
    assert "High churn risk, of scored buyers" in page
    assert "Expected revenue, next 365 days, undiscounted" in page


def test_a_shop_without_churn_scores_or_values_still_gets_its_report(tmp_path):
    # Nobody had bought twice: churn and value wrote every customer unscored, and drawing
    # the empty CLV chart failed the report step.
    published = _published(
        tmp_path,
        churn_scores="select customer_id, cast(null as double) as churn_probability,"
        " cast(null as varchar) as risk_tier from (values ('c1'), ('c2')) as t(customer_id)",
        customer_value="select customer_id, cast(null as double) as clv, cast(null as double)"
        " as expected_revenue, 365 as horizon_days from (values ('c1')) as t(customer_id)",
    )
    report = build_report(published / DATABASE_NAME, tmp_path / "report")
    page = report.path.read_text(encoding="utf-8")
    assert "没有数据 / No data." in page and _chart(page, "clv_distribution")
