"""``scripts/bench_nfc.py``: NFC tap -> token and tap -> Decision over nfcpy's ``udp:`` driver.

A wallet emulator (``python -m sim.nfc_wallet``) runs in its own process, listening on a
127.0.0.1 UDP port like a phone held to the reader. The main thread plays the terminal: for each
of N taps (200 by default) it calls ``NfcSource.read`` (poll, anticollision, RATS/ATS, SELECT,
GENERATE TOKEN with a fresh challenge, GET RESPONSE, S(DESELECT), RF off) and then
``Terminal.accept_bytes`` with its durable commit (SQLite WAL, synchronous=FULL) on a real disk.
Between taps it waits ``--gap`` ms (the next customer), outside the measurement. Figures,
nearest-rank percentiles, milliseconds:

- ``tap_to_token_ms``: ``read`` called -> the token bytes returned;
- ``tap_to_decision_ms``: ``read`` called -> the Decision returned (durably committed);
- ``accept_ms``: ``accept_bytes`` alone.

Two runs: the wallet as shipped (``sim.wallet`` writes its counter with fsync for every
token, as a phone must persist it), and ``--no-save`` (counter in memory) for the transport alone.
A table on stdout, then one JSON line. Usage: ``.venv/bin/python scripts/bench_nfc.py [--n 200]
[--gap 20] [--dir DIR] [--keep]``.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drivers.nfc.reader import NfcSource  # noqa: E402
from pos.decision import PaymentRequest, Policy  # noqa: E402
from pos.keystore import KeyStore  # noqa: E402
from pos.sigs import ALG_EDDSA, load_pem_public_key  # noqa: E402
from pos.terminal import Terminal  # noqa: E402
from sim.scheme import Scheme  # noqa: E402
from sim.wallet import Wallet  # noqa: E402

AMOUNT = 100
TERMINAL_ID = "BENCH-NFC-1"


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: a real observed sample, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def wait_bound(port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return
        time.sleep(0.01)
    raise RuntimeError(f"the emulator did not bind udp port {port}")


def run(base: Path, n: int, gap_s: float, no_save: bool) -> dict[str, Any]:
    now = int(time.time())
    scheme = Scheme.init(base / "scheme")
    issuer = scheme.add_issuer("ed", ALG_EDDSA)
    wallet = Wallet.issue(issuer, ALG_EDDSA, iat=now - 3600, offline_limit=(n + 10) * AMOUNT)
    wallet.path = base / "wallet.json"
    wallet.save()
    store = KeyStore(base / "data", load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 60))
    term = Terminal(base / "data", store, policy=Policy(offline_count_max=n + 10))
    port = free_udp_port()
    cmd = [sys.executable, "-m", "sim.nfc_wallet", "--port", str(port), "--wallet", str(wallet.path)]
    cmd += ["--timeout", "900"]  # never outlives the benchmark for long
    phone = subprocess.Popen([*cmd, *(["--no-save"] if no_save else [])], cwd=ROOT, stdout=subprocess.DEVNULL)
    reader = NfcSource(f"udp:127.0.0.1:{port}")
    token_ms: list[float] = []
    decision_ms: list[float] = []
    accept_ms: list[float] = []
    try:
        wait_bound(port)
        reader.open()
        for i in range(n + 5):  # 5 warm-up taps
            time.sleep(gap_s)
            request = PaymentRequest(AMOUNT, "EUR", int(time.time()), TERMINAL_ID, os.urandom(16))
            t0 = time.perf_counter()
            presented = reader.read(request, 10)
            t1 = time.perf_counter()
            decision = term.accept_bytes(presented.data, request)
            t2 = time.perf_counter()
            if not decision.approved:
                raise RuntimeError(f"tap {i} declined: {decision.reason}")
            if i >= 5:
                token_ms.append(1000 * (t1 - t0))
                decision_ms.append(1000 * (t2 - t0))
                accept_ms.append(1000 * (t2 - t1))
    finally:
        reader.close()
        phone.kill()
        phone.wait(10)
        term.close()
    return {
        "n": n,
        "wallet_fsync": not no_save,
        "tap_to_token_ms": summary(token_ms),
        "tap_to_decision_ms": summary(decision_ms),
        "accept_ms": summary(accept_ms),
        "over_500ms": sum(x > 500 for x in token_ms),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=200, help="measured taps per run (200)")
    p.add_argument("--gap", type=float, default=20, help="ms between taps, not measured (20)")
    p.add_argument("--dir", type=Path, default=None, help="scratch directory (a real disk)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args(argv)
    if not 1 <= args.n <= 5000:
        p.error("--n must be between 1 and 5000")
    base = Path(tempfile.mkdtemp(prefix="owt-bench-nfc-", dir=args.dir))
    try:
        runs = {
            "wallet_fsync": run(base / "fsync", args.n, args.gap / 1000, no_save=False),
            "wallet_in_memory": run(base / "memory", args.n, args.gap / 1000, no_save=True),
        }
    finally:
        if args.keep:
            print(f"scratch data kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    load = round(os.getloadavg()[0], 2)
    print(f"NFC over nfcpy udp:127.0.0.1, emulator in its own process, {args.n} taps per run")
    print(f"machine: {os.cpu_count()} cores (load {load}), Python {platform.python_version()}")
    print(f"{'run':<18}{'figure':<22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for run_name, result in runs.items():
        for fig in ("tap_to_token_ms", "tap_to_decision_ms", "accept_ms"):
            s = result[fig]
            print(f"{run_name:<18}{fig:<22}{s['p50']:>9.2f}{s['p99']:>9.2f}{s['max']:>9.2f}")
    print(json.dumps({"bench": "nfc_udp", "load": load, **runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
