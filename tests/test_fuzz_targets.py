"""Every trust boundary has a fuzz target, and each still runs on today's code (issue 18).

The coverage-guided runs are ``scripts/fuzz`` (minutes per target, outside the suite); here each
harness replays its seeds and a hundred seeded mutations of them in one child process (a few
seconds), so a refactor that breaks a harness, or a seed that no longer reaches its parser,
shows in the suite rather than at the next fuzzing session.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

EXPECTED = ("token", "text", "lists", "apdu", "batch", "delta", "scanner", "mdb", "receipt", "config")


def test_scripts_fuzz_lists_a_target_for_every_boundary() -> None:
    done = subprocess.run(
        [str(REPO / "scripts" / "fuzz"), "list"], capture_output=True, timeout=60, check=True
    )
    names = done.stdout.decode().split()
    assert set(EXPECTED) <= set(names)
    assert len(names) == len(set(names))


def test_every_fuzz_harness_survives_its_seeds_and_mutations() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fuzz_targets"), "selftest", "100"],
        capture_output=True,
        timeout=300,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()[-3000:]
    for name in EXPECTED:
        assert f"{name}: " in out
