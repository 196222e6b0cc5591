"""PostgreSQL array parameters packed in binary here, and bytea columns of a ``COPY`` dumped
by psycopg's C dumper: the ingest transaction sends about eight arrays of a hundred ids or
numbers per batch, and a hundred rows through ``COPY``.

psycopg dumps a Python list by finding each element's dumper and calling it, in Python:
measured 24-28 us for a 100-element ``bytea[]`` or ``bigint[]``. ``Int8s`` and ``Byteas``
(lists) are packed in one pass into PostgreSQL's binary array format (``array_send``: the
number of dimensions, a null flag, the element type, the length and lower bound, then each
element as a 4-byte length, -1 for NULL, and its bytes). ``register`` installs their dumpers on
a connection, and for ``bytea`` by type oid (what ``COPY ... set_types`` looks up) psycopg's
own C dumper instead of ``psycopg.dbapi20``'s, which checks every value in Python for the
``Binary`` wrapper the collector never sends.
"""

from __future__ import annotations

import struct
from itertools import repeat
from typing import Any

INT8_OID, INT8_ARRAY_OID = 20, 1016
BYTEA_OID, BYTEA_ARRAY_OID = 17, 1001
_HEAD = struct.Struct(">iiIii")  # ndim 1, has nulls, element oid, length, lower bound 1
_EMPTY = struct.Struct(">iiI")  # ndim 0
_I8 = struct.Struct(">iq")
_LEN = struct.Struct(">i")
_NULL = _LEN.pack(-1)


class Int8s(list[int | None]):
    """A ``bigint[]`` parameter (``?::bigint[]``); ``None`` elements are NULL."""


class Byteas(list[bytes | None]):
    """A ``bytea[]`` parameter (``?::bytea[]``); ``None`` elements are NULL."""


def pack_int8s(values: list[int | None]) -> bytes:
    if not values:
        return _EMPTY.pack(0, 0, INT8_OID)
    if None in values:
        body = b"".join(_NULL if v is None else _I8.pack(8, v) for v in values)
        return _HEAD.pack(1, 1, INT8_OID, len(values), 1) + body
    return _HEAD.pack(1, 0, INT8_OID, len(values), 1) + b"".join(map(_I8.pack, repeat(8), values))


def pack_byteas(values: list[bytes | None]) -> bytes:
    if not values:
        return _EMPTY.pack(0, 0, BYTEA_OID)
    nulls = None in values
    sizes = set() if nulls else set(map(len, values))  # type: ignore[arg-type]
    if len(sizes) == 1:  # ids of one length: the same length prefix for all
        body = b"".join(map(_LEN.pack(sizes.pop()).__add__, values))  # type: ignore[arg-type]
    else:
        body = b"".join(_NULL if v is None else _LEN.pack(len(v)) + v for v in values)
    return _HEAD.pack(1, int(nulls), BYTEA_OID, len(values), 1) + body


def register(conn: Any) -> None:
    """Install the dumpers on one connection (the pool's ``configure``); psycopg is imported
    here, so a collector on SQLite never loads it."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types.string import BytesBinaryDumper

    class Int8sDumper(Dumper):
        format = Format.BINARY
        oid = INT8_ARRAY_OID

        def dump(self, obj: Any) -> bytes:
            return pack_int8s(obj)

    class ByteasDumper(Dumper):
        format = Format.BINARY
        oid = BYTEA_ARRAY_OID

        def dump(self, obj: Any) -> bytes:
            return pack_byteas(obj)

    conn.adapters.register_dumper(Int8s, Int8sDumper)
    conn.adapters.register_dumper(Byteas, ByteasDumper)
    conn.adapters.register_dumper(bytes, BytesBinaryDumper)  # bytea by oid: the C dumper again
