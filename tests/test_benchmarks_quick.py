"""The benchmark keeps working: ``benchmarks/run.py --quick`` runs and reports well-formed results.

No timing is asserted here: figures depend on the machine. docs/benchmarks.md holds them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
SECTIONS = ("upload", "adaptive", "local", "incremental", "startup")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    workdir = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(out.read_text(encoding="utf-8"))

    assert document["mode"] == "quick"
    assert document["repeat"] == 1
    machine = document["machine"]
    assert machine["cpus"] >= 1
    assert machine["python"]
    assert set(document["results"]) == set(SECTIONS)

    results = document["results"]
    upload = results["upload"]
    for key in ("products_per_s", "ratio_to_ceiling", "naive_products_per_s", "speedup_vs_naive"):
        assert _is_number(upload[key]) and upload[key] > 0, key
    assert upload["runs"][0]["shopsync"]["products"] == upload["products"]
    assert upload["runs"][0]["naive"]["products"] == upload["naive_products"]
    assert upload["runs"][0]["naive"]["statuses"] == {"201": upload["naive_products"]}

    adaptive = results["adaptive"]
    assert adaptive["client_rate"] == 2 * adaptive["server_rate"]
    assert _is_number(adaptive["share_429"]) and 0 <= adaptive["share_429"] <= 1
    assert adaptive["runs"][0]["products"] == adaptive["products"]

    local = results["local"]
    for rows in (local["rows_small"], local["rows_large"]):
        for tool in ("dictreader", "validate", "plan"):
            figures = local["by_rows"][str(rows)][tool]
            assert _is_number(figures["rows_per_s"]) and figures["rows_per_s"] > 0
            assert _is_number(figures["max_rss_mb"]) and figures["max_rss_mb"] > 0

    incremental = results["incremental"]
    assert incremental["plan_changes"] == 0
    assert _is_number(incremental["plan_s"])
    assert incremental["upload_write_requests"] == 0

    startup = results["startup"]
    for key in ("python_s", "version_s", "help_s", "version_over_python_s"):
        assert _is_number(startup[key]), key

    assert len(document["targets"]) == 11
    for target in document["targets"]:
        assert target["section"] in SECTIONS
        assert _is_number(target["value"])
        assert isinstance(target["met"], bool)
    # The table was printed, and nothing the benchmark started is left running.
    assert "| section | figure | measured | target | met |" in done.stdout
    assert document["pids_started"]
    assert [pid for pid in document["pids_started"] if _alive(pid)] == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_only_rejects_an_unknown_section() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--only", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown section" in done.stderr
