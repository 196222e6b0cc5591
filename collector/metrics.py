"""``/metrics`` in the Prometheus text format (version 0.0.4).

Payment counters live in the database (table ``counters``, per terminal), so they survive a
restart and agree across processes; request-level refusals (garbage, bad signatures, unknown
terminals, oversize bodies, replays) are counted in the serving process, since nothing of such
a request is stored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from collector.service import Collector
from pos.tokens import TYP_DENY_LIST


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}" if isinstance(value, float) else f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


Samples = list[tuple[dict[str, str] | None, Any]]


def _read(collector: Collector) -> dict[str, Any]:
    with collector.db.read() as tx:
        counters = tx.all("SELECT name, label, sum(value) FROM counters GROUP BY name, label")
        terminals = tx.all("SELECT terminal_id, last_seen, last_seq, flags FROM terminals")
        events = tx.all("SELECT kind, count(*) FROM events GROUP BY kind")
        deny = collector.lists.latest(tx, TYP_DENY_LIST)
        (denied,) = tx.one("SELECT count(*) FROM denied")
        (waiting,) = tx.one("SELECT count(*) FROM denied WHERE added_seq IS NULL")
    by: dict[str, dict[str, int]] = defaultdict(dict)
    for name, label, value in counters:
        by[name][label] = int(value)
    return {
        "by": by, "terminals": sorted(terminals), "events": {k: int(n) for k, n in events},
        "deny_seq": deny.seq if deny else 0, "denied": denied, "waiting": waiting,
    }  # fmt: skip


def _labelled(label: str, values: dict[str, int]) -> Samples:
    return [({label: k}, v) for k, v in sorted(values.items())] or [({label: "none"}, 0)]


def _payment_metrics(collector: Collector, d: dict[str, Any]) -> list[tuple[str, str, str, Samples]]:
    by, ev = d["by"], d["events"]
    return [
        ("owt_collector_payments_ingested_total", "counter", "Payments accepted after re-verification.",
         [(None, by["ingested"].get("", 0))]),
        ("owt_collector_duplicates_total", "counter", "Rows received again and answered duplicate.",
         [(None, by["duplicates"].get("", 0))]),
        ("owt_collector_payments_rejected_total", "counter",
         "Uploaded payments that failed re-verification, by reason.", _labelled("reason", by["rejected"])),
        ("owt_collector_rows_refused_total", "counter",
         "Rows refused: chain errors (edited row, gap, fork) and terminal faults (collector.judge).",
         _labelled("reason", by["refused"])),
        ("owt_collector_requests_rejected_total", "counter",
         "Requests refused as a whole (nothing stored), by reason.",
         [({"reason": r}, v) for r, v in collector.request_rejects.items()] or [({"reason": "none"}, 0)]),
        ("owt_collector_double_spends_total", "counter",
         "Payments reusing a (wallet id, counter) already accepted elsewhere.",
         [(None, ev.get("double_spend", 0))]),
        ("owt_collector_flags_total", "counter", "Flagged events by kind.", _labelled("kind", ev)),
        ("owt_collector_velocity_locks_total", "counter", "Velocity locks reported by terminals.",
         [(None, by["velocity_locks"].get("", 0))]),
        ("owt_collector_batches_total", "counter", "Batches ingested.", [(None, by["batches"].get("", 0))]),
    ]  # fmt: skip


def _fleet_metrics(collector: Collector, d: dict[str, Any]) -> list[tuple[str, str, str, Samples]]:
    terminals = d["terminals"]
    return [
        ("owt_collector_terminal_last_seen_timestamp_seconds", "gauge",
         "When each terminal last uploaded a batch (epoch seconds).",
         [({"terminal": t}, seen or 0) for t, seen, _s, _f in terminals]),
        ("owt_collector_terminal_last_seq", "gauge", "The newest journal seq held for each terminal.",
         [({"terminal": t}, s) for t, _seen, s, _f in terminals]),
        ("owt_collector_terminal_flags", "gauge", "Chain errors flagged per terminal.",
         [({"terminal": t}, f) for t, _seen, _s, f in terminals]),
        ("owt_collector_denied_wallets", "gauge", "Wallet ids on the deny list.", [(None, d["denied"])]),
        ("owt_collector_denied_waiting", "gauge", "Denied wallets not yet in a published list.",
         [(None, d["waiting"])]),
        ("owt_collector_deny_list_seq", "gauge", "Seq of the newest deny list.", [(None, d["deny_seq"])]),
        ("owt_collector_can_sign_lists", "gauge", "1 when this collector holds a list signer.",
         [(None, 1 if collector.lists.signer is not None else 0)]),
    ]  # fmt: skip


def render(collector: Collector) -> str:
    """Served only to a bearer of the metrics or operator token (it names every terminal)."""
    data = _read(collector)
    out: list[str] = []
    for name, kind, help_, samples in (*_payment_metrics(collector, data), *_fleet_metrics(collector, data)):
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(_line(name, v, lbl) for lbl, v in samples)
    return "\n".join(out) + "\n"
