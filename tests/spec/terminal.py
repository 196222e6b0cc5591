"""A terminal driven black-box through ``pos accept`` (in-process), with a scheme from ``owt.py``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_pos
from tests.spec.owt import DAY, Key, Nfc, Scheme, Wallet, qr_text

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so every boundary is exact
DEFAULT: Any = object()


@dataclass
class Result:
    code: int
    doc: dict[str, Any] | None
    err: str

    @property
    def decision(self) -> str | None:
        return None if self.doc is None else self.doc.get("decision")

    @property
    def reason(self) -> str | None:
        return None if self.doc is None else self.doc.get("reason")

    def __str__(self) -> str:
        return f"exit={self.code} out={self.doc} err={self.err.strip()[-300:]!r}"


@dataclass
class Term:
    """One terminal (one data dir) plus the scheme documents it is fed on every call."""

    tmp: Path
    capsys: pytest.CaptureFixture[str]
    now: int = NOW
    scheme: Scheme = field(init=False)
    tl: bytes = field(init=False)
    dl: bytes | None = field(init=False)
    data_dir: Path = field(init=False)
    root_pem: Path = field(init=False)
    _n: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.scheme = Scheme(self.now)
        self.scheme.add_issuer("ed", "ed")
        self.scheme.add_issuer("es", "p256")
        self.root_pem = self.write_root(self.scheme.root)
        self.tl = self.scheme.trust_list()
        self.dl = self.scheme.deny_list()
        self.data_dir = self.tmp / "data"

    def file(self, data: bytes, suffix: str = ".cose") -> Path:
        path = self.tmp / f"f{next(self._n)}{suffix}"
        path.write_bytes(data)
        return path

    def write_root(self, key: Key) -> Path:
        return self.file(key.pem(), ".pem")

    def fresh(self) -> Path:
        """A new, empty data dir (a new terminal sharing this scheme); becomes the default."""
        self.data_dir = self.tmp / f"data{next(self._n)}"
        return self.data_dir

    def wallet(self, kind: str = "ed", issuer: str = "ed", **kw: Any) -> Wallet:
        kw.setdefault("iat", self.now - 3600)
        kw.setdefault("exp", self.now + 30 * DAY)
        return Wallet(self.scheme.issuers[issuer], kind, **kw)

    def args(
        self,
        token: str,
        amount: int | str,
        *,
        now: int | None = DEFAULT,
        currency: str = "EUR",
        nfc: Nfc | None = None,
        tl: bytes = DEFAULT,
        dl: bytes | None = DEFAULT,
        root: Path | None = None,
        data_dir: Path | None = None,
    ) -> list[str]:
        argv = ["accept", "--data-dir", str(data_dir or self.data_dir)]
        argv += ["--root-key", str(root or self.root_pem)]
        argv += ["--trust-list", str(self.file(self.tl if tl is DEFAULT else tl))]
        dl = self.dl if dl is DEFAULT else dl
        if dl is not None:
            argv += ["--deny-list", str(self.file(dl))]
        argv += ["--currency", currency, "--amount", str(amount)]
        now = self.now if now is DEFAULT else now
        if now is not None:
            argv += ["--now", str(now)]
        if nfc is not None:
            argv += ["--terminal-id", nfc.terminal_id, "--challenge", nfc.challenge.hex()]
        return [*argv, token]

    def accept(self, token: bytes | str, amount: int | str, **kw: Any) -> Result:
        """Present ``token`` (COSE bytes, sent as ``OWT1:`` text, or the text itself)."""
        text = qr_text(token) if isinstance(token, bytes) else token
        return Result(*run_pos(self.args(text, amount, **kw), self.capsys))


def approved(r: Result) -> bool:
    return r.code == 0 and r.decision == "approved" and r.reason is None


def assert_approved(r: Result) -> None:
    assert approved(r), str(r)


def assert_declined(r: Result, *reasons: str) -> None:
    """Declined (exit 1) with one of ``reasons`` (one reason unless the spec leaves a choice)."""
    assert r.code == 1 and r.decision == "declined" and r.reason in reasons, f"want {reasons}: {r}"


def assert_refused(r: Result) -> None:
    """SPEC 3.1: a refused list is an operator error: exit 2, a message, nothing approved."""
    assert r.code == 2, str(r)
    assert r.err.strip(), str(r)
    assert r.decision != "approved", str(r)


@dataclass
class Pres:
    """One presentation: the token (COSE bytes or text), the requested amount, NFC or QR."""

    token: bytes | str
    amount: int = 1000
    nfc: Nfc | None = None

    def at(self, term: Term, **kw: Any) -> Result:
        return term.accept(self.token, self.amount, nfc=self.nfc, **kw)
