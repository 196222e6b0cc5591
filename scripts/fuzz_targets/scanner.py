"""``scanner``: bytes from a serial scanner and key bursts from a keyboard-wedge scanner.

Both reach the core as presentation text through the same pure pieces the sources run:
``LineFramer.feed`` / ``take_partial`` and ``Frame.text`` (``ScannerSource._take`` and its line
timeout), ``KeyTranslator.feed`` and ``WedgeDetector.feed`` / ``poll`` (``EvdevWedgeSource``).
Every text then goes to ``decode_text`` and, when it decodes, the token path of ``core``.

Input, first byte ``m``: ``m % 3 == 0`` serial: ``data[1]`` is the read size (1..256), the rest the
byte stream, the line timeout fires at the end; ``1`` wedge characters: pairs (character, gap in
ms); ``2`` evdev: triples (key code, value, gap in ms).

Invariants: the framer never holds more than ``max_chars`` bytes and the wedge detector never more
than ``max_chars`` keys; a line frame is non-empty and has no terminator; a marked frame
(partial, overlong) is declined ``malformed``; only ``Decline`` comes out of the core.
"""

from __future__ import annotations

from fuzz_targets.core import Fixture, check_token_input

MAX_CHARS = 512  # a small cap (production: 4096) so the fuzzer reaches the overlong paths


class ScannerHarness:
    def __init__(self) -> None:
        from drivers.serial import lines, wedge
        from pos import reasons
        from pos.errors import Decline
        from pos.presentation import decode_text

        self.fx = Fixture()
        self.lines, self.wedge = lines, wedge
        self.Decline, self.malformed, self.decode_text = Decline, reasons.MALFORMED, decode_text

    def seeds(self) -> list[bytes]:
        texts = self.fx.text_seeds()[:6]
        out = [b"\x00\x40" + t + b"\r\n" for t in texts]
        out += [
            b"\x00\x07" + b"\r\n".join(texts[:3]) + b"\n\r",
            b"\x00\x01OWT1:ABC",
            b"\x00\xff" + b"A" * 600 + b"\r",
        ]
        for t in texts[:3]:
            out.append(b"\x01" + b"".join(bytes([c, 3]) for c in t + b"\r"))
        out.append(b"\x01" + b"".join(bytes([c, 90]) for c in b"OWT1:12\r"))  # a person typing
        keys = {v[0]: k for k, v in reversed(self.wedge.KEYMAP.items())}
        shifted = {v[1]: k for k, v in reversed(self.wedge.KEYMAP.items())}
        burst = bytearray(b"\x02")
        for ch in texts[0].decode() + "\r":
            code = keys.get(ch)
            if code is None:
                burst += bytes([42, 1, 0, shifted.get(ch, 0), 1, 2, 42, 0, 0])
            else:
                burst += bytes([code, 1, 2, code, 0, 0])
        out.append(bytes(burst))
        return out

    def check(self, data: bytes) -> None:
        if not data:
            return
        mode = data[0] % 3
        if mode == 0:
            texts = self._serial(data[1:])
        elif mode == 1:
            texts = self._wedge_chars(data[1:])
        else:
            texts = self._wedge_keys(data[1:])
        for text in texts:
            self._present(text)

    def _serial(self, data: bytes) -> list[bytes]:
        framer = self.lines.LineFramer(MAX_CHARS)
        size = (data[0] if data else 0) or 256
        frames = []
        for i in range(1, len(data), size):
            frames += framer.feed(data[i : i + size])
            if framer.buffered > MAX_CHARS or framer.high_water > MAX_CHARS:
                raise AssertionError(f"line framer holds {framer.buffered} bytes over its cap")
        last = framer.take_partial()
        frames += [last] if last is not None else []
        for f in frames:
            if f.kind == self.lines.LINE and (not f.data or b"\r" in f.data or b"\n" in f.data):
                raise AssertionError(f"line frame {f.data[:40]!r} is empty or holds a terminator")
        return [f.text() for f in frames]

    def _wedge_chars(self, data: bytes) -> list[bytes]:
        det = self.wedge.WedgeDetector(max_chars=MAX_CHARS)
        t, events = 0.0, []
        for i in range(0, len(data) - 1, 2):
            t += data[i + 1] / 1000
            events += det.feed(chr(data[i]), t)
            self._bounded(det)
        events += det.poll(t + 1.0)
        return [e.data for e in events if isinstance(e, self.wedge.WedgeToken)]

    def _wedge_keys(self, data: bytes) -> list[bytes]:
        keys, det = self.wedge.KeyTranslator(), self.wedge.WedgeDetector(max_chars=MAX_CHARS)
        t, events = 0.0, []
        for i in range(0, len(data) - 2, 3):
            t += data[i + 2] / 1000
            char = keys.feed(data[i], data[i + 1] % 3)
            if char is not None:
                events += det.feed(char, t)
                self._bounded(det)
        events += det.poll(t + 1.0)
        return [e.data for e in events if isinstance(e, self.wedge.WedgeToken)]

    @staticmethod
    def _bounded(det: object) -> None:
        held = len(getattr(det, "_held"))  # noqa: B009 - the cap is on private state
        if held > MAX_CHARS:
            raise AssertionError(f"wedge detector holds {held} keys over its cap")

    def _present(self, text: bytes) -> None:
        """What ``Terminal.accept_text`` does with a presentation text, up to the journal."""
        problem = self.lines.frame_problem(text)
        try:
            raw = self.decode_text(text)
        except self.Decline as d:
            if problem is not None and d.reason != self.malformed:
                raise AssertionError(f"marked {problem} frame declined {d.reason}, not malformed") from None
            return
        if problem is not None:
            raise AssertionError(f"marked {problem} frame decoded as a token")
        check_token_input(self.fx, raw)
