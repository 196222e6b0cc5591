"""Run the fuzz targets (through ``scripts/fuzz``; atheris, else hypothesis).

python scripts/fuzz_targets list                                    (target names)
python scripts/fuzz_targets info TARGET                             (max input length)
python scripts/fuzz_targets run TARGET [libFuzzer flags] CORPUS_DIR...   (atheris)
python scripts/fuzz_targets seeds TARGET DIR                        (write seeds)
python scripts/fuzz_targets repro TARGET FILE...                    (replay inputs)
python scripts/fuzz_targets coverage TARGET DIR...                  (line coverage of a corpus)
python scripts/fuzz_targets hypothesis TARGET SECONDS               (no atheris)
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# Run as a directory: the package's parent (scripts/) and the repository root must be importable.
_SCRIPTS = Path(__file__).resolve().parent.parent
# the package's own folder (sys.path[0] when run as a directory) would shadow top-level names
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _SCRIPTS / "fuzz_targets"]
for _p in (str(_SCRIPTS.parent), str(_SCRIPTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from fuzz_targets import TARGETS, Harness, Target  # noqa: E402

try:
    import atheris
except ImportError:  # the hypothesis fallback needs no atheris
    atheris = None


def _harness(target: Target, *, instrument: bool) -> Harness:
    """Build the harness, importing the code under test under atheris' instrumentation when fuzzing."""
    ctx: Any = contextlib.nullcontext()
    if instrument and atheris is not None:
        ctx = atheris.instrument_imports(include=list(target.packages))
    with ctx:
        return target.make()


def write_seeds(target: Target, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    seeds = _harness(target, instrument=False).seeds()
    for data in seeds:
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(seeds)


def run_atheris(target: Target, argv: list[str]) -> None:
    harness = _harness(target, instrument=True)
    prefix = next((a.split("=", 1)[1] for a in argv if a.startswith("-artifact_prefix=")), "./")

    def check(data: bytes) -> None:
        try:
            harness.check(data)
        except BaseException:
            # Saved here too: a crash in the collector target once ended the process after the
            # traceback, before libFuzzer wrote its artifact (worker threads at exit, it seems).
            path = Path(f"{prefix}crash-{hashlib.sha1(data).hexdigest()}")
            path.write_bytes(data)
            print(f"fuzz: {target.name}: crashing input saved to {path}", file=sys.stderr, flush=True)
            raise

    atheris.Setup([sys.argv[0], *argv], check)
    atheris.Fuzz()


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for name in paths:
        p = Path(name)
        out += sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    return out


def repro(target: Target, paths: list[str]) -> int:
    harness, bad = _harness(target, instrument=False), 0
    for f in _files(paths):
        data = f.read_bytes()
        try:
            harness.check(data)
            print(f"ok      {f} ({len(data)} bytes)")
        except Exception:  # noqa: BLE001 - reporting is the point
            bad += 1
            print(f"CRASH   {f} ({len(data)} bytes): {data[:64].hex()}")
            traceback.print_exc()
    return 1 if bad else 0


def coverage(target: Target, paths: list[str]) -> int:
    """Line coverage (coverage.py) of the target's modules after replaying every input in ``paths``."""
    import coverage as cov_mod

    root = _SCRIPTS.parent
    cov = cov_mod.Coverage(data_file=None, include=[str(root / m) for m in target.modules])
    cov.start()
    harness = _harness(target, instrument=False)
    files = _files(paths)
    for f in files:
        with contextlib.suppress(Exception):
            harness.check(f.read_bytes())
    cov.stop()
    total = cov.report(file=sys.stdout, show_missing=False)
    print(
        f"coverage {target.name}: {total:.1f}% of lines in {len(target.modules)} modules, {len(files)} inputs"
    )
    return 0


def run_hypothesis(target: Target, seconds: float) -> int:
    """The fallback without atheris: random and mutated inputs until the time is up."""
    import random

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    harness = _harness(target, instrument=False)
    seeds = harness.seeds()
    runs = 0

    @st.composite
    def inputs(draw: st.DrawFn) -> bytes:
        if draw(st.integers(0, 4)) == 0:
            return draw(st.binary(max_size=target.max_len))
        data = bytearray(draw(st.sampled_from(seeds)))
        rnd = random.Random(draw(st.integers(0, 2**32)))
        for _ in range(draw(st.integers(1, 8))):
            mutate(data, rnd, seeds)
        return bytes(data)

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(inputs())
    def batch(data: bytes) -> None:
        nonlocal runs
        runs += 1
        harness.check(data)

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        batch()
    print(f"hypothesis fuzz {target.name}: {runs} inputs in {seconds:.0f} s, no crash")
    return 0


def selftest(mutants: int, names: list[str]) -> int:
    """Every target's seeds and ``mutants`` seeded mutations of them: the suite's quick check that
    each harness still runs on today's code (no atheris; one process, so the harnesses' global
    switches, such as ``logging.disable``, stay out of the test runner)."""
    import random

    bad = 0
    for name in names or list(TARGETS):
        started = time.monotonic()
        harness = _harness(TARGETS[name], instrument=False)
        seeds, rnd = harness.seeds(), random.Random(name)
        inputs = list(seeds)
        for _ in range(mutants):
            data = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randrange(1, 6)):
                mutate(data, rnd, seeds)
            inputs.append(bytes(data[: TARGETS[name].max_len]))
        for data in inputs:
            try:
                harness.check(data)
            except Exception:  # noqa: BLE001 - reporting is the point
                bad += 1
                print(f"CRASH   {name}: {data.hex()}")
                traceback.print_exc()
                break
        print(f"{name}: {len(inputs)} inputs in {time.monotonic() - started:.1f} s")
    return 1 if bad else 0


def mutate(data: bytearray, rnd: Any, seeds: list[bytes]) -> None:
    """One byte-level mutation: flip, set, truncate, insert, delete, or splice from another seed."""
    op = rnd.randrange(7)
    n = len(data)
    if n == 0 or op == 0:
        data[rnd.randrange(n + 1) : rnd.randrange(n + 1)] = rnd.randbytes(rnd.randrange(1, 9))
    elif op == 1:
        data[rnd.randrange(n)] ^= 1 << rnd.randrange(8)
    elif op == 2:
        data[rnd.randrange(n)] = rnd.choice(
            (0x00, 0x0A, 0x0D, 0x17, 0x18, 0x1B, 0x1F, 0x22, 0x2C, 0x40, 0x5F, 0x80, 0xA0, 0xC0, 0xF6, 0xFF)
        )
    elif op == 3:
        del data[rnd.randrange(n) :]
    elif op == 4:
        i = rnd.randrange(n)
        del data[i : i + rnd.randrange(1, 9)]
    else:
        other = rnd.choice(seeds)
        i, j = sorted((rnd.randrange(len(other) + 1), rnd.randrange(len(other) + 1)))
        k = rnd.randrange(n + 1)
        data[k : k + (j - i if op == 5 else 0)] = other[i:j]


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        print("\n".join(TARGETS))
        return 0
    if argv[:1] == ["selftest"]:
        n = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 50
        return selftest(n, [a for a in argv[1:] if not a.isdigit()])
    commands = ("run", "seeds", "repro", "hypothesis", "coverage", "info")
    if len(argv) < 2 or argv[0] not in commands or argv[1] not in TARGETS:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, target, rest = argv[0], TARGETS[argv[1]], argv[2:]
    if cmd == "info":
        print(target.max_len)
        return 0
    if cmd == "seeds":
        print(f"{write_seeds(target, Path(rest[0]))} seeds for {target.name} in {rest[0]}")
        return 0
    if cmd == "repro":
        return repro(target, rest)
    if cmd == "coverage":
        return coverage(target, rest)
    if cmd == "hypothesis":
        return run_hypothesis(target, float(rest[0]))
    if atheris is None:
        print("atheris is not installed: see scripts/fuzz --help", file=sys.stderr)
        return 2
    run_atheris(target, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
