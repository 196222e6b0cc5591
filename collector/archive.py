"""``pos collector archive``: settled months of payments to gzip JSON lines, then dropped.

PostgreSQL with the partitioned layout only (``collector.partitions``): a month is one
partition of the rows the collector **stored** that month (``ingested_at``, its own clock), so
once the month is over nothing more is written into it: a payment made in March and uploaded
in April belongs to April. A month is **settled** when it ended at least the grace period ago
(``GRACE_S``, 7 days by default, ``--grace-days``): time to run and check its settlement and to
look at its flags before the rows leave the database. ``--before YYYY-MM`` archives every
partition of an earlier month; a month not settled is refused, and nothing is archived.

For the months taken, in one run:

1. every row (every status: refused and rejected rows are evidence) is written to
   ``FILE.partial``: a header line (``type: archive``, the months, the row count and the
   settlement) then one ``type: entry`` line per row, bytes as hex, gzip-compressed;
2. the file is read back and re-imported (``COPY``) into a temporary table, and its
   settlement is computed there with the same SQL as on the partitions: per terminal,
   currency and UTC day of storage, the count and total of accepted payments net of
   reversals and the reversed ones apart (``pos collector export``'s figures, by day);
3. in one transaction, with the partitions locked against writes, their settlement is
   computed again; only if all three agree (and the row counts) is the file renamed to
   ``FILE`` and the partitions detached and dropped. Any difference: an error, nothing dropped.

Claims (single use across the fleet) stay: an archived payment's (wallet id, counter) can
still not be spent again. ``--prune-claims`` deletes those whose certificate expired more than
the clock skew ago and records that horizon: a payment with such a certificate arriving later
is rejected ``claim_pruned`` (it cannot be checked for single use any more).

Dropping takes the payments table's exclusive lock for a moment (ingest waits; a terminal whose
batch the database picks as a deadlock victim gets a 5xx and retries): run it at a quiet hour.

``--restore FILE`` puts an archive's rows back (the month's partition is made again; a month
that still holds rows is refused). A reversal uploaded after its payment's month was archived
finds no payment to mark: it is stored ``reversal_unmatched``, as any unmatched one.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector import partitions
from collector.db import SCHEMA_LOCK_KEY, Database, Tx
from collector.schema import ROW_TERMINAL_SQL, token_digest_sql

GRACE_S = 7 * 86400
COLUMNS = (
    "terminal_id", "seq", "time", "kind", "wallet_id", "counter", "amount", "currency", "mode",
    "row_terminal_id", "token_digest", "token", "hash", "status", "reason", "offline_limit",
    "ingested_at", "reversed_seq",
)  # fmt: skip
BYTES = frozenset({"wallet_id", "counter", "token_digest", "token", "hash"})
# The file holds every column in full (the compact ones of ``collector.partitions`` filled in).
_SELECT = ", ".join(
    {"row_terminal_id": ROW_TERMINAL_SQL, "token_digest": token_digest_sql(True)}.get(c, c) for c in COLUMNS
)
SETTLEMENT_KEYS = ("terminal_id", "currency", "day", "count", "total", "reversed_count", "reversed_total")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ArchiveError(Exception):
    """The archive was refused or its check failed; nothing was dropped."""


@dataclass
class Archived:
    months: list[str]
    rows: int
    settlement: list[dict[str, Any]]
    claims_pruned: int = 0


def parse_month(text: str) -> tuple[int, int]:
    m = _MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ArchiveError(f"{text!r}: give a month as YYYY-MM")
    return int(m.group(1)), int(m.group(2))


def _label(ym: tuple[int, int]) -> str:
    return f"{ym[0]:04d}-{ym[1]:02d}"


def settlement_sql(table: str) -> str:
    """Per terminal, currency and UTC day of storage: what ``pos collector export`` sums."""
    return (
        "SELECT terminal_id, currency, ingested_at / 86400 AS day,"
        " sum(CASE WHEN reversed_seq IS NULL THEN 1 ELSE 0 END),"
        " sum(CASE WHEN reversed_seq IS NULL THEN amount ELSE 0 END),"
        " sum(CASE WHEN reversed_seq IS NULL THEN 0 ELSE 1 END),"
        " sum(CASE WHEN reversed_seq IS NULL THEN 0 ELSE amount END)"
        f" FROM {table} WHERE status = 'accepted'"
        " GROUP BY terminal_id, currency, ingested_at / 86400 ORDER BY terminal_id, currency, day"
    )


def _settle(tx: Tx, tables: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for table in tables:
        for r in tx.all(settlement_sql(table)):
            day = time.strftime("%Y-%m-%d", time.gmtime(int(r[2]) * 86400))
            out.append(dict(zip(SETTLEMENT_KEYS, (r[0], r[1], day, *(int(x) for x in r[3:])), strict=True)))
    return sorted(out, key=lambda d: (d["terminal_id"], d["currency"], d["day"]))


def settled_months(db: Database, before: str, now: int, grace_s: int = GRACE_S) -> list[tuple[int, int]]:
    """The partitions before ``before``; refuses a layout without them or a month not settled."""
    limit = parse_month(before)
    if db.dialect != "postgres":
        raise ArchiveError(
            "archive needs PostgreSQL: on SQLite every payment stays (single use across terminals"
            " is a unique index over them); export with `pos collector export` instead"
        )
    if db.layout != "partitioned":
        raise ArchiveError(
            "this PostgreSQL database has the unpartitioned entries table of an older collector:"
            " it keeps working, but archive needs the partitioned layout (a new database)"
        )
    with db.read() as tx:
        months = [ym for ym in partitions.existing_months(tx) if ym < limit]
    for ym in months:
        end = partitions.month_start(*partitions.next_month(*ym))
        if now < end + grace_s:
            raise ArchiveError(
                f"{_label(ym)} is not settled: it ends {time.strftime('%Y-%m-%d', time.gmtime(end))}"
                f" and is settled {grace_s // 86400} days later; nothing archived"
            )
    return months


def archive(
    db: Database,
    before: str,
    out: Path,
    *,
    now: int | None = None,
    grace_s: int = GRACE_S,
    prune_claims_skew: int | None = None,
) -> Archived:
    """Write, check, then drop the settled months before ``before`` (see the module doc)."""
    now = int(time.time()) if now is None else now
    if out.exists():
        raise ArchiveError(f"{out} exists: archive writes a new file")
    months = settled_months(db, before, now, grace_s)
    if not months:
        raise ArchiveError(f"no month before {before} is stored: nothing to archive")
    tables = [partitions.partition_name(*ym) for ym in months]
    partial = out.with_name(out.name + ".partial")
    with db.read() as tx:
        settlement = _settle(tx, tables)
        n = sum(int(tx.one(f"SELECT count(*) FROM {t}")[0]) for t in tables)
    labels = [_label(m) for m in months]
    header = {"type": "archive", "version": 1, "months": labels, "rows": n,
              "settlement": settlement}  # fmt: skip
    try:
        written = _write(db, tables, partial, header)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ArchiveError(f"cannot write {partial}: {exc.strerror or exc}; nothing archived") from None
    try:
        if written != n:
            raise ArchiveError(f"wrote {written} rows of {n}: the months changed while archiving")
        _check_and_drop(db, tables, partial, out, header)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    pruned = 0
    if prune_claims_skew is not None:
        # The horizon first, in a short transaction (ingest waits for it), then the DELETE,
        # which may be long, beside the ingest.
        with db.write() as tx:
            horizon = partitions.raise_claims_horizon(tx, now, prune_claims_skew)
        with db.write() as tx:
            pruned = partitions.delete_claims_before(tx, horizon)
    return Archived(labels, n, settlement, pruned)


def _write(db: Database, tables: list[str], path: Path, header: dict[str, Any]) -> int:
    n = 0
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(header, sort_keys=True) + "\n")
        for table in tables:
            with db.stream(f"SELECT {_SELECT} FROM {table} ORDER BY terminal_id, seq") as rows:
                for row in rows:
                    doc = {"type": "entry"}
                    for k, v in zip(COLUMNS, row, strict=True):
                        doc[k] = bytes(v).hex() if k in BYTES and v is not None else v
                    fh.write(json.dumps(doc, sort_keys=True) + "\n")
                    n += 1
    with open(path, "rb") as raw:
        os.fsync(raw.fileno())
    return n


def read_archive(path: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """An archive's header and its rows as column tuples (``COLUMNS`` order)."""
    rows: list[tuple[Any, ...]] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            if not isinstance(header, dict) or header.get("type") != "archive" or header.get("version") != 1:
                raise ArchiveError(f"{path} is not a collector archive (version 1)")
            for line in fh:
                doc = json.loads(line)
                rows.append(tuple(_field(k, doc[k]) for k in COLUMNS))
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArchiveError(f"{path}: not a readable archive: {exc}") from None
    return header, rows


def _field(k: str, v: Any) -> Any:
    return bytes.fromhex(v) if k in BYTES and v is not None else v


def _copy(tx: Tx, table: str, rows: list[tuple[Any, ...]]) -> None:
    with tx.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _check_and_drop(
    db: Database, tables: list[str], partial: Path, out: Path, header: dict[str, Any]
) -> None:
    """Re-import the file into a temporary table; drop the partitions only if all agree."""
    back, rows = read_archive(partial)
    with db.write() as tx:
        tx.execute("CREATE TEMP TABLE archive_check (LIKE entries) ON COMMIT DROP")
        _copy(tx, "archive_check", rows)
        reimported = _settle(tx, ["archive_check"])
        for t in tables:
            tx.execute(f"LOCK TABLE {t} IN EXCLUSIVE MODE")
        now_settled = _settle(tx, tables)
        count = sum(int(tx.one(f"SELECT count(*) FROM {t}")[0]) for t in tables)
        if not (reimported == now_settled == header["settlement"] == back["settlement"]):
            raise ArchiveError("the archive does not sum to the settlement it replaces; nothing dropped")
        if count != len(rows) or count != header["rows"]:
            raise ArchiveError(f"the archive holds {len(rows)} rows, the months {count}; nothing dropped")
        partial.rename(out)
        for t in tables:
            tx.execute(f"ALTER TABLE entries DETACH PARTITION {t}")
            tx.execute(f"DROP TABLE {t}")


def restore(db: Database, path: Path) -> int:
    """Put an archive's rows back into their months' partitions; returns the row count."""
    header, rows = read_archive(path)
    if db.dialect != "postgres" or db.layout != "partitioned":
        raise ArchiveError("restore needs PostgreSQL with the partitioned layout")
    months = sorted({partitions.month_of(int(r[COLUMNS.index("ingested_at")])) for r in rows})
    with db.write() as tx:
        tx.lock_global(SCHEMA_LOCK_KEY)
        have = set(partitions.existing_months(tx))
        for ym in months:
            name = partitions.partition_name(*ym)
            if ym in have and tx.one(f"SELECT count(*) FROM {name}")[0]:
                raise ArchiveError(f"{_label(ym)} still holds rows: restore only into an archived month")
            partitions.ensure_month(tx, ym)
        _copy(tx, "entries", rows)
        if _settle(tx, [partitions.partition_name(*ym) for ym in months]) != header["settlement"]:
            raise ArchiveError("the restored rows do not sum to the archive's settlement; nothing restored")
    return len(rows)
