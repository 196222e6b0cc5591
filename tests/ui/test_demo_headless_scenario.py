"""``pos demo --headless --payments N`` as a real process tells issue 5's story and exits 0.

Offline, N payments are approved and wait in the queue; the same QR code is approved at a second
shop; the network comes back through the seeded flaky link; the queue drains with every row
acknowledged and the collector holding the terminal's whole chain; the collector flags the double
spend and its new deny list makes the terminal decline the wallet.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import POS_BIN, REPO

pytestmark = pytest.mark.timeout(90)

N = 200


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(
        [str(POS_BIN), "demo", "--headless", "--dir", str(tmp_path / "demo"), *args],
        capture_output=True, text=True, timeout=80, cwd=REPO, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return _run(tmp_path_factory.mktemp("headless"), "--payments", str(N))


def _line(out: str, pattern: str) -> re.Match[str]:
    m = re.search(pattern, out, re.MULTILINE)
    assert m, f"no line matching {pattern!r} in:\n{out}"
    return m


def test_story_exits_0_after_the_scripted_stream(story: subprocess.CompletedProcess[str]) -> None:
    assert story.returncode == 0, story.stdout + story.stderr
    out = story.stdout
    assert out.index("journal verify:") < out.index("A day offline")
    _line(out, r"^story done in [\d.]+ s$")


def test_offline_payments_are_all_approved_and_queued(story: subprocess.CompletedProcess[str]) -> None:
    _line(story.stdout, rf"^offline: {N} approved, 0 declined ")
    m = _line(story.stdout, r"^queue: (\d+) pending, EUR ([\d,]+\.\d\d), oldest (\d+) s ")
    assert int(m[1]) == N
    assert int(m[3]) > 20 * 3600  # the oldest payment waited most of a day


def test_the_same_code_is_approved_at_the_second_shop_while_offline(
    story: subprocess.CompletedProcess[str],
) -> None:
    _line(story.stdout, r"DEMO-SHOP-2 approved the same QR code offline: wallet [0-9a-f]{8}")


def test_queue_drains_through_the_flaky_link_with_every_row_acknowledged(
    story: subprocess.CompletedProcess[str],
) -> None:
    out = story.stdout
    assert out.index("network back through a flaky link") < out.index("drained in")
    _line(out, rf"^uploading: {N}/{N} acknowledged")
    _line(out, r"^drained in [\d.]+ s: every row acknowledged, 0 pending$")
    _line(out, rf"^collector: DEMO-SHOP-1's chain stands at seq {N} of {N}$")
    _line(out, rf"^collector: {N} payments held once each, 1 double spend flagged$")


def test_double_spend_is_flagged_and_the_wallet_declined_after_the_refresh(
    story: subprocess.CompletedProcess[str],
) -> None:
    out = story.stdout
    wallet = _line(out, r"DEMO-SHOP-2 approved the same QR code offline: wallet ([0-9a-f]{8})")[1]
    _line(out, r"collector flagged a double spend")
    installed = _line(out, rf"DEMO-SHOP-1: deny list seq \d+ installed .*: wallet {wallet}$")
    declined = _line(out, rf"^wallet {wallet} shows a new QR code at DEMO-SHOP-1: DECLINED \(wallet_denied\)")
    assert installed.start() < declined.start()


def test_payments_option_refuses_a_bad_count(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--payments", "-5")
    assert proc.returncode == 2
    assert "--payments" in proc.stderr and "give 0 to" in proc.stderr


def test_payments_0_runs_the_stream_only(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--payments", "0")
    assert proc.returncode == 0, proc.stderr
    assert "journal verify:" in proc.stdout and "A day offline" not in proc.stdout


def test_a_used_demo_dir_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    assert _run(tmp_path, "--payments", "0").returncode == 0
    again = _run(tmp_path, "--payments", "0")
    assert again.returncode == 2
    assert "already holds a headless demo" in again.stderr and "Traceback" not in again.stderr


def test_a_copied_code_is_declined_at_the_second_gate_of_the_station(
    story: subprocess.CompletedProcess[str],
) -> None:
    """Issue 14's demo step: two gates' site links on 127.0.0.1, the WAN off."""
    _line(story.stdout, r"^DEMO-GATE-1: the same QR code -> APPROVED, gate opens$")
    _line(story.stdout, r"^DEMO-GATE-2: the same QR code -> DECLINED \(replayed\), gate stays shut$")
    assert story.stdout.index("DEMO-GATE-2") < story.stdout.index("A day offline")
