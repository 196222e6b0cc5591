"""Child process of ``scripts/bench core``: load a deny list, measure RSS, time lookups.

Run alone so the RSS delta is the list's: VmRSS is read after the imports and the root key,
then after ``parse_deny_list`` with the caller's copy of the bytes dropped (the ``DenyList``
keeps what it needs). Prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchlib.common import percentile
from pos import sigs
from pos.trust import parse_deny_list

MIB = 1024 * 1024
LOADS = 5
LOOKUPS = 20_000


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(deny_path: str, root_pem: str) -> None:
    root = sigs.load_pem_public_key(Path(root_pem).read_bytes())
    gc.collect()
    before_kib = _vm_kib("VmRSS")

    raw = Path(deny_path).read_bytes()
    t0 = time.perf_counter_ns()
    deny = parse_deny_list(raw, root)
    load_ns = [time.perf_counter_ns() - t0]
    file_mb = len(raw) / MIB
    del raw
    gc.collect()
    held_kib = _vm_kib("VmRSS") - before_kib
    # VmHWM: this process's peak RSS. Not getrusage's ru_maxrss, which Linux carries over from
    # the parent across fork and exec (a 100 MB parent shows as a 100 MB peak here).
    peak_kib = _vm_kib("VmHWM") - before_kib

    for _ in range(LOADS - 1):
        raw = Path(deny_path).read_bytes()
        t0 = time.perf_counter_ns()
        parse_deny_list(raw, root)
        load_ns.append(time.perf_counter_ns() - t0)
        del raw

    ids = deny.ids
    assert ids is not None
    n = len(ids)
    rng = int.from_bytes(os.urandom(8), "big")
    hits = [ids.id_at((rng + 7919 * i) % n) for i in range(LOOKUPS // 2)]
    misses = [os.urandom(8) for _ in range(LOOKUPS // 2)]
    contains, clock = deny.contains, time.perf_counter_ns
    for probe in hits[:1000] + misses[:1000]:  # warm-up
        contains(probe)
    hit_ns: list[int] = []
    miss_ns: list[int] = []
    found_misses = 0
    for h, m in zip(hits, misses, strict=True):
        t0 = clock()
        ok = contains(h)
        t1 = clock()
        bad = contains(m)
        t2 = clock()
        assert ok
        found_misses += bad
        hit_ns.append(t1 - t0)
        miss_ns.append(t2 - t1)
    hit_us = [x / 1000 for x in hit_ns]
    miss_us = [x / 1000 for x in miss_ns]
    both = hit_us + miss_us
    loads = [x / 1e9 for x in load_ns]
    print(
        json.dumps(
            {
                "ids": n,
                "file_mb": file_mb,
                "load_s_p50": statistics.median(loads),
                "load_s_max": max(loads),
                "rss_held_mb": held_kib / 1024,
                "rss_peak_mb": peak_kib / 1024,
                "lookup_us_p50": statistics.median(both),
                "lookup_us_p99": percentile(both, 99),
                "hit_us_p50": statistics.median(hit_us),
                "hit_us_p99": percentile(hit_us, 99),
                "miss_us_p50": statistics.median(miss_us),
                "miss_us_p99": percentile(miss_us, 99),
                "random_misses_found": found_misses,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
