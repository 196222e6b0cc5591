"""One vocabulary on the command line (issue 12): every flag says what it is for, and the same
thing has the same flag name in every command."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pos import config as configuration
from pos.errors import ConfigError
from pos.presentation import encode_text
from tests.conftest import Demo, run_pos
from ui.cli import build_parser
from ui.cli import main as pos_main


def _parsers(
    parser: argparse.ArgumentParser, path: str = "pos"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_of_every_command_has_help_text() -> None:
    missing = [
        f"{path} {'/'.join(a.option_strings) or a.dest}"
        for path, parser in _parsers(build_parser())
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
        and a.help != argparse.SUPPRESS
        and not (a.help or "").strip()
    ]
    assert not missing, "\n".join(missing)


def test_the_scheme_folder_is_scheme_everywhere() -> None:
    for path, parser in _parsers(build_parser()):
        flags = {f for a in parser._actions if a.help != argparse.SUPPRESS for f in a.option_strings}
        if path.startswith(("pos scheme ", "pos wallet new")) and parser.get_default("handler"):
            assert "--scheme" in flags and "--dir" not in flags, path


def test_since_is_a_time_so_a_journal_position_is_after_seq() -> None:
    flags = {
        path: {f for a in parser._actions if a.help != argparse.SUPPRESS for f in a.option_strings}
        for path, parser in _parsers(build_parser())
    }
    assert "--after-seq" in flags["pos journal export"] and "--since" not in flags["pos journal export"]


def test_doctor_and_keys_show_say_times_money_and_counts_for_people(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = encode_text(demo.wallet().token(max_amount=550, now=demo.now))
    assert run_pos(demo.accept_args(text, 550), capsys)[0] == 0
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[terminal]\ncurrency = "EUR"\ndata_dir = "{demo.data_dir}"\n')
    pos_main(["doctor", "--config", str(cfg), "--now", str(demo.now)])
    out = capsys.readouterr().out
    assert "1 row," in out and "1 rows" not in out
    assert "1 payment (EUR 5.50) waiting for upload" in out and "minor units" not in out
    assert re.search(r"next update \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 6 d\)", out), out
    assert pos_main(["keys", "show", "--data-dir", str(demo.data_dir), "--now", str(demo.now)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"issued \S+Z \(1 min ago\), next update \S+Z \(in 6 d\)", shown), shown


def test_a_config_type_error_reads_as_english(tmp_path: Path) -> None:
    bad = tmp_path / "pos.toml"
    bad.write_text('[limits]\noffline_count_max = "many"\n')
    with pytest.raises(ConfigError, match="must be an integer"):
        configuration.load(bad)
