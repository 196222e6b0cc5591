"""``scripts/bench [core|drivers|sync|ui|site|console|all] [--json]``: run benchmark suites, print a table.

With ``--json`` the progress goes to stderr and the last stdout line is one JSON object: a
suite's figures plus ``machine`` (for ``all``: ``machine`` and one object per suite). The exit
status is 0 even when a target fails: a benchmark reports, it does not gate.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib.common import machine_info, print_table

# suite name -> module (benchlib.<suite>, or a scripts/ module such as bench_ui) with NAME,
# add_arguments(parser) and run(args, scratch_dir) -> Report; None until the suite is written
SUITES: dict[str, str | None] = {
    "core": "benchlib.core",
    "drivers": "benchlib.drivers",
    "sync": "benchlib.sync",
    "ui": "bench_ui",
    "site": "benchlib.site",
    "console": "benchlib.console",
    "fleet": "benchlib.fleet",
}


def _load(name: str) -> Any:
    mod = SUITES.get(name)
    return importlib.import_module(mod) if mod else None


def _suite_args(name: str, mod: Any, rest: list[str], common: argparse.Namespace) -> argparse.Namespace:
    """Each suite parses its own options, so two suites may both have ``--n``."""
    p = argparse.ArgumentParser(prog=f"scripts/bench {name}", add_help=False)
    mod.add_arguments(p)
    args, _unknown = p.parse_known_args(rest)  # options of the other suites (for "all")
    return argparse.Namespace(**vars(common), **vars(args))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0], add_help=False)
    p.add_argument("suite", nargs="?", default="all", choices=[*SUITES, "all"])
    p.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    p.add_argument("--dir", type=Path, default=None, help="scratch data dir (a real disk)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("-h", "--help", action="store_true")
    common, rest = p.parse_known_args(argv)
    names = [n for n in SUITES if SUITES[n]] if common.suite == "all" else [common.suite]
    if common.help:
        p.print_help()
        for name in names:
            mod = _load(name)
            if mod is not None:
                sub = argparse.ArgumentParser(prog=f"scripts/bench {name}", add_help=False)
                mod.add_arguments(sub)
                body = sub.format_help().split("\n\n", 1)[1].replace("options:\n", "", 1).strip("\n")
                print(f"\n{name} options:\n{body}")
        return 0
    mods = {n: _load(n) for n in names}
    missing = [n for n, m in mods.items() if m is None]
    if missing:
        have = ", ".join(n for n in SUITES if SUITES[n])
        print(f"bench: suite {missing[0]!r} is not written yet (have: {have})", file=sys.stderr)
        return 2
    known = set()
    for mod in mods.values():
        sub = argparse.ArgumentParser(add_help=False)
        mod.add_arguments(sub)
        known |= {o for a in sub._actions for o in a.option_strings}
    stray = [a for a in rest if a.startswith("-") and a.split("=")[0] not in known]
    if stray:
        p.error(f"unknown option {stray[0]} for {common.suite}")
    suite_args = {n: _suite_args(n, m, rest, common) for n, m in mods.items()}

    base = Path(tempfile.mkdtemp(prefix="owt-bench-", dir=common.dir))
    machine = machine_info(base)
    results: dict[str, Any] = {}
    try:
        for name in names:
            sub = base / name
            sub.mkdir()
            report = mods[name].run(suite_args[name], sub)
            if common.json:
                sys.stdout = sys.stderr  # the table to stderr; stdout keeps the JSON line last
            print_table(report, machine)
            sys.stdout = sys.__stdout__
            results[name] = {k: round(v, 4) for k, v in report.figures.items()}
            if report.verdicts:
                results[name]["targets"] = dict(report.verdicts)
    finally:
        if common.keep:
            print(f"bench: scratch data kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if common.json:
        one = common.suite != "all"  # "all" nests per suite, so its shape stays as suites are added
        doc = {**results[names[0]], "machine": machine} if one else {"machine": machine, **results}
        print(json.dumps(doc, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
