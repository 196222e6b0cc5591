"""The memo of issuer signatures on certificates (``pos.verify._issuer_signed``) answers only
for the exact certificate it verified: the same signature over another payload or protected
header, or under another issuer key, is verified afresh and refused."""

from __future__ import annotations

import dataclasses

from pos.tokens import Certificate, parse_certificate
from pos.trust import IssuerKey, parse_trust_list
from pos.verify import _issuer_signed
from tests.conftest import Demo


def _issuer_and_cert(demo: Demo) -> tuple[IssuerKey, Certificate]:
    trust = parse_trust_list(demo.trust_list.read_bytes(), demo.scheme.root.public_key())
    cert = parse_certificate(demo.wallet().cert)
    return trust.issuers[cert.kid], cert


def test_a_remembered_signature_does_not_vouch_for_another_payload(demo: Demo) -> None:
    issuer, cert = _issuer_and_cert(demo)
    assert _issuer_signed(issuer, cert)  # verified, and remembered
    payload = bytearray(cert.envelope.payload)
    payload[-1] ^= 1  # the same signature over one other byte
    forged = dataclasses.replace(cert, envelope=dataclasses.replace(cert.envelope, payload=bytes(payload)))
    assert not _issuer_signed(issuer, forged)
    assert _issuer_signed(issuer, cert)


def test_a_remembered_signature_does_not_vouch_for_another_header(demo: Demo) -> None:
    issuer, cert = _issuer_and_cert(demo)
    assert _issuer_signed(issuer, cert)
    env = cert.envelope
    # the boundary between header and payload moved by one byte: the same bytes in all
    moved = dataclasses.replace(env, protected=env.protected + env.payload[:1], payload=env.payload[1:])
    assert not _issuer_signed(issuer, dataclasses.replace(cert, envelope=moved))


def test_a_remembered_signature_does_not_vouch_under_another_key(demo: Demo) -> None:
    issuer, cert = _issuer_and_cert(demo)
    assert _issuer_signed(issuer, cert)
    other = parse_trust_list(demo.trust_list.read_bytes(), demo.scheme.root.public_key()).issuers
    es = next(i for i in other.values() if i.kid != issuer.kid)
    swapped = dataclasses.replace(issuer, key=es.key, raw_key=es.raw_key, alg=es.alg)
    assert not _issuer_signed(swapped, cert)
