"""Small durable-file helpers: atomic replace and secret files created 0600."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never a mix.

    With ``durable`` the data and the rename are fsynced; without, the rename is still atomic
    but may be lost on power failure (used where an older copy is a safe answer).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def ensure_dir(path: Path) -> Path:
    """Create a private directory (0700) when missing; an existing one is left as it is."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read a secret file, or create it 0600 with ``make()``; concurrent creators agree.

    The secret is written whole to a private temporary file and then hard-linked into place,
    which fails if another process won the race: nobody ever reads a half-written key.
    """
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    atomic_write(tmp, make(), durable=True)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
    return path.read_bytes()
