"""The ``shopsync`` command line: thin click commands over the library.

Only this package imports click. Commands parse options, call the core, and hand the
results to :mod:`shopsync.ui.console`. Errors are mapped to exit codes in exactly one place,
:meth:`shopsync.cli.main.ShopsyncGroup.invoke`. Heavy modules (pydantic, rich, requests)
are imported inside the commands that need them, so ``shopsync --help`` starts fast.
"""

from __future__ import annotations

from shopsync.cli import (
    apply_cmds,
    catalog,
    config_cmds,
    fleet_cmds,
    orders_cmds,
    sandbox_cmds,
    sync,
)
from shopsync.cli.main import cli, main

for _module in (catalog, config_cmds, sync, apply_cmds, sandbox_cmds, orders_cmds, fleet_cmds):
    for _command in _module.COMMANDS:
        cli.add_command(_command)

__all__ = ["cli", "main"]
