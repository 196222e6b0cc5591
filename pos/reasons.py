"""Decline reason codes of SPEC 3.5, spelled exactly as the spec spells them.

``PRECEDENCE`` is the table order: where several rules fail, the first one in it wins. The
verifier checks rules in this order, so the first failure it meets is the one reported.
"""

from typing import Final

CLOCK_UNSET: Final = "clock_unset"
TRUST_LIST_STALE: Final = "trust_list_stale"
UNSUPPORTED_VERSION: Final = "unsupported_version"
MALFORMED: Final = "malformed"
UNKNOWN_ISSUER: Final = "unknown_issuer"
ALG_MISMATCH: Final = "alg_mismatch"
ISSUER_KEY_EXPIRED: Final = "issuer_key_expired"
BAD_ISSUER_SIGNATURE: Final = "bad_issuer_signature"
CERTIFICATE_NOT_YET_VALID: Final = "certificate_not_yet_valid"
CERTIFICATE_EXPIRED: Final = "certificate_expired"
WALLET_DENIED: Final = "wallet_denied"
BAD_TOKEN_SIGNATURE: Final = "bad_token_signature"
WALLET_MISMATCH: Final = "wallet_mismatch"
TOKEN_NOT_YET_VALID: Final = "token_not_yet_valid"
TOKEN_EXPIRED: Final = "token_expired"
CURRENCY_MISMATCH: Final = "currency_mismatch"
CHALLENGE_MISMATCH: Final = "challenge_mismatch"
TERMINAL_MISMATCH: Final = "terminal_mismatch"
AMOUNT_MISMATCH: Final = "amount_mismatch"
AMOUNT_EXCEEDS_AUTHORISED: Final = "amount_exceeds_authorised"
AMOUNT_EXCEEDS_LIMIT: Final = "amount_exceeds_limit"
REPLAYED: Final = "replayed"
WALLET_OFFLINE_LIMIT: Final = "wallet_offline_limit"
TERMINAL_OFFLINE_LIMIT: Final = "terminal_offline_limit"
STORAGE_FAILURE: Final = "storage_failure"

PRECEDENCE: Final[tuple[str, ...]] = (
    CLOCK_UNSET,
    TRUST_LIST_STALE,
    UNSUPPORTED_VERSION,
    MALFORMED,
    UNKNOWN_ISSUER,
    ALG_MISMATCH,
    ISSUER_KEY_EXPIRED,
    BAD_ISSUER_SIGNATURE,
    CERTIFICATE_NOT_YET_VALID,
    CERTIFICATE_EXPIRED,
    WALLET_DENIED,
    BAD_TOKEN_SIGNATURE,
    WALLET_MISMATCH,
    TOKEN_NOT_YET_VALID,
    TOKEN_EXPIRED,
    CURRENCY_MISMATCH,
    CHALLENGE_MISMATCH,
    TERMINAL_MISMATCH,
    AMOUNT_MISMATCH,
    AMOUNT_EXCEEDS_AUTHORISED,
    AMOUNT_EXCEEDS_LIMIT,
    REPLAYED,
    WALLET_OFFLINE_LIMIT,
    TERMINAL_OFFLINE_LIMIT,
    STORAGE_FAILURE,
)

ALL: Final[frozenset[str]] = frozenset(PRECEDENCE)
