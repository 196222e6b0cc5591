"""What the collector itself knows about a terminal, to hold its later claims against.

A terminal's uploads are claims (docs/sync.md, "Threat model"); these marks are the
collector's own record, never the terminal's word alone:

* ``max_time``: the newest row time stored for the terminal. Its chain may not go back in
  time by more than the clock skew (the terminal refuses to, ``pos.verify``'s clock floor).
* ``deny_seq`` / ``deny_from_seq``: the newest deny list the terminal is known to hold, and the
  last chain seq journaled before it held it. Known from two sources: a list the collector
  served to that terminal on a signed request (the boundary is the collector's head for the
  terminal then: everything after was journaled later), and the lists a batch states it was
  built under (the terminal's own signed word; the boundary is that batch's last row).
  Every row after the boundary is judged against that list whatever time it claims, so a
  backdated row cannot undo a deny list the terminal already held.

Rows live in the ``terminal_marks`` table; ingest reads them under the terminal's row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from collector.db import Database

log = logging.getLogger("collector")


@dataclass
class Marks:
    max_time: int = 0
    deny_seq: int = 0
    deny_from_seq: int = 0

    def holds_list(self, row_seq: int, added_seq: int | None) -> bool:
        """True when the terminal held a deny list naming the wallet when it journaled row_seq."""
        return added_seq is not None and self.deny_seq >= added_seq and row_seq > self.deny_from_seq


# The marks a batch leaves (``collector.ingest`` writes them with the terminal's new head).
UPSERT = (
    "INSERT INTO terminal_marks (terminal_id, max_time, deny_seq, deny_from_seq) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (terminal_id) DO UPDATE SET max_time = excluded.max_time,"
    " deny_seq = excluded.deny_seq, deny_from_seq = excluded.deny_from_seq"
)


def stated(marks: Marks, deny_seq: int | None, last_seq: int) -> None:
    """A batch said it was built with ``deny_seq`` installed: rows after ``last_seq`` follow it."""
    if deny_seq is not None and deny_seq > marks.deny_seq:
        marks.deny_seq, marks.deny_from_seq = deny_seq, last_seq


def note_served(db: Database, tid: str, deny_seq: int) -> None:
    """The collector served deny list ``deny_seq`` to ``tid``: rows after its head follow it.

    A list request is a read; the write happens once per terminal and new list (the common
    answer, a 304 for the list it already holds, reads one row and writes nothing).
    """
    with db.read() as tx:
        row = tx.one("SELECT deny_seq FROM terminal_marks WHERE terminal_id = ?", (tid,))
    if row is not None and row[0] >= deny_seq:
        return
    with db.write() as tx:
        # The terminal's row lock orders this against a concurrent ingest of the same terminal.
        lock = " FOR UPDATE" if tx.pg else ""
        head = tx.one(f"SELECT last_seq FROM terminals WHERE terminal_id = ?{lock}", (tid,))
        if head is None:
            return
        tx.execute(
            "INSERT INTO terminal_marks (terminal_id, max_time, deny_seq, deny_from_seq) VALUES (?, 0, ?, ?)"
            " ON CONFLICT (terminal_id) DO UPDATE SET deny_seq = excluded.deny_seq,"
            " deny_from_seq = excluded.deny_from_seq WHERE terminal_marks.deny_seq < excluded.deny_seq",
            (tid, deny_seq, head[0]),
        )
    log.info("served deny list seq %d to %s (from seq %d)", deny_seq, tid, head[0])
