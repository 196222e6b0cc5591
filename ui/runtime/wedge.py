"""Keyboard-wedge scanners on the App's keyboard: a fast ``OWT...`` burst ending in Enter is a
token, not typing.

The detection itself is the serial driver's pure ``drivers.serial.wedge.WedgeDetector`` (same
rules as the serial scanner: 30 ms gaps, partial and over-long bursts marked so the core declines
them as ``malformed``), injected as a ``CharDetector``. This module adapts it to Textual's key
events: while the detector holds characters the App holds their key events, and releases the
very same events, in order, when the burst turns out to be typing, so bindings and widgets see
them as if nothing had happened.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

log = logging.getLogger("pos.ui.wedge")

K = TypeVar("K")
ENTER = "\r"
NOT_A_CHAR = "\x00"  # a key without a character inside a burst: breaks it, as it should


@dataclass(frozen=True, slots=True)
class Release(Generic[K]):
    """Deliver this key event to the normal key handling."""

    key: K


@dataclass(frozen=True, slots=True)
class Scanned:
    """A complete burst: the presentation text (a marked text when it was cut or over-long)."""

    data: bytes


Action = Release[K] | Scanned


class CharDetector(Protocol):
    """What ``drivers.serial.wedge.WedgeDetector`` offers: chars in, ``Typed`` / ``WedgeToken`` out."""

    @property
    def holding(self) -> bool: ...

    def feed(self, char: str, t: float) -> Sequence[object]: ...

    def poll(self, now: float) -> Sequence[object]: ...


class KeyBurstDetector(Protocol[K]):
    @property
    def holding(self) -> bool: ...

    def feed(self, key: K, char: str | None, is_enter: bool, t: float) -> list[Action[K]]: ...

    def expire(self, t: float) -> list[Action[K]]: ...


class KeyWedge(Generic[K]):
    """Key events in, key events or scanned texts out, around a character ``CharDetector``."""

    def __init__(self, detector: CharDetector) -> None:
        self.detector = detector
        self._held: deque[K] = deque()

    @property
    def holding(self) -> bool:
        return self.detector.holding

    def feed(self, key: K, char: str | None, is_enter: bool, t: float) -> list[Action[K]]:
        out = self._settle(self.detector.poll(t))
        c = ENTER if is_enter else char
        if not c:
            if not self.detector.holding:
                return [*out, Release(key)]
            c = NOT_A_CHAR
        self._held.append(key)
        return out + self._settle(self.detector.feed(c, t))

    def expire(self, t: float) -> list[Action[K]]:
        return self._settle(self.detector.poll(t))

    def _settle(self, events: Sequence[object]) -> list[Action[K]]:
        out: list[Action[K]] = []
        for event in events:
            typed = getattr(event, "text", None)
            if isinstance(typed, str):
                for _ in typed:
                    if self._held:
                        out.append(Release(self._held.popleft()))
                continue
            data = getattr(event, "data", None)
            if isinstance(data, bytes):
                self._held.clear()  # every held key was part of the burst
                out.append(Scanned(data))
        return out


def char_detector(max_gap_s: float) -> CharDetector | None:
    """The serial driver's detector, or None (no wedge) when the driver is not installed."""
    try:
        from drivers.serial.wedge import WedgeDetector
    except ImportError as exc:
        log.warning("keyboard-wedge scanning is off: drivers.serial.wedge unavailable (%s)", exc)
        return None
    detector: CharDetector = WedgeDetector(max_gap_s=max_gap_s)
    return detector


def key_wedge(
    max_gap_s: float, make: Callable[[float], CharDetector | None] = char_detector
) -> KeyWedge[object] | None:
    detector = make(max_gap_s)
    return KeyWedge(detector) if detector is not None else None
