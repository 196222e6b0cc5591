"""OWT1 payment tokens (typ 4) and wallet certificates (typ 3): strict parsing, SPEC 1 and 3.2.

Parsing decides only "well formed or ``malformed``"; every other rule is in ``pos.verify`` so the
table order of SPEC 3.5 is kept in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pos import cose, reasons, sigs
from pos.cose import Sign1
from pos.errors import CborError, Decline
from pos.frozen import quick_init

MAX_TOKEN_BYTES = 2048
MAX_TOKEN_LIFETIME_S = 120
WALLET_ID_LEN = 8
KID_LEN = 8
CHALLENGE_LEN = 16

TYP_TRUST_LIST, TYP_DENY_LIST, TYP_CERTIFICATE, TYP_TOKEN = 1, 2, 3, 4

# Payload labels (SPEC 1)
L_TYP, L_IAT, L_EXP = 0, 1, 2
L_WALLET_ID, L_WALLET_KEY, L_CURRENCY = 6, 7, 8
L_PAYMENT_LIMIT, L_OFFLINE_LIMIT = 9, 10
L_COUNTER, L_QR_MAX, L_NFC_AMOUNT, L_NFC_CHALLENGE, L_NFC_TERMINAL, L_CERT = 11, 12, 13, 14, 15, 16

MODE_QR = "qr"
MODE_NFC = "nfc"


@dataclass(frozen=True, slots=True)
class Certificate:
    envelope: Sign1
    kid: bytes
    iat: int
    exp: int
    wallet_id: bytes
    wallet_key: sigs.PublicKey
    currency: str
    payment_limit: int
    offline_limit: int


@quick_init
@dataclass(frozen=True, slots=True)
class Token:
    raw: bytes
    envelope: Sign1
    cert: Certificate
    iat: int
    exp: int
    wallet_id: bytes
    currency: str
    counter: int
    mode: str
    max_amount: int | None  # QR mode, label 12
    amount: int | None  # NFC mode, label 13
    challenge: bytes | None
    terminal_id: str | None


def _malformed(what: str) -> Decline:
    return Decline(reasons.MALFORMED, what)


def uint(body: dict[Any, Any], label: int) -> int:
    v = body.get(label)
    if type(v) is not int or v < 0:
        raise _not_uint(label)
    return v


def bstr(body: dict[Any, Any], label: int, length: int | None = None) -> bytes:
    v = body.get(label)
    if type(v) is not bytes or (length is not None and len(v) != length):
        want = f"{length} bytes" if length is not None else "a byte string"
        raise _malformed(f"label {label} must be {want}")
    return v


def tstr(body: dict[Any, Any], label: int) -> str:
    v = body.get(label)
    if type(v) is not str:
        raise _malformed(f"label {label} must be a text string")
    return v


_INT_ONLY = {int}


def payload_map(body: Any, typ: int) -> dict[int, Any]:
    """The payload must be a map with integer labels and label 0 equal to ``typ``."""
    if type(body) is not dict:
        raise _malformed("payload is not a map")
    if body and set(map(type, body)) != _INT_ONLY:
        raise _malformed("payload has a non-integer label")
    if body.get(L_TYP) != typ or type(body.get(L_TYP)) is not int:
        raise _malformed(f"payload typ is not {typ}")
    return body


def _sign1(data: bytes) -> tuple[Sign1, Any]:
    try:
        return cose.parse_sign1(data)
    except CborError as exc:
        raise _malformed(str(exc)) from exc


_CERT_CACHE_SIZE = 4096
_cert_cache: dict[bytes, Certificate] = {}


def parse_certificate(data: bytes) -> Certificate:
    """Parse a typ-3 certificate; memoised by its exact bytes (a pure function of them).

    Returning wallets present the same certificate in every token: a gate or a vending machine
    sees the same commuters all day. Only successful parses are kept, at most 4096, oldest out.
    """
    cert = _cert_cache.get(data)
    if cert is None:
        cert = _parse_certificate(data)
        if len(_cert_cache) >= _CERT_CACHE_SIZE:
            del _cert_cache[next(iter(_cert_cache))]
        _cert_cache[data] = cert
    return cert


def _parse_certificate(data: bytes) -> Certificate:
    env, body = _sign1(data)
    body = payload_map(body, TYP_CERTIFICATE)
    kid = env.headers.get(cose.HDR_KID)
    if type(kid) is not bytes or len(kid) != KID_LEN:
        raise _malformed("certificate needs a protected 8-byte kid")
    iat, exp = uint(body, L_IAT), uint(body, L_EXP)
    if exp < iat:
        raise _malformed("certificate exp before iat")
    try:
        key = sigs.load_cose_key(body.get(L_WALLET_KEY))
    except CborError as exc:
        raise _malformed(str(exc)) from exc
    return Certificate(
        envelope=env,
        kid=kid,
        iat=iat,
        exp=exp,
        wallet_id=bstr(body, L_WALLET_ID, WALLET_ID_LEN),
        wallet_key=key,
        currency=tstr(body, L_CURRENCY),
        payment_limit=uint(body, L_PAYMENT_LIMIT),
        offline_limit=uint(body, L_OFFLINE_LIMIT),
    )


def parse_token(data: bytes) -> Token:
    """Parse a typ-4 COSE_Sign1 and the certificate inside it, or raise ``Decline(malformed)``.

    The labels' checks are ``uint``, ``bstr`` and ``tstr`` written out (a token is parsed by
    the thousand at the collector), in the same order and with the same messages."""
    if len(data) > MAX_TOKEN_BYTES:
        raise _malformed(f"token of {len(data)} bytes is over {MAX_TOKEN_BYTES}")
    env, body = _sign1(data)
    body = payload_map(body, TYP_TOKEN)
    get = body.get
    iat, exp = get(L_IAT), get(L_EXP)
    if type(iat) is not int or iat < 0:
        raise _not_uint(L_IAT)
    if type(exp) is not int or exp < 0:
        raise _not_uint(L_EXP)
    if exp < iat or exp - iat > MAX_TOKEN_LIFETIME_S:
        raise _malformed("token exp must lie within 120 s after iat")
    wallet_id = get(L_WALLET_ID)
    if type(wallet_id) is not bytes or len(wallet_id) != WALLET_ID_LEN:
        raise _malformed(f"label {L_WALLET_ID} must be {WALLET_ID_LEN} bytes")
    currency = get(L_CURRENCY)
    if type(currency) is not str:
        raise _malformed(f"label {L_CURRENCY} must be a text string")
    counter = get(L_COUNTER)
    if type(counter) is not int or counter < 0:
        raise _not_uint(L_COUNTER)
    max_amount = amount = challenge = terminal_id = None
    if L_QR_MAX in body:
        if L_NFC_AMOUNT in body or L_NFC_CHALLENGE in body or L_NFC_TERMINAL in body:
            raise _malformed("token carries both QR and NFC labels")
        mode, max_amount = MODE_QR, uint(body, L_QR_MAX)
    elif L_NFC_AMOUNT in body and L_NFC_CHALLENGE in body and L_NFC_TERMINAL in body:
        mode = MODE_NFC
        amount = uint(body, L_NFC_AMOUNT)
        challenge = bstr(body, L_NFC_CHALLENGE, CHALLENGE_LEN)
        terminal_id = tstr(body, L_NFC_TERMINAL)
    else:
        raise _malformed("token carries neither label 12 nor labels 13, 14 and 15")
    cert = get(L_CERT)
    if type(cert) is not bytes:
        raise _malformed(f"label {L_CERT} must be a byte string")
    return Token(
        raw=data,
        envelope=env,
        cert=parse_certificate(cert),
        iat=iat,
        exp=exp,
        wallet_id=wallet_id,
        currency=currency,
        counter=counter,
        mode=mode,
        max_amount=max_amount,
        amount=amount,
        challenge=challenge,
        terminal_id=terminal_id,
    )


def _not_uint(label: int) -> Decline:
    return _malformed(f"label {label} must be an unsigned integer")
