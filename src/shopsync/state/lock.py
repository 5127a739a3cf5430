"""One run at a time per profile: an advisory lock that dies with its holder.

``shopsync upload`` and ``shopsync stock`` take the profile's lock before they change
anything, so a cron job that overlaps the previous night's run (or a person running
the same command by hand) exits at once with :class:`~shopsync.errors.LockedError`
instead of racing it. The lock is an OS file lock (``flock`` on POSIX, ``msvcrt`` on
Windows): the kernel releases it when the holding process ends, however it ends, so a
run killed with SIGKILL never leaves a lock that blocks the next one. The file itself
stays, holding the last holder's pid and command for the error message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from shopsync.errors import ConfigError, LockedError
from shopsync.i18n import N_


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt  # noqa: PLC0415

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl  # noqa: PLC0415

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ProfileLock:
    """The lock of one profile, as a context manager: ``with ProfileLock(path, ...):``."""

    def __init__(self, path: Path, *, profile: str, command: str) -> None:
        """``path`` is the lock file; ``profile`` and ``command`` go into messages."""
        self.path = path
        self.profile = profile
        self.command = command
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock now or raise :class:`LockedError` naming the holder."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                N_("cannot create the lock file {path}: {strerror}.").format(
                    path=self.path, strerror=error.strerror
                )
            ) from None
        if not _try_lock(handle):
            holder = _read_holder(handle)
            handle.close()
            who = (
                f" (pid {holder.get('pid')}, `shopsync {holder.get('command')}` "
                f"since {holder.get('started')})"
                if holder
                else ""
            )
            raise LockedError(
                N_("another shopsync run holds the lock for profile {profile!r}{who}.").format(
                    profile=self.profile, who=who
                ),
                hint=N_(
                    "Wait for it to finish; this run changed nothing. The lock goes "
                    "away by itself when that process ends, even if it is killed."
                ),
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": self.command,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
        )
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let the lock go (closing the file releases it)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ProfileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(handle: IO[str]) -> dict[str, Any]:
    try:
        handle.seek(0)
        value = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
