"""A terminal in its own process, accepting pre-made tokens: the subject of the kill tests.

The parent makes every token beforehand (so this process signs nothing) and writes a JSON
config. Modes::

    terminal_child.py run CONFIG START PHASEFILE   accept tokens[START:], one line per decision
    terminal_child.py serve CONFIG                 fork server: preloaded, forks `run` lives
    terminal_child.py interactive CONFIG           commands on stdin: ACCEPT i, LIMIT n|inf,
                                                   SUMMARY, QUIT

Output lines (stdout, flushed after each decision, i.e. only after ``accept`` has returned)::

    APPROVED <index> <wallet_hex> <counter> <seq>
    DECLINED <index> <reason> <wallet_hex> <counter>

``run`` records where it is in a shared 16-byte file (mmap, layout in phases.py): the phase
and the index of the token in flight. The parent reads it after SIGKILL to know where the kill
landed; to aim a kill it arms a (phase, token) at which the child waits for its go, so the kill
follows the start of that phase by a delay the parent picks. The probes change nothing the
terminal does: they wrap ``decode_text``/``check_token`` in ``pos.terminal``, the journal's
``commit``, ``_sign_head`` and ``_write_head_file``, and use SQLite's own trace hook to see the
``COMMIT`` statement.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import resource
import signal
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import phases as ph  # this script's folder is on sys.path

import pos.terminal as pos_terminal
from pos import sigs
from pos.decision import PaymentRequest, Policy
from pos.errors import PosError
from pos.keystore import KeyStore
from pos.terminal import Terminal


class Ctx:
    def __init__(self, config_path: str) -> None:
        cfg = json.loads(Path(config_path).read_text())
        self.cfg = cfg
        self.data_dir = Path(cfg["data_dir"])
        self.root = sigs.load_pem_public_key(Path(cfg["root_key"]).read_bytes())
        self.trust_list = Path(cfg["trust_list"]).read_bytes()
        self.now = int(cfg["now"])
        self.policy = Policy(
            offline_count_max=cfg["count_max"],
            offline_total_max=cfg["total_max"],
            velocity_failures=cfg.get("velocity_failures", 3),
        )
        self.head_every = int(cfg.get("head_every", 16))
        self.tokens: list[tuple[str, str, int, int]] = []
        for line in Path(cfg["tokens"]).read_text().splitlines():
            text, wallet, counter, amount = line.split("\t")
            self.tokens.append((text, wallet, int(counter), int(amount)))
        if cfg.get("verbose"):
            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    def open_terminal(self) -> Terminal:
        store = KeyStore(self.data_dir, self.root)
        store.load()
        store.install_trust_list(self.trust_list)  # same bytes after the first life: no write
        return Terminal(self.data_dir, store, policy=self.policy, head_every=self.head_every)

    def accept(self, terminal: Terminal, tid: str, index: int) -> str:
        text, _wallet, _counter, amount = self.tokens[index]
        d = terminal.accept_text(text, PaymentRequest(amount, "EUR", self.now, tid))
        wallet = d.wallet_id.hex() if d.wallet_id is not None else "-"
        if d.approved:
            return f"APPROVED {index} {wallet} {d.counter} {d.seq}"
        return f"DECLINED {index} {d.reason} {wallet} {d.counter}"


class Phase:
    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self.mm = mmap.mmap(fd, ph.SIZE)
        finally:
            os.close(fd)
        self.index = -1

    def set(self, phase: int, index: int | None = None) -> None:
        mm = self.mm
        if index is not None:
            self.index = index
            mm[4:8] = struct.pack("<I", index)
        mm[0] = phase
        if mm[1] == ph.ARMED and mm[8] == phase and struct.unpack_from("<I", mm, 12)[0] == self.index:
            mm[1] = ph.ARRIVED  # the parent times its kill from here
            deadline = time.monotonic() + 10
            while mm[1] != ph.GO and time.monotonic() < deadline:
                os.sched_yield()


def _probe(terminal: Terminal, phase: Phase) -> None:
    """Observe the phases of ``accept`` without changing what it does."""
    decode, check = pos_terminal.decode_text, pos_terminal.check_token
    journal = terminal.journal
    commit, sign_head, write_head = journal.commit, journal._sign_head, journal._write_head_file

    def decode_text(*a: Any, **k: Any) -> Any:
        phase.set(ph.PARSE)
        return decode(*a, **k)

    def check_token(*a: Any, **k: Any) -> Any:
        phase.set(ph.VERIFY)
        return check(*a, **k)

    def journal_commit(*a: Any, **k: Any) -> Any:
        phase.set(ph.COMMIT)
        return commit(*a, **k)

    def journal_sign_head(*a: Any, **k: Any) -> Any:
        phase.set(ph.SIGN_HEAD)
        return sign_head(*a, **k)

    def journal_write_head(*a: Any, **k: Any) -> Any:
        phase.set(ph.HEAD_FILE)
        return write_head(*a, **k)

    def trace(sql: str) -> None:
        if sql == "COMMIT":
            phase.set(ph.FSYNC)

    pos_terminal.decode_text = decode_text  # type: ignore[assignment]
    pos_terminal.check_token = check_token  # type: ignore[assignment]
    journal.commit = journal_commit  # type: ignore[method-assign]
    journal._sign_head = journal_sign_head  # type: ignore[method-assign]
    journal._write_head_file = journal_write_head  # type: ignore[method-assign]
    journal.db.set_trace_callback(trace)


def run(ctx: Ctx, start: int, phase_path: str) -> int:
    phase = Phase(phase_path)
    phase.set(ph.START, start)
    terminal = ctx.open_terminal()
    tid = terminal.default_terminal_id
    _probe(terminal, phase)
    phase.set(ph.READY, start)
    out = sys.stdout
    for index in range(start, len(ctx.tokens)):
        phase.set(ph.PRE, index)
        line = ctx.accept(terminal, tid, index)
        phase.set(ph.REPORT)
        out.write(line + "\n")
        out.flush()
        phase.set(ph.DONE)
    phase.set(ph.EXHAUSTED)
    out.write("EXHAUSTED\n")
    out.flush()
    return 3  # the parent meant to kill us before the tokens ran out


def serve(ctx: Ctx) -> int:
    """Fork server: Python start-up and imports once, then one cheap fork per life."""
    print("SERVING", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "FORK":
            start, phase_path, out_path, err_path = int(cmd[1]), cmd[2], cmd[3], cmd[4]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    for fd_no, path in ((1, out_path), (2, err_path)):
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                        os.dup2(fd, fd_no)
                        os.close(fd)
                    code = run(ctx, start, phase_path)
                except BaseException:  # noqa: BLE001 - reported to the parent via stderr
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            print(f"PID {pid}", flush=True)
        elif cmd[0] == "REAP":
            _pid, status = os.waitpid(int(cmd[1]), 0)
            print(f"STATUS {status}", flush=True)
        elif cmd[0] == "QUIT":
            break
    return 0


def interactive(ctx: Ctx) -> int:
    """Commands on stdin, one answer line each (storage failure tests)."""
    terminal = ctx.open_terminal()
    tid = terminal.default_terminal_id
    print("READY", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "ACCEPT":
                answer = ctx.accept(terminal, tid, int(cmd[1]))
            elif cmd[0] == "LIMIT":
                soft = resource.RLIM_INFINITY if cmd[1] == "inf" else int(cmd[1])
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))
                answer = "OK"
            elif cmd[0] == "SUMMARY":
                answer = json.dumps(terminal.journal.summary())
            elif cmd[0] == "QUIT":
                terminal.close(ctx.now)
                print("BYE", flush=True)
                return 0
            else:
                answer = f"ERR unknown command {cmd[0]}"
        except (PosError, OSError, ValueError) as exc:
            answer = f"ERR {type(exc).__name__}: {exc}"
        print(answer, flush=True)
    return 0


def main(argv: list[str]) -> int:
    # A file-size limit must give EFBIG (-> storage_failure), not kill the process (as ui.cli does).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    mode, config = argv[1], argv[2]
    ctx = Ctx(config)
    if mode == "run":
        return run(ctx, int(argv[3]), argv[4])
    if mode == "serve":
        return serve(ctx)
    if mode == "interactive":
        return interactive(ctx)
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
