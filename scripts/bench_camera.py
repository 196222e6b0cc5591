#!/usr/bin/env python3
"""Camera QR benchmark: scripts/bench_camera.py [--n 200] [--empty 60] [--decoders zxing,zbar,opencv]

Per decoder, on generated degraded 1280x720 frames (sim.camera_frames, as scripts/make_frames):
decode rate (cheap pass alone, and with the hard pass), time per frame with a code (p50, p99,
wall and thread CPU), time and CPU per empty frame. Then the pipeline: CPU per idle frame of a
static scene played like a live camera (motion gate), and a video file of wallet codes through
``CameraSource`` and ``Terminal.accept_text`` with the durable commit, to decision latency (from
the moment the reader got the frame). The hard set (``--hard``, sim.phone_frames): phones
held up to the camera (dark mode, cut by the edge, small codes, perspective, moire, low light,
bloom, glare, blur, JPEG 40-70), read by each decoder's chain and by bare zxing-cpp
(``read_barcodes`` with its default options) on the same frames in the same run; then a held-out
set of the same kind (``--holdout``, seed 1000, never looked at while tuning) by the zxing chain
and bare zxing-cpp. Prints a table,
then one JSON line. Reports, never gates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
if Path(sys.prefix).resolve() != VENV.resolve() and (VENV / "bin" / "python").exists():
    os.execv(VENV / "bin" / "python", [str(VENV / "bin" / "python"), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from drivers.camera import CameraSource, FrameDecoder  # noqa: E402
from pos.ports import SourceFailure  # noqa: E402
from sim import camera_frames as synth  # noqa: E402
from sim import phone_frames as phone_set  # noqa: E402

TARGETS = {"zxing_frame_p50_ms": 3.0, "decode_rate": 0.99}
# the phone set's seeds 0 and 1 were looked at while tuning the hard pass (issue 17); frames of this
# seed were not, and its rate is reported apart: what the pipeline does on frames it was not tuned to
HOLDOUT_SEED = 1000


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load(items: list[tuple[synth.FrameSpec, bytes]]) -> list[tuple[synth.FrameSpec, np.ndarray]]:
    return [(s, cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)) for s, d in items]


def bench_decoder(name: str, codes: list, empties: list) -> dict[str, float]:
    chain = FrameDecoder(name)
    for _, frame in codes[:3]:
        chain.decode(frame)  # warm-up: imports, allocations
    ms, cpu, ok, cheap = [], [], 0, 0
    for spec, frame in codes:
        c0 = time.thread_time()
        r = chain.decode(frame)
        cpu.append((time.thread_time() - c0) * 1000)
        ms.append(r.ms)
        if spec.text in r.texts:
            ok += 1
            cheap += r.stage == "cheap"
    ems, ecpu, hard = [], [], 0
    for _, frame in empties:
        c0 = time.thread_time()
        r = chain.decode(frame)
        ecpu.append((time.thread_time() - c0) * 1000)
        ems.append(r.ms)
        hard += r.candidate
    return {
        "decode_rate": ok / len(codes),
        "cheap_rate": cheap / len(codes),
        "frame_p50_ms": pct(ms, 50),
        "frame_p99_ms": pct(ms, 99),
        "frame_cpu_p50_ms": pct(cpu, 50),
        "empty_p50_ms": pct(ems, 50),
        "empty_cpu_mean_ms": statistics.fmean(ecpu),
        "empty_hard_share": hard / len(empties),
    }


def bench_hard(names: list[str], shots: list[phone_set.Shot]) -> dict[str, Any]:
    """Each decoder's chain, then bare zxing-cpp with default options, on the phone-in-hand frames."""
    import zxingcpp

    frames = [phone_set.decode_jpeg(s.jpeg) for s in shots]
    out: dict[str, Any] = {}
    for name in names:
        chain = FrameDecoder(name)
        chain.decode(frames[0])  # warm-up
        results = [chain.decode(f) for f in frames]
        hits = [s.text in r.texts for s, r in zip(shots, results, strict=True)]
        out[name] = {"hits": hits, "ms": [r.ms for r in results]}
    zxingcpp.read_barcodes(frames[0])
    hits, ms = [], []
    for s, f in zip(shots, frames, strict=True):
        t0 = time.perf_counter()
        found = zxingcpp.read_barcodes(f)
        ms.append((time.perf_counter() - t0) * 1000)
        hits.append(any(b.text == s.text for b in found))
    out["bare_zxing"] = {"hits": hits, "ms": ms}
    return out


def summed(per_frame: dict[str, Any], index: list[int]) -> dict[str, Any]:
    """Rate, p50 and p99 of each reader on the frames ``index`` (of one ``bench_hard`` run)."""
    out = {}
    for name, r in per_frame.items():
        hits, ms = [r["hits"][i] for i in index], [r["ms"][i] for i in index]
        out[name] = {"rate": sum(hits) / len(hits), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99),
                     "hits": hits}  # fmt: skip
    return out


def bench_sets(names: list[str], n: int, seed: int) -> tuple[dict[str, Any], dict[str, Any], list, list]:
    """The oracle-readable set and every first draw (``sim.phone_frames.phone_sets``), each frame read once.

    Returns (results on the readable set, on every first draw, the readable shots, the first draws).
    """
    first, kept = phone_set.phone_sets(n, seed)
    extra = [i for i in range(n) if kept[i] is not first[i]]
    per_frame = bench_hard(names, first + [kept[i] for i in extra])
    where = {i: n + j for j, i in enumerate(extra)}
    readable = summed(per_frame, [where.get(i, i) for i in range(n)])
    return readable, summed(per_frame, list(range(n))), kept, first


def rejected_by_kind(first: list, kept: list) -> dict[str, list[int]]:
    """[first draws the oracle refused, first draws] per kind."""
    out: dict[str, list[int]] = {}
    for a, b in zip(first, kept, strict=True):
        for k in a.kinds:
            out.setdefault(k, [0, 0])
            out[k][0] += b is not a
            out[k][1] += 1
    return dict(sorted(out.items()))


def by_kind(shots: list[phone_set.Shot], hits: list[bool]) -> dict[str, list[int]]:
    """[read, seen] per degradation kind, for the note on what still fails."""
    seen: dict[str, list[int]] = {}
    for s, hit in zip(shots, hits, strict=True):
        for k in s.kinds:
            seen.setdefault(k, [0, 0])
            seen[k][0] += hit
            seen[k][1] += 1
    return dict(sorted(seen.items()))


def print_hard(hard: dict[str, Any], shots: list[phone_set.Shot]) -> dict[str, dict[str, list[int]]]:
    """The hard set's table; returns [read, seen] per kind for the zxing chain and bare zxing-cpp."""
    print(f"hard set, {len(shots)} phone-in-hand frames: decoded, p50 ms, p99 ms")
    for name, r in hard.items():
        print(f"{name:10s} {r['rate']:8.3f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
    kinds = {name: by_kind(shots, hard[name]["hits"]) for name in ("zxing", "bare_zxing") if name in hard}
    for name, table in kinds.items():
        print(f"{name} per kind: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in table.items()))
    return kinds


def bench_idle_pipeline(tmp: Path, seed: int, seconds: float = 3.0, fps: float = 30.0) -> dict[str, float]:
    """A static scene (sensor noise only) played at 30 fps like a live camera."""
    n = int(seconds * fps)
    video = synth.write_video(
        tmp / f"idle{seed}", [None], seed=seed, fps=fps, frames_per_text=n, size=(1280, 720)
    )
    p0 = time.process_time()
    with CameraSource(f"file:{video}", realtime=True) as source:
        source.wait_finished(seconds * 5 + 30)
        st = source.stats()
    process_cpu = time.process_time() - p0
    idle = max(st.get("idle_frames", 0), 1)
    return {
        "cpu_ms_per_frame": st.get("cpu_idle_s", 0) / idle * 1000,
        "gated_share": st.get("gated", 0) / max(st.get("frames_read", 1), 1),
        "process_cpu_ms_per_frame": process_cpu / max(st.get("frames_read", 1), 1) * 1000,
    }


def make_terminal(tmp: Path) -> tuple[Any, Any, int]:
    from pos.keystore import KeyStore
    from pos.sigs import ALG_EDDSA, ALG_ES256, load_pem_public_key
    from pos.terminal import Terminal
    from sim.scheme import Scheme

    now = int(time.time())
    scheme = Scheme.init(tmp / "scheme")
    scheme.add_issuer("ed", ALG_EDDSA)
    scheme.add_issuer("es", ALG_ES256)
    store = KeyStore(tmp / "data", load_pem_public_key(scheme.root_pem_path.read_bytes()))
    store.install_trust_list(scheme.trust_list(iat=now - 60))
    store.install_deny_list(scheme.deny_list(iat=now - 60))
    return Terminal(tmp / "data", store), scheme, now


def bench_file_to_decision(tmp: Path, tokens: int, realtime: bool) -> dict[str, float]:
    from pos.decision import PaymentRequest
    from pos.sigs import ALG_EDDSA, ALG_ES256
    from sim.wallet import Wallet

    work = tmp / ("live" if realtime else "file")
    work.mkdir()
    terminal, scheme, now = make_terminal(work)
    wallets = [
        Wallet.issue(scheme.issuer("ed"), ALG_EDDSA, iat=now - 3600),
        Wallet.issue(scheme.issuer("es"), ALG_ES256, iat=now - 3600),
    ]
    texts = [wallets[i % 2].qr_text(900, now=now) for i in range(tokens)]
    seq: list[str | None] = [None]
    for t in texts:
        seq += [t, None]
    video = synth.write_video(work / "till", seq, seed=4, fps=30, frames_per_text=6, size=(1280, 720))
    request = PaymentRequest(750, "EUR", now, "BENCH1")
    latencies, approved = [], 0
    with CameraSource(f"file:{video}", realtime=realtime, hold_s=0.1) as source:
        for _ in range(tokens):
            try:
                p = source.read(request, 30)
            except SourceFailure:
                break
            decision = terminal.accept_text(p.data, request)
            latencies.append((time.monotonic() - (source.last_frame_at or 0)) * 1000)
            approved += decision.approved
    terminal.close(now)
    return {
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "approved": approved,
        "tokens": tokens,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench_camera.py", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="degraded frames with a code (default 200)")
    p.add_argument("--empty", type=int, default=60, help="empty frames (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decoders", default="zxing,zbar,opencv")
    p.add_argument("--tokens", type=int, default=20, help="wallet codes in the file-to-decision video")
    p.add_argument("--hard", type=int, default=120, help="phone-in-hand frames of the hard set (default 120)")
    p.add_argument("--holdout", type=int, default=120,
                   help="frames of the held-out phone set, never used in tuning (default 120)")  # fmt: skip
    p.add_argument("--holdout-seed", type=int, default=HOLDOUT_SEED)
    args = p.parse_args(argv)

    log = sys.stderr
    print(f"generating {args.n} degraded and {args.empty} empty 1280x720 frames...", file=log, flush=True)
    texts = synth.owt_texts(16)
    codes = load(list(synth.generate(args.n, args.seed, texts=texts, empty=0, other=0)))
    empties = load(list(synth.generate(args.empty, args.seed + 1, texts=texts, empty=1, other=0)))
    results: dict[str, Any] = {}
    for name in args.decoders.split(","):
        print(f"decoder {name}...", file=log, flush=True)
        results[name] = bench_decoder(name, codes, empties)
    print(f"generating {args.hard} phone-in-hand frames (the hard set)...", file=log, flush=True)
    hard, hard_all, shots, first = bench_sets(args.decoders.split(","), args.hard, args.seed)
    holdout: dict[str, Any] = {}
    if args.holdout:
        print(f"generating {args.holdout} held-out phone-in-hand frames (seed {args.holdout_seed})...",
              file=log, flush=True)  # fmt: skip
        holdout, held_all, held, held_first = bench_sets(["zxing"], args.holdout, args.holdout_seed)
        holdout["by_kind"] = {n: by_kind(held, holdout[n]["hits"]) for n in ("zxing", "bare_zxing")}
        holdout["all"] = held_all
        holdout["rejected_by_kind"] = rejected_by_kind(held_first, held)
    with tempfile.TemporaryDirectory(prefix="owt-bench-camera-") as tmp_s:
        tmp = Path(tmp_s)
        print("pipeline: idle static scenes at 30 fps...", file=log, flush=True)
        idle = {
            "plain scene": bench_idle_pipeline(tmp, seed=1),
            "scene with a bullseye": bench_idle_pipeline(tmp, seed=9),  # a finder look-alike
        }
        print("pipeline: video file to decision...", file=log, flush=True)
        to_file = bench_file_to_decision(tmp, args.tokens, realtime=False)
        to_live = bench_file_to_decision(tmp, args.tokens, realtime=True)

    cols = [
        "decode_rate",
        "cheap_rate",
        "frame_p50_ms",
        "frame_p99_ms",
        "frame_cpu_p50_ms",
        "empty_p50_ms",
        "empty_cpu_mean_ms",
        "empty_hard_share",
    ]
    print(
        f"camera QR decoding, {args.n} degraded + {args.empty} empty 1280x720 frames "
        f"({platform.machine()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}, "
        f"OpenCV threads {cv2.getNumThreads()})"
    )
    print(f"{'decoder':8s} " + " ".join(f"{c:>17s}" for c in cols))
    for name, r in results.items():
        print(f"{name:8s} " + " ".join(f"{r[c]:17.3f}" for c in cols))
    kinds = print_hard(hard, shots)
    rejected = rejected_by_kind(first, shots)
    refused = sum(a is not b for a, b in zip(first, shots, strict=True))
    print(f"oracle: {refused} of {len(first)} first draws unreadable (replaced); per kind: "
          + ", ".join(f"{k} {a}/{b}" for k, (a, b) in rejected.items()))  # fmt: skip
    print("every first draw (before the oracle): "
          + ", ".join(f"{k} {r['rate']:.3f}" for k, r in hard_all.items()))  # fmt: skip
    if holdout:
        z, b = holdout["zxing"], holdout["bare_zxing"]
        print(f"held-out phone set (seed {args.holdout_seed}, {args.holdout} frames): "
              f"zxing chain {z['rate']:.3f} (p50 {z['p50_ms']:.2f} ms), "
              f"bare zxing-cpp {b['rate']:.3f} (p50 {b['p50_ms']:.2f} ms)")  # fmt: skip
        table = holdout["by_kind"]["zxing"]
        print("held-out zxing per kind: " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in table.items()))
        refused_held = sum(a is not b for a, b in zip(held_first, held, strict=True))
        print(f"held-out oracle: {refused_held} of {len(held)} first draws unreadable (replaced); "
              "every first draw: "
              + ", ".join(f"{k} {r['rate']:.3f}" for k, r in holdout["all"].items()))  # fmt: skip
    for label, r in idle.items():
        print(
            f"pipeline idle, {label} at 30 fps: {r['cpu_ms_per_frame']:.3f} ms CPU per frame in the "
            f"decoder thread, {r['gated_share']:.0%} of frames gated, "
            f"{r['process_cpu_ms_per_frame']:.2f} ms process CPU per frame (with MJPG decoding)"
        )
    for label, r in (("file (every frame)", to_file), ("live playback 30 fps", to_live)):
        print(
            f"video -> CameraSource -> Terminal.accept_text ({label}): p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, {r['approved']}/{r['tokens']} approved"
        )
    figures: dict[str, Any] = {}
    for name, r in results.items():
        figures.update({f"{name}_{k}": round(v, 4) for k, v in r.items()})
    for key, label in (("idle", "plain scene"), ("idle_bullseye", "scene with a bullseye")):
        figures.update({f"pipeline_{key}_{k}": round(v, 4) for k, v in idle[label].items()})
    for name, r in hard.items():
        figures.update({f"hard_{name}_{k}": round(v, 4) for k, v in r.items() if k != "hits"})
    figures["hard_by_kind"] = kinds
    for name, r in hard_all.items():
        figures.update({f"hard_all_{name}_{k}": round(v, 4) for k, v in r.items() if k != "hits"})
    figures["hard_oracle_rejected"] = refused
    figures["hard_oracle_rejected_by_kind"] = rejected
    if holdout:
        for name in ("zxing", "bare_zxing"):
            r = holdout[name]
            figures.update({f"holdout_{name}_{k}": round(v, 4) for k, v in r.items() if k != "hits"})
            r = holdout["all"][name]
            figures.update({f"holdout_all_{name}_{k}": round(v, 4) for k, v in r.items() if k != "hits"})
        figures["holdout_oracle_rejected"] = sum(a is not b for a, b in zip(held_first, held, strict=True))
        figures["holdout_oracle_rejected_by_kind"] = holdout["rejected_by_kind"]
        figures["holdout_by_kind"] = holdout["by_kind"]
        figures["holdout_seed"] = args.holdout_seed
    figures["camera_file_to_decision_ms_p50"] = round(to_file["p50_ms"], 2)
    figures["camera_file_to_decision_ms_p99"] = round(to_file["p99_ms"], 2)
    figures["camera_live_to_decision_ms_p99"] = round(to_live["p99_ms"], 2)
    figures["approved"] = to_file["approved"] + to_live["approved"]
    if "zxing" in results:
        z = results["zxing"]
        figures["targets_met"] = bool(
            z["frame_p50_ms"] <= TARGETS["zxing_frame_p50_ms"] and z["decode_rate"] >= TARGETS["decode_rate"]
        )
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
