"""``pos doctor``: one command a field technician runs to see what works and what to do.

Each line is OK, WARN or FAIL with the next step. Exit 0 when all is OK, 1 with warnings, 2 with
a failure. Nothing here changes the terminal's state; devices are only opened and closed.
"""

from __future__ import annotations

import argparse
import ctypes.util
import glob
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pos import config as configuration
from pos.config import Config
from pos.errors import JournalIntegrityError, PosError
from pos.journal import DB_FILE, Journal
from pos.journal_check import verify_journal
from pos.keystore import KeyStore
from ui.cli.doctor_config import check_config
from ui.cli.phrasing import money, plural, when
from ui.runtime import provisioning

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_FREE_MB = 200


@dataclass(frozen=True)
class Check:
    area: str
    status: str
    message: str
    action: str = ""


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check devices, keys, clock, journal and disk")
    p.add_argument("--data-dir", type=Path, help="the terminal's data dir (default: terminal.data_dir)")
    p.add_argument("--config", type=Path, help="check exactly what this pos.toml names")
    p.add_argument("--now", type=provisioning.unsigned_int, help="replace the clock (epoch seconds)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.add_argument("--nfc", default="usb", help="nfcpy device to probe without --config (default: usb)")
    p.set_defaults(handler=run)


def check_nfc(url: str) -> list[Check]:
    try:
        import nfc
    except ImportError as exc:
        return [Check("nfc", FAIL, f"nfcpy not importable: {exc}", "reinstall: ./scripts/setup")]
    nfc_log = logging.getLogger("nfc")
    level = nfc_log.level
    nfc_log.setLevel(logging.CRITICAL)  # nfcpy logs an ERROR for a missing reader: we say it better
    try:
        clf = nfc.ContactlessFrontend(url)
    except FileNotFoundError as exc:
        return [Check("nfc", WARN, f"libusb-1.0 not found ({exc.strerror})", "apt-get install libusb-1.0-0")]
    except OSError as exc:
        return [Check("nfc", WARN, f"no NFC reader at {url!r}: {exc}", "plug in a reader; see README (udev)")]
    except Exception as exc:  # noqa: BLE001 - nfcpy raises many kinds for absent hardware
        return [Check("nfc", WARN, f"no NFC reader at {url!r}: {exc}", "plug in a reader; see README")]
    finally:
        nfc_log.setLevel(level)
    try:
        return [Check("nfc", OK, f"reader {clf.device} at {url!r}")]
    finally:
        clf.close()


def check_cameras() -> list[Check]:
    try:
        import cv2
    except ImportError as exc:
        return [Check("camera", FAIL, f"OpenCV not importable: {exc}", "reinstall: ./scripts/setup")]
    devices = sorted(glob.glob("/dev/video*"))
    if not devices:
        return [
            Check("camera", WARN, "no /dev/video* camera", "plug in a camera, or use file:/rtsp:// sources")
        ]
    out = []
    for dev in devices:
        cap = cv2.VideoCapture(dev)
        try:
            if not cap.isOpened():
                out.append(Check("camera", WARN, f"{dev} does not open", "check permissions (video group)"))
                continue
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = cap.get(cv2.CAP_PROP_FPS)
            out.append(Check("camera", OK, f"{dev} {w}x{h} at {fps:.0f} fps"))
        finally:
            cap.release()
    return out


def check_serial() -> list[Check]:
    try:
        from serial.tools import list_ports
    except ImportError as exc:
        return [Check("serial", FAIL, f"pyserial not importable: {exc}", "reinstall: ./scripts/setup")]
    ports = [p.device for p in list_ports.comports()]
    if not ports:
        return [Check("serial", WARN, "no serial ports", "plug in the scanner; add the user to 'dialout'")]
    return [Check("serial", OK, f"serial ports: {', '.join(ports)}")]


def check_decoders() -> list[Check]:
    out = []
    try:
        import zxingcpp

        out.append(Check("decoders", OK, f"zxing-cpp {getattr(zxingcpp, '__version__', '')}".strip()))
    except ImportError as exc:
        out.append(Check("decoders", FAIL, f"zxing-cpp missing: {exc}", "reinstall: ./scripts/setup"))
    if ctypes.util.find_library("zbar"):
        out.append(Check("decoders", OK, "libzbar present (pyzbar)"))
    else:
        out.append(Check("decoders", WARN, "libzbar missing (pyzbar disabled)", "apt-get install libzbar0"))
    return out


def check_state(data_dir: Path | None, cfg: Config, now: int) -> list[Check]:
    if data_dir is None:
        return [Check("data", WARN, "no data dir given", "pass --data-dir or terminal.data_dir")]
    out = [check_disk(data_dir)]
    try:
        snap = KeyStore.pinned(data_dir).load()
    except PosError as exc:
        return [*out, Check("lists", FAIL, str(exc), "pos keys install --trust-list ...")]
    grace = cfg.policy.grace_s
    for name, lst in (("trust list", snap.trust), ("deny list", snap.deny)):
        if lst is None:
            status = FAIL if name == "trust list" else WARN
            out.append(Check("lists", status, f"no {name} installed", "pos keys install / pos sync"))
        elif lst.stale_at(now, grace):
            out.append(Check("lists", FAIL, f"{name} seq {lst.seq} is stale", "connect and run pos sync"))
        elif now > lst.next_update:
            out.append(Check("lists", WARN, f"{name} seq {lst.seq} past next_update, in grace", "pos sync"))
        else:
            out.append(Check("lists", OK, f"{name} seq {lst.seq}, next update {when(lst.next_update, now)}"))
    if snap.trust is not None and now < snap.trust.iat:
        out.append(Check("clock", FAIL, "clock is before the trust list's iat", "set the date and time"))
    out += check_journal(data_dir, now, cfg)
    return out


def check_disk(data_dir: Path) -> Check:
    free_mb = shutil.disk_usage(data_dir).free // (1 << 20)
    if free_mb < MIN_FREE_MB:
        return Check("disk", WARN, f"{free_mb} MB free in {data_dir}", "free space: payments need room")
    return Check("disk", OK, f"{free_mb} MB free in {data_dir}")


def check_journal(data_dir: Path, now: int, cfg: Config) -> list[Check]:
    if not (data_dir / DB_FILE).exists():
        return [Check("journal", OK, "no journal yet (no payment taken)")]
    journal = Journal(data_dir)
    try:
        rows = verify_journal(journal)
        summary = journal.summary()
        newest = journal.state(now).newest_time
    except JournalIntegrityError as exc:
        return [Check("journal", FAIL, str(exc), "keep the device for investigation; call support")]
    finally:
        journal.close()
    out = [Check("journal", OK, f"{plural(rows, 'row')}, chain and signed heads hold")]
    p = cfg.policy
    waiting = plural(summary["pending_count"], "payment")
    backlog = f"{waiting} ({money(summary['pending_total'], cfg.currency)}) waiting for upload"
    near = (
        summary["pending_count"] > 0.8 * p.offline_count_max
        or summary["pending_total"] > 0.8 * p.offline_total_max
    )
    out.append(Check("journal", WARN if near else OK, backlog, "connect and run pos sync" if near else ""))
    if newest is not None and now < newest - p.skew_s:
        out.append(Check("clock", FAIL, "clock is before the newest journal entry", "set the date and time"))
    else:
        out.append(Check("clock", OK, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))))
    return out


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = []
    try:
        cfg = configuration.load(args.config) if args.config else Config()
        if args.config:
            checks.append(Check("config", OK, f"{args.config} is valid"))
    except PosError as exc:
        cfg = Config()
        checks.append(Check("config", FAIL, str(exc), "fix the file; every error names the key"))
    now = args.now if args.now is not None else int(time.time())
    probes: list[Callable[[], list[Check]]] = [
        lambda: check_nfc(args.nfc), check_cameras, check_serial, check_decoders,
        lambda: check_state(args.data_dir or cfg.data_dir, cfg, now),
    ]  # fmt: skip
    if args.config and checks[0].status == OK:  # exactly what the config names, nothing else
        probes = [lambda: [Check(*f) for f in check_config(cfg)], probes[-1]]
    for probe in probes:
        try:
            checks += probe()
        except Exception as exc:  # noqa: BLE001 - a broken probe is a finding, not a crash
            checks.append(Check("doctor", FAIL, f"probe failed: {exc!r}", "report this"))
    worst = 2 if any(c.status == FAIL for c in checks) else 1 if any(c.status == WARN for c in checks) else 0
    if args.json:
        print(json.dumps({"exit": worst, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            hint = f"  -> {c.action}" if c.action else ""
            print(f"{c.status:<4}  {c.area:<8}  {c.message}{hint}")
    return worst
