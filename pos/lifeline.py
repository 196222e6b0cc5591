"""A child process that dies with its parent, even when the parent is killed with kill -9: the
collector's forked servers and the demo's collector (so nothing is left listening)."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, *, deathsig: bool = True, poll_s: float = 0.25) -> None:
    """Exit when ``parent`` is gone. ``deathsig``: also ask Linux for SIGKILL when the parent's
    forking *thread* ends (``PR_SET_PDEATHSIG``), so set it only when forked from a thread that
    lives as long as the parent; the watchdog on the parent pid always runs."""
    if deathsig:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the watchdog still works
            pass
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
