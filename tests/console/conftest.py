"""Fixtures for the console's browser tests: a real collector on 127.0.0.1 (one per module),
accounts made through the real ``pos collector user add`` (password on standard input), and one
Debian chromium for the package (``browser``/``page`` here, in place of pytest-playwright's
session-wide ones; see ``browser``).

    def test_x(page, console, operator):
        login(page, console.url, operator.name, operator.password, operator.totp)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from collector.console.accounts import create_user
from collector.db import Database
from tests.conftest import run_pos_process
from tests.sync.conftest import pg_cluster  # noqa: F401  (the PostgreSQL fixture, shared)
from tests.sync.harness import CollectorProc, SchemeEnv, make_scheme

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]  # fmt: skip
_names = count(1)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM} (scripts/setup --test installs Debian's chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="package")
def browser(browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    """One chromium for this package, stopped when its last test is done: pytest-playwright's own
    ``browser`` lives for the whole session, and its Playwright event loop, left running in the
    main thread, breaks every later test that calls ``asyncio.run`` (the terminal's UI tests)."""
    pw = sync_playwright().start()
    try:
        launched = pw.chromium.launch(**browser_type_launch_args)
        yield launched
        launched.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class TotpFactor:
    """An enrolled second factor as the test's authenticator app: it never offers a code for a
    step already used, so a later sign-in in the same 30 s is not refused as a replay."""

    secret: str
    recovery_codes: list[str]
    last_step: int = 0

    def code(self) -> str:
        now_step = int(time.time()) // 30
        step = max(now_step, self.last_step + 1)
        if step > now_step + 1:  # both drift steps used: wait for the clock
            time.sleep((step - 1) * 30 - time.time() + 0.05)
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)


@dataclass
class Account:
    name: str
    password: str
    role: str
    totp: TotpFactor | None = None
    output: str = field(default="", repr=False)


def parse_enrolment(out: str) -> TotpFactor | None:
    uri = next((ln for ln in out.splitlines() if ln.startswith("otpauth://")), None)
    if uri is None:
        return None
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("recovery codes"))
    codes = [ln.strip() for ln in lines[start + 1 : start + 11]]
    return TotpFactor(secret, codes)


def add_user(db_url: str, role: str, *, totp: bool = False, name: str | None = None) -> Account:
    """An account made by the real CLI, the password on standard input."""
    name = name or f"{role}{next(_names)}"
    password = f"pw-{name}-correct horse"
    argv = ["collector", "user", "add", "--db", db_url, name, "--role", role, *(["--totp"] if totp else [])]
    done = run_pos_process(argv, stdin=f"{password}\n".encode())
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    return Account(name, password, role, parse_enrolment(out), out)


def new_account(db_url: str, role: str, *, totp: bool = False) -> Account:
    """An account made in-process (the same ``create_user`` the CLI calls, without a process
    start): for tests that each need a fresh account to spend."""
    name = f"{role}{next(_names)}"
    password = f"pw-{name}-correct horse"
    db = Database(db_url)
    try:
        enrolment = create_user(db, name, role, password, totp=totp)
    finally:
        db.close()
    factor = TotpFactor(enrolment.secret, list(enrolment.recovery_codes)) if enrolment else None
    return Account(name, password, role, factor)


def steady_window(margin_s: float = 5.0) -> None:
    """Wait out the end of a 30 s step, so a test that means one step does not straddle two."""
    left = 30 - time.time() % 30
    if left < margin_s:
        time.sleep(left + 0.05)


def password_step(page: Any, base_url: str, name: str, password: str) -> None:
    """The first form: name and password, submitted."""
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def code_step(page: Any, code: str) -> bool:
    """The second form: a code submitted; True when that signed the page in."""
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return bool(page.locator("form.logout").count() == 1)


def login(
    page: Any, base_url: str, name: str, password: str, totp_secret: TotpFactor | str | None = None
) -> Any:
    """Sign in through the form (and the second step when there is a factor); the page is left
    signed in, on the console's start page."""
    password_step(page, base_url, name, password)
    if totp_secret is not None:
        page.wait_for_url("**/console/login/code**")
        code = totp_secret.code() if isinstance(totp_secret, TotpFactor) else pyotp.TOTP(totp_secret).now()
        code_step(page, code)
    page.wait_for_selector("form.logout")
    return page


@pytest.fixture(scope="module")
def console_scheme(tmp_path_factory: pytest.TempPathFactory) -> SchemeEnv:
    return make_scheme(tmp_path_factory.mktemp("console-scheme"))


@pytest.fixture(scope="module")
def console(console_scheme: SchemeEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProc]:
    """One collector (SQLite) per test module, serving the console on 127.0.0.1."""
    work = tmp_path_factory.mktemp("console")
    one = ["--processes", "1"]  # one serving process: quicker to start, sign-in limits counted once
    proc = CollectorProc(console_scheme, f"sqlite:///{work / 'collector.db'}", work, extra=one).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def operator(console: CollectorProc) -> Account:
    return add_user(console.db_url, "operator")


@pytest.fixture(scope="module")
def viewer(console: CollectorProc) -> Account:
    return add_user(console.db_url, "viewer")


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The collector's database on SQLite and on PostgreSQL (a throw-away cluster)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").new_database()
    db = Database(url)
    try:
        yield db
    finally:
        db.close()
