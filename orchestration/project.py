"""The dbt project as Dagster sees it."""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_DIR, Settings

Settings.from_env().export()  # dbt subprocesses resolve the same warehouse and raw paths
# dbt runs as a subprocess: use the one installed beside this interpreter, even when the
# virtual environment is not activated (e.g. `.venv/bin/customer-profiles run`).
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt on load so edits to models show up at once.
dbt_project.prepare_if_dev()
