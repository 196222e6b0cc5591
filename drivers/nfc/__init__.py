"""NFC: the terminal's reader (``NfcSource``, a ``pos.ports.TokenSource`` on nfcpy).
The phone wallet in card emulation for tests and demos is ``sim.nfc_wallet.WalletEmulator``.

SPEC 2 (NFC): SELECT the wallet AID, GENERATE TOKEN with the CBOR request map, ``61 XX`` /
GET RESPONSE chaining. ``apdu`` encodes the APDUs, ``isodep`` the ISO 14443-4 blocks, ``url`` the
nfcpy device paths (``usb:054c:06c3``, ``tty:USB0:pn532``, ``udp:127.0.0.1:50000``).
"""

from drivers.nfc.reader import NfcSource
from drivers.nfc.url import device_path, is_nfc_url

__all__ = ["NfcSource", "device_path", "is_nfc_url"]
