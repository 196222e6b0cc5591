"""``pos run``: the production entry.

    pos run --config pos.toml [--headless] [--mode counter|vending|gate] [--set-pin]

``pos run`` opens the devices named in ``[devices]`` through ``drivers.sources.open_source(url)``
(imported only here, when needed), builds the context and starts the Textual App; with
``--headless`` (gates) it runs only the accept-and-open loop, no Textual at all. Logs are JSON
lines (to stderr; with the full-screen UI, to ``<data dir>/pos.log`` since the UI owns the
terminal) and never carry a token, a key or a PIN.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ui.runtime.settings import MODES


# -- registration (one line in ui/cli/__init__.py) -------------------------------------------------
def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the terminal: the full-screen UI, or --headless for gates")
    p.add_argument("--config", type=Path, required=True, help="terminal TOML configuration")
    p.add_argument("--headless", action="store_true", help="gate: no UI, only the accept-and-open loop")
    p.add_argument("--mode", choices=MODES, help="override ui.mode")
    p.add_argument("--data-dir", type=Path, help="override terminal.data_dir")
    p.add_argument("--log-file", type=Path, help="JSON log lines here instead of the default")
    p.add_argument("--set-pin", action="store_true", help="set the operator PIN (asked twice), then exit")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ui.runtime import run as runtime  # asyncio, devices, the core: only when a terminal starts

    return runtime.run(args)
