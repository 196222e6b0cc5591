"""Who may read the collector (issue 11, denial of service and exposure): ``/metrics`` needs a
bearer token, failed operator tokens are rate-limited per client address, the operator token
stays off the command line, and plain HTTP beyond loopback is warned about.

Real collector processes on 127.0.0.1; a second client address is 127.0.0.2.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sync.harness import ENV, OPERATOR, OPERATOR_TOKEN, CollectorProc, SchemeEnv, new_terminal

METRICS_TOKEN = "metrics-token-for-the-scraper"


@pytest.fixture
def started(env: SchemeEnv, tmp_path: Path) -> Iterator[list[CollectorProc]]:
    procs: list[CollectorProc] = []
    yield procs
    for p in procs:
        p.stop()


def _collector(
    started: list[CollectorProc],
    env: SchemeEnv,
    tmp_path: Path,
    *extra: str,
    environ: dict[str, str] | None = None,
) -> CollectorProc:
    proc = CollectorProc(
        env,
        f"sqlite:///{tmp_path / 'collector.db'}",
        tmp_path / "collector",
        extra=list(extra),
        environ=environ,
    )
    started.append(proc.start())
    return proc


def _client(source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), trust_env=False, timeout=5)


def test_metrics_refuse_anonymous_clients_and_name_no_terminal(
    env: SchemeEnv, tmp_path: Path, started: list[CollectorProc]
) -> None:
    coll = _collector(started, env, tmp_path)  # the defaults: no metrics token configured
    new_terminal(env, tmp_path / "t", coll.url, "SHOP-METRICS").close()
    with _client() as c:
        for headers in ({}, {"Authorization": "Bearer guess"}):
            r = c.get(f"{coll.url}/metrics", headers=headers)
            assert r.status_code == 401 and "SHOP-METRICS" not in r.text
        r = c.get(f"{coll.url}/metrics", headers=OPERATOR)
        assert r.status_code == 200 and 'terminal="SHOP-METRICS"' in r.text


def test_metrics_answer_the_scrapers_own_token_from_a_file(
    env: SchemeEnv, tmp_path: Path, started: list[CollectorProc]
) -> None:
    token_file = tmp_path / "metrics-token"
    token_file.write_text(METRICS_TOKEN + "\n")
    coll = _collector(started, env, tmp_path, "--metrics-token-file", str(token_file))
    with _client() as c:
        assert c.get(f"{coll.url}/metrics").status_code == 401
        r = c.get(f"{coll.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200 and "owt_collector_batches_total" in r.text


def test_operator_token_guessing_is_rate_limited_per_client_address(
    env: SchemeEnv, tmp_path: Path, started: list[CollectorProc]
) -> None:
    coll = _collector(started, env, tmp_path, "--processes", "1")
    guess = {"Authorization": "Bearer guess"}
    with _client("127.0.0.1") as attacker:
        codes = [
            attacker.post(f"{coll.url}/v1/enroll", content=b"{}", headers=guess).status_code
            for _ in range(10)
        ]
        assert codes == [401] * 10
        r = attacker.post(f"{coll.url}/v1/enroll", content=b"{}", headers=guess)
        assert r.status_code == 429 and r.json()["error"] == "too_many_attempts"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # Throttled means throttled: even the right token waits, on every token-guarded route.
        assert attacker.get(f"{coll.url}/v1/terminals/SHOP-X", headers=OPERATOR).status_code == 429
        assert attacker.get(f"{coll.url}/metrics", headers=OPERATOR).status_code == 429
        assert attacker.get(f"{coll.url}/healthz").status_code == 200
    with _client("127.0.0.2") as operator:
        r = operator.get(f"{coll.url}/v1/terminals/SHOP-X", headers=OPERATOR)
        assert r.status_code == 404 and r.json()["error"] == "unknown_terminal"


def test_operator_token_comes_from_a_file_and_stays_off_the_command_line(
    env: SchemeEnv, tmp_path: Path, started: list[CollectorProc]
) -> None:
    token_file = tmp_path / "operator-token"
    token_file.write_text(OPERATOR_TOKEN + "\n")
    environ = {k: v for k, v in ENV.items() if k != "POS_OPERATOR_TOKEN"}
    coll = _collector(started, env, tmp_path, "--operator-token-file", str(token_file), environ=environ)
    new_terminal(env, tmp_path / "t", coll.url, "SHOP-FILE").close()  # enrolls with that token
    assert coll.proc is not None
    cmdline = Path(f"/proc/{coll.proc.pid}/cmdline").read_bytes()
    assert OPERATOR_TOKEN.encode() not in cmdline


def test_operator_token_on_the_command_line_warns_that_ps_shows_it(
    env: SchemeEnv, tmp_path: Path, started: list[CollectorProc]
) -> None:
    coll = _collector(started, env, tmp_path, "--operator-token", OPERATOR_TOKEN)
    deadline = time.monotonic() + 5
    log = coll.workdir / "collector-0.log"
    while "visible" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "--operator-token is visible" in log.read_text()


def test_plain_http_beyond_loopback_is_warned_about() -> None:
    from collector.server import plain_http_warning

    for host in ("0.0.0.0", "192.0.2.7", "::", "collector.example"):
        warning = plain_http_warning(host, tls=False)
        assert warning is not None and "without TLS" in warning
    for host in ("127.0.0.1", "127.0.0.5", "::1", "localhost"):
        assert plain_http_warning(host, tls=False) is None
    assert plain_http_warning("0.0.0.0", tls=True) is None


def test_limits_count_an_ipv6_slash_64_as_one_client() -> None:
    """An IPv6 subscriber holds a whole /64: counting single addresses would let one client
    open a connection (or guess a token) from each of 2**64 addresses."""
    from collector.access import client_key

    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
