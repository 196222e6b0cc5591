"""Fixtures for the OWT1 conformance tests (tests/spec): a fresh terminal per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.spec.terminal import Term

# These tests check decisions, not durability (another suite kills processes): a RAM-backed data dir
# makes the terminal's fsyncs free, which keeps ~700 accept calls well under a minute on 2 cores.
SHM = Path("/dev/shm")


@pytest.fixture
def term(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Term]:
    if SHM.is_dir():
        base = Path(tempfile.mkdtemp(prefix="owt-spec-", dir=SHM))
        try:
            yield Term(base, capsys)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    else:
        yield Term(tmp_path, capsys)
