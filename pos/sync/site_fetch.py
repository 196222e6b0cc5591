"""The site membership list in the terminal's sync pass (issue 14): fetched beside the trust and
deny lists, verified with the pinned root, installed atomically; a lower seq than the one in
force is refused (no rollback to a list that still names a removed terminal)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pos import sigs
from pos.errors import ListError
from pos.fsutil import atomic_write
from pos.site import Membership
from pos.site_list import MAX_SITE_LIST_BYTES, parse_site_list

if TYPE_CHECKING:  # httpx only where a list is fetched: pos run loads this module at start
    import httpx

log = logging.getLogger("pos.sync.site")

SITE_LIST_FILE = "site-members.cose"
SITE_PATH = "/v1/lists/site/"


def load_site_list(data_dir: Path, root: sigs.PublicKey) -> tuple[Membership, int] | None:
    """The installed list, verified again (a file on disk is not trusted for having been)."""
    path = Path(data_dir) / SITE_LIST_FILE
    if not path.exists():
        return None
    return parse_site_list(path.read_bytes(), root)


def fetch_site_list(client: httpx.Client, data_dir: Path, root: sigs.PublicKey, terminal_id: str) -> str:
    """One conditional fetch: "installed", "unchanged", "no_site" or "error: ..."."""
    import httpx

    from pos.sync.transport import SyncError, read_capped

    try:
        current = load_site_list(data_dir, root)
    except ListError as exc:
        log.error("the installed site list no longer verifies: %s", exc)
        current = None
    headers = {"If-None-Match": f'"site-{current[1]}"'} if current else {}
    try:
        with client.stream("GET", SITE_PATH + terminal_id, headers=headers) as resp:
            if resp.status_code == 304:
                return "unchanged"
            if resp.status_code == 404:
                return "no_site"
            if resp.status_code != 200:
                return f"error: HTTP {resp.status_code}"
            raw = read_capped(resp, MAX_SITE_LIST_BYTES)
        members, seq = parse_site_list(raw, root)
    except (httpx.HTTPError, SyncError, ListError) as exc:
        log.warning("site list refresh failed: %s", exc)
        return f"error: {exc}"
    if current is not None and seq < current[1]:
        return f"error: site list seq {seq} is lower than the installed {current[1]}"
    atomic_write(Path(data_dir) / SITE_LIST_FILE, raw)
    log.info("site list %s seq %d installed: %d members", members.site, seq, len(members.members))
    return "installed"
