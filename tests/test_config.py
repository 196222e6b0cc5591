"""The TOML terminal configuration (issue: core, section 4): validated, errors name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos import config
from pos.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pos.toml"
    path.write_text(text)
    return path


def test_full_configuration_is_read_into_policy(tmp_path: Path) -> None:
    cfg = config.load(
        write(
            tmp_path,
            """
[terminal]
id = "T-0001"
currency = "EUR"
data_dir = "/var/lib/pos"
[limits]
per_payment_max = 20000
offline_count_max = 100
offline_total_max = 90000
[clock]
skew_s = 10
[lists]
grace_s = 3600
[velocity]
failures = 4
window_s = 300
lock_s = 120
[journal]
head_every = 8
""",
        )
    )
    assert cfg.terminal_id == "T-0001" and cfg.currency == "EUR"
    assert cfg.data_dir == Path("/var/lib/pos")
    p = cfg.policy
    assert (p.per_payment_max, p.offline_count_max, p.offline_total_max) == (20000, 100, 90000)
    assert (p.skew_s, p.grace_s) == (10, 3600)
    assert (p.velocity_failures, p.velocity_window_s, p.velocity_lock_s) == (4, 300, 120)
    assert cfg.head_every == 8


def test_defaults_are_specs_defaults(tmp_path: Path) -> None:
    p = config.load(write(tmp_path, "")).policy
    assert (p.skew_s, p.grace_s) == (30, 7 * 86400)
    assert (p.offline_count_max, p.offline_total_max) == (500, 500_000)
    assert (p.velocity_failures, p.velocity_lock_s) == (3, 600)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[limits]\noffline_count_max = -1\n", "limits.offline_count_max"),
        ('[limits]\noffline_count_max = "many"\n', "limits.offline_count_max"),
        ("[clock]\nskew_s = 1.5\n", "clock.skew_s"),
        ("[clock]\nskews = 1\n", "clock.skews"),
        ("[nonsense]\na = 1\n", "[nonsense]"),
        ('[terminal]\ncurrency = "euro"\n', "terminal.currency"),
        ("[velocity]\nfailures = 2\n", "velocity.failures"),
        ("[velocity]\nlock_s = 601\n", "velocity.lock_s"),
        ("[journal]\nhead_every = 0\n", "journal.head_every"),
        ("[limits\n", "not valid TOML"),
        ("[terminal]\nid = true\n", "terminal.id"),
    ],
)
def test_invalid_configuration_names_the_key_and_the_file(tmp_path: Path, text: str, names: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert names in str(err.value)
    assert str(path) in str(err.value)


def test_binary_garbage_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pos.toml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(path)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "absent.toml")


def _load_all(path: Path) -> None:
    """What ``pos run`` does with the file: the core, the ``[sync]`` table, the UI's sections."""
    from pos.sync import settings
    from ui.runtime import settings as uiconfig

    cfg = config.load(path)
    settings.from_mapping(cfg.extra.get("sync"), cfg.source)
    uiconfig.from_config(cfg)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[sync]\ninterval_s = nan\n", "sync.interval_s"),
        ("[sync]\ntimeout_s = inf\n", "sync.timeout_s"),
        ("[sync]\nretry_base_s = 1e400\n", "sync.retry_base_s"),
        ("[ui]\nread_slice_s = nan\n", "ui.read_slice_s"),
        ("[counter]\nwait_s = inf\n", "counter.wait_s"),
        ("[gate]\nopen_s = nan\n", "gate.open_s"),
    ],
)
def test_nan_or_infinite_seconds_in_config_are_refused(tmp_path: Path, text: str, names: str) -> None:
    """Found by ``scripts/fuzz config``: TOML has nan and inf, and ``nan <= 0`` is False."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        _load_all(path)
    assert names in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[terminal]\ndata_dir = "/var/lib/pos\\u0000x"\n', "terminal.data_dir"),
        ('[terminal]\nroot_key = "\\u0000"\n', "terminal.root_key"),
        ('[sync]\nca_file = "/etc/ca\\u0000.pem"\n', "sync.ca_file"),
    ],
)
def test_nul_character_in_a_config_path_is_refused(tmp_path: Path, text: str, names: str) -> None:
    """Found by ``scripts/fuzz config``: such a path loaded, then the first open raised ValueError."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        _load_all(path)
    assert names in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("value", ["[" * 1200, "{ a = " * 600])
def test_config_nested_too_deep_is_a_clear_error(tmp_path: Path, value: str) -> None:
    """Found by reading for ``scripts/fuzz config``: tomllib recurses, so a deeply nested array or
    inline table raised RecursionError instead of ConfigError."""
    path = write(tmp_path, f"x = {value}\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        config.load(path)
    assert str(path) in str(err.value)
