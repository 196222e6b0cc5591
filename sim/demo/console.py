"""The demo's operator console login: an operator account on the demo collector, printed.

``pos demo`` runs the real collector, which serves the operator console under ``/console/``.
The demo makes an operator account there (``collector.console.accounts.create_user``, as
``pos collector user add`` does), with a fresh password and TOTP secret each run, and prints
them marked DEMO: a demo login, never one for a real fleet.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from collector.console.accounts import AccountError, create_user, remove_user
from collector.db import Database

NAME = "demo-operator"


@dataclass(frozen=True)
class ConsoleLogin:
    url: str
    name: str
    password: str
    totp_secret: str
    totp_uri: str

    def lines(self) -> list[str]:
        return [
            f"operator console: {self.url} (DEMO login: {self.name} / {self.password})",
            f"DEMO console second factor: TOTP secret {self.totp_secret} ({self.totp_uri})",
        ]


def demo_operator(db_url: str, collector_url: str) -> ConsoleLogin:
    """A fresh demo operator on the collector's database (an older one of the same name goes)."""
    password = secrets.token_urlsafe(9)
    db = Database(db_url, pool_size=1)
    try:
        try:
            remove_user(db, NAME, by="demo", address="demo")
        except AccountError:
            pass  # a fresh demo directory: none yet
        enrolment = create_user(db, NAME, "operator", password, totp=True, by="demo", address="demo")
    finally:
        db.close()
    assert enrolment is not None  # operators always get a second factor
    return ConsoleLogin(f"{collector_url}/console/", NAME, password, enrolment.secret, enrolment.uri)
