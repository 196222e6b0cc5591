"""``pos run``'s logs: one JSON object per line (ts, level, logger, msg and the record's
``fields``), and the one line written per payment decision."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from ui.runtime.acceptance import Attempt

log = logging.getLogger("pos.run")


class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(getattr(record, "fields", {}))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(target: Path | None) -> None:
    handler: logging.Handler
    if target is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per sync pass is ours, not per request


def log_attempt(attempt: Attempt, mode: str) -> None:
    d = attempt.decision
    fields: dict[str, Any] = {"event": "decision", "mode": mode, "source": attempt.source}
    if d is None:
        fields.update(decision="none", outcome=attempt.outcome)
    else:
        fields.update(
            decision="approved" if d.approved else "declined", reason=d.reason, amount=d.amount, seq=d.seq,
            wallet_id=d.wallet_id.hex() if d.wallet_id is not None else None, counter=d.counter,
        )  # fmt: skip
    if attempt.actuated is not None:
        fields["tap_to_relay_ms"] = round((attempt.actuated - attempt.presented) * 1000, 3)
    if attempt.outcome and d is not None:
        fields["outcome"] = attempt.outcome
    log.info("decision", extra={"fields": fields})
