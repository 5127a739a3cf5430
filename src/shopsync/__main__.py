"""``python -m shopsync``: the same as the ``shopsync`` command."""

from shopsync.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised by the subprocess test
    main()
