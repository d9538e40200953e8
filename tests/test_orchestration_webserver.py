"""Through the Dagster UI's server, as an operator would use it.

`customer-profiles ui` (what `make ui` runs) is started on a free loopback port over a copy of
the dbt project with one extra singular test, `assert_injected_orders_check`, that the test can
make fail or pass by rewriting it. Over the GraphQL API the UI uses, it checks that the graph,
schedule, sensor and single-writer instance config are served; launches the whole graph on
a tiny generated dataset with the injected dbt test failing and reads the failed check; then
fixes it and re-executes from asset failure, which must finish the graph, publish, and not
rebuild what had succeeded. The two runs cost one full build.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from orchestration.jobs import WAREHOUSE_WRITER_TAG, WAREHOUSE_WRITER_VALUE
from orchestration.publish import DATABASE_NAME, read_publish_info
from orchestration.report import CHARTS, report_path
from orchestration.settings import PROJECT_DIR

CLI = str(Path(sys.executable).with_name("customer-profiles"))
SERVER_START_TIMEOUT = 300
RUN_TIMEOUT = 420
INJECTED_TEST = "assert_injected_orders_check"
PASSING = "select order_id from {{ ref('stg_commerce__orders') }} where false\n"
FAILING = "select order_id from {{ ref('stg_commerce__orders') }} limit 3\n"
DBT_PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/dbt")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, dbt_dir: Path, warehouse: Path, log: Path):
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.dbt_dir = dbt_dir
        self.warehouse = warehouse
        self.log = log
        self.location = ""
        self.published = warehouse.parent / "published"

    def query(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def inject(self, sql: str) -> None:
        (self.dbt_dir / "tests" / "dbt" / f"{INJECTED_TEST}.sql").write_text(sql)

    def log_tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""


def _stop(process: subprocess.Popen) -> None:
    """Stop `dagster dev` and everything it started: its process group, politely then not."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                process.wait(timeout=5)
                return
            process.poll()
            time.sleep(0.5)


def _wait_until_loaded(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"dagster dev exited early:\n{server.log_tail()}"
        try:
            data = server.query(
                "{ workspaceOrError { ... on Workspace { locationEntries {"
                " name loadStatus locationOrLoadError { __typename ... on PythonError"
                " { message } } } } } }"
            )
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(2)
            continue
        entries = data["workspaceOrError"]["locationEntries"]
        if entries and entries[0]["loadStatus"] == "LOADED":
            error = entries[0]["locationOrLoadError"]
            assert error["__typename"] == "RepositoryLocation", error
            server.location = entries[0]["name"]
            return
        time.sleep(2)
    pytest.fail(f"the Dagster UI did not load in {SERVER_START_TIMEOUT}s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def server(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    dbt_dir = root / "dbt"
    for part in DBT_PROJECT_PARTS:
        source = PROJECT_DIR / part
        if source.is_dir():
            shutil.copytree(source, dbt_dir / part, ignore=shutil.ignore_patterns("target"))
        else:
            (dbt_dir / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dbt_dir / part)
    port = _free_port()
    server = Server(port, dbt_dir, root / "warehouse.duckdb", root / "dagster-dev.log")
    server.inject(PASSING)
    env = {
        **os.environ,
        "CP_RAW_DIR": str(tiny_dataset / "raw"),
        "CP_WAREHOUSE": str(server.warehouse),
        "CP_DBT_PROJECT_DIR": str(dbt_dir),
        "DAGSTER_HOME": str(root / "dagster"),
        "CP_PUBLISHED_DIR": str(server.published),
    }
    with server.log.open("w") as log:
        process = subprocess.Popen(
            [CLI, "ui", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so _stop reaches every child
        )
    try:
        _wait_until_loaded(server, process)
        yield server
    finally:
        _stop(process)


LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

REEXECUTE = """
mutation ($params: ReexecutionParams!) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""

RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      tags { key value }
      stepStats { stepKey status }
      assetMaterializations { assetKey { path } }
    }
  }
}"""

CHECKS = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(afterCursor: null, limit: 5000) {
        events {
          __typename
          ... on AssetCheckEvaluationEvent {
            evaluation { assetKey { path } checkName success severity }
          }
          ... on ExecutionStepFailureEvent { stepKey error { message } }
          ... on MessageEvent { message }
        }
      }
    }
  }
}"""


def _launch(server: Server, as_of_date: str | None = None) -> str:
    params = {
        "selector": {
            "repositoryLocationName": server.location,
            "repositoryName": "__repository__",
            "jobName": "full_build",
        },
        "runConfigData": {"resources": {"as_of": {"config": {"as_of_date": as_of_date}}}},
    }
    result = server.query(LAUNCH, params=params)["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _wait(server: Server, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = server.query(RUN, runId=run_id)["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(2)
    pytest.fail(f"run {run_id} did not finish in {RUN_TIMEOUT}s:\n{server.log_tail()}")


def _events(server: Server, run_id: str) -> list[dict]:
    run = server.query(CHECKS, runId=run_id)["runOrError"]
    return run["eventConnection"]["events"]


def _check_results(events: list[dict]) -> dict[tuple[str, str], bool]:
    """(asset key, check name) -> passed, for every check evaluated in a run."""
    return {
        ("/".join(e["evaluation"]["assetKey"]["path"]), e["evaluation"]["checkName"]): e[
            "evaluation"
        ]["success"]
        for e in events
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }


def test_the_ui_serves_the_graph_schedule_sensor_and_the_single_writer_instance(server):
    data = server.query(
        """{
          repositoriesOrError { ... on RepositoryConnection { nodes {
            name
            jobs { name }
            schedules { name executionTimezone cronSchedule }
            sensors { name }
          } } }
          assetNodes { assetKey { path } }
          instance {
            poolConfig { defaultPoolLimit poolGranularity }
            runQueueConfig { tagConcurrencyLimitsYaml }
          }
        }"""
    )
    (repository,) = data["repositoriesOrError"]["nodes"]
    assert "full_build" in {job["name"] for job in repository["jobs"]}
    assert repository["schedules"] == [
        {"name": "daily_refresh", "executionTimezone": "Asia/Shanghai", "cronSchedule": "0 6 * * *"}
    ]
    assert repository["sensors"] == [{"name": "raw_files_sensor"}]
    keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert {"raw_files/orders", "raw/orders", "staging/stg_commerce__orders"} <= keys

    instance = data["instance"]
    assert instance["poolConfig"] == {"defaultPoolLimit": 1, "poolGranularity": "op"}
    assert WAREHOUSE_WRITER_TAG in instance["runQueueConfig"]["tagConcurrencyLimitsYaml"]


ALL_STEPS = {
    "raw_files",
    "raw_sources",
    "dbt_models",
    "dbt_models_2",
    "dbt_models_3",
    "dbt_models_4",
    "customer_value",
    "churn_scores",
    "customer_segments",
    "audiences",
    "published_tables",
    "profile_report",
}


@pytest.fixture(scope="module")
def failed_run(server) -> tuple[str, dict]:
    """A run launched over GraphQL (as_of_date set in its run config) while the injected dbt
    test fails."""
    server.inject(FAILING)
    run_id = _launch(server, as_of_date="2025-12-31")
    return run_id, _wait(server, run_id)


@pytest.fixture(scope="module")
def rerun(server, failed_run) -> tuple[str, dict]:
    """The UI's "Re-execute > From asset failure" once the test passes again. Together the two
    runs build the whole graph once, the cost of one full run."""
    server.inject(PASSING)
    result = server.query(
        REEXECUTE, params={"parentRunId": failed_run[0], "strategy": "FROM_ASSET_FAILURE"}
    )["launchPipelineReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    return run_id, _wait(server, run_id)


def test_a_failing_dbt_test_fails_its_check_and_stops_the_run_at_its_model(server, failed_run):
    failed_id, failed = failed_run
    assert failed["status"] == "FAILURE"
    assert {"key": WAREHOUSE_WRITER_TAG, "value": WAREHOUSE_WRITER_VALUE} in failed["tags"]
    events = _events(server, failed_id)
    checks = _check_results(events)
    # The failed check names the model (its asset) and the dbt test (its name).
    assert checks[("staging/stg_commerce__orders", INJECTED_TEST)] is False
    assert all(ok for key, ok in checks.items() if key[1] != INJECTED_TEST), checks
    (failure,) = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert failure["stepKey"] == "dbt_models"
    steps = {s["stepKey"]: s["status"] for s in failed["stepStats"]}
    assert steps["raw_files"] == steps["raw_sources"] == "SUCCESS"
    # dbt went on with everything the failure did not hold back.
    built = {"/".join(m["assetKey"]["path"]) for m in failed["assetMaterializations"]}
    assert {"raw/orders", "reference/cn_cities"} <= built


def test_a_rerun_from_the_failure_rebuilds_only_what_failed_and_finishes_the_graph(
    server, failed_run, rerun
):
    rerun_id, run = rerun
    assert run["status"] == "SUCCESS", server.log_tail()
    # Observations are never "materialised", so Dagster re-observes the raw folders (cheap,
    # no warehouse); the raw views, which did materialise, are not rebuilt. The dbt steps
    # around the Python models (dbt -> models -> dbt -> audiences -> dbt), publishing and
    # the report run again.
    steps = {step["stepKey"] for step in run["stepStats"]}
    assert steps == ALL_STEPS - {"raw_sources"}, steps
    assert steps | {s["stepKey"] for s in failed_run[1]["stepStats"]} == ALL_STEPS
    rebuilt = {"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]}
    # The failed model and what its failure held back downstream; nothing upstream or beside.
    assert rebuilt == {"staging/stg_commerce__orders"} | _downstream_of(
        "staging/stg_commerce__orders"
    )


def test_the_rerun_reports_every_check_passing_and_keeps_the_launch_config(server, rerun):
    rerun_id, _ = rerun
    events = _events(server, rerun_id)
    checks = _check_results(events)
    assert checks[("staging/stg_commerce__orders", INJECTED_TEST)] is True
    assert any(name.startswith("rows_accounted_for") for _, name in checks)
    assert all(checks.values()), checks
    # The parent's run config reached dbt as --vars.
    messages = " ".join(e.get("message") or "" for e in events)
    assert '--vars {"as_of_date": "2025-12-31"}' in messages


def test_the_finished_graph_is_published_for_bi_with_its_report(server, rerun):
    rerun_id, _ = rerun
    stamps = read_publish_info(server.published / DATABASE_NAME)
    assert {
        (s["run_id"], str(s["as_of_date"])) for s in stamps if s["table_name"] == "customer_profile"
    } == {(rerun_id, "2025-12-31")}
    assert {s["table_name"] for s in stamps} >= {"customer_profile", "churn_scores", "model_runs"}
    page = report_path(server.published).read_text(encoding="utf-8")
    assert all(f'data-chart="{name}"' in page for name in CHARTS)


def _downstream_of(key: str) -> set[str]:
    """Every asset below `key` in the graph (what a failed blocking check holds back)."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    found: set[str] = set()
    frontier = [dg.AssetKey(key.split("/"))]
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            name = child.to_user_string()
            if name not in found:
                found.add(name)
                frontier.append(child)
    return found
