"""PostgreSQL: what one batch costs in statements and round trips does not grow with its rows.

Each statement costs about 0.15 ms of CPU on this machine, client and server together, so
a 100-row batch pays ~1.5 us a payment for each (docs/scale.md). libpq's own protocol trace
(``PQtrace``) of the collector's single pooled connection counts what the ingest sends: the
messages that run a statement (``Query``, ``Bind``) and the syncs it waits on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from collector.db import Database
from collector.lists import Lists, ListSigner
from collector.service import Collector, Settings
from tests.sync.harness import SchemeEnv
from tests.sync.pg import PgCluster
from tests.sync.test_storage import TOKEN, Clock, Term

# What a batch sends: the arrival read (key, head, lists' version); then BEGIN, the nonce (with
# the pruning lock), the head, marks and claims horizon, and the deny list's entries in one
# round trip; the claims; the COPY; the wallets' day totals (answering which wallets they put
# over their limit); the closing write (marks, counters, head) with COMMIT. Fourteen statements
# in eleven round trips before they were merged, then ten in nine or ten.
STATEMENTS_PER_BATCH = 10
ROUND_TRIPS_PER_BATCH = 6


# The messages that run a statement or end a round trip. A ``Flush`` (psycopg asking the
# server for what it has, in a pipeline) varies with timing and costs no round trip; the
# ``CopyData`` messages of a ``COPY`` vary with its size.
_COUNTED = ("Parse", "Bind", "Execute", "Query", "Sync")


def _messages(trace: Path) -> Counter[str]:
    """Frontend messages by type in a libpq trace (tab-separated: direction, length, type)."""
    out: Counter[str] = Counter()
    for line in trace.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == "F" and parts[2].split(" ")[0] in _COUNTED:
            out[parts[2].split(" ")[0]] += 1
    return out


def test_a_batch_sends_the_same_few_statements_whatever_its_rows(
    pg_cluster: PgCluster, env: SchemeEnv, tmp_path: Path
) -> None:
    from psycopg import pq

    db = Database(pg_cluster.new_database(), pool_size=1)
    lists = Lists(db, env.root, ListSigner.from_scheme_dir(env.scheme.dir))
    for path in (env.trust_list, env.deny_list):
        lists.import_list(path.read_bytes())
    coll = Collector(db, lists, Settings(operator_token=TOKEN), clock=Clock(env.now))
    try:
        wallets = [env.wallet() for _ in range(3)]
        term = Term(coll, tmp_path / "t", "T-STMT", env.now)
        term.pay([(wallets[0].token(max_amount=5, now=env.now), 5)], env.now)  # warm: plans made
        counts = []
        for n in (4, 40):
            tokens = [(wallets[i % 3].token(max_amount=5, now=env.now), 5) for i in range(n)]
            trace = tmp_path / f"trace-{n}.txt"
            with open(trace, "w") as fh:
                with db._pool.connection() as conn:  # the pool's one connection
                    conn.pgconn.trace(fh.fileno())
                    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
                try:
                    assert {r[2] for r in term.pay(tokens, env.now)} == {"accepted"}
                finally:
                    with db._pool.connection() as conn:
                        conn.pgconn.untrace()
            counts.append(_messages(trace))
        few, many = counts
        assert few == many, (few, many)
        assert few["Bind"] + few["Query"] <= STATEMENTS_PER_BATCH, few  # Query: BEGIN, COPY, COMMIT
        assert few["Sync"] + few["Query"] <= ROUND_TRIPS_PER_BATCH, few
    finally:
        coll.close()
