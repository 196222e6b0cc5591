"""``mdb``: what a vending machine's MDB adapter sends the terminal (docs/mdb.md).

First byte even: an OWT-MDB/1 byte stream, read by ``LineAdapter.read_command`` from a pyserial
``loop://`` port, each command handed to ``CashlessDevice.handle`` (the level-1 cashless state
machine) with the host's decisions (begin a session when enabled, approve or deny a vend) taken
from the item number. First byte odd: a Qibixx byte stream, read by ``QibixxLines.read_line``
and parsed by ``qibixx_lines.parse_line`` at ``(first >> 1) % 4`` decimals.

The ports run with ``timeout=0`` (pyserial's non-blocking reads) so an input costs no waiting.

Invariants: framing and parsing never raise (bad lines are ignored: ``None``); the line buffers
stay under their caps; the state machine raises nothing and queues a bounded number of answers;
a vend request carries a non-negative price and an item id of the documented form.
"""

from __future__ import annotations

import logging

MAX_OUTBOX = 64


class MdbHarness:
    def __init__(self) -> None:
        from drivers.mdb import adapter, cashless, qibixx_lines

        logging.disable(logging.CRITICAL)  # every ignored line logs a warning: noise at fuzz speed
        self.adapter, self.cashless, self.q = adapter, cashless, qibixx_lines
        self.owt = adapter.LineAdapter("loop://")
        self.owt.port.timeout = 0
        self.qlines = qibixx_lines.QibixxLines("loop://")
        self.qlines.port.timeout = 0

    def seeds(self) -> list[bytes]:
        session = [
            b"CMD,10", b"CMD,110003000000", b"CMD,1101FFFF0000", b"CMD,1401", b"CMD,12",
            b"CMD,1300012C0005", b"CMD,13020005", b"CMD,1304", b"CMD,1300012C0006", b"CMD,1303",
            b"CMD,1301", b"CMD,1304", b"CMD,1700", b"CMD,1402", b"CMD,1400",
        ]  # fmt: skip
        qibixx = [
            b"v,4.0.1", b"c,STATUS,INACTIVE", b"c,STATUS,ENABLED", b"c,STATUS,IDLE,5.00,1",
            b"c,STATUS,VEND,1.00,2", b"c,VEND,SUCCESS", b"c,STATUS,VEND,1.250,17", b"c,ERR,VEND 3",
            b'c,ERR,"cashless is off"', b"c,STATUS,VEND,abc,1", b"x,ACK", b"c,SET,1", b"c,1",
        ]  # fmt: skip
        return [
            b"\x00" + b"\n".join(session) + b"\n",
            b"\x00" + b"\r\n".join(session[:8]) + b"\r\n# banner\nCMD,zz\nCMD,13\n",
            b"\x01" + b"\n".join(qibixx) + b"\n",
            b"\x03" + b"\r\n".join(qibixx[:6]) + b"\r\n\x80\xff\n" + b"A" * 300 + b"\n",
        ]

    def check(self, data: bytes) -> None:
        if not data:
            return
        if data[0] % 2 == 0:
            self._owt(data[1:])
        else:
            self._qibixx(data[1:], (data[0] >> 1) % 4)

    def _owt(self, data: bytes) -> None:
        ad, c = self.owt, self.cashless
        ad._buf.clear()
        ad.port.reset_input_buffer()
        ad.port.write(data)
        device = c.CashlessDevice()
        while (command := ad.read_command(0.0005)) is not None:
            if len(ad._buf) > self.adapter.MAX_LINE + len(data):
                raise AssertionError("adapter line buffer grows past its cap")
            for event in device.handle(command):
                if isinstance(event, c.VendRequested):
                    if event.price < 0:
                        raise AssertionError(f"negative vend price {event.price}")
                    device.approve(event.price) if event.item % 2 else device.deny()
            if device.state is c.State.ENABLED:
                device.begin_session()
            if len(device.outbox) > MAX_OUTBOX:
                raise AssertionError(f"{len(device.outbox)} responses queued")
            device.take_responses()

    def _qibixx(self, data: bytes, decimals: int) -> None:
        q = self.qlines
        q._buf.clear()
        q._skipping = False
        q.port.reset_input_buffer()
        q.port.write(data)
        while (line := q.read_line(0.0005)) is not None:
            if len(q._buf) > self.q.MAX_LINE + len(data):
                raise AssertionError("Qibixx line buffer grows past its cap")
            if not line.isprintable() or not line.isascii():
                raise AssertionError(f"line {line[:40]!r} passed the ASCII filter")
            event = self.q.parse_line(line, decimals)
            if isinstance(event, self.q.VendRequested):
                if event.price < 0 or self.q._ITEM.fullmatch(event.item) is None:
                    raise AssertionError(f"vend request {event!r} out of its documented form")
                if self.q.to_minor(self.q.format_amount(event.price, decimals), decimals) != event.price:
                    raise AssertionError(f"price {event.price} does not survive formatting")
