"""Where a ``terminal_child.py run`` life is, in a 16-byte file both processes map.

Byte 0 is the phase, bytes 4..8 the index of the token in flight (little-endian). To aim a
kill, the parent writes a target phase (byte 8) and token index (bytes 12..16) and sets byte 1
to ARMED before the life starts; the child, entering that phase for that token, sets ARRIVED and
waits for GO, so the parent's kill can follow the phase's start by a chosen delay instead of
depending on catching a phase of a few microseconds by polling.
"""

(
    UNBORN, START, READY, PRE, PARSE, VERIFY, COMMIT, SIGN_HEAD, FSYNC, HEAD_FILE, REPORT, DONE, EXHAUSTED,
) = range(13)  # fmt: skip
NAMES = (
    "unborn", "start", "ready", "pre", "parse", "verify", "commit", "sign_head", "fsync", "head_file",
    "report", "done", "exhausted",
)  # fmt: skip
SIZE = 16
# byte 1
IDLE, ARMED, ARRIVED, GO = range(4)
