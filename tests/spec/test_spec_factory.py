"""Self-checks of the independent factory (owt.py) against SPEC 1 and the RFCs, without the terminal:
if these fail, the conformance tests prove nothing."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.spec.owt import (
    P256_N,
    Key,
    Nfc,
    Scheme,
    Wallet,
    b45decode,
    cbor_indef_map,
    cbor_map_pairs,
    ed25519_s_plus_l,
    es256_high_s_twin,
    qr_text,
    sig_structure,
)

NOW = 1_767_225_600


def _verify(key: Key, sig: bytes, data: bytes) -> None:
    pub = key.private.public_key()
    if key.kind == "ed":
        pub.verify(sig, data)
    else:
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        pub.verify(der, data, ec.ECDSA(hashes.SHA256()))


def _wallet(kind: str = "ed", issuer_kind: str = "ed") -> tuple[Scheme, Wallet]:
    scheme = Scheme(NOW)
    iss = scheme.add_issuer("i", issuer_kind)
    return scheme, Wallet(iss, kind, iat=NOW - 3600, exp=NOW + 86400)


@pytest.mark.parametrize(("kind", "issuer_kind"), [("ed", "ed"), ("p256", "p256")])
def test_token_layout_and_signatures_follow_spec_1(kind: str, issuer_kind: str) -> None:
    """SPEC 1: COSE_Sign1 [protected bstr, unprotected map, payload bstr, signature bstr]; Sig_structure
    ["Signature1", protected, h'', payload]; ES256 as 64-byte r||s; cert in label 16; kid 8 bytes."""
    _, w = _wallet(kind, issuer_kind)
    text = qr_text(w.token(NOW, nfc=Nfc(700)))
    assert text.startswith("OWT1:")
    raw = b45decode(text[5:])
    prot, unprot, payload, sig = cbor2.loads(raw)
    assert cbor2.loads(prot) == {1: w.key.alg} and unprot == {} and len(sig) == 64
    _verify(w.key, sig, sig_structure(prot, payload))
    body = cbor2.loads(payload)
    assert set(body) == {0, 1, 2, 6, 8, 11, 13, 14, 15, 16} and body[0] == 4 and len(body[14]) == 16
    cprot, _, cpayload, csig = cbor2.loads(body[16])
    assert cbor2.loads(cprot) == {1: w.issuer.alg, 4: w.issuer.kid} and len(w.issuer.kid) == 8
    _verify(w.issuer.key, csig, sig_structure(cprot, cpayload))
    cert = cbor2.loads(cpayload)
    assert cert[0] == 3 and cert[6] == body[6] and len(cert[6]) == 8
    assert cert[7][1] == (1 if kind == "ed" else 2)


def test_lists_follow_spec_1() -> None:
    """SPEC 1: typ 1 with issuer-key maps, typ 2 with sorted 8-byte ids, signed by the root."""
    scheme = Scheme(NOW)
    scheme.add_issuer("a", "ed")
    scheme.add_issuer("b", "p256")
    prot, _, payload, sig = cbor2.loads(scheme.trust_list(seq=4))
    _verify(scheme.root, sig, sig_structure(prot, payload))
    tl = cbor2.loads(payload)
    assert tl[0] == 1 and tl[3] == 4 and [len(e[3]) for e in tl[4]] == [32, 65]
    ids = [bytes([9 - i]) * 8 for i in range(3)]
    dl = cbor2.loads(cbor2.loads(scheme.deny_list(denied=ids))[2])
    assert dl[0] == 2 and dl[5] == sorted(ids)


def test_high_s_twin_is_itself_a_valid_signature() -> None:
    """Premise of the malleability test: (r, n - s) verifies under plain ECDSA."""
    key = Key("p256")
    sig = key.sign(b"m")
    twin = es256_high_s_twin(sig)
    assert twin != sig and int.from_bytes(twin[32:], "big") == P256_N - int.from_bytes(sig[32:], "big")
    _verify(key, twin, b"m")


def test_ed25519_s_plus_l_is_rejected_by_rfc8032_verifiers() -> None:
    """Premise of the non-canonical test: S + L is a different encoding a strict verifier refuses."""
    key = Key("ed")
    sig = key.sign(b"m")
    with pytest.raises(InvalidSignature):
        _verify(key, ed25519_s_plus_l(sig), b"m")


def test_hand_made_cbor_is_what_it_claims() -> None:
    """The CBOR helpers produce duplicate keys and indefinite lengths that cbor2 cannot emit."""
    assert cbor_map_pairs([(1, 2), (1, 3)]) == b"\xa2\x01\x02\x01\x03"
    assert cbor_indef_map([(1, 2)]) == b"\xbf\x01\x02\xff"
