"""A terminal's rows judged against what the collector knows, not what the terminal says.

Runs in the ingest transaction, after the chain checks and before ``collector.payments``. A
row that breaks one of these rules is **refused**: it is stored (the chain goes on, the row is
evidence) with status ``refused`` and a reason, never credited, and the uploader is flagged
(an event against the terminal, once per row). An honest terminal never writes such a row, so
each is a terminal fault, and none is evidence against a wallet:

* ``foreign_terminal_id``: the row names another terminal than the authenticated uploader.
* ``foreign_nfc_token``: an NFC token bound to another terminal (re-verified against the
  authenticated id only: a relayed token must not be credited to the relay, nor frame the
  terminal it was bound to).
* ``time_in_future``: a row time after the collector's own clock plus the skew.
* ``time_backwards``: a row time before the newest one of the terminal's chain, less the skew.
* ``time_outside_token``: the row time outside the token's own validity (SPEC 3.2), i.e. the
  terminal claims a time the wallet's signed iat..exp contradicts.

Two more are decided in ``collector.payments``, where the fleet's payments are read:
``self_duplicate`` (one (wallet id, counter) twice from one terminal) and ``denied_list_held``
(a wallet on a deny list the terminal already held, whatever time the row claims).
"""

from __future__ import annotations

from typing import Any

from collector.marks import Marks
from collector.reverify import REFUSED, Verdict
from pos import reasons
from pos.wire import protocol as p

FOREIGN_TERMINAL_ID = "foreign_terminal_id"
FOREIGN_NFC_TOKEN = "foreign_nfc_token"
TIME_IN_FUTURE = "time_in_future"
TIME_BACKWARDS = "time_backwards"
TIME_OUTSIDE_TOKEN = "time_outside_token"
SELF_DUPLICATE = "self_duplicate"
DENIED_LIST_HELD = "denied_list_held"
CHAIN_FLAGS = ("row_edited", "chain_gap", "chain_fork")
# Every event kind that flags the uploading terminal (export, /metrics, GET /v1/terminals).
TERMINAL_FLAGS = frozenset(
    {FOREIGN_TERMINAL_ID, FOREIGN_NFC_TOKEN, TIME_IN_FUTURE, TIME_BACKWARDS, TIME_OUTSIDE_TOKEN,
     SELF_DUPLICATE, DENIED_LIST_HELD, "terminal_offline_limit_breach", *CHAIN_FLAGS}
)  # fmt: skip

_TOKEN_TIME = frozenset({reasons.TOKEN_NOT_YET_VALID, reasons.TOKEN_EXPIRED})


def judge_rows(
    tid: str,
    rows: list[p.BatchRow],
    verdicts: dict[int, Verdict],
    marks: Marks,
    now: int,
    skew: int,
    events: list[dict[str, Any]],
) -> None:
    """Turn the verdict of every row that breaks a rule above into ``refused``; flag each."""
    for row in rows:
        kind, detail = _fault(tid, row, verdicts[row.seq], marks.max_time, now, skew)
        if kind is None:
            if verdicts[row.seq].status != REFUSED:
                marks.max_time = max(marks.max_time, row.time)
            continue
        verdicts[row.seq] = Verdict(REFUSED, kind)
        events.append(flag(kind, tid, row, detail))


def _fault(
    tid: str, row: p.BatchRow, v: Verdict, max_time: int, now: int, skew: int
) -> tuple[str | None, dict[str, Any]]:
    if row.terminal_id != tid:
        return FOREIGN_TERMINAL_ID, {"row_terminal_id": row.terminal_id}
    if row.time > now + skew:
        return TIME_IN_FUTURE, {"collector_time": now, "skew": skew}
    if row.time < max_time - skew:
        return TIME_BACKWARDS, {"newest_time": max_time, "skew": skew}
    if v.reason in _TOKEN_TIME:
        return TIME_OUTSIDE_TOKEN, {"token_verdict": v.reason}
    if v.reason == reasons.TERMINAL_MISMATCH:
        return FOREIGN_NFC_TOKEN, {"token_verdict": v.reason}
    return None, {}


def flag(kind: str, tid: str, row: p.BatchRow, detail: dict[str, Any]) -> dict[str, Any]:
    """An event against the uploading terminal for one row (stored once per row)."""
    return {
        "kind": kind,
        "dedupe": f"{kind}:{tid}:{row.seq}:{row.hash.hex()}",
        "terminal_id": tid,
        "wallet_id": row.wallet_id,
        "deny": False,  # a terminal fault is never evidence against the wallet
        "flags_terminal": True,
        "detail": {
            "seq": row.seq, "time": row.time, "wallet_id": row.wallet_id.hex(), "counter": row.counter,
            "amount": row.amount, "token_digest": row.token_digest.hex(), **detail,
        },
    }  # fmt: skip
