"""The marketer's report: one self-contained HTML file drawn from the published tables.

It reads the published copy (what BI sees), never the working warehouse, and draws aggregates
only, so it stays small at any number of customers. Every label is bilingual (zh / en). The
page has no script, stylesheet, font or image from anywhere else: it opens offline from disk.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from orchestration.report import charts

REPORT_DIR = "report"  # under the published folder, beside the file BI reads
REPORT_NAME = "customer_profiles_report.html"
NO_AUDIENCES = "未定义受众 / No audiences defined"
# The charts every report has, in page order (tests look each one up by this name).
CHARTS = (
    "segment_sizes",
    "segment_radar",
    "rfm_grid",
    "lifecycle_funnel",
    "churn_distribution",
    "churn_calibration",
    "clv_distribution",
    "tag_coverage",
    "audience_sizes",
)
HISTOGRAM_BINS = 20  # fine enough to show a shape, coarse enough to read each bar
CLV_CAP_QUANTILE = 0.99  # CLV is heavy-tailed: the top 1% goes into one last bar
CLV_MAX_BINS = 30  # its bins are round numbers wide, so between 12 and 30 of them
RISK_COLORS = {"high": "#e15759", "medium": "#f28e2b", "low": "#59a14f"}


@dataclass(frozen=True)
class Report:
    path: Path
    version: str
    headline: Mapping[str, int | float | None] = field(default_factory=dict)
    charts: tuple[str, ...] = ()


def _plain(value: Any) -> Any:
    """Decimals as floats: a money column may be DECIMAL, and charts do float arithmetic."""
    return float(value) if isinstance(value, Decimal) else value


class _Published:
    """Read-only queries on the published file."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }

    def has(self, table: str) -> bool:
        return table in self.tables

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return [tuple(map(_plain, row)) for row in self.con.execute(sql, list(params)).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.con.execute(sql, list(params)).fetchone()
        return _plain(row[0]) if row else None

    def require(self, *tables: str) -> None:
        missing = [t for t in tables if not self.has(t)]
        if missing:
            raise ValueError(f"the published file has no table {missing[0]!r}: publish first")


def report_path(published_dir: Path) -> Path:
    return Path(published_dir) / REPORT_DIR / REPORT_NAME


def build_report(database_path: Path, out_dir: Path) -> Report:
    """Write the report for the published file `database_path`; replace the old one atomically."""
    if not Path(database_path).exists():
        raise FileNotFoundError(f"no published file at {database_path}: publish first")
    con = duckdb.connect(str(database_path), read_only=True)
    try:
        db = _Published(con)
        db.require(
            "publish_info", "customer_profile", "segment_profiles", "churn_scores",
            "customer_value", "tag_catalog", "model_runs",
        )  # fmt: skip
        version, as_of_date, published_at = con.execute(
            "select any_value(version), max(as_of_date), any_value(published_at) from publish_info"
        ).fetchone()
        headline = _headline(db)
        sections = [
            _segments(db),
            _rfm(db),
            _lifecycle(db),
            _churn(db),
            _clv(db),
            _tags(db),
            _audiences(db),
        ]
    finally:
        con.close()
    page = _page(version, as_of_date, published_at, headline, sections)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_NAME
    temporary = out_dir / f".{REPORT_NAME}.tmp"
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)  # a browser reloading mid-write sees the old page or the new
    return Report(path=path, version=version, headline=headline, charts=CHARTS)


# ---------------------------------------------------------------------------------------------
# Sections: each returns (title, intro, html)


def _headline(db: _Published) -> dict[str, int | float | None]:
    scored = db.one("select count(churn_probability) from churn_scores") or 0
    high = db.one("select count(*) from churn_scores where risk_tier = 'high'") or 0
    return {
        "customers": int(db.one("select count(*) from customer_profile") or 0),
        "segments": int(db.one("select count(*) from segment_profiles") or 0),
        "high_churn_risk_share": round(high / scored, 4) if scored else None,
        "median_clv": _round(db.one("select median(clv) from customer_value")),
        "expected_revenue": _round(db.one("select sum(expected_revenue) from customer_value")),
        "value_horizon_days": db.one("select max(horizon_days) from customer_value"),
        "mean_tag_coverage": _round(db.one("select avg(coverage) from tag_catalog"), 4),
        "audiences": int(db.one("select count(distinct audience_name) from audience_members"))
        if db.has("audience_members")
        else 0,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def _mix(text: str | None) -> dict[str, float]:
    try:
        mix = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return {str(k): float(v or 0) for k, v in mix.items()} if isinstance(mix, dict) else {}


def _segments(db: _Published) -> str:
    rows = db.rows(
        """
        select segment_id, name_zh, name_en, customers, share, avg_monetary_365d,
            avg_order_value, avg_order_count_365d, avg_recency_days, top_categories,
            top_channels, top_dayparts, churn_risk_mix
        from segment_profiles order by customers desc, segment_id
        """
    )
    sizes = charts.bar_chart(
        "segment_sizes",
        [f"{r[1]} / {r[2]}" for r in rows],
        [r[3] for r in rows],
        value_labels=[f"{charts.fmt_number(r[3])} ({charts.fmt_share(r[4])})" for r in rows],
        colors=[charts.color(i) for i in range(len(rows))],
        label_width=260,
        title="分群规模 / Segment sizes",
    )
    # Radar axes: each segment's value over the best segment's, so 1.0 is "the most of all".
    low_risk = []
    for r in rows:
        mix = _mix(r[12])
        total = sum(mix.values())
        low_risk.append(mix.get("low", 0.0) / total if total else 0.0)
    freshness = [1.0 / (1.0 + r[8]) if r[8] is not None else 0.0 for r in rows]
    axes = {
        "消费额\nSpend": [r[5] or 0.0 for r in rows],
        "客单价\nAOV": [r[6] or 0.0 for r in rows],
        "频次\nFrequency": [r[7] or 0.0 for r in rows],
        "新近\nRecency": freshness,
        "低流失\nLow churn": low_risk,
    }
    scaled = {axis: _over_max(values) for axis, values in axes.items()}
    cards = []
    for i, r in enumerate(rows):
        radar = charts.radar(
            "segment_radar",
            list(scaled),
            [scaled[axis][i] for axis in scaled],
            fill=charts.color(i),
            title=f"{r[1]} / {r[2]}",
        )
        facts = [
            ("客户数 Customers", f"{charts.fmt_number(r[3])} ({charts.fmt_share(r[4])})"),
            ("年消费 Spend 365d", charts.fmt_number(r[5])),
            ("客单价 AOV", charts.fmt_number(r[6])),
            ("年购买次数 Orders 365d", charts.fmt_number(r[7], 1)),
            ("距上次购买 Days since purchase", charts.fmt_number(r[8])),
            ("偏好品类 Top categories", r[9] or "–"),
            ("偏好渠道 Top channels", r[10] or "–"),
            ("活跃时段 Active day-parts", r[11] or "–"),
        ]
        rows_html = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts
        )
        cards.append(
            f'<div class="card" style="border-top:4px solid {charts.color(i)}">'
            f"<h3>{escape(r[1])} <small>{escape(r[2])}</small></h3>"
            f"{radar}<table>{rows_html}</table></div>"
        )
    return _section(
        "segments",
        "客户分群与画像 / Segments and personas",
        "每个分群的规模，以及画像卡：雷达图各轴以表现最好的分群为 1。"
        " / The size of each segment, and its persona card: each radar axis is scaled so"
        " that the best segment on it reaches the rim.",
        sizes + f'<div class="cards">{"".join(cards)}</div>',
    )


def _over_max(values: Sequence[float]) -> list[float]:
    peak = max(values, default=0.0)
    return [v / peak if peak > 0 else 0.0 for v in values]


def _rfm(db: _Published) -> str:
    cells = db.rows(
        """
        select r_score, f_score, count(*) from customer_profile
        where r_score is not null and f_score is not null
        group by all
        """
    )
    # Scores only: people who never bought have no R or F score (their tag says so) and are
    # counted in the lifecycle funnel instead.
    cells = [c for c in cells if c[0].isdigit() and c[1].isdigit()]
    r_values = sorted({c[0] for c in cells}, key=int, reverse=True)
    f_values = sorted({c[1] for c in cells}, key=int)
    counts = {(c[0], c[1]): c[2] for c in cells}
    matrix = [[counts.get((r, f), 0) for f in f_values] for r in r_values]
    grid = charts.heatmap(
        "rfm_grid",
        [f"R {r}" for r in r_values],
        [f"F {f}" for f in f_values],
        matrix,
        row_title="近度 Recency (高=最近 high = recent)",
        col_title="频次 Frequency score",
        title="RFM 网格 / RFM grid",
    )
    return _section(
        "rfm",
        "RFM 网格 / RFM grid",
        "每格为客户数：行是近度分（越高越近），列是频次分；未购买的客户不在格中。/ Customers per"
        " cell: rows are the recency score (higher = bought more recently), columns the"
        " frequency score; people who never bought are not on the grid.",
        grid,
    )


def _catalog_values(db: _Published, tag_code: str) -> dict[str, str]:
    """A tag's allowed values with their English names, in the order its yml meta lists them
    (the catalog keeps that order), so an analyst orders the funnel by editing the yml."""
    text = db.one("select allowed_values from tag_catalog where tag_code = ?", [tag_code])
    try:
        values = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    if isinstance(values, list):
        return {str(v): str(v) for v in values}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _lifecycle(db: _Published) -> str:
    counts = dict(db.rows("select lifecycle_stage, count(*) from customer_profile group by 1"))
    names = _catalog_values(db, "lifecycle_stage")
    order = [v for v in names if v in counts]
    order += sorted(k for k in counts if k is not None and k not in order)
    chart = charts.funnel(
        "lifecycle_funnel",
        [f"{stage} {names[stage]}" if stage in names else stage for stage in order],
        [counts[k] for k in order],
        title="生命周期 / Lifecycle",
    )
    return _section(
        "lifecycle",
        "生命周期漏斗 / Lifecycle funnel",
        "按生命周期阶段的客户数，顺序同标签目录。/ Customers per lifecycle stage, in the order"
        " the tag catalog defines.",
        chart,
    )


def _churn(db: _Published) -> str:
    bins = db.rows(
        f"""
        select least(floor(churn_probability * {HISTOGRAM_BINS}), {HISTOGRAM_BINS - 1})::int as b,
            count(*), mode(risk_tier)
        from churn_scores where churn_probability is not null
        group by 1 order by 1
        """
    )
    by_bin = {b: (n, tier) for b, n, tier in bins}
    labels = [f"{b / HISTOGRAM_BINS:.2f}" for b in range(HISTOGRAM_BINS)]
    values = [by_bin.get(b, (0, None))[0] for b in range(HISTOGRAM_BINS)]
    colors = [
        RISK_COLORS.get(by_bin.get(b, (0, None))[1], "#bab0ac") for b in range(HISTOGRAM_BINS)
    ]
    distribution = charts.column_chart(
        "churn_distribution",
        labels,
        values,
        colors=colors,
        x_title="流失概率 Churn probability",
        y_title="客户数 Customers",
        title="流失风险分布 / Churn-risk distribution",
    )
    tiers = dict(db.rows("select risk_tier, count(*) from churn_scores group by 1"))
    legend = " ".join(
        f'<span class="chip" style="background:{RISK_COLORS[t]}"></span>{escape(name)}'
        f" {charts.fmt_number(tiers.get(t, 0))}"
        for t, name in (("high", "高 high"), ("medium", "中 medium"), ("low", "低 low"))
    )
    table = _calibration_table(db)
    calibration = charts.calibration_chart(
        "churn_calibration",
        [row.get("mean_predicted") for row in table],
        [row.get("observed_rate") for row in table],
        x_title="预测概率 Predicted",
        y_title="实际流失率 Observed",
        title="校准曲线 / Calibration",
    )
    note = (
        "校准曲线贴近对角线，说明预测概率可以按字面理解。/ The closer the curve to the diagonal,"
        " the more a predicted probability means what it says (validation data of the latest fit)."
    )
    if not table:
        note = "没有校准数据 / No calibration table in model_runs."
    return _section(
        "churn",
        "流失风险 / Churn risk",
        "按流失概率分箱的客户数，颜色为风险等级。/ Customers by churn probability, coloured by"
        " risk tier.",
        f'<p class="legend">{legend}</p><div class="row"><div>{distribution}</div>'
        f"<div>{calibration}<p class='note'>{escape(note)}</p></div></div>",
    )


def _calibration_table(db: _Published) -> list[dict[str, Any]]:
    """The latest churn fit's reliability table, from model_runs.metrics_json."""
    text = db.one(
        "select metrics_json from model_runs where model_name = 'churn'"
        " order by created_at desc, run_id desc limit 1"
    )
    if not text:
        return []
    table = json.loads(text).get("calibration_table")
    if isinstance(table, str):
        table = json.loads(table)
    return [row for row in table or [] if isinstance(row, dict)]


def _clv(db: _Published) -> str:
    cap = db.one(f"select quantile_cont(clv, {CLV_CAP_QUANTILE}) from customer_value")
    if cap is None or cap <= 0:
        chart = charts.column_chart("clv_distribution", [], [], title="CLV")
        return _section(
            "clv", "客户终身价值 / Customer lifetime value", "没有数据 / No data.", chart
        )
    # Round bin edges (0, 500, 1,000, ...), at most CLV_MAX_BINS of them.
    width = charts.nice_ceiling(cap / CLV_MAX_BINS)
    n = max(1, math.ceil(cap / width))
    bins = dict(
        db.rows(
            f"""
            select least(floor(greatest(clv, 0) / ?), {n - 1})::int, count(*)
            from customer_value where clv is not null group by 1
            """,
            [width],
        )
    )
    labels = [charts.fmt_number(b * width) for b in range(n)]
    labels[-1] = f"≥{labels[-1]}"
    chart = charts.column_chart(
        "clv_distribution",
        labels,
        [bins.get(b, 0) for b in range(n)],
        colors=[charts.color(2)] * n,
        x_title="CLV（元 / CNY）",
        y_title="客户数 Customers",
        title="CLV 分布 / CLV distribution",
    )
    median = db.one("select median(clv) from customer_value")
    return _section(
        "clv",
        "客户终身价值 / Customer lifetime value",
        f"未来一年的预期价值（折现），中位数 {charts.fmt_number(median)} 元；最后一栏含最高的 1%。"
        f" / Expected value over the horizon, discounted; median {charts.fmt_number(median)};"
        " the last bar holds the top 1%.",
        chart,
    )


def _tags(db: _Published) -> str:
    rows = db.rows(
        "select name_zh, name_en, category, coverage from tag_catalog order by tag_order, tag_code"
    )
    categories = sorted({r[2] for r in rows})
    chart = charts.bar_chart(
        "tag_coverage",
        [f"{r[0]} / {r[1]}" for r in rows],
        [r[3] or 0.0 for r in rows],
        value_labels=[charts.fmt_share(r[3]) for r in rows],
        colors=[charts.color(categories.index(r[2])) for r in rows],
        label_width=300,
        bar_height=14,
        title="标签覆盖率 / Tag coverage",
    )
    legend = " ".join(
        f'<span class="chip" style="background:{charts.color(i)}"></span>{escape(c)}'
        for i, c in enumerate(categories)
    )
    return _section(
        "tags",
        "标签覆盖率 / Tag coverage",
        "有取值（非“未知”）的客户占比，颜色为标签类别。/ Share of customers with a known value"
        " for each tag, coloured by category.",
        f'<p class="legend">{legend}</p>{chart}',
    )


def _audiences(db: _Published) -> str:
    rows = (
        db.rows(
            "select audience_name, count(*) from audience_members group by 1 order by 2 desc, 1"
        )
        if db.has("audience_members")
        else []
    )
    if rows:
        chart = charts.bar_chart(
            "audience_sizes",
            [r[0] for r in rows],
            [r[1] for r in rows],
            label_width=260,
            title="受众规模 / Audience sizes",
        )
        intro = "每个已定义受众的成员数。/ Members of each defined audience."
    else:
        chart = charts.bar_chart("audience_sizes", [], [], title=NO_AUDIENCES)
        intro = NO_AUDIENCES
    return _section("audiences", "受众 / Audiences", intro, chart)


def _section(anchor: str, title: str, intro: str, body: str) -> str:
    return (
        f'<section id="{anchor}"><h2>{escape(title)}</h2>'
        f'<p class="intro">{escape(intro)}</p>{body}</section>'
    )


STYLE = """
body{font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;margin:0;
color:#333;background:#f6f7f9}
header{background:#2f3e4e;color:#fff;padding:20px 32px}header h1{margin:0 0 6px;font-size:24px}
header p{margin:0;opacity:.85}main{max-width:1180px;margin:0 auto;padding:16px 32px}
section{background:#fff;border-radius:8px;padding:16px 24px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{font-size:18px;margin:4px 0 8px}
.intro,.note{color:#666;font-size:13px}.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{background:#fff;border-radius:8px;padding:12px 18px;min-width:150px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}.kpi b{display:block;font-size:22px}
.kpi span{font-size:12px;color:#666}.cards{display:flex;flex-wrap:wrap;gap:16px;margin-top:12px}
.card{width:340px;border:1px solid #eee;border-radius:8px;padding:8px 12px}
.card h3{margin:4px 0;font-size:15px}.card small{color:#666;font-weight:normal}
.card table{font-size:12px;border-collapse:collapse;width:100%}
.card th{text-align:left;color:#666;font-weight:normal;padding:2px 6px 2px 0;vertical-align:top}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.chip{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
.legend{font-size:12px}svg.chart{max-width:100%;height:auto}
"""


def _page(version, as_of_date, published_at, headline, sections) -> str:
    kpis = [
        ("客户 Customers", charts.fmt_number(headline["customers"])),
        ("分群 Segments", charts.fmt_number(headline["segments"])),
        (
            "已购客户中高流失风险 High churn risk, of scored buyers",
            charts.fmt_share(headline["high_churn_risk_share"]),
        ),
        ("CLV 中位数 Median CLV", charts.fmt_number(headline["median_clv"])),
        (
            f"未来 {headline['value_horizon_days'] or '?'} 天预期收入（未折现）"
            f" Expected revenue, next {headline['value_horizon_days'] or '?'} days, undiscounted",
            charts.fmt_number(headline["expected_revenue"]),
        ),
        ("平均标签覆盖 Mean tag coverage", charts.fmt_share(headline["mean_tag_coverage"])),
        ("受众 Audiences", charts.fmt_number(headline["audiences"])),
    ]
    kpi_html = "".join(
        f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in kpis
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>客户画像报告 / Customer profile report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<header><h1>客户画像报告 / Customer profile report</h1>"
        f"<p>基准日 As of {escape(str(as_of_date))} · 版本 Version {escape(str(version))}"
        f" · 发布 Published {escape(str(published_at))} UTC</p></header>"
        f'<main><div class="kpis">{kpi_html}</div>{"".join(sections)}</main></body></html>\n'
    )
