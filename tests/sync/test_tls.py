"""HTTPS to the collector: the certificate is verified (CA file or pinned certificate); a
collector whose certificate does not verify gets nothing, and plain http is only for localhost."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pos.errors import ConfigError
from pos.sync.service import sync_once
from pos.sync.settings import SyncSettings
from pos.sync.transport import check_url
from tests.sync.harness import FAST, CollectorProc, SchemeEnv, View, assert_exactly_once, new_terminal


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, *objs: object) -> Path:
    out = b""
    for obj in objs:
        if isinstance(obj, x509.Certificate):
            out += obj.public_bytes(serialization.Encoding.PEM)
        else:
            out += obj.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
    path.write_bytes(out)
    return path


def make_pki(d: Path, cn: str = "collector") -> dict[str, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{cn} test CA"))
        .issuer_name(_name(f"{cn} test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    d.mkdir(parents=True, exist_ok=True)
    return {
        "ca": _write(d / "ca.pem", ca),
        "cert": _write(d / "cert.pem", leaf),
        "key": _write(d / "key.pem", key),
    }


@pytest.fixture
def tls_collector(env: SchemeEnv, tmp_path: Path) -> Iterator[tuple[CollectorProc, dict[str, Path]]]:
    pki = make_pki(tmp_path / "pki")
    proc = CollectorProc(
        env,
        f"sqlite:///{tmp_path / 'collector.db'}",
        tmp_path / "collector",
        extra=["--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])],
    )
    proc.scheme_url = "https"
    proc.start()
    try:
        yield proc, pki
    finally:
        proc.stop()


def test_https_with_ca_file_and_pinned_certificate(
    env: SchemeEnv, tls_collector: tuple[CollectorProc, dict[str, Path]], tmp_path: Path
) -> None:
    proc, pki = tls_collector
    assert proc.url.startswith("https://")
    with_ca = SyncSettings(ca_file=pki["ca"])
    t = new_terminal(env, tmp_path / "t", proc.url, "T-TLS", settings=with_ca)
    assert t.pay(env.wallet(), 100).approved
    assert sync_once(t.data_dir, FAST.with_overrides(ca_file=pki["ca"]))["upload"]["ok"]
    # Pinning the collector's own certificate (a leaf, not a CA) works as well.
    assert t.pay(env.wallet(), 200).approved
    assert sync_once(t.data_dir, FAST.with_overrides(pinned_cert=pki["cert"]))["upload"]["ok"]
    view = View(proc.db_url)
    try:
        assert_exactly_once(view, t)
    finally:
        view.close()
    # Without that CA (system roots only), or pinned to another certificate: nothing is sent.
    assert t.pay(env.wallet(), 300).approved
    other = make_pki(tmp_path / "other", "impostor")
    for settings in (
        FAST,
        FAST.with_overrides(pinned_cert=other["cert"]),
        FAST.with_overrides(ca_file=other["ca"]),
    ):
        up = sync_once(t.data_dir, settings, lists=False)["upload"]
        assert not up["ok"] and "certificate does not verify" in up["error"]
        assert up["attempts"] == 1  # a certificate failure is not retried
    assert t.pending() == 1
    t.close()


def test_plain_http_only_to_localhost() -> None:
    for ok in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://collector.example"):
        check_url(ok)
    for bad in (
        "http://collector.example",
        "http://10.0.0.5:80",
        "ftp://127.0.0.1",
        "https://u:p@host.example",
    ):
        with pytest.raises(ConfigError):
            check_url(bad)
