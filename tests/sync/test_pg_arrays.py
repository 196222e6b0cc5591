"""``collector.pg_arrays``: arrays packed in PostgreSQL's binary format must arrive as the
same values psycopg's own list dumper sends, NULLs, empty arrays, extremes and bytes of mixed
lengths included; a pooled connection's binary ``COPY`` of bytea takes the C dumper."""

from __future__ import annotations

from typing import Any

import pytest

from collector.db import Database
from collector.pg_arrays import Byteas, Int8s, pack_byteas, pack_int8s

INTS: list[list[int | None]] = [
    [], [0], [1, -1, 2**63 - 1, -(2**63)], [None], [5, None, 7], list(range(-50, 450, 5)),
]  # fmt: skip
BYTES: list[list[bytes | None]] = [
    [], [b""], [bytes(8), b"\xff" * 8, b"\x01" * 8], [b"a", b"bcd", b""], [None, b"x"], [b"\x00" * 300],
]  # fmt: skip


@pytest.fixture(scope="module")
def pg_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.sync.conftest import db_url_for

    db = Database(db_url_for("postgres", request, tmp_path_factory.mktemp("pg")))
    yield db
    db.close()


@pytest.mark.parametrize("values", INTS)
def test_packed_bigint_arrays_arrive_as_psycopgs_own(pg_db: Database, values: list[int | None]) -> None:
    with pg_db.read() as tx:
        packed = tx.one("SELECT ?::bigint[]", [Int8s(values)])[0]
        plain = tx.one("SELECT ?::bigint[]", [list(values)])[0] if values else []
        unnested = [r[0] for r in tx.all("SELECT unnest(?::bigint[])", [Int8s(values)])]
    assert packed == plain == unnested == values


@pytest.mark.parametrize("values", BYTES)
def test_packed_bytea_arrays_arrive_as_psycopgs_own(pg_db: Database, values: list[bytes | None]) -> None:
    with pg_db.read() as tx:
        packed = tx.one("SELECT ?::bytea[]", [Byteas(values)])[0]
        unnested = [r[0] for r in tx.all("SELECT unnest(?::bytea[])", [Byteas(values)])]
        plain = tx.one("SELECT ?::bytea[]", [list(values)])[0] if values else []
    got = [None if v is None else bytes(v) for v in packed]
    assert got == [None if v is None else bytes(v) for v in plain] == values
    assert [None if v is None else bytes(v) for v in unnested] == values


def test_binary_array_layout_is_postgresqls() -> None:
    """ndim, has-null flag, element oid, length, lower bound, then length-prefixed elements."""
    head = "00000001" "00000000"  # one dimension, no NULL
    one = "00000001" "00000001"  # length 1, lower bound 1
    assert pack_int8s([7]).hex() == head + "00000014" + one + "00000008" "0000000000000007"
    assert pack_int8s([None]).hex() == "00000001" "00000001" "00000014" + one + "ffffffff"
    assert pack_byteas([b"ab"]).hex() == head + "00000011" + one + "00000002" "6162"
    assert pack_byteas([]).hex() == "00000000" "00000000" "00000011"


def test_pooled_connections_copy_bytea_through_the_c_dumper(pg_db: Database) -> None:
    from psycopg.pq import Format

    with pg_db.read() as tx:
        dumper = tx.conn.adapters.get_dumper_by_oid(17, Format.BINARY)
        tx.execute("CREATE TEMP TABLE t (b bytea)")
        with tx.conn.cursor() as cur, cur.copy("COPY t (b) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["bytea"])
            copy.write_row((b"\x00\x01",))
        assert bytes(tx.one("SELECT b FROM t")[0]) == b"\x00\x01"
    assert "dbapi20" not in dumper.__module__, dumper
