"""Plain words for each decline code (SPEC 3.5): what happened and what to do next."""

from __future__ import annotations

from pos import reasons as r

EN: dict[str, str] = {
    r.CLOCK_UNSET: "The terminal's clock is wrong. Ask staff to set the date and time.",
    r.TRUST_LIST_STALE: "The terminal's keys are out of date. Connect it to the network to refresh them.",
    r.UNSUPPORTED_VERSION: "This wallet uses a newer code format. Ask the customer to update the app.",
    r.MALFORMED: "The code could not be read as a payment. Ask the customer to show it again.",
    r.UNKNOWN_ISSUER: "The wallet's issuer is not known here. Use another payment method.",
    r.ALG_MISMATCH: "The wallet's signature type is not accepted. Use another payment method.",
    r.ISSUER_KEY_EXPIRED: "The wallet's issuer key has expired. Use another payment method.",
    r.BAD_ISSUER_SIGNATURE: "The wallet's certificate is not genuine. Do not accept; use another method.",
    r.CERTIFICATE_NOT_YET_VALID: "The wallet's certificate is not valid yet. Check the terminal clock.",
    r.CERTIFICATE_EXPIRED: "The wallet's certificate has expired. Ask the customer to go online once.",
    r.WALLET_DENIED: "This wallet is blocked. Use another payment method.",
    r.BAD_TOKEN_SIGNATURE: "The payment code is not genuine. Do not accept; use another method.",
    r.WALLET_MISMATCH: "The payment code does not match its wallet. Ask for a new code.",
    r.TOKEN_NOT_YET_VALID: "The payment code is from the future. Check the terminal clock.",
    r.TOKEN_EXPIRED: "The payment code has expired. Ask the customer for a fresh code.",
    r.CURRENCY_MISMATCH: "The wallet pays in another currency than this terminal.",
    r.CHALLENGE_MISMATCH: "The code was not made for this payment. Ask the customer to tap or show it again.",
    r.TERMINAL_MISMATCH: "The code was made for another terminal. Ask the customer to tap again.",
    r.AMOUNT_MISMATCH: "The wallet signed a different amount. Ask the customer to tap again.",
    r.AMOUNT_EXCEEDS_AUTHORISED: "The amount is above what the customer authorised. Ask for a new code.",
    r.AMOUNT_EXCEEDS_LIMIT: "The amount is above this wallet's per-payment limit.",
    r.REPLAYED: "This code was already used. Ask the customer for a fresh code.",
    r.WALLET_OFFLINE_LIMIT: "The wallet's offline spending limit is reached. The customer must go online.",
    r.TERMINAL_OFFLINE_LIMIT: "The terminal's offline limit is reached. Connect it to upload payments.",
    r.STORAGE_FAILURE: "The payment could not be stored. Nothing was charged. Call support.",
}


def explain(reason: str | None) -> str:
    if reason is None:
        return "Payment approved and stored."
    return EN.get(reason, reason)
