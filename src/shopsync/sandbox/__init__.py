"""The sandbox: a local platform server that implements docs/platform-api.md.

For the README's demo, the test suite, the benchmarks, and rehearsing a catalog before
touching a real shop. ``shopsync sandbox serve`` runs it in the foreground;
:func:`running_sandbox` runs it in a background thread::

    from shopsync.sandbox import SandboxConfig, running_sandbox

    with running_sandbox(SandboxConfig(fault_rate=0.1, seed=7)) as sandbox:
        ...  # sandbox.base_url, sandbox.client_id, sandbox.client_secret, sandbox.stats()

starlette and uvicorn (the ``shopsync[sandbox]`` extra) are imported only when a sandbox
is started, so importing this package stays cheap. See docs/sandbox.md.
"""

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.server import SandboxHandle, running_sandbox, serve

__all__ = ["SandboxConfig", "SandboxHandle", "running_sandbox", "serve"]
