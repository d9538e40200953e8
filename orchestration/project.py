"""The dbt project as Dagster sees it."""

import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from dagster_dbt import DagsterDbtProjectPreparer, DbtProject

from orchestration.resources import DbtCli
from orchestration.settings import Settings

settings = Settings.from_env()
settings.export()  # dbt subprocesses resolve the same warehouse and raw paths
# dbt runs as a subprocess: use the one installed beside this interpreter, even when the
# virtual environment is not activated (e.g. `.venv/bin/customer-profiles run`).
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
MANIFEST_FILE = "manifest.json"

dbt_project = DbtProject(
    project_dir=settings.dbt_project_dir, profiles_dir=settings.dbt_project_dir
)


class ManifestPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (`dbt parse`, then the seeds' partial-parse entries marked
    stale), with its dbt resource swapped for DbtCli: 6.3 -> 3.3 s at every start.

    The parse writes into a folder of its own, and its two files then replace target/'s by
    rename: other processes read them meanwhile (the UI's code server loads the manifest, a
    run's dbt steps copy the partial-parse file, a second `make run` parses too), and dbt
    writes them in place, so a reader could otherwise get half of one.
    """

    def _prepare_manifest(self, project: DbtProject) -> None:
        target = project.project_dir / project.target_path
        target.mkdir(parents=True, exist_ok=True)
        parsing = Path(tempfile.mkdtemp(prefix="parse-", dir=target))
        try:
            if (target / PARTIAL_PARSE_FILE).exists():  # the parse starts from the last one
                shutil.copy(target / PARTIAL_PARSE_FILE, parsing / PARTIAL_PARSE_FILE)
            DbtCli(project_dir=project).cli(
                self._prepare_project_cli_args, target_path=parsing
            ).wait()
            # The invalidation reads only these two fields; an absolute target_path wins.
            self._invalidate_seeds_in_partial_parse(
                SimpleNamespace(project_dir=project.project_dir, target_path=parsing)
            )
            for name in (PARTIAL_PARSE_FILE, MANIFEST_FILE):
                os.replace(parsing / name, target / name)
        finally:
            if (parsing / "dbt.log").exists():  # where it was before, for a failed parse
                os.replace(parsing / "dbt.log", target / "dbt.log")
            shutil.rmtree(parsing, ignore_errors=True)


def prepare_manifest() -> None:
    """Parse the dbt project so Dagster can load it (the manifest is not committed)."""
    ManifestPreparer().prepare(dbt_project)


# Under `dagster dev` the code server re-parses the project when it (re)loads, so edits to
# models show up at once. Its run workers and their step processes import this module too,
# and each would parse again (10-15 s apiece on a small machine) a project the code server
# that spawned them has just parsed: they inherit this marker and skip it. A reload starts a
# fresh code server from `dagster dev`, which does not carry the marker, so it parses.
_PREPARED_MARKER = "CP_DBT_MANIFEST_PREPARED_BY_DEV"
if dbt_project.preparer.using_dagster_dev() and not os.environ.get(_PREPARED_MARKER):
    prepare_manifest()
    os.environ[_PREPARED_MARKER] = str(os.getpid())


def dbt_var(name: str) -> object:
    """A var's value in dbt_project.yml: thresholds Python models share with dbt (the churn
    horizon, the CLV horizon) live there once."""
    import yaml

    project = yaml.safe_load((Path(dbt_project.project_dir) / "dbt_project.yml").read_text())
    variables = project.get("vars", {})
    if name not in variables:
        raise KeyError(f"dbt_project.yml declares no var {name!r}")
    return variables[name]
