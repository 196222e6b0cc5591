"""Running the App under Textual's pilot with the demo's simulated world and a fixed clock.

``make_world`` gives the fast, in-process stand-ins (``sim.demo.inproc``: queue sources fed by the
keys, a recording relay, a queue vending machine, a pretend network) unless ``real=True``, which
runs ``sim.demo.devices.DemoDevices`` (the real drivers against their simulators), or
``network=True``, which runs ``sim.demo.network.DemoNetwork`` (a collector process, real sync).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Digits

from sim.demo.inproc import InProcessDevices, in_process_network
from sim.demo.interactive import DemoApp, DemoWorld, build

T = TypeVar("T")
NOW = 1_800_000_000  # a fixed instant (2027-01-15): snapshots and list ages never drift
SIZE = (100, 32)


@dataclass
class Clock:
    now: int = NOW

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


def make_world(
    base: Path, mode: str, clock: Clock | None = None, *, real: bool = False, network: bool = False, **kw: Any
) -> DemoWorld:
    kw.setdefault("result_s", 60)  # results stay until a test dismisses them
    if not real:
        kw.setdefault("devices", InProcessDevices)
    if not network:
        kw.setdefault("network", in_process_network)
    world = build(base, mode, clock=clock or Clock(), **kw)
    world.ctx.tz = UTC
    return world


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting; screen shows:\n{text(pilot.app)}")
        await pilot.pause(0.02)


@asynccontextmanager
async def running(
    world: DemoWorld, size: tuple[int, int] = SIZE, *, notifications: bool = False
) -> AsyncIterator[tuple[DemoApp, Pilot[Any]]]:
    app = DemoApp(world.ctx)
    async with app.run_test(size=size, notifications=notifications) as pilot:
        await until(pilot, lambda: app.is_ready)
        await pilot.pause(0.05)
        yield app, pilot


def text(app: Any) -> str:
    """Everything the top screen shows in its text widgets, one widget per line."""
    lines = []
    for widget in app.screen.query("Static, Digits"):
        if not (widget.display and widget.is_on_screen):
            continue
        lines.append(widget.value if isinstance(widget, Digits) else str(widget.render()))
    return "\n".join(lines)


def screen_name(app: Any) -> str:
    return type(app.screen).__name__


async def type_keys(pilot: Pilot[Any], keys: str) -> None:
    await pilot.press(*keys)


async def shown_on(pilot: Pilot[Any], screen: str, needle: str = "") -> str:
    """Wait until ``screen`` is on top and drawn (and shows ``needle``); return its text."""
    app = pilot.app
    await until(pilot, lambda: screen_name(app) == screen and bool(text(app)) and needle in text(app))
    return text(app)


async def result(pilot: Pilot[Any]) -> str:
    return await shown_on(pilot, "ResultScreen", "\n")


async def keys_at(app: Any, chars: str, gap_s: float, *, enter: bool = False) -> None:
    """Post key events stamped ``gap_s`` apart (a scanner: ~2 ms; a person: hundreds of ms).

    They are queued at once, as a terminal delivers a scanner's burst, so the stamps, not the
    machine's load, decide what the wedge detector sees.
    """
    t = time.monotonic()
    for c in chars:
        key = c if c.isalnum() else _character_to_key(c)
        event = events.Key(key, c)
        event.time = t
        event.set_sender(app)
        await app._post_message(event)
        t += gap_s
    if enter:
        event = events.Key("enter", "\r")
        event.time = t
        event.set_sender(app)
        await app._post_message(event)
