"""Small file helpers shared by the index, the store and the model cache."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file next to ``path``, then rename: racing writers never mix,
    and readers see the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; caches and indexes may be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LockBusy(Exception):
    """Another process holds the lock; ``owner`` is what it wrote into the lock file."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True, owner: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) across processes.

    The kernel releases it when the holder exits, however it exits, so a killed holder
    never leaves a stale lock. With ``wait=False`` a held lock raises ``LockBusy`` at once.
    ``owner`` is written into the file so that the refused process can say who holds it.
    A folder that cannot be written (read-only storage) cannot hold writers either: the
    lock is then skipped, and any write fails with its own message.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield
            return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockBusy(_read_owner(fd)) from None
        if owner:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, owner.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read_owner(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
