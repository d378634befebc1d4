#!/usr/bin/env python3
"""Benchmark: `clap-tools metrics` against the reference's numpy metric code (t2a_metrics + a2t_metrics
of wsntxxn/DCASE2022T6_CLAP models/metric.py, imported from a checkout, not copied), both run as a user
runs them: a whole process that starts, reads the similarity matrix from a .npy, computes every metric
and prints them. The reference side is a small script (`python -c`: import the checkout's metric.py,
np.load, the two functions, print JSON), so its interpreter start and imports count as ours do.

For each size (captions x clips, 5 captions per clip) one random matrix is written, the two outputs are
checked to agree (relative 1e-9), then the two commands run alternately `--repeats` times; the medians
of wall time and of peak resident memory (each process's own, from wait4) are printed with the ratio.
clap-tools' own figure for its computation alone ("metrics computed in X ms" on stderr) is printed too.

Usage (from the repository root; numpy and scipy are needed):
    mkdir -p /tmp/ref && git --git-dir=/work/.mirror/wsntxxn+DCASE2022T6_CLAP/repo archive HEAD | tar -x -C /tmp/ref
    cargo build --release
    python benches/metrics.py /tmp/ref [--binary target/release/clap-tools] [--sizes 5225x1045 50000x10000]
        [--repeats 7] [--reference-up-to 100000000]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

REFERENCE_SCRIPT = """
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("reference_metric", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
sims = np.load(sys.argv[2])
print(json.dumps({"t2a": {k: float(v) for k, v in m.t2a_metrics(sims).items()},
                  "a2t": {k: float(v) for k, v in m.a2t_metrics(sims).items()}}))
"""


def write_sims(path, captions, clips, seed):
    """Scores of a middling system: cosine-like noise with the ground-truth pairs lifted, written in
    blocks (the large case is 2 GB)."""
    k = captions // clips
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(captions, clips))
    step = max(1, (1 << 26) // clips)
    for start in range(0, captions, step):
        block = rng.standard_normal((min(step, captions - start), clips), dtype=np.float32) * 0.1
        rows = np.arange(start, start + block.shape[0])
        block[rows - start, rows // k] += 0.25
        out[start:start + block.shape[0]] = block
    out.flush()
    del out




def run_measured(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # Read both pipes to the end before reaping, so the child never blocks on a full pipe.
    import threading
    chunks = {"out": b"", "err": b""}

    def drain(name, f):
        chunks[name] = f.read()

    threads = [threading.Thread(target=drain, args=(n, f)) for n, f in (("out", p.stdout), ("err", p.stderr))]
    for th in threads:
        th.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    for th in threads:
        th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {chunks['err'].decode()}")
    return wall, usage.ru_maxrss / 1024, chunks["out"].decode(), chunks["err"].decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", help="checkout of wsntxxn/DCASE2022T6_CLAP (holding models/metric.py)")
    ap.add_argument("--binary", default=str(ROOT / "target/release/clap-tools"))
    ap.add_argument("--sizes", nargs="+", default=["5225x1045"], help="CAPTIONSxCLIPS, 5 captions per clip")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--reference-up-to", type=int, default=10**9,
                    help="run the reference only on matrices of at most this many values")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    metric_py = str(Path(args.reference) / "models" / "metric.py")
    env = dict(os.environ, CLAP_TOOLS_LOG="info")
    print(f"cpus={os.cpu_count()} repeats={args.repeats} binary {args.binary} python {sys.version.split()[0]} "
          f"numpy {np.__version__}")
    for size in args.sizes:
        captions, clips = (int(x) for x in size.split("x"))
        k = captions // clips
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "sims.npy")
            write_sims(path, captions, clips, args.seed)
            ours = [args.binary, "metrics", "--sims", path, "--captions-per-clip", str(k), "--json"]
            theirs = [sys.executable, "-c", REFERENCE_SCRIPT, metric_py, path]
            with_ref = captions * clips <= args.reference_up_to
            repeats = args.repeats if with_ref or captions * clips < 10**8 else max(1, args.repeats // 3)
            py, rust, compute = [], [], []
            for i in range(repeats):
                if with_ref:
                    wall, rss, out, _ = run_measured(theirs)
                    py.append((wall, rss))
                    if i == 0:
                        want = json.loads(out)
                wall, rss, out, err = run_measured(ours, env)
                rust.append((wall, rss))
                compute.append(float(re.search(r"metrics computed in ([\d.]+) ms", err).group(1)) / 1000)
                if i == 0:
                    got = json.loads(out)
                    if with_ref:
                        for direction, metrics in want.items():
                            for key, w in metrics.items():
                                g = got[direction][key]
                                assert abs(g - w) <= 1e-9 * max(abs(g), abs(w)), f"{direction} {key}: {g} vs {w}"
        med = lambda xs, j: statistics.median(x[j] for x in xs)
        print(f"{captions} x {clips} ({captions * clips * 4 / 1e6:.0f} MB), {k} captions per clip: "
              f"t2a R1 {got['t2a']['R1']:.2f}, a2t R1 {got['a2t']['R1']:.2f}"
              + (" (outputs agree)" if with_ref else ""))
        print(f"  clap-tools metrics, whole process: {med(rust, 0) * 1000:9.1f} ms, peak {med(rust, 1):7.0f} MB "
              f"(computation alone {statistics.median(compute) * 1000:.1f} ms)")
        if with_ref:
            print(f"  reference script, whole process:   {med(py, 0) * 1000:9.1f} ms, peak {med(py, 1):7.0f} MB")
            print(f"  speed-up {med(py, 0) / med(rust, 0):.1f}x, memory {med(py, 1) / med(rust, 1):.1f}x less")


if __name__ == "__main__":
    main()
