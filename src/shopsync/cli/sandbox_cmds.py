"""``shopsync sandbox ...``: the local platform server's commands (see docs/sandbox.md)."""

from __future__ import annotations

from shopsync.sandbox.cli import sandbox_group

COMMANDS = [sandbox_group]
