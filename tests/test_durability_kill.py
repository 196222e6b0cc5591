"""SPEC 3.4 under kill -9: every APPROVED a terminal process printed survives its sudden death.

A child process (tests/procs/terminal_child.py) opens a Terminal on a data dir and accepts a
stream of distinct, pre-made tokens, printing ``APPROVED ...`` only after ``accept`` returned.
The parent SIGKILLs it at >= 200 random instants, aimed over start-up, parse, verify, the
commit transaction, the COMMIT (fsync) itself, the head signing and the head file write, and
after every kill checks from outside (a fresh SQLite connection, ``verify_journal`` in this
process, and every few kills the real ``pos journal verify`` / ``pos journal export``):

* every printed approval is in the journal at the printed seq;
* the journal is exactly the accepted prefix of the token stream: seqs 1..n, no gap, no
  duplicate, at most one committed payment that was not yet reported (the one in flight);
* no row is half-written: no NULL column, every hash and ciphertext checks, the exposure totals
  equal the rows, each multiple of head_every has its signed head, ``PRAGMA integrity_check``;
* ``journal verify`` passes.

Then it restarts the child on the same data dir from the first unreported token, so later kills
hit a journal with history, signed heads and a head file; a payment committed but unreported
before a kill comes back as ``replayed``, never as a second payment.

Kill instants: every 16th life dies during start-up (key files, SQLite open, schema, genesis
head); a quarter of the others at a random instant 0-15 ms after the terminal is ready; the rest
are aimed: the child waits at the start of a chosen phase of a chosen payment (tests/procs/
phases.py) and the parent kills it a random 0-1000 us later (bounded per phase). The phase each
life really died in is counted and must cover parse, verify and the commit.

Most lives are forked from a preloaded fork server (tests/procs: ``serve``) to skip Python's
start-up; every 16th life is a cold ``python terminal_child.py run`` process. A last test kills
the real ``pos accept`` process (list install, accept, head sealing, WAL checkpoint on close).
Seed: set POS_KILL_SEED to replay a run's choices (kill timing itself is physical and varies).
kill -9 proves crash safety of the process; it cannot show power-loss durability (the kernel
keeps what was written), which rests on ``synchronous=FULL``.
"""

from __future__ import annotations

import collections
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Demo
from tests.procs import harness, phases
from tests.procs.harness import Tok

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("POS_KILL_SEED", random.SystemRandom().randrange(2**32)))
LIVES = int(os.environ.get("POS_KILL_LIVES", "206"))
HEAD_EVERY = 16
COLD_EVERY = 16
CLI_EVERY = 40
# where aimed kills go, with weights; the phase the child was in when it died is what we count
# where aimed kills go: (phase, weight, longest delay after the phase starts); the phase the
# child was in when it died is what the test counts
AIMS = (
    (phases.PRE, 1, 100e-6), (phases.PARSE, 3, 150e-6), (phases.VERIFY, 3, 300e-6),
    (phases.COMMIT, 3, 200e-6), (phases.SIGN_HEAD, 1, 100e-6), (phases.FSYNC, 3, 1e-3),
    (phases.HEAD_FILE, 1, 300e-6), (phases.REPORT, 1, 50e-6),
)  # fmt: skip
COMMIT_PHASES = {phases.COMMIT, phases.SIGN_HEAD, phases.FSYNC, phases.HEAD_FILE}


def _msg(text: str) -> str:
    return f"[POS_KILL_SEED={SEED}] {text}"


@dataclass
class Life:
    number: int
    start: int
    cold: bool
    plan: str
    aim: tuple[int, int] | None = None  # (phase, token index) the child pauses at
    pid: int = 0
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Outcome:
    lines: list[list[str]]
    phase: int
    index: int
    stderr: str


@dataclass
class Runner:
    """Starts lives (cold processes or forks of the server), kills and reaps them."""

    tmp: Path
    config: Path
    server: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.phase_path = self.tmp / "phase"
        self.phase_path.write_bytes(bytes(phases.SIZE))
        fd = os.open(self.phase_path, os.O_RDWR)
        try:
            self.mm = mmap.mmap(fd, phases.SIZE)
        finally:
            os.close(fd)
        self.out_path, self.err_path = self.tmp / "life.out", self.tmp / "life.err"
        self.server_err = (self.tmp / "server.err").open("wb")
        self.server = subprocess.Popen(
            [harness.PYTHON, str(harness.CHILD), "serve", str(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.server_err,
            env=harness.ENV,
        )
        assert self._server_line() == "SERVING"

    def _server_line(self) -> str:
        assert self.server.stdout is not None
        line = self.server.stdout.readline().decode().strip()
        assert line, _msg(f"fork server died: {(self.tmp / 'server.err').read_text()}")
        return line

    def _server_cmd(self, text: str) -> str:
        assert self.server.stdin is not None
        self.server.stdin.write((text + "\n").encode())
        self.server.stdin.flush()
        return self._server_line()

    def phase(self) -> tuple[int, int]:
        return self.mm[0], struct.unpack_from("<I", self.mm, 4)[0]

    def start(self, life: Life) -> None:
        self.mm[:] = bytes(phases.SIZE)
        if life.aim is not None:
            self.mm[8] = life.aim[0]
            struct.pack_into("<I", self.mm, 12, life.aim[1])
            self.mm[1] = phases.ARMED
        self.out_path.write_bytes(b"")  # a life killed before it opened them must not show old lines
        self.err_path.write_bytes(b"")
        if life.cold:
            with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
                life.proc = subprocess.Popen(
                    [harness.PYTHON, str(harness.CHILD), "run", str(self.config), str(life.start),
                     str(self.phase_path)],
                    stdout=out, stderr=err, env=harness.ENV,
                )  # fmt: skip
            life.pid = life.proc.pid
        else:
            answer = self._server_cmd(
                f"FORK {life.start} {self.phase_path} {self.out_path} {self.err_path}"
            ).split()
            assert answer[0] == "PID", answer
            life.pid = int(answer[1])

    def kill_and_reap(self, life: Life) -> tuple[int | None, int | None]:
        """SIGKILL the life; return (signal that ended it, exit code) after it is reaped."""
        os.kill(life.pid, signal.SIGKILL)
        if life.proc is not None:
            code = life.proc.wait(30)
            return (-code, None) if code < 0 else (None, code)
        status = int(self._server_cmd(f"REAP {life.pid}").split()[1])
        if os.WIFSIGNALED(status):
            return os.WTERMSIG(status), None
        return None, os.WEXITSTATUS(status)

    def outcome(self) -> Outcome:
        text = self.out_path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line cut by the kill was never printed
        p, index = self.phase()
        return Outcome([ln.split() for ln in complete.splitlines()], p, index, self.err_path.read_text())

    def close(self) -> None:
        try:
            self._server_cmd("QUIT")
        except (AssertionError, BrokenPipeError, OSError):
            pass
        self.server.kill()
        self.server.wait(30)
        self.server_err.close()
        self.mm.close()


def _wait_phase(runner: Runner, phase: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while runner.phase()[0] < phase:
        if time.monotonic() > deadline:
            raise AssertionError(_msg(f"child never reached {phases.NAMES[phase]}"))
        time.sleep(0.0001)


def _busy_wait(seconds: float) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass


def _plan(life: Life, rng: random.Random) -> float:
    """Pick this life's kill instant; return the delay that goes with it."""
    if life.number % 16 == 4:  # during start-up: key files, SQLite open, schema, genesis head
        life.plan = "startup"
        return rng.uniform(0, 0.004)
    if rng.random() < 0.25:  # a random instant within the next few payments
        life.plan = "uniform"
        return rng.uniform(0, 0.015)
    target, _w, longest = rng.choices(AIMS, weights=[w for _, w, _l in AIMS])[0]
    if target in (phases.SIGN_HEAD, phases.HEAD_FILE):  # the next payment whose seq gets a head
        index = (life.start // HEAD_EVERY + 1) * HEAD_EVERY - 1  # the journal is the prefix: seq = index + 1
    else:
        index = life.start + rng.randrange(0, 6)
    life.aim = (target, index)
    life.plan = f"aim:{phases.NAMES[target]}@{index - life.start}"
    return rng.uniform(0, longest)


def _execute_plan(runner: Runner, life: Life, delay: float) -> None:
    """Wait for the instant this life's plan picked; the caller kills right after."""
    if life.plan == "startup":
        _wait_phase(runner, phases.START)
        _busy_wait(delay)
        return
    _wait_phase(runner, phases.READY)
    if life.aim is None:
        time.sleep(delay)
        return
    index = life.aim[1]
    deadline = time.monotonic() + 10
    # the child waits at the phase's start; it never gets there if the token went another way
    # (a replay does not reach the head signing, say): then the kill lands where the child is
    while runner.mm[1] != phases.ARRIVED and runner.phase()[1] <= index and runner.mm[0] != phases.EXHAUSTED:
        if time.monotonic() > deadline:
            break
        time.sleep(0.0001)
    runner.mm[1] = phases.GO
    _busy_wait(delay)


@dataclass
class Journal:
    """What the parent knows: the token stream and the approvals the children printed."""

    toks: list[Tok]
    data_dir: Path
    rows: int = 0  # rows in the journal after the last check
    approved: dict[int, int] = field(default_factory=dict)  # token index -> printed seq

    def check_lines(self, life: Life, out: Outcome) -> int:
        """Check one life's printed lines; return where the next life starts."""
        expect = life.start
        for words in out.lines:
            assert words[0] in ("APPROVED", "DECLINED"), _msg(f"life {life.number}: odd line {words}")
            index = int(words[1])
            assert index == expect, _msg(f"life {life.number}: line for token {index}, expected {expect}")
            tok = self.toks[index]
            if words[0] == "DECLINED":
                # only the token in flight at the previous kill, committed but never reported
                assert words[2] == "replayed" and index == life.start and self.rows == life.start + 1, _msg(
                    f"life {life.number} ({life.plan}) declined token {index}: {words}; "
                    f"journal had {self.rows} rows"
                )
            else:
                seq = int(words[4])
                assert (words[2], int(words[3])) == (tok.wallet, tok.counter), _msg(str(words))
                assert seq == index + 1, _msg(f"token {index} approved at seq {seq}")
                self.approved[index] = seq
            expect += 1
        return expect

    def check_journal(self, life: Life, next_start: int, *, cli: bool) -> None:
        ctx = f"life {life.number} ({life.plan}, {'cold' if life.cold else 'fork'}, start {life.start})"
        rows = harness.read_rows(self.data_dir)
        n = len(rows)
        assert [r.seq for r in rows] == list(range(1, n + 1)), _msg(f"{ctx}: seqs not 1..{n}")
        for r in rows:
            tok = self.toks[r.seq - 1]
            assert (r.wallet, r.counter, r.amount) == (tok.wallet, tok.counter, tok.amount), _msg(
                f"{ctx}: row {r.seq} is not token {r.seq - 1}"
            )
            assert r.null_columns == 0 and r.state == 0, _msg(f"{ctx}: row {r.seq} half-written: {r}")
        for index, seq in self.approved.items():
            assert seq <= n, _msg(f"{ctx}: printed APPROVED token {index} seq {seq} lost ({n} rows)")
        assert n in (next_start, next_start + 1), _msg(
            f"{ctx}: {n} rows but the next unreported token is {next_start}"
        )
        assert n >= self.rows, _msg(f"{ctx}: journal shrank from {self.rows} to {n}")
        self.rows = n
        head = harness.head_file(self.data_dir)
        if head is None:
            assert n == 0, _msg(f"{ctx}: {n} rows and no head file")
            return  # killed before the journal was complete: nothing approved, nothing to verify
        assert head["seq"] <= n and head["seq"] % HEAD_EVERY == 0, _msg(f"{ctx}: head file {head}")
        derived = harness.derived_state(self.data_dir)
        assert derived["integrity"] == "ok", _msg(f"{ctx}: {derived['integrity']}")
        assert derived["totals"] == (n, sum(t.amount for t in self.toks[:n])), _msg(f"{ctx}: totals")
        per_wallet: dict[str, int] = collections.Counter()
        for t in self.toks[:n]:
            per_wallet[t.wallet] += t.amount
        assert derived["wallets"] == dict(per_wallet), _msg(f"{ctx}: wallet exposure differs from rows")
        signed = set(range(HEAD_EVERY, n + 1, HEAD_EVERY))
        assert set(derived["heads"]) == signed, _msg(f"{ctx}: heads {sorted(derived['heads'])}")
        assert all(derived["heads"][s] == derived["hashes"][s] for s in signed), _msg(ctx)
        assert harness.verify_in_process(self.data_dir) == n, _msg(ctx)
        if cli:
            proc = harness.verify_cli(self.data_dir)
            assert proc.returncode == 0 and f"OK, {n} rows" in proc.stdout, _msg(
                f"{ctx}: {proc.stdout}{proc.stderr}"
            )
            exported = harness.export_cli(self.data_dir)
            assert [(e["seq"], e["wallet_id"], e["counter"], e["amount"], e["state"]) for e in exported] == [
                (r.seq, r.wallet, r.counter, r.amount, "pending") for r in rows
            ], _msg(ctx)


def _setup(demo: Demo, tmp_path: Path, n_tokens: int, rng: random.Random) -> tuple[list[Tok], Path]:
    toks = harness.make_tokens(demo, n_tokens, rng, per_wallet=4)
    tokens = harness.write_tokens(tmp_path / "tokens.txt", toks)
    # replays of the token in flight must stay `replayed`: no velocity lock in this test
    config = harness.write_config(
        tmp_path / "child.json", demo, tokens, head_every=HEAD_EVERY, velocity_failures=10**9
    )
    return toks, config


def test_kill_9_at_random_instants_never_loses_a_printed_approval(demo: Demo, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    toks, config = _setup(demo, tmp_path, 3000, rng)
    runner = Runner(tmp_path, config)
    state = Journal(toks, demo.data_dir)
    died_in: collections.Counter[str] = collections.Counter()
    kills, start, stderr = 0, 0, []
    t_begin = time.monotonic()
    try:
        for number in range(LIVES):
            life = Life(number, start, cold=number % COLD_EVERY == 0, plan="")
            delay = _plan(life, rng)
            runner.start(life)
            _execute_plan(runner, life, delay)
            sig, code = runner.kill_and_reap(life)
            out = runner.outcome()
            stderr.append(out.stderr)
            assert out.phase != phases.EXHAUSTED, _msg("ran out of tokens: raise the token count")
            assert sig == signal.SIGKILL, _msg(
                f"life {number} ({life.plan}) ended by itself, exit {code}:\n{out.stderr}"
            )
            assert "Traceback" not in out.stderr, _msg(out.stderr)
            kills += 1
            died_in[phases.NAMES[out.phase]] += 1
            start = state.check_lines(life, out)
            last = number == LIVES - 1
            state.check_journal(life, start, cli=last or number % CLI_EVERY == CLI_EVERY - 1)
    finally:
        runner.close()
    elapsed = time.monotonic() - t_begin
    summary = f"{kills} kills in {elapsed:.1f} s, {state.rows} rows, died in {dict(died_in)}"
    print(_msg(summary))
    assert kills >= 200, _msg(summary)
    assert state.rows > 250 and len(state.approved) > 250, _msg(summary)
    # the kills really landed all over an accept, not only in the long fsync
    assert died_in["parse"] >= 8 and died_in["verify"] >= 8, _msg(summary)
    assert sum(died_in[phases.NAMES[p]] for p in COMMIT_PHASES) >= 40, _msg(summary)
    assert died_in["fsync"] >= 8 and died_in["start"] >= 5, _msg(summary)
    secrets = harness.secrets_in(demo.data_dir, toks[: state.rows])
    harness.assert_no_secrets("\n".join(stderr), secrets, "the children's stderr")


def test_a_printed_approval_is_replayed_after_restart_never_paid_twice(demo: Demo, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    toks, config = _setup(demo, tmp_path, 200, rng)
    runner = Runner(tmp_path, config)
    try:
        # life 1, a cold process: killed once it has reported a few approvals
        life = Life(0, 0, cold=True, plan="after 6 approvals")
        runner.start(life)
        deadline = time.monotonic() + 60
        while runner.out_path.read_text().count("APPROVED") < 6:
            assert time.monotonic() < deadline, _msg("no approvals")
            time.sleep(0.001)
        sig, _ = runner.kill_and_reap(life)
        assert sig == signal.SIGKILL
        printed = [w for w in runner.outcome().lines if w[0] == "APPROVED"]
        before = harness.read_rows(demo.data_dir)
        assert len(printed) >= 6 and len(before) in (len(printed), len(printed) + 1)

        # life 2: the same data dir is presented the printed tokens again (and the one in flight)
        again = [toks[int(w[1])] for w in printed] + [toks[len(printed)]]
        tokens2 = harness.write_tokens(tmp_path / "again.txt", again)
        config2 = harness.write_config(
            tmp_path / "again.json", demo, tokens2, head_every=HEAD_EVERY, velocity_failures=10**9
        )
        proc = subprocess.run(
            [harness.PYTHON, str(harness.CHILD), "run", str(config2), "0", str(runner.phase_path)],
            capture_output=True, text=True, env=harness.ENV, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 3, proc.stderr  # ran to the end of its tokens
        lines = [ln.split() for ln in proc.stdout.splitlines() if ln != "EXHAUSTED"]
        assert [w[:3] for w in lines[:-1]] == [["DECLINED", str(i), "replayed"] for i in range(len(printed))]
        in_flight = lines[-1]
        after = harness.read_rows(demo.data_dir)
        if len(before) == len(printed) + 1:  # committed before the kill, never reported
            assert in_flight[:3] == ["DECLINED", str(len(printed)), "replayed"]
            assert after == before
        else:
            assert in_flight[0] == "APPROVED" and int(in_flight[4]) == len(printed) + 1
            assert after[:-1] == before and len(after) == len(before) + 1
    finally:
        runner.close()

    # and through the real `pos accept`: still replayed, still one row
    first = toks[int(printed[0][1])]
    proc2 = harness.pos_cli(*demo.accept_args(first.text, first.amount))
    assert proc2.returncode == 1 and '"reason": "replayed"' in proc2.stdout, proc2.stdout + proc2.stderr
    assert harness.read_rows(demo.data_dir) == after
    assert harness.verify_cli(demo.data_dir).returncode == 0


def _pos_accept(demo: Demo, tok: Tok, out_path: Path, kill_after: float | None) -> tuple[int, str, float]:
    """Run ``pos accept``; once it has opened the journal (its WAL file appears), kill it after
    ``kill_after`` seconds, or let it finish. Returns (exit code, stdout, seconds from WAL to end)."""
    wal = demo.data_dir / "journal.db-wal"
    with out_path.open("w+") as out:
        proc = subprocess.Popen(
            [str(harness.POS_BIN), *demo.accept_args(tok.text, tok.amount)],
            stdout=out, stderr=subprocess.DEVNULL, env=harness.ENV,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not wal.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)
        t0 = time.perf_counter()
        if kill_after is not None:
            _busy_wait(kill_after)
            proc.kill()
        code = proc.wait(30)
        took = time.perf_counter() - t0
        out.seek(0)
        return code, out.read(), took


def test_kill_9_of_the_real_pos_accept_process(demo: Demo, tmp_path: Path) -> None:
    """The CLI path too: ``pos accept`` (list install, accept, head sealing and the WAL checkpoint
    on close) killed once it has opened the journal, then the same token presented again."""
    rng = random.Random(SEED)
    toks = harness.make_tokens(demo, 15, rng, per_wallet=1)
    # The kill window: how long an approving run lives after opening the journal, measured on
    # unkilled runs that start as the killed ones do (no WAL left behind). A run after a kill
    # finds the old WAL at once, so its time would include the interpreter's start-up.
    lives = []
    for tok in toks[:3]:
        code, printed, took = _pos_accept(demo, tok, tmp_path / "out", None)
        assert code == 0 and '"decision": "approved"' in printed, printed
        lives.append(took)
    window = min(lives)
    outcomes: collections.Counter[str] = collections.Counter()
    rows = 3
    for i, tok in enumerate(toks[3:]):
        code, printed, took = _pos_accept(demo, tok, tmp_path / "out", rng.uniform(0, window))
        if code >= 0:  # it lived shorter than the window (its close does not always wait): aim lower
            window = min(window, 0.8 * took)
        stored = len(harness.read_rows(demo.data_dir))
        assert stored in (rows, rows + 1), _msg(f"kill {i}: {stored} rows after {rows}")
        if '"decision": "approved"' in printed:
            assert stored == rows + 1, _msg(f"kill {i}: printed approval lost: {printed}")
        outcomes["exited" if code >= 0 else ("stored" if stored > rows else "not stored")] += 1
        assert harness.verify_in_process(demo.data_dir) == stored, _msg(f"kill {i}")
        # presented again, unkilled: replayed exactly when the killed process had committed it
        code, printed, _ = _pos_accept(demo, tok, tmp_path / "out", None)
        want = "replayed" if stored > rows else None
        assert f'"reason": {json.dumps(want)}' in printed, _msg(f"kill {i}: {printed}")
        rows += 1
        assert len(harness.read_rows(demo.data_dir)) == rows
    print(_msg(f"pos accept kills: {dict(outcomes)}"))
    assert outcomes["stored"] + outcomes["not stored"] >= 5, _msg(str(outcomes))
    assert harness.verify_cli(demo.data_dir).returncode == 0
