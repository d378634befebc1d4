#!/usr/bin/env python3
"""Benchmark: `clap-tools pack` against pack_reference.py (soundfile + librosa.resample + h5py, as the
reference's packer), on the same generated corpus (10-30 s clips at 44.1 kHz, mono and stereo, WAV
and FLAC), to 32 kHz, with the same number of workers, run alternately in one invocation. Reports
files/s and peak resident memory (GNU time's maximum RSS of the largest process) of each, for two
corpus sizes so that memory growth shows.

Usage (from the repository root; scripts/bench.sh builds the release binary and the venv):
    .venv/bin/python benches/pack.py --files 100 300 --jobs 2 --repeats 3
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent


def make_corpus(folder, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(44100 * 30) / 44100
    base = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    rows = []
    for i in range(n):
        seconds = int(rng.integers(10, 31))
        x = base[: 44100 * seconds]
        if i % 2:
            x = np.stack([x, 0.5 * x], axis=1)
        ext = "flac" if i % 3 == 0 else "wav"
        path = folder / f"clip {i:05d}.{ext}"
        sf.write(path, x, 44100, subtype="PCM_16")
        rows.append((path.name, str(path)))
    csv = folder / "wav.csv"
    csv.write_text("audio_id\tfile_name\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    return csv


def measure(cmd):
    """(seconds, max RSS in MB) of a command, by GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    m = re.findall(r"TIME ([\d.]+) (\d+)", out)[-1]
    return float(m[0]), int(m[1]) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / "target/release/clap-tools"))
    ap.add_argument("--res-type", default="soxr_hq",
                    help="librosa res_type of the reference script (kaiser_best: the reference's own default)")
    args = ap.parse_args()
    print(f"jobs={args.jobs} repeats={args.repeats} cpus={os.cpu_count()} reference res_type={args.res_type}")
    for n in args.files:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "audio").mkdir()
            print(f"generating {n} clips ...", file=sys.stderr)
            csv = make_corpus(tmp / "audio", n)
            rust_out, py_out = tmp / "rust", tmp / "py.h5"
            rust = [args.binary, "-q", "pack", str(csv), "-o", str(rust_out), "--sample-rate", "32000",
                    "--jobs", str(args.jobs)]
            py = [sys.executable, str(ROOT / "benches/pack_reference.py"), str(csv), str(py_out),
                  "--sample-rate", "32000", "--jobs", str(args.jobs), "--res-type", args.res_type]
            r, p = [], []
            for _ in range(args.repeats):
                shutil.rmtree(rust_out, ignore_errors=True)
                r.append(measure(rust))
                p.append(measure(py))
            rt, pt = statistics.median(x[0] for x in r), statistics.median(x[0] for x in p)
            rm, pm = max(x[1] for x in r), max(x[1] for x in p)
            print(f"{n} clips: clap-tools {n / rt:7.1f} files/s, peak {rm:6.0f} MB | "
                  f"reference script {n / pt:7.1f} files/s, peak {pm:6.0f} MB | speed ratio {pt / rt:5.1f}x")


if __name__ == "__main__":
    main()
