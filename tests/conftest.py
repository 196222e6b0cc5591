"""Shared fixtures: a demo scheme on disk and a way to run ``pos`` in-process or as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pos.sigs import ALG_EDDSA, ALG_ES256
from sim.scheme import Scheme
from sim.wallet import Wallet
from ui.cli import main as pos_main

REPO = Path(__file__).resolve().parent.parent
POS_BIN = Path(sys.executable).with_name("pos")


@dataclass
class Demo:
    dir: Path
    scheme: Scheme
    trust_list: Path
    deny_list: Path
    data_dir: Path
    now: int

    @property
    def root_key(self) -> Path:
        return self.scheme.root_pem_path

    def wallet(self, issuer: str = "ed", alg: int = ALG_EDDSA, **kw: Any) -> Wallet:
        kw.setdefault("iat", self.now - 3600)
        return Wallet.issue(self.scheme.issuer(issuer), alg, **kw)

    def accept_args(self, token: str, amount: int, *extra: str) -> list[str]:
        return [
            "accept", "--data-dir", str(self.data_dir), "--root-key", str(self.root_key),
            "--trust-list", str(self.trust_list), "--deny-list", str(self.deny_list),
            "--currency", "EUR", "--amount", str(amount), "--now", str(self.now), *extra, token,
        ]  # fmt: skip


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    now = int(time.time())
    scheme = Scheme.init(tmp_path / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    tl, dl = tmp_path / "tl.cose", tmp_path / "dl.cose"
    tl.write_bytes(scheme.trust_list(iat=now - 60))
    dl.write_bytes(scheme.deny_list(iat=now - 60))
    return Demo(tmp_path, scheme, tl, dl, tmp_path / "data", now)


def run_pos(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, str]:
    """Run the CLI in-process; return (exit code, last stdout line as JSON if any, stderr)."""
    try:
        code = pos_main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    try:
        doc = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        doc = None
    return code, doc, err


def run_pos_process(
    argv: list[str], *, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(
        [str(POS_BIN), *argv], input=stdin, capture_output=True, timeout=timeout, env=env, check=False
    )
