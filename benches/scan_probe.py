#!/usr/bin/env python3
"""Benchmark: `clap-tools scan DIR -o clips.parquet` against probe_reference.py (soundfile.info in a
process pool, the reference's stack), on the same generated corpus, with the same number of workers,
run alternately in one invocation. Prints files/s of each and the ratio.

Usage (from the repository root; scripts/bench.sh sets up the venv and the release build):
    .venv/bin/python benches/scan_probe.py --files 2000 --jobs 2 --repeats 5
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent


def make_corpus(folder, n, seed=0):
    """n clips of 10-30 s at 44.1 kHz, mono and stereo, WAV (16-bit) and FLAC, with odd names."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(44100 * 30).astype(np.float32) * 0.1
    for i in range(n):
        seconds = int(rng.integers(10, 31))
        channels = 1 + i % 2
        x = base[: 44100 * seconds]
        if channels == 2:
            x = np.stack([x, 0.5 * x], axis=1)
        ext = "flac" if i % 3 == 0 else "wav"
        sf.write(folder / f"clip {i:05d}, take 'a'.{ext}", x, 44100, subtype="PCM_16")


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--binary", default=str(ROOT / "target/release/clap-tools"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = tmp / "audio"
        audio.mkdir()
        print(f"generating {args.files} clips ...", file=sys.stderr)
        make_corpus(audio, args.files)
        rust = [args.binary, "-q", "scan", str(audio), "-o", str(tmp / "rust.parquet"), "--jobs", str(args.jobs)]
        py = [sys.executable, str(ROOT / "benches/probe_reference.py"), str(audio), str(tmp / "py.parquet"),
              "--jobs", str(args.jobs)]
        # Warm the page cache for both.
        timed(rust), timed(py)
        r, p = [], []
        for _ in range(args.repeats):
            r.append(timed(rust))
            p.append(timed(py))
        import polars as pl
        a = pl.read_parquet(tmp / "rust.parquet").sort("audio_id")
        b = pl.read_parquet(tmp / "py.parquet").sort("audio_id")
        assert a["frames"].to_list() == b["frames"].to_list(), "the two disagree on frame counts"
        assert a["sample_rate"].to_list() == b["sample_rate"].to_list()
        assert a["channels"].to_list() == b["channels"].to_list()
    rf, pf = args.files / statistics.median(r), args.files / statistics.median(p)
    print(f"files={args.files} jobs={args.jobs} repeats={args.repeats} cpus={os.cpu_count()}")
    print(f"clap-tools scan      : {rf:10.0f} files/s (median of {args.repeats})")
    print(f"soundfile.info (ref) : {pf:10.0f} files/s (median of {args.repeats})")
    print(f"ratio                : {rf / pf:10.1f}x")


if __name__ == "__main__":
    main()
