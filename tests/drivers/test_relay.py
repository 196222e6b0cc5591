"""Gate relay (drivers.relay) over a real pty and loop://: the LCUS frames, timing, health. No mocks."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest

from drivers.relay import LcusRelay, RelayError, RelaySimulator, lcus_frame
from drivers.sources import open_actuator

ON = bytes.fromhex("A00101A2")
OFF = bytes.fromhex("A00100A1")


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)

    def read_frame(self, timeout: float) -> tuple[bytes, float]:
        """The next 4 bytes the relay wrote, and the monotonic time they arrived."""
        data = b""
        end = time.monotonic() + timeout
        while len(data) < 4:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"no frame within {timeout} s (got {data.hex()})")
            data += os.read(self.master, 4 - len(data))
        return data, time.monotonic()

    def quiet(self, seconds: float) -> bool:
        return not select.select([self.master], [], [], seconds)[0]

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def relay(pty: Pty) -> Iterator[LcusRelay]:
    r = LcusRelay(pty.name)
    assert pty.read_frame(0.5)[0] == OFF  # the fail-safe "off" sent when the driver opens
    yield r
    r.close()


def test_frames() -> None:
    assert lcus_frame(1, True) == ON
    assert lcus_frame(1, False) == OFF
    assert lcus_frame(2, True) == bytes.fromhex("A00201A3")
    with pytest.raises(ValueError):
        lcus_frame(0, True)


def test_on_then_off_after_the_time(pty: Pty, relay: LcusRelay) -> None:
    t0 = time.monotonic()
    relay.open(0.2)
    frame, _ = pty.read_frame(0.5)
    assert frame == ON
    frame, t_off = pty.read_frame(1.0)
    assert frame == OFF
    assert 0.18 <= t_off - t0 <= 0.5
    assert pty.quiet(0.1)
    assert relay.health().ok


def test_open_does_not_block(pty: Pty, relay: LcusRelay) -> None:
    t0 = time.perf_counter()
    relay.open(5.0)
    assert time.perf_counter() - t0 < 0.01
    assert pty.read_frame(0.5)[0] == ON


def test_reopen_extends(pty: Pty, relay: LcusRelay) -> None:
    t0 = time.monotonic()
    relay.open(0.3)
    assert pty.read_frame(0.5)[0] == ON
    time.sleep(0.15)
    relay.open(0.3)  # now off at ~0.45 s, and no second ON frame
    frame, t_off = pty.read_frame(1.0)
    assert frame == OFF
    assert 0.4 <= t_off - t0 <= 0.8
    # open again after it closed: a fresh ON
    relay.open(0.05)
    assert pty.read_frame(0.5)[0] == ON
    assert pty.read_frame(0.5)[0] == OFF


def test_opening_switches_a_relay_left_on_off(pty: Pty) -> None:
    # A gate killed between "on" and "off" left the board energised; the next start releases it.
    LcusRelay(pty.name, channel=2).close()
    assert pty.read_frame(0.5)[0] == lcus_frame(2, False)
    assert pty.quiet(0.1)


def test_close_switches_off(pty: Pty) -> None:
    relay = LcusRelay(pty.name, channel=1)
    assert pty.read_frame(0.5)[0] == OFF
    relay.open(10)
    assert pty.read_frame(0.5)[0] == ON
    relay.close()
    assert pty.read_frame(0.5)[0] == OFF
    assert not relay.health().ok
    with pytest.raises(RelayError):
        relay.open(1)


def test_health_when_the_port_is_gone(pty: Pty, relay: LcusRelay) -> None:
    assert relay.health().ok
    relay._port.close()  # the device went away underneath the driver
    assert not relay.health().ok
    with pytest.raises(RelayError, match="switch on failed"):
        relay.open(0.1)
    assert not relay.health().ok
    assert "failed" in relay.health().detail


def test_loop_url() -> None:
    relay = LcusRelay("loop://", channel=2)
    relay.open(0.05)
    time.sleep(0.3)
    assert relay._port.read(12) == lcus_frame(2, False) + lcus_frame(2, True) + lcus_frame(2, False)
    relay.close()


def test_simulator_and_factory() -> None:
    sim = open_actuator("sim:")
    assert isinstance(sim, RelaySimulator)
    assert isinstance(open_actuator("log:"), RelaySimulator)
    t0 = time.monotonic()
    sim.open(0.1)
    sim.open(0.2)
    time.sleep(0.4)
    assert [e for e, _ in sim.events] == ["on", "off"]
    assert 0.18 <= sim.events[1][1] - t0 <= 0.4
    assert isinstance(open_actuator("loop://"), LcusRelay)
    with pytest.raises(ValueError):
        open_actuator("bogus")
    broken = RelaySimulator(fail=True)
    with pytest.raises(RelayError):
        broken.open(1)
    assert not broken.health().ok
