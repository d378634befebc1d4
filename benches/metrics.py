#!/usr/bin/env python3
"""Benchmark: `clap-tools metrics` against the reference's numpy metric code (t2a_metrics + a2t_metrics
of wsntxxn/DCASE2022T6_CLAP models/metric.py, imported from a checkout, not copied) on one random text x
audio similarity matrix of Clotho-evaluation size (5225 captions x 1045 clips, 5 captions per clip).

The two run alternately, `--repeats` times each; the medians are printed with their ratios. The
reference is timed on the matrix already in memory (its two functions only). clap-tools is timed twice
over: end to end as a user runs it (process start, reading the .npy of about 22 MB, all metrics and
mAP@10, JSON on stdout), and its metric computation alone, the same work as the reference's two
functions, as the command reports it on stderr ("metrics computed in X ms", all metrics included).
Both outputs are checked to agree (relative 1e-9) before timing.

Usage (from the repository root; numpy and scipy are needed, e.g. the .venv):
    mkdir -p /tmp/ref && git --git-dir=/work/.mirror/wsntxxn+DCASE2022T6_CLAP/repo archive HEAD | tar -x -C /tmp/ref
    cargo build --release
    .venv/bin/python benches/metrics.py /tmp/ref [--binary target/release/clap-tools] [--repeats 7]
"""
import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_reference(checkout):
    spec = importlib.util.spec_from_file_location("reference_metric", Path(checkout) / "models" / "metric.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_sims(captions, clips, seed):
    """Scores of a middling system: cosine-like noise with the ground-truth pairs lifted."""
    k = captions // clips
    rng = np.random.default_rng(seed)
    sims = rng.standard_normal((captions, clips), dtype=np.float32) * 0.1
    rows = np.arange(captions)
    sims[rows, rows // k] += 0.25
    return np.ascontiguousarray(sims, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", help="checkout of wsntxxn/DCASE2022T6_CLAP (holding models/metric.py)")
    ap.add_argument("--binary", default=str(ROOT / "target/release/clap-tools"))
    ap.add_argument("--captions", type=int, default=5225)
    ap.add_argument("--clips", type=int, default=1045)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ref = load_reference(args.reference)
    k = args.captions // args.clips
    sims = make_sims(args.captions, args.clips, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sims.npy"
        np.save(path, sims)
        cmd = [args.binary, "metrics", "--sims", str(path), "--captions-per-clip", str(k), "--json"]

        # Agreement first.
        want = {"t2a": ref.t2a_metrics(sims), "a2t": ref.a2t_metrics(sims)}
        got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        for direction, metrics in want.items():
            for key, value in metrics.items():
                g, w = got[direction][key], float(value)
                assert abs(g - w) <= 1e-9 * max(abs(g), abs(w)), f"{direction} {key}: {g} vs reference {w}"

        py, rust, compute = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            ref.t2a_metrics(sims)
            ref.a2t_metrics(sims)
            py.append(time.perf_counter() - t)
            t = time.perf_counter()
            err = subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env=dict(os.environ, CLAP_TOOLS_LOG="info"), text=True).stderr
            rust.append(time.perf_counter() - t)
            compute.append(float(re.search(r"metrics computed in ([\d.]+) ms", err).group(1)) / 1000)
    p, r, c = statistics.median(py), statistics.median(rust), statistics.median(compute)
    print(f"matrix {args.captions} x {args.clips} float32, {k} captions per clip; repeats={args.repeats} "
          f"cpus={os.cpu_count()}; binary {args.binary}")
    print(f"t2a R1 {got['t2a']['R1']:.2f}  a2t R1 {got['a2t']['R1']:.2f}  mAP@10 {got['mAP@10']:.4f} (outputs agree)")
    print(f"reference t2a_metrics + a2t_metrics (in memory): {p * 1000:9.1f} ms (median; min {min(py) * 1000:.1f})")
    print(f"clap-tools metrics, computation only:            {c * 1000:9.2f} ms (median; min {min(compute) * 1000:.2f})")
    print(f"clap-tools metrics, end to end (process, read):  {r * 1000:9.1f} ms (median; min {min(rust) * 1000:.1f})")
    print(f"speed-up: {p / c:.1f}x computation only, {p / r:.1f}x end to end")


if __name__ == "__main__":
    main()
