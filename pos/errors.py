"""One exception hierarchy for the core.

A decline is a value for callers (``Decision``); inside the pipeline it travels as ``Decline`` so
the first failing rule stops the work. Operator-facing failures (a refused list, a bad
configuration, a broken journal) are ``PosError`` subclasses with a message fit to print.
"""

from pos import reasons


class PosError(Exception):
    """Base of every error the core raises on purpose."""


class Decline(PosError):
    """A payment rule failed; ``reason`` is one SPEC 3.5 code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in reasons.ALL:
            raise ValueError(f"unknown decline reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class CborError(PosError, ValueError):
    """Bytes that are not strict, well-formed CBOR under SPEC 3.2."""


class ListError(PosError):
    """A trust list or deny list was refused; the cached list stays in force."""


class ConfigError(PosError):
    """A configuration file or value is invalid; the message names the key and the file."""


class StorageError(PosError):
    """The journal could not commit or read durably (disk full, I/O error)."""


class JournalIntegrityError(PosError):
    """The journal's hash chain or signatures do not hold."""

    def __init__(self, seq: int, what: str) -> None:
        super().__init__(f"journal broken at seq {seq}: {what}")
        self.seq = seq
        self.what = what
