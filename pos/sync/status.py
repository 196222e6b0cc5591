"""``pos queue status``: what waits for upload, how old it is, and how close the caps are."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pos.decision import Policy
from pos.errors import ListError
from pos.journal import DB_FILE, Journal
from pos.keystore import KeyStore
from pos.schema import STATE_ACKED, STATE_PENDING
from pos.sync.state import SyncState
from pos.trust import SignedList


def _list_info(lst: SignedList | None, now: int, grace: int) -> dict[str, Any] | None:
    if lst is None:
        return None
    return {
        "seq": lst.seq,
        "iat": lst.iat,
        "age_s": now - lst.iat,
        "next_update": lst.next_update,
        "stale": lst.stale_at(now, grace),
        **({"denied": len(lst)} if hasattr(lst, "ids") else {}),  # type: ignore[arg-type]
    }


def _pct(value: int, cap: int) -> float | None:
    return round(100.0 * value / cap, 1) if cap else None


def queue_status(data_dir: Path, policy: Policy | None = None, *, now: int | None = None) -> dict[str, Any]:
    policy = policy or Policy()
    now = int(time.time()) if now is None else now
    data_dir = Path(data_dir)
    state = SyncState(data_dir).load()
    doc: dict[str, Any] = {"data_dir": str(data_dir), "now": now}
    if not (data_dir / DB_FILE).exists():
        doc["journal"] = None
    else:
        journal = Journal(data_dir)
        try:
            db = journal.db
            count, total = db.execute("SELECT pending_count, pending_total FROM totals").fetchone()
            oldest = db.execute(
                "SELECT time FROM payments WHERE state = ? ORDER BY seq LIMIT 1", (STATE_PENDING,)
            ).fetchone()
            by_currency = db.execute(
                "SELECT currency, count(*), sum(amount) FROM payments WHERE state = ? GROUP BY currency",
                (STATE_PENDING,),
            ).fetchall()
            (acked,) = db.execute("SELECT count(*) FROM payments WHERE state = ?", (STATE_ACKED,)).fetchone()
            (pruned,) = db.execute(
                "SELECT count(*) FROM payments WHERE state = ? AND token_ct IS NULL", (STATE_ACKED,)
            ).fetchone()
            (locks,) = db.execute("SELECT count(*) FROM velocity_locks WHERE reported = 0").fetchone()
        finally:
            journal.close()
        doc["journal"] = {
            "pending_count": count,
            "pending_amount": total,
            "pending_by_currency": {c: {"count": n, "amount": a} for c, n, a in by_currency},
            "oldest_pending_age_s": now - oldest[0] if oldest else None,
            "acknowledged": acked,
            "pruned_tokens": pruned,
            "unreported_velocity_locks": locks,
        }
        doc["exposure"] = {
            "count": count,
            "count_cap": policy.offline_count_max,
            "count_pct": _pct(count, policy.offline_count_max),
            "amount": total,
            "amount_cap": policy.offline_total_max,
            "amount_pct": _pct(total, policy.offline_total_max),
        }
    try:
        snap = KeyStore.pinned(data_dir).load()
        doc["lists"] = {
            "trust": _list_info(snap.trust, now, policy.grace_s),
            "deny": _list_info(snap.deny, now, policy.grace_s),
        }
    except ListError as exc:
        doc["lists"] = {"error": str(exc)}
    enrollment = SyncState(data_dir).enrollment
    doc["sync"] = {
        "collector": enrollment.get("collector") if isinstance(enrollment, dict) else None,
        "terminal_id": enrollment.get("terminal_id") if isinstance(enrollment, dict) else None,
        "enrolled": isinstance(enrollment, dict),
        "last_success": state.get("last_success"),
        "last_success_age_s": now - state["last_success"] if state.get("last_success") else None,
        "last_attempt": state.get("last_attempt"),
        "last_error": state.get("last_error"),
        "last_lists": state.get("last_lists"),
    }
    return doc


def format_status(doc: dict[str, Any]) -> str:
    def age(s: int | None) -> str:
        if s is None:
            return "never"
        if s < 120:
            return f"{s} s"
        if s < 7200:
            return f"{s // 60} min"
        if s < 172800:
            return f"{s // 3600} h"
        return f"{s // 86400} days"

    lines = []
    j = doc.get("journal")
    if j is None:
        lines.append("journal: none in this data dir")
    else:
        cur = ", ".join(f"{c} {v['amount']} in {v['count']}" for c, v in j["pending_by_currency"].items())
        lines.append(
            f"pending: {j['pending_count']} payments, {j['pending_amount']} minor units"
            + (f" ({cur})" if cur else "")
        )
        lines.append(
            f"oldest pending: {age(j['oldest_pending_age_s'])} ago"
            if j["oldest_pending_age_s"] is not None
            else "oldest pending: none"
        )
        e = doc["exposure"]
        lines.append(
            f"exposure: {e['count']}/{e['count_cap']} payments ({e['count_pct']}%),"
            f" {e['amount']}/{e['amount_cap']} minor units ({e['amount_pct']}%)"
        )
        lines.append(f"acknowledged: {j['acknowledged']} ({j['pruned_tokens']} tokens pruned)")
    s = doc["sync"]
    lines.append(
        f"collector: {s['collector'] or 'not enrolled'}"
        + (f" as {s['terminal_id']}" if s["terminal_id"] else "")
    )
    lines.append(
        "last successful sync: "
        + (f"{age(s['last_success_age_s'])} ago" if s["last_success_age_s"] is not None else "never")
    )
    if s["last_error"]:
        err = s["last_error"]
        lines.append(f"last error: {err.get('error') or err.get('chain')}")
    lists = doc.get("lists", {})
    for name in ("trust", "deny"):
        info = lists.get(name)
        if info is None:
            lines.append(f"{name} list: none")
        else:
            lines.append(
                f"{name} list: seq {info['seq']}, issued {age(info['age_s'])} ago"
                + (" (STALE)" if info["stale"] else "")
            )
    if "error" in lists:
        lines.append(f"lists: {lists['error']}")
    return "\n".join(lines)
