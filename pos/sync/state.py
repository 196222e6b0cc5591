"""What sync remembers between runs, in ``<data dir>/sync/`` (atomic replace).

``enrollment.json`` (written durably): the collector URL, terminal id and enrolled key.
``state.json``: the last attempt and the last success, the last error, the ETags of the lists.
Nothing here decides what is uploaded: the journal's ``state`` column does, so losing
``state.json`` loses only status information.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from pos.fsutil import atomic_write, ensure_dir

STATE_DIR = "sync"
STATE_FILE = "state.json"
ENROLLMENT_FILE = "enrollment.json"

_lock = threading.Lock()


class SyncState:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STATE_DIR / STATE_FILE

    def load(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError, OSError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def update(self, *, durable: bool = False, **values: Any) -> dict[str, Any]:
        with _lock:
            doc = self.load()
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(doc.get(key), dict):
                    doc[key] = {**doc[key], **value}
                else:
                    doc[key] = value
            ensure_dir(self.path.parent)
            atomic_write(self.path, json.dumps(doc, indent=1, sort_keys=True).encode(), durable=durable)
            return doc

    @property
    def enrollment(self) -> dict[str, Any] | None:
        try:
            enr = json.loads((self.path.parent / ENROLLMENT_FILE).read_text())
        except (FileNotFoundError, ValueError, OSError):
            return None
        return enr if isinstance(enr, dict) else None

    def save_enrollment(self, record: dict[str, Any]) -> None:
        ensure_dir(self.path.parent)
        atomic_write(
            self.path.parent / ENROLLMENT_FILE, json.dumps(record, indent=1, sort_keys=True).encode()
        )
