"""``pos run`` with a test-only stop point around the gate relay (tests/ui/test_gate_kill.py).

    python tests/procs/gate_stop_point.py AFTER_COMMIT|AFTER_RELAY run --headless --config FILE

The real relay (``LcusRelay`` on a pty) is wrapped so that the core thread SIGSTOPs itself right
before the relay write (AFTER_COMMIT: the payment is committed, the gate not yet open) or right
after it (AFTER_RELAY); the test then SIGKILLs the process there. Production code carries no
such hook: the wrapper is put in place here, before ``pos run`` opens its devices.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ui.cli import main
from ui.runtime import run as runtime

AFTER_COMMIT, AFTER_RELAY = "AFTER_COMMIT", "AFTER_RELAY"
log = logging.getLogger("pos.run")


def stop_here(point: str) -> None:
    log.warning("fault point %s: stopping this process", point)
    # To this thread, not the process: kill(getpid()) lets the kernel hand the stop to another
    # thread while this one runs on into the relay write, which is the instant being aimed at.
    signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)


class StopAround:
    def __init__(self, inner: Any, point: str) -> None:
        self.inner, self.point = inner, point

    def open(self, seconds: float) -> None:
        if self.point == AFTER_COMMIT:
            stop_here(AFTER_COMMIT)
        self.inner.open(seconds)
        if self.point == AFTER_RELAY:
            stop_here(AFTER_RELAY)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


if __name__ == "__main__":
    point, args = sys.argv[1], sys.argv[2:]
    assert point in (AFTER_COMMIT, AFTER_RELAY), point
    real_open_relay = runtime.open_relay
    runtime.open_relay = lambda url: StopAround(real_open_relay(url), point)
    sys.exit(main(args))
