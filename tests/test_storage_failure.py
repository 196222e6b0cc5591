"""SPEC 3.4/3.5 ``storage_failure`` with real storage limits, in real processes.

* RLIMIT_FSIZE (EFBIG; SIGXFSZ ignored as ``ui.cli.main`` does): set inside a running terminal
  process and, for the real ``pos accept``, through ``preexec_fn``;
* a small tmpfs filled up by the journal itself (ENOSPC), then given space back;
* a tmpfs remounted read-only, a data directory and a database file made immutable
  (``chattr +i``: root ignores permissions, not the immutable flag).

Each time: the payment that cannot be stored is declined ``storage_failure`` (never approved),
is not in the journal (it is approved, not ``replayed``, once storage is back), every earlier
approval is intact and ``journal verify`` passes; and no key or token reaches stderr, with the
terminal logging at DEBUG/INFO level.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Demo
from tests.procs import harness
from tests.procs.harness import Interactive, Tok

LIMIT = 8192  # bytes: far below the journal's WAL offsets, above the small key and head files


def _limit(n: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    return apply


def _tokens(demo: Demo, tmp_path: Path, n: int) -> tuple[list[Tok], Path]:
    toks = harness.make_tokens(demo, n, random.Random(n), per_wallet=2)
    return toks, harness.write_tokens(tmp_path / "tokens.txt", toks)


def _accept_args(demo: Demo, data_dir: Path, tok: Tok) -> list[str]:
    args = demo.accept_args(tok.text, tok.amount)
    args[args.index("--data-dir") + 1] = str(data_dir)
    return ["-v", *args]


def _decision(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _approved(words: list[str], index: int) -> int:
    assert words[:2] == ["APPROVED", str(index)], words
    return int(words[4])


def _check_journal(data_dir: Path, toks: list[Tok], approved: dict[int, int]) -> None:
    """Exactly the approved payments are stored, at their seqs, and the journal verifies."""
    rows = harness.read_rows(data_dir)
    assert {r.seq: (r.wallet, r.counter, r.amount) for r in rows} == {
        seq: (toks[i].wallet, toks[i].counter, toks[i].amount) for i, seq in approved.items()
    }
    proc = harness.verify_cli(data_dir)
    assert proc.returncode == 0 and f"OK, {len(rows)} rows" in proc.stdout, proc.stdout + proc.stderr


def _no_secrets(data_dir: Path, toks: list[Tok], *logs: str) -> None:
    assert any("journal" in log for log in logs), logs  # the failure was logged: something to search
    secrets = harness.secrets_in(data_dir, toks)
    for i, log in enumerate(logs):
        harness.assert_no_secrets(log, secrets, f"stderr #{i}")
    # and the tokens never sit in clear on disk either
    blobs = b"".join(p.read_bytes() for p in Path(data_dir).rglob("*") if p.is_file())
    for t in toks:
        assert t.raw[-64:] not in blobs


def test_file_size_limit_in_a_running_terminal(demo: Demo, tmp_path: Path) -> None:
    toks, tokens = _tokens(demo, tmp_path, 60)
    config = harness.write_config(tmp_path / "child.json", demo, tokens, verbose=True)
    child = Interactive(config, tmp_path / "child.err")
    approved: dict[int, int] = {}
    try:
        for i in range(20):
            approved[i] = _approved(child.accept(i), i)
        before = child.summary()
        assert child.cmd(f"LIMIT {LIMIT}") == "OK"
        for i in range(20, 30):  # the disk is "full": every payment is declined, none approved
            assert child.accept(i)[:3] == ["DECLINED", str(i), "storage_failure"]
        _check_journal(demo.data_dir, toks, approved)  # from outside, while the terminal is stuck

        assert child.cmd("LIMIT inf") == "OK"  # space is back: the same process resumes
        assert child.summary() == before
        for i in range(20, 30):  # approved, not replayed: nothing of them was stored
            approved[i] = _approved(child.accept(i), i)
        assert child.summary()["payments"] == 30

        assert child.cmd(f"LIMIT {LIMIT}") == "OK"
        for i in range(30, 35):
            assert child.accept(i)[:3] == ["DECLINED", str(i), "storage_failure"]
    finally:
        child.kill()  # kill -9 while the storage is failing
    _check_journal(demo.data_dir, toks, approved)

    child = Interactive(config, tmp_path / "child.err")  # a new process, no limit
    try:
        for i in range(30, 35):
            approved[i] = _approved(child.accept(i), i)
        assert child.accept(3)[:3] == ["DECLINED", "3", "replayed"]
        child.quit()
    finally:
        if child.proc.poll() is None:
            child.kill()
    _check_journal(demo.data_dir, toks, approved)
    _no_secrets(demo.data_dir, toks, child.stderr())


def test_real_pos_accept_under_a_file_size_limit(demo: Demo, tmp_path: Path) -> None:
    toks, _ = _tokens(demo, tmp_path, 6)
    data = demo.data_dir
    for tok in toks[:3]:
        assert _decision(harness.pos_cli(*_accept_args(demo, data, tok)))["decision"] == "approved"
    logs = []
    for tok in toks[3:5]:
        proc = harness.pos_cli(*_accept_args(demo, data, tok), preexec_fn=_limit(LIMIT))
        assert proc.returncode == 1
        assert _decision(proc)["reason"] == "storage_failure"
        logs.append(proc.stderr)
    # a terminal whose journal cannot even be created declines too
    fresh = tmp_path / "fresh"
    proc = harness.pos_cli(*_accept_args(demo, fresh, toks[5]), preexec_fn=_limit(LIMIT))
    assert proc.returncode == 1 and _decision(proc)["reason"] == "storage_failure"
    logs.append(proc.stderr)

    _check_journal(data, toks, {0: 1, 1: 2, 2: 3})
    for n, tok in enumerate(toks[3:5], start=4):  # space back: approved, so never stored before
        doc = _decision(harness.pos_cli(*_accept_args(demo, data, tok)))
        assert (doc["decision"], doc["seq"]) == ("approved", n)
    doc = _decision(harness.pos_cli(*_accept_args(demo, fresh, toks[5])))
    assert (doc["decision"], doc["seq"]) == ("approved", 1)
    assert harness.verify_cli(fresh).returncode == 0
    _check_journal(data, toks, {0: 1, 1: 2, 2: 3, 3: 4, 4: 5})
    _no_secrets(data, toks, *logs)
    _no_secrets(fresh, toks, *logs)


# -- a real small file system ------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_on_a_small_tmpfs(demo: Demo, tmp_path: Path, small_fs: Path) -> None:
    toks, tokens = _tokens(demo, tmp_path, 120)
    data = small_fs / "data"
    ballast = small_fs / "ballast"
    ballast.write_bytes(bytes(400 * 1024))
    config = harness.write_config(tmp_path / "child.json", demo, tokens, data_dir=data, verbose=True)
    approved: dict[int, int] = {}
    failed: list[int] = []
    child = Interactive(config, tmp_path / "child.err")
    try:
        for i in range(100):  # the journal fills the file system by itself
            words = child.accept(i)
            if words[0] == "APPROVED":
                assert not failed, f"approved after storage failed, on a full disk: {words}"
                approved[i] = _approved(words, i)
            else:
                assert words[2] == "storage_failure", words
                failed.append(i)
                if len(failed) == 6:
                    break
        assert len(approved) >= 5 and len(failed) == 6, (approved, failed)
    finally:
        child.kill()  # kill -9 on a full disk
    _check_journal(data, toks, approved)

    ballast.unlink()  # space comes back
    child = Interactive(config, tmp_path / "child.err")
    try:
        for i in failed:
            approved[i] = _approved(child.accept(i), i)
        child.quit()
    finally:
        if child.proc.poll() is None:
            child.kill()
    _check_journal(data, toks, approved)
    _no_secrets(data, toks, child.stderr())


def test_read_only_file_system_declines_storage_failure(demo: Demo, tmp_path: Path, small_fs: Path) -> None:
    toks, _ = _tokens(demo, tmp_path, 3)
    data = small_fs / "data"
    assert _decision(harness.pos_cli(*_accept_args(demo, data, toks[0])))["decision"] == "approved"
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        proc = harness.pos_cli(*_accept_args(demo, data, toks[1]))
        assert proc.returncode == 1 and _decision(proc)["reason"] == "storage_failure", proc.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    doc = _decision(harness.pos_cli(*_accept_args(demo, data, toks[1])))
    assert (doc["decision"], doc["seq"]) == ("approved", 2)
    _check_journal(data, toks, {0: 1, 1: 2})
    _no_secrets(data, toks, proc.stderr)


# -- immutable files: a read-only directory, an unwritable database ----------------------------


def _chattr(flag: str, *paths: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr {flag} not supported here: {done.stderr.strip()}")


def test_unwritable_database_file_under_a_running_terminal(demo: Demo, tmp_path: Path) -> None:
    toks, tokens = _tokens(demo, tmp_path, 20)
    config = harness.write_config(tmp_path / "child.json", demo, tokens, verbose=True)
    files = [demo.data_dir / "journal.db", demo.data_dir / "journal.db-wal"]
    approved: dict[int, int] = {}
    child = Interactive(config, tmp_path / "child.err")
    try:
        for i in range(5):
            approved[i] = _approved(child.accept(i), i)
        _chattr("+i", *files)
        try:
            for i in range(5, 9):
                assert child.accept(i)[:3] == ["DECLINED", str(i), "storage_failure"]
            assert harness.read_rows(demo.data_dir) == harness.read_rows(demo.data_dir)[:5]
        finally:
            _chattr("-i", *files)
        for i in range(5, 9):
            approved[i] = _approved(child.accept(i), i)
        child.quit()
    finally:
        if child.proc.poll() is None:
            child.kill()
    _check_journal(demo.data_dir, toks, approved)
    _no_secrets(demo.data_dir, toks, child.stderr())


def test_read_only_data_directory_declines_storage_failure(demo: Demo, tmp_path: Path) -> None:
    toks, _ = _tokens(demo, tmp_path, 3)
    data = demo.data_dir
    assert _decision(harness.pos_cli(*_accept_args(demo, data, toks[0])))["decision"] == "approved"
    assert not (data / "journal.db-wal").exists()  # so a new process must create it
    _chattr("+i", data)
    try:
        proc = harness.pos_cli(*_accept_args(demo, data, toks[1]))
    finally:
        _chattr("-i", data)
    assert proc.returncode == 1 and _decision(proc)["reason"] == "storage_failure", proc.stderr
    doc = _decision(harness.pos_cli(*_accept_args(demo, data, toks[1])))
    assert (doc["decision"], doc["seq"]) == ("approved", 2)
    _check_journal(data, toks, {0: 1, 1: 2})
    _no_secrets(data, toks, proc.stderr)


def test_garbage_is_malformed_even_while_storage_fails(demo: Demo, tmp_path: Path) -> None:
    toks, tokens = _tokens(demo, tmp_path, 3)
    config = harness.write_config(tmp_path / "child.json", demo, tokens)
    garbage = Tok("OWT1:NOT-A-TOKEN", "-", 0, 100, b"")
    harness.write_tokens(tokens, [*toks, garbage])
    child = Interactive(config, tmp_path / "child.err")
    try:
        assert child.accept(3)[:3] == ["DECLINED", "3", "malformed"]  # with storage fine
        _approved(child.accept(0), 0)
        assert child.cmd(f"LIMIT {LIMIT}") == "OK"
        assert child.accept(1)[:3] == ["DECLINED", "1", "storage_failure"]
        assert child.accept(3)[:3] == ["DECLINED", "3", "malformed"]  # fails: storage_failure
    finally:
        child.kill()
