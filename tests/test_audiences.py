"""Audiences from the definitions file, lookalikes, and the uplift interval: on hand-made data."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from orchestration.audiences.definitions import (
    AudienceDefinitionError,
    load_definitions,
    parse_definitions,
)
from orchestration.audiences.expression import AudienceExpressionError
from orchestration.audiences.lookalike import LookalikeConfig, lookalike_scores
from orchestration.audiences.members import build_audiences, count_expression
from orchestration.audiences.uplift import uplift_interval
from orchestration.settings import PROJECT_DIR

# Fewer boosting rounds than the default: the lookalikes here are obvious, and the suite runs
# on 2 cores.
QUICK = LookalikeConfig(max_iter=40)

# Ten customers whose tags make every audience's right answer obvious.
PROFILE = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(10)],
        "as_of_date": pd.Timestamp("2025-06-30"),
        "has_marketing_consent": [True, False] * 5,
        "city": ["上海市"] * 4 + ["北京市"] * 6,
        "age_band": [
            "90后",
            "90后",
            "80后",
            "80后",
            "90后",
            "90后",
            "00后",
            "00后",
            "80后",
            "80后",
        ],
        "monetary_365d": [600.0, 100.0, 900.0, 50.0, 700.0, 800.0, 0.0, 20.0, 1000.0, 300.0],
        "lifecycle_stage": ["活跃"] * 5 + ["沉睡"] * 5,
    }
)
CATALOG = pd.DataFrame(
    {
        "tag_code": ["age_band", "lifecycle_stage"],
        "allowed_values": [
            '{"00后": "", "90后": "", "80后": "", "未知": ""}',
            '{"活跃": "", "沉睡": "", "潜客": ""}',
        ],
    }
)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.register("profile_frame", PROFILE)
    con.execute("create table marts.customer_profile as select * from profile_frame")
    con.execute(
        "create table marts.customer_features as"
        " select customer_id, as_of_date, monetary_365d from profile_frame"
    )
    con.register("catalog_frame", CATALOG)
    con.execute("create table marts.tag_catalog as select * from catalog_frame")
    yield con
    con.close()


def _build(con, document: dict):
    return build_audiences(
        con,
        parse_definitions(document, source="audiences.yml"),
        profile="marts.customer_profile",
        catalog="marts.tag_catalog",
        features="marts.customer_features",
        lookalike=QUICK,
    )


def _members(con) -> dict[str, set[str]]:
    rows = con.execute("select audience_name, customer_id from ml.audience_members").fetchall()
    found: dict[str, set[str]] = {}
    for audience, customer in rows:
        found.setdefault(audience, set()).add(customer)
    return found


def _rule(name: str, expression: str, priority: int = 0) -> dict:
    return {
        "name": name,
        "owner": "crm",
        "description": "d",
        "expression": expression,
        "priority": priority,
    }


SHANGHAI_90S = _rule("sh_90s", "city = '上海市' and age_band = '90后'", priority=1)
BIG_SPENDERS = _rule("big", "monetary_365d > 500", priority=5)


def test_each_audience_holds_exactly_the_customers_its_expression_selects(con):
    build = _build(con, {"audiences": [SHANGHAI_90S, BIG_SPENDERS]})
    assert _members(con) == {"sh_90s": {"c0", "c1"}, "big": {"c0", "c2", "c4", "c5", "c8"}}
    assert build.sizes == {"sh_90s": 2, "big": 5}
    assert build.consented == {"sh_90s": 1, "big": 4}  # even-numbered customers consented


def test_overlaps_are_counted_and_exclusivity_keeps_only_the_higher_priority(con):
    build = _build(con, {"exclusive": True, "audiences": [SHANGHAI_90S, BIG_SPENDERS]})
    assert build.overlaps == [("big", "sh_90s", 1)]  # c0 is in both
    assert _members(con) == {"sh_90s": {"c1"}, "big": {"c0", "c2", "c4", "c5", "c8"}}
    assert build.removed_by_exclusivity == {"sh_90s": 1, "big": 0}
    catalog = con.execute(
        "select audience_name, members, removed_by_exclusivity, expression from ml.audiences"
    ).fetchall()
    assert ("sh_90s", 1, 1, "city = '上海市' AND age_band = '90后'") in catalog


def test_without_exclusivity_every_membership_stays_and_the_top_priority_is_marked(con):
    _build(con, {"audiences": [SHANGHAI_90S, BIG_SPENDERS]})
    top = con.execute(
        "select audience_name from ml.audience_members where customer_id = 'c0' and is_top_priority"
    ).fetchall()
    assert top == [("big",)]


def test_equal_priorities_are_broken_by_the_order_in_the_file(con):
    first, second = _rule("first", "age_band = '90后'"), _rule("second", "monetary_365d > 500")
    _build(con, {"exclusive": True, "audiences": [first, second]})
    assert "c0" in _members(con)["first"] and "c0" not in _members(con)["second"]


def test_a_tag_typo_fails_the_build_naming_the_audience_and_writes_nothing(con):
    _build(con, {"audiences": [SHANGHAI_90S]})
    before = con.execute("select * from ml.audience_members order by all").fetchall()
    typo = _rule("typo", "age_band = '90後'")
    with pytest.raises(AudienceDefinitionError, match=r"audiences.yml: audience 'typo': .*90后"):
        _build(con, {"audiences": [SHANGHAI_90S, typo]})
    assert con.execute("select * from ml.audience_members order by all").fetchall() == before


def test_an_injection_in_the_definitions_file_is_rejected_before_any_sql_runs(con):
    evil = _rule("evil", "1=1; drop table marts.customer_profile")
    with pytest.raises(AudienceDefinitionError, match="audience 'evil'.*one expression"):
        _build(con, {"audiences": [evil]})
    assert con.execute("select count(*) from marts.customer_profile").fetchone()[0] == 10


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"audiences": [{**SHANGHAI_90S, "name": "Bad Name"}]}, "lowercase snake_case"),
        ({"audiences": [{**SHANGHAI_90S, "owner": ""}]}, "`owner` is required"),
        ({"audiences": [{**SHANGHAI_90S, "colour": "red"}]}, r"unknown key\(s\) \['colour'\]"),
        ({"audiences": [{**SHANGHAI_90S, "priority": "high"}]}, "whole number"),
        ({"audiences": [SHANGHAI_90S, SHANGHAI_90S]}, r"used twice: \['sh_90s'\]"),
        (
            {"audiences": [{k: v for k, v in SHANGHAI_90S.items() if k != "expression"}]},
            "`expression` is required",
        ),  # fmt: skip
        (
            {
                "audiences": [
                    {
                        "name": "lal",
                        "owner": "o",
                        "description": "d",
                        "lookalike_of": "nobody",
                        "size": 5,
                    }
                ]
            },  # fmt: skip
            "lookalike_of 'nobody' is not a rule audience",
        ),
        (
            {
                "audiences": [
                    SHANGHAI_90S,
                    {
                        "name": "lal",
                        "owner": "o",
                        "description": "d",
                        "lookalike_of": "sh_90s",
                        "size": 0,
                    },
                ]
            },  # fmt: skip
            "positive whole number",
        ),
        ({"exclusive": "yes", "audiences": []}, "true or false"),
        ({"audience": []}, "unknown top-level key"),
        (["not", "a", "mapping"], "expected a mapping"),
    ],
)
def test_a_malformed_definitions_file_names_the_file_the_audience_and_the_problem(
    document, message
):
    with pytest.raises(AudienceDefinitionError, match=message) as error:
        parse_definitions(document, source="audiences.yml")
    assert str(error.value).startswith("audiences.yml")


def test_the_shipped_definitions_file_is_valid_and_uses_every_kind_of_audience():
    definitions = load_definitions(PROJECT_DIR / "audiences.yml")
    assert any(a.is_lookalike for a in definitions.audiences)
    assert any(not a.is_lookalike for a in definitions.audiences)


def test_an_unreadable_definitions_file_is_reported_with_its_path(tmp_path):
    bad = tmp_path / "audiences.yml"
    bad.write_text("audiences: [unclosed", encoding="utf-8")
    with pytest.raises(AudienceDefinitionError, match=f"{bad}: not valid YAML"):
        load_definitions(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_definitions(tmp_path / "missing.yml")


def test_a_key_given_twice_is_an_error_naming_the_file_and_line(tmp_path):
    # PyYAML keeps the last of two equal keys: the first expression would vanish unseen.
    path = tmp_path / "audiences.yml"
    path.write_text(
        "audiences:\n  - name: a\n    owner: crm\n    description: d\n"
        "    expression: monetary_365d > 1\n    expression: monetary_365d > 500\n",
        encoding="utf-8",
    )
    with pytest.raises(AudienceDefinitionError, match="'expression' is given twice") as error:
        load_definitions(path)
    assert str(error.value).startswith(str(path)) and "line 6" in str(error.value)


def test_a_name_yaml_reads_as_a_boolean_says_to_quote_it():
    with pytest.raises(AudienceDefinitionError, match="put the name in quotes"):
        parse_definitions({"audiences": [{**_rule("x", "true"), "name": False}]})


def test_count_expression_counts_customers_and_those_with_consent(con):
    assert count_expression(con, "lifecycle_stage = '活跃'") == (5, 3)


def test_an_expression_the_engine_cannot_evaluate_fails_naming_the_audience(con):
    overflow = "abs(-9223372036854775808) > monetary_365d"
    with pytest.raises(AudienceExpressionError, match="cannot evaluate it: .*Overflow"):
        count_expression(con, overflow)
    document = {"audiences": [SHANGHAI_90S, _rule("too_big", overflow)]}
    with pytest.raises(AudienceDefinitionError, match="audience 'too_big': the warehouse cannot"):
        _build(con, document)


def test_an_audience_that_selects_no_one_is_reported_with_zero_members(con):
    build = _build(con, {"audiences": [SHANGHAI_90S, _rule("nobody", "monetary_365d < 0")]})
    assert build.sizes == {"sh_90s": 2, "nobody": 0}
    assert build.consented["nobody"] == 0


# --- lookalike -----------------------------------------------------------------------------------


def _two_kinds(n: int = 2000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Half the customers spend big on skincare at night; the rest are small daytime buyers."""
    rng = np.random.default_rng(seed)
    kind = rng.random(n) < 0.2
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "monetary_365d": np.where(kind, rng.normal(2000, 300, n), rng.normal(300, 150, n)),
            "order_count": rng.poisson(np.where(kind, 8, 3)),
            "top_category": np.where(kind, "面部护理", rng.choice(["香水", "彩妆", None], n)),
            "recency_days": rng.integers(0, 365, n),  # noise: the same for both kinds
        }
    )
    return frame, kind


def test_a_lookalike_of_half_of_a_kind_finds_the_other_half():
    frame, kind = _two_kinds()
    ids = frame.customer_id.to_numpy()
    of_kind = ids[kind]
    seed, rest = of_kind[: len(of_kind) // 2], of_kind[len(of_kind) // 2 :]
    expansion = lookalike_scores(frame, seed, size=len(rest), config=QUICK)
    assert len(expansion) == len(rest)
    assert not set(expansion.customer_id) & set(seed)
    precision = np.isin(expansion.customer_id, rest).mean()
    assert precision > 0.9  # base rate of the kind among non-seeds: about 11%
    assert expansion["rank"].tolist() == list(range(1, len(rest) + 1))
    assert expansion.likeness.is_monotonic_decreasing


def test_a_lookalike_is_the_same_on_every_run():
    frame, kind = _two_kinds(n=600)
    seed = frame.customer_id[kind][:50]
    first = lookalike_scores(frame, seed, size=50, config=QUICK)
    again = lookalike_scores(frame, seed, size=50, config=QUICK)
    pd.testing.assert_frame_equal(first, again)


def test_a_lookalike_refuses_a_seed_it_cannot_learn_from():
    frame, _ = _two_kinds(n=50)
    with pytest.raises(ValueError, match="at least 2 known customers"):
        lookalike_scores(frame, ["nobody"], size=10)
    with pytest.raises(ValueError, match="nobody to expand to"):
        lookalike_scores(frame, frame.customer_id, size=10)


def test_a_lookalike_audience_expands_its_seed_with_scores_and_ranks(con):
    lookalike = {"name": "lal", "owner": "o", "description": "d", "lookalike_of": "big", "size": 3}
    _build(con, {"audiences": [BIG_SPENDERS, lookalike]})
    rows = con.execute(
        "select customer_id, likeness_rank from ml.audience_members"
        " where audience_name = 'lal' order by likeness_rank"
    ).fetchall()
    assert [rank for _, rank in rows] == [1, 2, 3]
    assert not {c for c, _ in rows} & _members(con)["big"]


# --- uplift interval -----------------------------------------------------------------------------


def test_the_uplift_interval_reproduces_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17, table II, example (a): 56/70 vs 48/80,
    # method 10 (score interval from Wilson limits): 0.0524 to 0.3339.
    uplift, low, high = uplift_interval(56, 70, 48, 80)
    assert uplift == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=1e-4)
    assert high == pytest.approx(0.3339, abs=1e-4)


def test_the_uplift_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    trials = 20_000
    p_treatment, p_control, n_treatment, n_control = 0.12, 0.07, 400, 100
    x1 = rng.binomial(n_treatment, p_treatment, trials)
    x0 = rng.binomial(n_control, p_control, trials)
    _, low, high = uplift_interval(x1, n_treatment, x0, n_control)
    coverage = np.mean((low <= 0.05) & (high >= 0.05))
    assert 0.935 <= coverage <= 0.965


def test_definitions_yaml_round_trips_through_the_loader(tmp_path):
    path = tmp_path / "audiences.yml"
    path.write_text(yaml.safe_dump({"audiences": [SHANGHAI_90S]}, allow_unicode=True), "utf-8")
    (audience,) = load_definitions(path).audiences
    assert audience.expression == SHANGHAI_90S["expression"]
    assert Path(load_definitions(path).source) == path


def test_a_lookalike_ignores_columns_nobody_has_a_value_for():
    # An orders-only shop has no visits: its visit features are empty, and the booster
    # cannot bin an empty column (the whole audiences step failed on CDNOW).
    frame, kind = _two_kinds(n=600)
    frame["sessions_90d"] = np.nan
    seed = frame.customer_id[kind][:50]
    expansion = lookalike_scores(frame, seed, size=20, config=QUICK)
    assert len(expansion) == 20


def test_a_lookalike_whose_seed_is_too_small_today_is_skipped_and_reported(con):
    lookalike = {"name": "lal", "owner": "o", "description": "d", "lookalike_of": "one"}
    one = _rule("one", "monetary_365d > 1000000", priority=5)  # nobody spends that much
    build = _build(con, {"audiences": [BIG_SPENDERS, one, {**lookalike, "size": 3}]})
    assert build.sizes["lal"] == 0 and build.sizes["big"] == 5
    assert "its seed 'one' has 0 member(s)" in build.skipped["lal"]
