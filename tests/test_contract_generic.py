"""The contract suite against the generic adapter and its dialect (issue 12).

Three sandboxes: one that honours idempotency keys, as the API's contract promises, with
the adapter trusting them and not; and a lax one that ignores keys, lets SKUs repeat
and (in the ambiguous-failure test) drops answers after commit, where only the engine's
lookups keep products from being created twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract
from shopsync.platforms.base import Platform
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from test_sync import settings_for


class GenericContract(PlatformContract):
    trust_idempotency_keys: ClassVar[bool | None] = None

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        settings = settings_for(sandbox, data_dir, rate=2000.0, burst=200)
        return GenericPlatform.from_settings(
            settings,
            disk_cache=False,
            trust_idempotency_keys=self.trust_idempotency_keys,
            clock=time.clock,
            sleep=time.sleep,
        )

    def refused_cells(self) -> tuple[dict[str, str], str]:
        # The model's https:// pattern lets it through; the generic API needs a host.
        return {"images": "https:///no-host.jpg"}, "images"


class TestGenericKeysUnknown(GenericContract):
    """The default: keys declared unknown, lost answers reconciled by lookup."""


class TestGenericKeysHonoured(GenericContract):
    """Keys trusted, against a sandbox that honours them: lost answers replayed by key."""

    trust_idempotency_keys = True


class TestGenericLaxSandbox(GenericContract):
    """A platform that ignores keys and allows duplicate SKUs."""

    sandbox_options: ClassVar[dict[str, Any]] = {
        "ignore_idempotency_keys": True,
        "allow_duplicate_skus": True,
    }
