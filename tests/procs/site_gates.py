"""Real ``pos run --headless`` gates of one site on 127.0.0.1 (issue 14), for the tests and
``scripts/bench site``: each with a ``file:DIR?watch`` camera (a QR code is a PNG dropped into the
folder), a ``log:`` relay and a ``[site]`` section naming the others. The test itself can be a
member too (``Member``: a key on the membership list that sends datagrams of its own)."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pos.identity import Identity
from pos.keystore import KeyStore
from pos.presentation import encode_text
from pos.sigs import load_pem_public_key
from pos.site import Announcement, encode, member_doc
from sim.demo.camera import write_qr_png
from sim.wallet import Wallet
from tests.ui.test_run_sync import GateProc

SITE = "STATION-1"
FARE = 250


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Member:
    """A site member the test controls: its key is on the list, it sends what the test says."""

    terminal_id: str = "GATE-X"
    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    seq: int = 0

    @property
    def public_raw(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def announce(self, wallet_id: bytes, counter: int, *, exp: int | None = None, seq: int | None = None,
                 key: ed25519.Ed25519PrivateKey | None = None, tid: str | None = None) -> bytes:  # fmt: skip
        if seq is None:
            self.seq += 1
            seq = self.seq
        now = int(time.time())
        a = Announcement(SITE, tid or self.terminal_id, seq, wallet_id, counter, bytes(32),
                         exp if exp is not None else now + 60, now * 1000)  # fmt: skip
        return encode(a, (key or self.key).sign)


@dataclass
class SiteGate:
    name: str
    data_dir: Path
    camera: Path
    port: int
    proc: GateProc | None = None
    drops: int = 0

    def drop(self, text: str) -> Path:
        """Show a QR code to this gate's camera: a PNG appears in its folder (written, then renamed)."""
        self.drops += 1
        return write_qr_png(self.camera / f"qr-{self.drops:04d}.png", text)

    def decisions(self, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        assert self.proc is not None
        gate = self.proc
        gate.wait_for(lambda _d: len([x for x in gate.lines if x.get("event") == "decision"]) >= n, timeout)
        return [x for x in gate.lines if x.get("event") == "decision"]

    def relay_opens(self) -> int:
        assert self.proc is not None
        return sum(1 for d in self.proc.lines if str(d.get("msg", "")).startswith("relay open"))

    def stop(self) -> dict[str, Any]:
        """SIGTERM; the gate's last site counters (what it dropped and why)."""
        assert self.proc is not None
        self.proc.terminate(15)
        off = [d for d in self.proc.lines if d.get("event") == "site_off"]
        return off[-1] if off else {}

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()


def provision(env: Any, data_dir: Path) -> bytes:
    """Lists installed; the identity key made now, so it can go on the membership list."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = KeyStore(data_dir, load_pem_public_key(env.root_pem.read_bytes()))
    store.install_trust_list(env.trust_list.read_bytes())
    store.install_deny_list(env.deny_list.read_bytes())
    return Identity(data_dir).public_raw


def write_config(gate: SiteGate, peers: list[SiteGate] | list[int] | None, members: Path, group: str | None,
                 passback_s: int = 60) -> Path:  # fmt: skip
    """``peers``: the other gates, or the UDP ports to send to (a relay in between)."""
    lines = [
        "[terminal]", f'id = "{gate.name}"', 'currency = "EUR"', f'data_dir = "{gate.data_dir}"',
        "[ui]", 'mode = "gate"', "read_slice_s = 0.1",
        "[gate]", f"fare = {FARE}", f"passback_s = {passback_s}", "open_s = 0.2",
        "[devices]", f'camera = "file:{gate.camera}?watch"', 'relay = "log:"',
    ]  # fmt: skip
    if peers is not None:
        ports = [p if isinstance(p, int) else p.port for p in peers]
        addrs = json.dumps([f"127.0.0.1:{p}" for p in ports])
        lines += ["[site]", f'id = "{SITE}"', f'listen = "127.0.0.1:{gate.port}"', f"peers = {addrs}",
                  f'members = "{members}"']  # fmt: skip
        if group is not None:
            lines.append(f'group = "{group}"')
    path = gate.data_dir.parent / f"{gate.name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_gates(env: Any, root: Path, names: list[str]) -> tuple[list[SiteGate], dict[str, bytes]]:
    gates, keys = [], {}
    for name in names:
        data_dir = root / name / "data"
        camera = root / name / "camera"
        camera.mkdir(parents=True)
        keys[name] = provision(env, data_dir)
        gates.append(SiteGate(name, data_dir, camera, free_udp_port()))
    return gates, keys


def write_members(path: Path, keys: dict[str, bytes]) -> Path:
    path.write_text(json.dumps(member_doc(SITE, keys), indent=1))
    return path


def start(gate: SiteGate, config: Path) -> None:
    gate.proc = GateProc(config)


def wait_ready(gates: list[SiteGate], timeout: float = 40) -> None:
    for g in gates:
        assert g.proc is not None
        g.proc.wait_for(lambda d: d.get("msg") == "ready", timeout)


def qr(wallet: Wallet, now: int | None = None) -> str:
    return encode_text(wallet.token(max_amount=FARE, now=int(time.time()) if now is None else now))
