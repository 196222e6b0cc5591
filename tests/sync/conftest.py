"""Fixtures for the sync tests: a demo scheme, collector processes on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.harness import CollectorProc, SchemeEnv, View, make_scheme
from tests.sync.pg import PgCluster, unavailable_reason

DB_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def db_url_for(kind: str, request: pytest.FixtureRequest, path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{path / 'collector.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture
def env(tmp_path: Path) -> SchemeEnv:
    return make_scheme(tmp_path)


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return db_url_for(db_kind, request, tmp_path)


@pytest.fixture
def collector(env: SchemeEnv, db_url: str, tmp_path: Path) -> Iterator[CollectorProc]:
    proc = CollectorProc(env, db_url, tmp_path / "collector").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def sqlite_collector(env: SchemeEnv, tmp_path: Path) -> Iterator[CollectorProc]:
    proc = CollectorProc(env, f"sqlite:///{tmp_path / 'collector.db'}", tmp_path / "collector").start()
    try:
        yield proc
    finally:
        proc.stop()


# One collector per test module, on each database kind (tests that share it use fresh terminal ids).
@pytest.fixture(scope="module")
def menv(tmp_path_factory: pytest.TempPathFactory) -> SchemeEnv:
    return make_scheme(tmp_path_factory.mktemp("scheme"))


@pytest.fixture(scope="module", params=DB_KINDS)
def coll(
    request: pytest.FixtureRequest, menv: SchemeEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CollectorProc]:
    work = tmp_path_factory.mktemp(f"collector-{request.param}")
    proc = CollectorProc(menv, db_url_for(str(request.param), request, work), work).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def view(coll: CollectorProc) -> Iterator[View]:
    v = View(coll.db_url)
    try:
        yield v
    finally:
        v.close()
