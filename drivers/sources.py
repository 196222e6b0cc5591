"""One string names a device (STYLE: pyserial's URLs); this module turns it into a TokenSource.

    udp:HOST:PORT, usb, usb:VID:PID, tty:PORT:DRIVER    NFC reader (nfcpy)
    /dev/videoN, file:PATH, rtsp://..., http(s)://...   camera (OpenCV)
    /dev/ttyACM0, /dev/serial/..., socket://, loop://   serial 2D scanner (pyserial)

Each driver is imported only when a source of its kind is opened, so a counter without a camera
does not pay for OpenCV's import.
"""

from __future__ import annotations

from typing import Any

from pos.ports import Actuator, TokenSource

KIND_NFC, KIND_CAMERA, KIND_SCANNER = "nfc", "camera", "scanner"
_CAMERA_PREFIXES = ("file:", "rtsp://", "rtsps://", "http://", "https://", "/dev/video", "/dev/v4l/")
_SCANNER_PREFIXES = ("/dev/", "socket://", "loop://", "rfc2217://", "spy://")


def kind_of(url: str) -> str:
    """Which driver a device string names; ``ValueError`` for a string none of them takes."""
    from drivers.nfc.url import is_nfc_url

    if is_nfc_url(url):
        return KIND_NFC
    if url.startswith(_CAMERA_PREFIXES):
        return KIND_CAMERA
    if url.startswith(_SCANNER_PREFIXES):
        return KIND_SCANNER
    raise ValueError(
        f"{url!r} names no device: use udp:HOST:PORT / usb[:VID:PID] (NFC), /dev/videoN / file:PATH / "
        "rtsp://... (camera), or /dev/ttyACM0 / socket://HOST:PORT / loop:// (serial scanner)"
    )


def open_source(url: str, **options: Any) -> TokenSource:
    """Open the token source a device string names; options go to that driver."""
    kind = kind_of(url)
    if kind == KIND_NFC:
        from drivers.nfc.reader import NfcSource

        return NfcSource(url, **options)
    if kind == KIND_CAMERA:
        from drivers.camera.source import CameraSource

        return CameraSource(url, **options)
    from drivers.serial.scanner import ScannerSource

    return ScannerSource(url, **options)


_SERIAL_PREFIXES = ("/dev/", "socket://", "loop://", "rfc2217://", "spy://")


def open_actuator(url: str, **options: Any) -> Actuator:
    """A gate relay: ``log:`` / ``sim:`` -> ``RelaySimulator``; a serial URL -> ``LcusRelay``
    (options: ``channel``, ``baudrate``, ...)."""
    from drivers.relay import LcusRelay, RelaySimulator

    if url in ("log:", "sim:"):
        return RelaySimulator(url, **options)
    if url.startswith(_SERIAL_PREFIXES):
        return LcusRelay(url, **options)
    raise ValueError(
        f"{url!r} names no relay: use log: / sim: or /dev/ttyUSB0 / socket://HOST:PORT / loop://"
    )


def open_vend_session(url: str, **options: Any) -> Any:
    """A vending machine behind a serial MDB adapter (docs/mdb.md):

    ``qibixx:<serial URL>[?decimals=N]`` -> ``drivers.mdb.qibixx.QibixxVendSession`` (a Qibixx
    MDB-USB / Pi Hat Plus in cashless-device mode, e.g. ``qibixx:/dev/ttyACM0``,
    ``qibixx:socket://127.0.0.1:7010``); a bare serial URL -> ``drivers.mdb.session.MdbVendSession``
    (our OWT-MDB/1 adapter protocol). The UI's ``sim:`` machine is the UI's own: drivers never
    import ``ui``."""
    if url.startswith("qibixx:"):
        from drivers.mdb.qibixx import QibixxVendSession

        return QibixxVendSession.from_url(url, **options)
    if url.startswith(_SERIAL_PREFIXES):
        from drivers.mdb.session import MdbVendSession

        return MdbVendSession(url, **options)
    raise ValueError(
        f"{url!r} names no vending machine: use /dev/ttyACM0 or socket://HOST:PORT (OWT-MDB/1 adapter), "
        "or qibixx:/dev/ttyACM0 (Qibixx MDB-USB / Pi Hat Plus)"
    )
