#!/usr/bin/env python3
"""Benchmark: `clap-tools search` against faiss-cpu's exact IndexFlatIP (PyPI), on the same random
index of unit vectors (default 100 000 x 1024, float32) and 1 000 queries, k = 10.

Three views, all on this machine at once:
1. In-process search time (`benches/bench_search.rs` for clap-tools, faiss's own `search` for faiss),
   for one query and for all queries, with the machine's read bandwidth over the mapped index: one query
   cannot be faster than index bytes / bandwidth.
2. Whole processes as users run them, alternately, medians of wall time and peak RSS (wait4, each
   forked by a small launcher so that this script's own memory is not counted):
   `clap-tools search INDEX --query-embeddings Q.npy -k 10 --json` against a script that loads the
   same .npy files, builds the faiss index and prints the same JSON.
3. Agreement: every query's hits compared (ids, and scores to 1e-5).

Usage (from the repository root; numpy, pyarrow and faiss-cpu are needed):
    cargo build --release && cargo build --release --example bench_search
    python benches/search.py [--rows 100000] [--dim 1024] [--queries 1000] [--repeats 5] [--work /tmp/clap-search-bench]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

FAISS_SCRIPT = """
import json, sys
import numpy as np, pyarrow.parquet as pq, faiss
x = np.load(sys.argv[1]); q = np.load(sys.argv[2])
ids = pq.read_table(sys.argv[3], columns=["audio_id"]).column(0).to_pylist()
index = faiss.IndexFlatIP(x.shape[1]); index.add(x)
d, i = index.search(q, int(sys.argv[4]))
print(json.dumps([{"query": f"query-{n + 1}", "hits": [{"audio_id": ids[j], "score": float(s)} for j, s in zip(i[n], d[n])]}
                  for n in range(len(q))]))
"""


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make(work, rows, dim, queries):
    import pyarrow as pa
    import pyarrow.parquet as pq

    work.mkdir(parents=True, exist_ok=True)
    stamp = work / f"made-{rows}x{dim}x{queries}"
    if stamp.exists():
        return
    rng = np.random.default_rng(0)
    x = unit_rows(rng, rows, dim)
    np.save(work / "emb.npy", x)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim).cast(pa.list_(pa.float32()))
    table = pa.table({
        "audio_id": pa.array([f"clip-{i:06d}.wav" for i in range(rows)]),
        "caption_index": pa.array([None] * rows, pa.uint32()),
        "caption": pa.array([None] * rows, pa.string()),
        "row": pa.array(np.arange(rows, dtype=np.uint64)),
        "embedding": emb,
    })
    pq.write_table(table, work / "emb.parquet")
    np.save(work / "q.npy", unit_rows(rng, queries, dim))
    stamp.touch()


# Started fresh for each measured command: a child's peak RSS as wait4 reports it includes whatever its
# parent held when it forked, so the measured command must be forked by a small process, not by this
# one (which holds the index in memory).
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(cmd):
    """Run cmd (stdout discarded) from a small launcher; wall seconds and its peak RSS in MiB."""
    p = subprocess.run([sys.executable, "-c", LAUNCHER, *map(str, cmd)], capture_output=True, text=True)
    wall, rss, code = p.stdout.split()
    if int(code) != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr}")
    return float(wall), int(rss) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("/tmp/clap-search-bench"))
    ap.add_argument("--binary", type=Path, default=TARGET / "release/clap-tools")
    a = ap.parse_args()
    import faiss

    make(a.work, a.rows, a.dim, a.queries)
    ix = a.work / "ix"
    if not (ix / "index.json").exists():
        subprocess.run([a.binary, "index", "build", "--embeddings", a.work / "emb", "-o", ix], check=True)
    threads = os.cpu_count()
    faiss.omp_set_num_threads(threads)

    # 1. In-process.
    ours = json.loads(subprocess.run(
        [TARGET / "release/examples/bench_search", ix, a.work / "q.npy", "--repeats", str(a.repeats)],
        check=True, capture_output=True, text=True).stdout)
    x, q = np.load(a.work / "emb.npy"), np.load(a.work / "q.npy")
    index = faiss.IndexFlatIP(a.dim)
    index.add(x)
    def best_of(f, n):
        t = []
        for _ in range(n):
            s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
        return statistics.median(t)
    f_single = best_of(lambda: index.search(q[:1], 10), a.repeats * 4) * 1e3
    f_batch = best_of(lambda: index.search(q, 10), a.repeats) * 1e3
    print(f"index {a.rows} x {a.dim} float32 ({ours['index_bytes'] / 1e6:.0f} MB), {a.queries} queries, k 10, "
          f"{threads} threads; read bandwidth {ours['bandwidth_gb_s']:.1f} GB/s -> one query >= {ours['bound_single_ms']:.1f} ms")
    print(f"{'in-process (median)':<28}{'clap-tools':>12}{'faiss':>12}{'faiss/ours':>12}")
    print(f"{'1 query, ms':<28}{ours['single_ms']:>12.1f}{f_single:>12.1f}{f_single / ours['single_ms']:>11.2f}x"
          f"   (ours / bound {ours['single_ms'] / ours['bound_single_ms']:.2f})")
    print(f"{f'{a.queries} queries, ms':<28}{ours['batch_ms']:>12.1f}{f_batch:>12.1f}{f_batch / ours['batch_ms']:>11.2f}x")

    # 3. Agreement.
    out = subprocess.run([a.binary, "search", ix, "--query-embeddings", a.work / "q.npy", "-k", "10", "--json"],
                         check=True, capture_output=True, text=True).stdout
    mine = json.loads(out)
    d, i = index.search(q, 10)
    same = sum(all(h["audio_id"] == f"clip-{j:06d}.wav" for h, j in zip(m["hits"], row)) for m, row in zip(mine, i))
    worst = max(abs(h["score"] - s) for m, row in zip(mine, d) for h, s in zip(m["hits"], row))
    print(f"agreement: {same} of {len(mine)} queries with identical hits; largest score difference {worst:.1e}")

    # 2. Whole processes, alternately.
    del index, x
    script = a.work / "faiss_search.py"
    script.write_text(FAISS_SCRIPT)
    cmd_ours = [a.binary, "search", ix, "--query-embeddings", a.work / "q.npy", "-k", "10", "--json"]
    cmd_faiss = [sys.executable, script, a.work / "emb.npy", a.work / "q.npy", a.work / "emb.parquet", "10"]
    runs = {"ours": [], "faiss": []}
    timed(cmd_ours), timed(cmd_faiss)  # warm the page cache
    for _ in range(a.repeats):
        runs["ours"].append(timed(cmd_ours))
        runs["faiss"].append(timed(cmd_faiss))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
    print(f"{'whole process (median)':<28}{'clap-tools':>12}{'faiss':>12}{'faiss/ours':>12}")
    print(f"{'wall, s':<28}{med['ours'][0]:>12.3f}{med['faiss'][0]:>12.3f}{med['faiss'][0] / med['ours'][0]:>11.2f}x")
    print(f"{'peak RSS, MiB':<28}{med['ours'][1]:>12.0f}{med['faiss'][1]:>12.0f}{med['faiss'][1] / med['ours'][1]:>11.2f}x")


if __name__ == "__main__":
    main()
