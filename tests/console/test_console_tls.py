"""Under TLS the session cookie is also ``Secure`` (issue 13, Security), on a real HTTPS collector."""

from __future__ import annotations

import ssl

import httpx

from tests.console.conftest import new_account
from tests.sync.harness import CollectorProc
from tests.sync.test_tls import make_pki


def test_session_cookie_is_secure_under_tls(console_scheme, tmp_path):
    pki = make_pki(tmp_path / "pki")
    proc = CollectorProc(
        console_scheme, f"sqlite:///{tmp_path / 'collector.db'}", tmp_path / "collector",
        extra=["--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]), "--processes", "1"],
    )  # fmt: skip
    proc.scheme_url = "https"
    proc.start()
    try:
        viewer = new_account(proc.db_url, "viewer")
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        with httpx.Client(base_url=proc.url, verify=ctx, timeout=10) as client:
            r = client.post("/console/login", data={"username": viewer.name, "password": viewer.password})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "console_session=" in cookie
        for flag in ("secure", "httponly", "samesite=strict", "path=/console"):
            assert flag in cookie
    finally:
        proc.stop()
