"""The device end of a simulated serial port: a raw pty pair whose slave the driver opens by
name (``port``), exactly as it opens a USB-CDC device, while the simulator reads and writes the
master. Every pty simulator (LCUS board, VMC, Qibixx adapter, the demo's scanner) stands on it.
"""

from __future__ import annotations

import contextlib
import os
import select
import tty
from collections.abc import Callable


class RawPty:
    def __init__(self, *, nonblocking_writes: bool = False) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line discipline before the driver opens it
        if nonblocking_writes:
            os.set_blocking(self.master, False)  # a port nobody reads must not freeze the simulator
        self.port = os.ttyname(self._slave)

    def read(self, timeout: float, size: int = 1024) -> bytes | None:
        """What the driver wrote, or None when nothing came within ``timeout``. ``OSError`` (EIO on
        Linux) while the driver has the port closed."""
        if not select.select([self.master], [], [], timeout)[0]:
            return None
        return os.read(self.master, size)

    def write(self, data: bytes) -> None:
        """All of ``data`` to the driver; ``BlockingIOError`` when non-blocking and nobody reads."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        for fd in (self._slave, self.master):
            with contextlib.suppress(OSError):
                os.close(fd)


def vend_console(banner: str, vend: Callable[[str, int, bool], str]) -> None:  # pragma: no cover - manual
    """The manual vending console of ``python -m sim.mdb_vmc`` / ``sim.qibixx_adapter``."""
    print(banner)
    print("commands: v ITEM PRICE (vend) | j ITEM PRICE (jam) | q")
    while True:
        try:
            words = input("> ").split()
        except EOFError:
            return
        if not words or words[0] == "q":
            return
        if words[0] in ("v", "j") and len(words) == 3 and words[2].isdigit():
            try:
                print(vend(words[1], int(words[2]), words[0] == "v"))
            except (TimeoutError, ValueError) as exc:
                print(exc)
