"""Prometheus metrics for cron runs, for node_exporter's textfile collector.

``--metrics-file /var/lib/node_exporter/textfile/shopsync.prom`` writes, atomically (a
temporary file then a rename, so the collector never reads half a file), the outcome of
the last run: when it last succeeded, items by outcome, duration, requests and 429s.
An alert on ``time() - shopsync_last_success_timestamp_seconds > 2 * 86400`` catches a
nightly job that stopped working, whatever the reason.

The last success time is carried over from the previous file when a run fails, so the
alert keeps counting from the last good run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from shopsync.io.writers import atomic_write, is_regular_target

_LAST_SUCCESS = "shopsync_last_success_timestamp_seconds"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    # Not "%g": it would print a Unix timestamp as 1.79578e+09, to the nearest 5 minutes.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def previous_success(path: Path, labels: Mapping[str, str]) -> float | None:
    """The last success time recorded in an earlier metrics file for the same labels."""
    if not is_regular_target(path):  # reading stdout, a device or a FIFO would block or lie
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    pattern = re.compile(re.escape(_LAST_SUCCESS + _labels(labels)) + r" (\S+)$", re.MULTILINE)
    match = pattern.search(text)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def write_metrics(
    path: Path,
    *,
    command: str,
    profile: str,
    succeeded: bool,
    exit_code: int,
    duration: float,
    items: Mapping[str, int],
    traffic: Mapping[str, int] | None,
    now: float | None = None,
) -> None:
    """Write the metrics of one finished run to ``path`` in Prometheus text format 0.0.4.

    ``traffic`` None: the run's requests were sent elsewhere (a fleet's workers), so the
    request, retry and 429 figures are left out rather than written as 0.
    """
    now = time.time() if now is None else now
    labels = {"command": command, "profile": profile}
    last_success = now if succeeded else previous_success(path, labels)
    lines: list[str] = []

    def metric(
        name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for extra, value in samples:
            lines.append(f"{name}{_labels({**labels, **extra})} {_number(value)}")

    if last_success is not None:
        metric(
            _LAST_SUCCESS,
            "gauge",
            "When a run last finished with exit code 0.",
            [({}, last_success)],
        )
    metric(
        "shopsync_last_run_timestamp_seconds", "gauge", "When the last run finished.", [({}, now)]
    )
    metric(
        "shopsync_last_run_exit_code",
        "gauge",
        "Exit code of the last run.",
        [({}, float(exit_code))],
    )
    metric(
        "shopsync_last_run_duration_seconds",
        "gauge",
        "How long the last run took.",
        [({}, duration)],
    )
    metric(
        "shopsync_last_run_items",
        "gauge",
        "Items of the last run, by outcome.",
        [({"outcome": name}, float(count)) for name, count in sorted(items.items())],
    )
    if traffic is not None:
        metric(
            "shopsync_last_run_requests",
            "gauge",
            "API requests the last run sent.",
            [({}, float(traffic.get("requests", 0)))],
        )
        metric(
            "shopsync_last_run_retries",
            "gauge",
            "Requests the last run repeated.",
            [({}, float(traffic.get("retries", 0)))],
        )
        metric(
            "shopsync_last_run_throttled",
            "gauge",
            "429 answers the last run got.",
            [({}, float(traffic.get("throttled", 0)))],
        )
    with atomic_write(path, mode=0o644) as handle:
        handle.write("\n".join(lines) + "\n")
