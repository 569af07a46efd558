"""The layering rules of pyproject.toml's import contracts hold, and they do catch a back-edge."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

PACKAGES = ("core", "ingestion", "simulator", "transform", "opendata", "govdata", "dags")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def copy_of_the_code(destination: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


ONE_WAY = "Data flows one way"
NO_CLI = "Nothing imports the command line or the DAGs"
NO_SIMULATOR = "The production path does not run the simulator"


@pytest.mark.parametrize(
    ("module", "back_edge", "contract"),
    [
        ("core/warehouse.py", "import ingestion.loader", ONE_WAY),
        ("ingestion/loader.py", "import simulator.api", ONE_WAY),
        ("simulator/api.py", "import ingestion.loader", ONE_WAY),
        ("transform/dbt.py", "import opendata.publish", ONE_WAY),
        ("opendata/publish.py", "import govdata.services.ckan", ONE_WAY),
        ("govdata/pipeline.py", "import govdata.cli", NO_CLI),
        ("govdata/pipeline.py", "import simulator.generate", NO_SIMULATOR),
    ],
)
def test_a_back_edge_breaks_a_contract(
    tmp_path: Path, module: str, back_edge: str, contract: str
) -> None:
    root = copy_of_the_code(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{back_edge}  # the deliberate back-edge\n")
    result = lint_imports(root)
    assert result.returncode != 0
    verdicts = " ".join(result.stdout.split())  # long contract names wrap
    assert f"{contract} BROKEN" in verdicts, result.stdout
