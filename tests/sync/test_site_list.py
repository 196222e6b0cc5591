"""Issue 14: the collector publishes each site's membership list, signed with the scheme root;
terminals fetch it with their other lists and their site link reads it (no local file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos.config import from_mapping
from pos.errors import ListError
from pos.sigs import ALG_EDDSA
from pos.site_list import parse_site_list, payload
from pos.sync.service import sync_once
from pos.sync.site_fetch import SITE_LIST_FILE, load_site_list
from pos.wire.signing import new_key, sign_payload
from tests.conftest import run_pos_process
from tests.sync.harness import FAST, CollectorProc, make_scheme, new_terminal
from ui.runtime.site_link import membership_for

pytestmark = pytest.mark.timeout(90)


def test_site_add_publishes_a_signed_list_the_terminals_fetch_and_use(tmp_path: Path) -> None:
    env = make_scheme(tmp_path)
    collector = CollectorProc(env, f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "c").start()
    try:
        tids = ("GATE-1", "GATE-2", "GATE-3")
        terms = [new_terminal(env, tmp_path / tid, collector.url, tid) for tid in tids]
        keys = {t.tid: t.terminal.journal.identity.public_raw for t in terms}
        for t in terms:
            t.close()
        add = ["collector", "site", "add", "STATION-9", "GATE-1", "GATE-2", "--db", collector.db_url,
               "--scheme", str(env.scheme.dir)]  # fmt: skip
        done = run_pos_process(add)
        assert done.returncode == 0, done.stderr
        unknown = run_pos_process([*add[:4], "GATE-NOPE", *add[6:]])
        assert unknown.returncode == 2 and b"not enrolled" in unknown.stderr

        assert sync_once(terms[0].data_dir, FAST)["site_list"] == "installed"
        assert sync_once(terms[0].data_dir, FAST)["site_list"] == "unchanged"
        assert sync_once(terms[2].data_dir, FAST)["site_list"] == "no_site"
        members, seq = load_site_list(terms[0].data_dir, env.root) or (None, 0)
        assert members is not None and members.site == "STATION-9" and seq == 1
        assert {t: k.public_bytes_raw() for t, k in members.members.items()} == {
            "GATE-1": keys["GATE-1"], "GATE-2": keys["GATE-2"]}  # fmt: skip
        cfg = from_mapping({"site": {"id": "STATION-9", "listen": "127.0.0.1:0"}}, str(tmp_path / "p.toml"))
        assert membership_for(cfg, terms[0].data_dir, env.root).members.keys() == {"GATE-1", "GATE-2"}

        # GATE-3 joins: the list is published again with the next seq and installed.
        add3 = [*add[:4], "GATE-3", *add[6:]]
        assert run_pos_process(add3).returncode == 0
        old = (terms[0].data_dir / SITE_LIST_FILE).read_bytes()
        assert sync_once(terms[0].data_dir, FAST)["site_list"] == "installed"
        assert len(load_site_list(terms[0].data_dir, env.root)[0].members) == 3  # type: ignore[index]
        assert parse_site_list(old, env.root)[1] == 1
    finally:
        collector.stop()


def test_a_site_list_not_signed_by_the_pinned_root_is_refused(tmp_path: Path) -> None:
    env = make_scheme(tmp_path)
    forged = sign_payload(payload("STATION-9", 99, 0, {"EVIL": bytes(32)}), new_key(ALG_EDDSA))
    with pytest.raises(ListError, match="does not verify"):
        parse_site_list(forged, env.root)
