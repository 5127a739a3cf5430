"""``python -m shopsync.sandbox serve``: the same as ``shopsync sandbox serve``."""

from shopsync.cli.sandbox_cmds import sandbox_group

if __name__ == "__main__":  # pragma: no cover - exercised by hand and by the benchmarks
    sandbox_group()
