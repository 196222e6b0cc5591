"""Which enrolled terminal signed a GET request (list fetches, a terminal's own status).

The terminal signs ``pos.wire.protocol.list_request_message(tid, path, time)`` with its
identity key and sends it in three headers. A request without them is still served (lists are
public, signed by the scheme root); only a signed one is recorded against a terminal or may read
that terminal's status. The time must lie within ``WINDOW_S`` of the collector's clock: the
request carries no nonce, so a captured one (inside TLS) is good for minutes, not for the day
a batch may be late (a drifting terminal is then served as anyone, just not recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos import sigs
from pos.identity import valid_terminal_id
from pos.wire import protocol as p

WINDOW_S = 600


def signed_by(collector: Any, headers: Mapping[str, str], path: str) -> str | None:
    """The terminal id whose enrolled key signed this request for ``path`` now, else None."""
    tid = headers.get(p.HDR_TERMINAL)
    t_text = headers.get(p.HDR_TIME, "")
    sig_hex = headers.get(p.HDR_SIGNATURE, "")
    digits = t_text.isascii() and t_text.isdigit()  # "²".isdigit(), int("²") raises
    if tid is None or not valid_terminal_id(tid) or not digits or len(sig_hex) != 2 * p.SIG_LEN:
        return None
    t = int(t_text)
    if abs(t - int(collector.clock())) > min(WINDOW_S, collector.settings.batch_window_s):
        return None
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError:
        return None
    key = collector.enrolled_key(tid)
    if key is None or not sigs.verify(key, sig, p.list_request_message(tid, path, t)):
        return None
    return tid
