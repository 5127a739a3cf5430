"""What an output path means: ``-``, symbolic links, devices and FIFOs (``io/writers.py``).

The devices are made under the test's temporary directory, never the real ``/dev/null``:
a regression here must not be able to replace a system file.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.errors import UsageError
from shopsync.io.writers import atomic_write, write_csv, write_json
from shopsync.state.metrics import write_metrics

BAD_ROWS = "sku,title,price\nA-1,Good,1.00\nA-2,,-5\n"


def _null_device(directory: Path) -> Path:
    """A character device with /dev/null's numbers, made in ``directory`` (root only)."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    real = Path("/dev/null").stat()
    node = directory / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, real.st_rdev)
    return node


def _assert_still_a_device(node: Path) -> None:
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert [entry.name for entry in node.parent.iterdir()] == [node.name]  # no temp files left


def test_a_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    node = _null_device(tmp_path)
    write_json(node, {"a": 1})
    write_csv(node, ["sku"], iter([{"sku": "A"}]))
    _assert_still_a_device(node)


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_json(fifo, {"a": 1})
    reader.join(timeout=10)
    assert received == [b'{\n  "a": 1\n}\n']
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_stays_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real" / "report.json"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    write_json(link, {"a": 1})
    assert link.is_symlink()
    assert link.readlink() == real
    assert real.read_bytes() == b'{\n  "a": 1\n}\n'
    assert sorted(entry.name for entry in real.parent.iterdir()) == ["report.json"]


def test_a_symlink_to_a_device_writes_into_the_device(tmp_path: Path) -> None:
    node = _null_device(tmp_path)
    link = tmp_path / "out.csv"
    link.symlink_to(node)
    write_csv(link, ["sku"], iter([{"sku": "A"}]))
    assert link.is_symlink()
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_dash_is_standard_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    os.chdir(tmp_path)
    write_csv(Path("-"), ["sku", "title"], iter([{"sku": "A", "title": "=1+1"}]))
    assert capfd.readouterr().out == "sku,title\r\nA,'=1+1\r\n"
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a regular file"), atomic_write(tmp_path):
        pass


def test_metrics_into_a_device_do_not_read_it_back(tmp_path: Path) -> None:
    fifo = tmp_path / "metrics.prom"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    # Reading an earlier file first would block on the FIFO (no writer) and never return:
    # the write runs in a thread so that such a regression fails instead of hanging.
    writer = threading.Thread(
        target=write_metrics,
        args=(fifo,),
        kwargs={
            "command": "stock",
            "profile": "p",
            "succeeded": False,
            "exit_code": 5,
            "duration": 1.0,
            "items": {},
            "traffic": {},
        },
        daemon=True,
    )
    writer.start()
    writer.join(timeout=10)
    reader.join(timeout=10)
    assert not writer.is_alive()
    assert b"shopsync_last_run_exit_code" in received[0]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_BASE_URL", "SHOPSYNC_CLIENT_ID", "SHOPSYNC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_validate_rejects_into_a_device(runner: CliRunner, tmp_path: Path) -> None:
    devices = tmp_path / "dev"
    devices.mkdir()
    node = _null_device(devices)
    (tmp_path / "p.csv").write_text(BAD_ROWS)
    result = runner.invoke(cli, ["validate", "p.csv", "--rejects", str(node)])
    assert result.exit_code == 3, result.output
    _assert_still_a_device(node)


def test_every_upload_output_into_a_device(runner: CliRunner, tmp_path: Path) -> None:
    devices = tmp_path / "dev"
    devices.mkdir()
    node = _null_device(devices)
    (tmp_path / "p.csv").write_text(BAD_ROWS)
    flags = ["--rejects", "--failed", "--succeeded", "--report", "--metrics-file"]
    arguments = ["upload", "p.csv", "--sandbox"]
    for flag in flags:
        arguments += [flag, str(node)]
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 3, result.output
    _assert_still_a_device(node)


def test_report_dash_goes_to_stdout(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,title,price\nA-1,Good,1.00\n")
    result = runner.invoke(cli, ["--quiet", "upload", "p.csv", "--sandbox", "--report", "-"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    document, end = json.JSONDecoder().raw_decode(result.stdout)
    assert result.stdout[end:].startswith("\nDone in ")
    assert document["counts"]["created"] == 1
