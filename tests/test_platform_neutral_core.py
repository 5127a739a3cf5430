"""The core never reads a platform's wire: no HTTP status, no generic-API error code.

Issue 12: the engine, planner, stock sync, order watcher, catalog, state, UI and CLI
decide by item codes, error scopes and capabilities (platforms/base.py). HTTP statuses
and the generic API's error codes belong in http/, platforms/ and sandbox/ only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "shopsync"
CORE = ("sync", "jobs", "catalog", "state", "ui", "cli")

# The generic API's error codes (platform-api.md; what the sandbox answers).
GENERIC_CODES = (
    "SKU_EXISTS",
    "NOT_FOUND",
    "SKU_NOT_FOUND",
    "STOCK_CONFLICT",
    "STOCK_NEGATIVE",
    "VALIDATION_ERROR",
    "OUTCOME_UNKNOWN",
    "BATCH_TOO_LARGE",
    "BODY_TOO_LARGE",
    "MALFORMED_JSON",
    "RATE_LIMITED",
    "INVALID_TOKEN",
    "INSUFFICIENT_SCOPE",
    "UNAUTHORIZED",
    "IDEMPOTENCY_KEY_REUSED",
    "IDEMPOTENCY_IN_FLIGHT",
    "INVALID_IDEMPOTENCY_KEY",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
    "BAD_GATEWAY",
)
# Not after a dot: ItemCode.NOT_FOUND is the core's own, normalised code.
_CODE_WORD = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(GENERIC_CODES) + r")(?![A-Za-z0-9_])")
_STATUS_HOLDERS = {"error", "err", "exc", "exception", "response", "answer", "failure"}


def _core_files() -> list[Path]:
    return sorted(path for package in CORE for path in (SRC / package).rglob("*.py"))


def _is_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 400 <= node.value <= 599


def _statuses_in(node: ast.AST) -> bool:
    """An error status literal (4xx, 5xx), or a collection (or frozenset call) holding one."""
    if _is_status(node):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_status(element) for element in node.elts)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"frozenset", "set"}:
        return any(_statuses_in(arg) for arg in node.args)
    return False


def wire_leaks(source: str) -> list[str]:
    """What in ``source`` reads a platform's wire: (line, what) as text."""
    found = [
        f"{source.count(chr(10), 0, match.start()) + 1}: generic-API code {match.group(1)}"
        for match in _CODE_WORD.finditer(source)
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            _statuses_in(side) for side in (node.left, *node.comparators)
        ):
            found.append(f"{node.lineno}: HTTP status compared")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in {"status", "status_code"}
            and isinstance(node.value, ast.Name)
            and node.value.id in _STATUS_HOLDERS
        ):
            found.append(f"{node.lineno}: HTTP status read ({node.value.id}.{node.attr})")
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            value = node.value
            if (
                isinstance(value, ast.Call)
                and getattr(value.func, "id", None) in {"frozenset", "set"}
                and _statuses_in(value)
            ) or (isinstance(value, ast.Tuple | ast.Set) and _statuses_in(value)):
                found.append(f"{node.lineno}: a set of HTTP statuses")
    return found


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_the_core_reads_no_platform_wire(path: Path) -> None:
    assert wire_leaks(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "snippet",
    [
        'if item.code == "SKU_EXISTS":\n    pass\n',
        "# an update answered NOT_FOUND becomes a create\n",
        "if error.status < 500:\n    pass\n",
        "if status in (408, 429):\n    pass\n",
        "_RETRIED = frozenset({408, 409, 429})\n",
        "code = f'HTTP_{error.status}'\n",
    ],
)
def test_the_scan_sees_what_it_forbids(snippet: str) -> None:
    assert wire_leaks(snippet)


def test_the_scan_leaves_plain_numbers_alone() -> None:
    source = "if page_size > 100:\n    pass\nmode = 'NOT_FOUNDS'\nkind = ItemCode.NOT_FOUND\n"
    assert wire_leaks(source) == []
