"""MDB/ICP cashless device (reader) for vending mode: state machine, adapter framing, VendSession.

Two adapters (docs/mdb.md): ``MdbVendSession`` speaks our OWT-MDB/1 lines and runs the MDB state
machine here (``cashless``); ``QibixxVendSession`` speaks the Qibixx MDB-USB / Pi Hat Plus
cashless-device lines, whose firmware runs the MDB state machine. Both are exported lazily, so
importing the pure ``drivers.mdb.cashless`` does not load pyserial.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MdbVendSession": "drivers.mdb.session",
    "QibixxVendSession": "drivers.mdb.qibixx",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'drivers.mdb' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
