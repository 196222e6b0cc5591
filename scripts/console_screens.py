"""Screenshots of the operator console: a real collector on 127.0.0.1 with a little history
(accounts, sign-ins, a failed second step, enrollment codes, a denied wallet), photographed in
Debian's chromium into ``docs/screens/console-*.png``.

To add a page: append a ``Shot`` to ``SHOTS`` (and, if it needs data, to ``seed``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
from playwright.sync_api import Page, sync_playwright

from collector.console import enroll_codes
from collector.console.accounts import create_user
from collector.db import Database
from pos.sigs import ALG_EDDSA
from sim.scheme import Scheme

ROOT = Path(__file__).resolve().parent.parent
POS = Path(sys.executable).with_name("pos")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
OPERATOR, PASSWORD = "alice", "demo-operator-password"


@dataclass(frozen=True)
class Shot:
    file: str
    path: str
    signed_in: bool = True
    before: Callable[[Page], Any] | None = None  # e.g. fill a form before the picture


def _mint(page: Page) -> None:
    page.fill("input[name=note]", "gate 12, platform 3")
    page.click("#mint")
    page.wait_for_selector("#new-code")


SHOTS = [
    Shot("console-login.png", "/console/login", signed_in=False),
    Shot("console-audit.png", "/console/audit"),
    Shot("console-enroll.png", "/console/enroll", before=_mint),
]


def start_collector(work: Path) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    scheme = Scheme.init(work / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    now = int(time.time())
    (work / "tl.cose").write_bytes(scheme.trust_list(iat=now - 60))
    (work / "dl.cose").write_bytes(scheme.deny_list(iat=now - 60))
    db_url = f"sqlite:///{work / 'collector.db'}"
    argv = [str(POS), "collector", "serve", "--db", db_url, "--listen", "127.0.0.1:0", "--processes", "1",
            "--scheme", str(scheme.dir), "--trust-list", str(work / "tl.cose"),
            "--deny-list", str(work / "dl.cose")]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("collector listening on "):
        proc.kill()
        raise SystemExit(f"collector did not start: {line!r}")
    url = line.split()[3]
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, url, db_url, scheme.dir


def seed(db_url: str, scheme_dir: Path, work: Path, url: str) -> str:
    """Accounts, enrollment codes (one used by a terminal), a denied wallet; the operator's secret."""
    db = Database(db_url)
    try:
        enrolment = create_user(db, OPERATOR, "operator", PASSWORD, totp=True)
        create_user(db, "bob", "viewer", "demo-viewer-password", totp=False)
        used, _ = enroll_codes.mint(db, OPERATOR, "north entrance", 3600, "127.0.0.1")
        enroll_codes.mint(db, OPERATOR, "spare for the depot", 86400, "127.0.0.1")
    finally:
        db.close()
    subprocess.run([str(POS), "enroll", "--data-dir", str(work / "t1"), "--collector", url, "--code", used,
                    "--terminal-id", "GATE-N1"], check=True, capture_output=True)  # fmt: skip
    subprocess.run([str(POS), "collector", "deny", "00112233445566ff", "--reason", "card reported stolen",
                    "--db", db_url, "--scheme", str(scheme_dir), "--operator", OPERATOR],
                   check=True, capture_output=True)  # fmt: skip
    assert enrolment is not None
    return enrolment.secret


def sign_in(page: Page, url: str, secret: str, *, fail_once: bool) -> None:
    page.goto(f"{url}/console/login")
    page.fill("input[name=username]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if fail_once:
        page.fill("input[name=code]", "123456")
        page.click("main button[type=submit]")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_selector("form.logout")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    ap.add_argument("--lang", choices=["en", "zh"], default="en")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-screens-") as tmp:
        work = Path(tmp)
        proc, url, db_url, scheme_dir = start_collector(work)
        try:
            secret = seed(db_url, scheme_dir, work, url)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 720})
                signed = False
                for shot in SHOTS:
                    if shot.signed_in and not signed:
                        sign_in(page, url, secret, fail_once=True)
                        signed = True
                    page.goto(f"{url}{shot.path}{'&' if '?' in shot.path else '?'}lang={args.lang}")
                    if shot.before is not None:
                        shot.before(page)
                    page.screenshot(path=str(args.out / shot.file), full_page=True)
                    print(args.out / shot.file)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
