"""The cron and GitHub Actions examples do what their comments say."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

EXAMPLES = Path(__file__).parent.parent / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "catalog-sync.yml"


def _steps() -> list[dict[str, object]]:
    document = yaml.safe_load(WORKFLOW.read_text())
    return [step for job in document["jobs"].values() for step in job["steps"]]


def test_no_example_installs_an_unpublished_package_by_name() -> None:
    for path in (*EXAMPLES.rglob("*.yml"), *EXAMPLES.rglob("*.sh"), *EXAMPLES.rglob("*.md")):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#") or "would fetch" in line:
                continue
            assert not re.search(r"pip install (-\S+ )*shopsync\b", line), (path, line)
    document = yaml.safe_load(WORKFLOW.read_text())
    assert "git+https://" in document["env"]["SHOPSYNC_PIP_SPEC"]


@pytest.mark.parametrize(
    ("code", "fails"), [(0, False), (2, False), (1, True), (3, True), (70, True)]
)
def test_the_plan_step_fails_on_everything_but_0_and_2(
    tmp_path: Path, code: int, fails: bool
) -> None:
    (plan,) = [step for step in _steps() if step.get("name") == "Plan"]
    stub = tmp_path / "bin" / "shopsync"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\necho 'Plan: 1 to create'\nexit {code}\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    # GitHub runs a step's script with `bash -e {0}`.
    ended = subprocess.run(
        ["bash", "-e", "-c", str(plan["run"])], cwd=tmp_path, env=env, check=False
    )
    assert (ended.returncode != 0) is fails
    assert "Plan: 1 to create" in (tmp_path / "summary.md").read_text()
