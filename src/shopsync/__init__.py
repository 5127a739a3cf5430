"""shopsync: put a catalog kept in files onto a shop platform, quickly and without mistakes.

The package is a library first: everything the ``shopsync`` command does is reachable
from Python, and nothing in the library prints or exits. See ``docs/architecture.md``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
