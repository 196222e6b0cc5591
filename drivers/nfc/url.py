"""NFC device URLs: nfcpy's device paths, checked before a reader is opened.

    usb                      the first supported USB reader
    usb:054c:06c3            by vendor:product (hex): Sony RC-S380; 072f:2200 ACR122U; ...
    usb:001:023              by bus:device number (decimal, as lsusb prints them)
    tty:USB0:pn532           a serial reader: /dev/ttyUSB0 with nfcpy's pn532 (or arygon) driver
    com:COM3:pn532           the same on Windows
    udp:127.0.0.1:50000      nfcpy's UDP simulation (a wallet emulator listens on that port)

An optional ``nfc:`` prefix is accepted and dropped (``nfc:usb:054c:06c3``).
"""

from __future__ import annotations

import re

SUPPORTED_USB = {
    (0x054C, 0x06C1): "Sony RC-S380 (rcs380)",
    (0x054C, 0x06C3): "Sony RC-S380 (rcs380)",
    (0x054C, 0x02E1): "Sony RC-S330/360/370 (rcs956)",
    (0x072F, 0x2200): "ACS ACR122U (acr122, PN532 behind a PC/SC firmware: limited)",
    (0x04CC, 0x2533): "NXP PN533 demo board (pn533)",
    (0x04E6, 0x5591): "SCM SCL3711 (pn533)",
    (0x04E6, 0x5593): "SCM SCL3712 (pn533)",
    (0x054C, 0x0193): "PN531 (pn531)",
    (0x04CC, 0x0531): "PN531 / SCM SCL3710 (pn531)",
}

_USB = re.compile(r"usb(?::(?:[0-9a-fA-F]{4}(?::[0-9a-fA-F]{4})?|\d{3}(?::\d{3})?))?")
_TTY = re.compile(r"(?:tty|com):[A-Za-z0-9_.-]+(?::(?:pn532|arygon|pn533|pn531|rcs956))?")
_UDP = re.compile(r"udp(?::[A-Za-z0-9_.-]*)?(?::\d{1,5})?")


def device_path(url: str) -> str:
    """The nfcpy path for ``url``; ``ValueError`` when it is not one."""
    path = url.strip()
    if path.startswith("nfc:"):
        path = path[len("nfc:") :]
    if _USB.fullmatch(path) or _TTY.fullmatch(path) or _UDP.fullmatch(path):
        if path.startswith("udp") and path.count(":") == 2:
            port = int(path.rsplit(":", 1)[1])
            if not 0 < port < 65536:
                raise ValueError(f"{url!r}: UDP port {port} out of range")
        return path
    raise ValueError(
        f"{url!r} is not an NFC device: use usb, usb:VID:PID (e.g. usb:054c:06c3), usb:BUS:DEV, "
        "tty:PORT:DRIVER or udp:HOST:PORT"
    )


def is_nfc_url(url: str) -> bool:
    try:
        device_path(url)
    except ValueError:
        return False
    return True
