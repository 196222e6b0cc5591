"""``pos doctor --config``: the checks of exactly what the configuration names, and nothing else.

Each ``[devices]`` URL is opened through ``drivers.sources`` (the one place device strings are
resolved) and closed again; ``[sync] collector`` is asked for ``/healthz``. A USB reader or a
/dev/video camera the config does not name is none of the installer's business here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pos.config import Config
from pos.errors import PosError
from pos.ports import HasHealth

OK, WARN, FAIL = "OK", "WARN", "FAIL"
SETTLE_S = 0.3  # a driver that opens in a thread (camera, scanner) has reported by then

Finding = tuple[str, str, str, str]  # (area, status, message, action)


def _opener(role: str) -> Callable[[str], Any]:
    from drivers import sources

    if role == "relay":
        return sources.open_actuator
    if role == "vend":
        return sources.open_vend_session
    if role == "printer":
        from ui.runtime import receipt_printing

        return receipt_printing.open_configured
    return sources.open_source


def check_device(name: str, url: str) -> Finding:
    area = f"devices.{name}"
    if url == "log:":
        return (area, OK, "log: (dry run, no hardware)", "")
    quiet = logging.getLogger("nfc")
    level, quiet.level = quiet.level, logging.CRITICAL  # nfcpy logs an ERROR for a missing reader
    try:
        device = _opener(name)(url)
    except (ValueError, PosError) as exc:
        return (area, FAIL, f"{url!r}: {exc}", "fix the URL (docs/config.md, [devices])")
    except Exception as exc:  # noqa: BLE001 - any driver failure is the finding
        return (area, FAIL, f"{url} does not open: {type(exc).__name__}: {exc}", "plug it in; check the port")
    finally:
        quiet.setLevel(level)
    try:
        if isinstance(device, HasHealth):
            time.sleep(SETTLE_S)
            health = device.health()
            if not health.ok and health.last_error:
                return (area, FAIL, f"{url}: {health.last_error}", "plug it in; check the port")
        return (area, OK, f"{url} opens", "")
    finally:
        with contextlib.suppress(Exception):
            device.close()


def check_sync(cfg: Config) -> list[Finding]:
    if "sync" not in cfg.given:
        return []
    sync = cfg.section("sync")
    if sync.collector is None:
        return [("sync", FAIL, "[sync] names no collector", 'set sync.collector = "https://HOST"')]
    import httpx

    url = sync.collector.rstrip("/") + "/healthz"
    verify: Any = str(sync.ca_file) if sync.ca_file is not None else True
    try:
        answer = httpx.get(url, timeout=sync.connect_timeout_s, verify=verify)
    except Exception as exc:  # noqa: BLE001 - unreachable for any reason is the finding
        return [
            ("sync", WARN, f"{url} unreachable: {exc}", "payments wait in the journal; check the network")
        ]
    if answer.status_code != 200:
        return [("sync", WARN, f"{url} answered {answer.status_code}", "check sync.collector")]
    return [("sync", OK, f"{sync.collector} reachable")]


def check_config(cfg: Config) -> list[Finding]:
    out = [check_device(name, url) for name, url in cfg.devices.items()]
    return [*out, *check_sync(cfg)]
