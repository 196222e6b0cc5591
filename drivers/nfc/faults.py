"""The wallet emulator's fault switches: the ways a phone misbehaves at a reader."""

from __future__ import annotations

from dataclasses import dataclass, replace

FAULT_NAMES = (
    "slow",
    "slow-wtx",
    "chained",
    "refuses",
    "vanish",
    "wrong-aid",
    "unknown-ins",
    "not-iso-dep",
    "endless",
    "endless-frames",
)


@dataclass(frozen=True)
class Faults:
    delay: float = 0.0  # seconds before answering GENERATE TOKEN
    wtx: bool = False  # ask for S(WTX) while delaying
    chunk: int | None = None  # response data bytes per APDU; None: what fits one frame
    refuse: bool = False
    vanish_after_select: bool = False
    wrong_aid: bool = False
    unknown_ins: bool = False
    not_iso_dep: bool = False
    endless: bool = False
    endless_frames: bool = False
    max_amount: int | None = None  # the wallet's own limit: above it, 69 85

    @classmethod
    def named(cls, names: list[str], *, delay: float | None = None, chunk: int | None = None) -> Faults:
        f = cls()
        for name in names:
            if name not in FAULT_NAMES:
                raise ValueError(f"unknown fault {name!r} (one of {', '.join(FAULT_NAMES)})")
            if name in ("slow", "slow-wtx"):
                f = replace(f, delay=0.3 if delay is None else delay, wtx=f.wtx or name == "slow-wtx")
            elif name == "chained":
                f = replace(f, chunk=32 if chunk is None else chunk)
            else:
                attr = {
                    "refuses": "refuse",
                    "vanish": "vanish_after_select",
                    "wrong-aid": "wrong_aid",
                    "unknown-ins": "unknown_ins",
                    "not-iso-dep": "not_iso_dep",
                    "endless": "endless",
                    "endless-frames": "endless_frames",
                }[name]
                f = replace(f, **{attr: True})
        if delay is not None and not f.delay:
            f = replace(f, delay=delay)
        if chunk is not None and f.chunk is None:
            f = replace(f, chunk=chunk)
        return f
