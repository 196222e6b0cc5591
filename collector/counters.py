"""Request-level refusals counted across the collector's serving processes (shared memory).

Nothing of a refused request is stored, so these counts live in a small shared array made
before the serving processes fork; ``/metrics`` from any of them shows the same numbers.
"""

from __future__ import annotations

import ctypes
import multiprocessing

CODES = (
    "bad_body", "bad_signature", "unknown_terminal", "body_too_large", "replayed_batch", "stale_batch",
    "unsupported_media_type", "bad_content_length", "body_timeout", "too_many_rows", "bad_version",
    "bad_operator_token", "enrollment_disabled", "bad_key", "bad_proof", "stale_enrollment",
    "bad_terminal_id", "terminal_id_taken", "key_in_use", "bad_have", "terminal_revoked", "other",
)  # fmt: skip
_INDEX = {c: i for i, c in enumerate(CODES)}


class RejectCounter:
    def __init__(self) -> None:
        self._values = multiprocessing.RawArray(ctypes.c_int64, len(CODES))
        self._lock = multiprocessing.Lock()

    def add(self, code: str) -> None:
        i = _INDEX.get(code, _INDEX["other"])
        with self._lock:
            self._values[i] += 1

    def items(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(c, int(self._values[i])) for i, c in enumerate(CODES) if self._values[i]]
