"""The project's own dbt generic tests (tests/dbt/generic), run on rows made to fail them."""

import pandas as pd
from dbtrunner import dbt_show_value


def test_unique_combination_of_columns_names_every_repeated_combination_nulls_included(
    tmp_path,
):
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    pd.DataFrame(
        [("O1", "C1", "2025-01-01 09:00:00", 10.0, "completed")],
        columns=["order_id", "customer_ref", "ordered_at", "total_amount", "status"],
    ).to_parquet(tmp_path / "raw" / "orders" / "part-0.parquet", index=False)
    rows = (
        "(select * from (values (1, 'a'), (1, 'a'), (1, 'a'), (1, 'b'), (2, 'a'),"
        " (null, 'c'), (null, 'c'), (3, null), (4, null)) as t(k, v))"
    )
    failures = dbt_show_value(
        tmp_path / "raw",
        tmp_path / "warehouse.duckdb",
        "select string_agg(coalesce(cast(k as varchar), '-') || coalesce(v, '-') || ':'"
        " || occurrences, ',' order by k nulls first, v) from ("
        f'{{{{ test_unique_combination_of_columns(model="{rows}",'
        " combination_of_columns=['k', 'v']) }}) as failing",
    )
    assert failures == "-c:2,1a:3"
