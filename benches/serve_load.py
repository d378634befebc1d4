#!/usr/bin/env python3
"""Load test of `clap-tools serve`: N concurrent clients on 127.0.0.1 for S seconds, each in a loop of a
text search (GET /api/search?q=…&k=10) and a fetch of one of its hits' audio (GET /audio/ROW), over
keep-alive connections. Reports requests/s, p50/p99 latency per kind, failed requests, and the server's
resident memory (VmRSS) at start, at its peak and at the end, sampled every 0.5 s.

Usage (from the repository root, on an index, e.g. the demo's):
    cargo build --release
    python3 benches/serve_load.py demo-out/index [--clients 50] [--seconds 20] [--binary target/release/clap-tools]
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
QUERIES = ["a low rumble", "rapid clicks", "a tone rising in pitch", "harsh white noise", "soft pink noise",
           "a steady high beep", "slow clicks then a falling tone", "rain on a roof", "a dog barks"]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--binary", type=Path, default=TARGET / "release/clap-tools")
    a = ap.parse_args()
    server = subprocess.Popen([a.binary, "serve", a.index, "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    host = None
    for line in server.stderr:
        if "http://" in line:
            host = line.split("http://", 1)[1].split("/", 1)[0]
            break
    if host is None:
        raise SystemExit("serve did not start")
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    addr, port = host.rsplit(":", 1)

    lat = {"search": [], "audio": []}
    failures = []
    lock = threading.Lock()
    stop = time.perf_counter() + a.seconds

    def client(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(addr, int(port), timeout=30)
        while time.perf_counter() < stop:
            q = urllib.parse.quote(rnd.choice(QUERIES))
            for kind, path in [("search", f"/api/search?k=10&q={q}")]:
                t = time.perf_counter()
                try:
                    conn.request("GET", path)
                    r = conn.getresponse()
                    body = r.read()
                    ok = r.status == 200
                except Exception as e:  # a failed request is counted, never hidden
                    ok, body = False, str(e).encode()
                    conn = http.client.HTTPConnection(addr, int(port), timeout=30)
                dt = time.perf_counter() - t
                with lock:
                    (lat[kind].append(dt) if ok else failures.append((kind, body[:200])))
                if not ok:
                    continue
                hits = json.loads(body)["hits"]
                row = rnd.choice(hits)["row"]
                t = time.perf_counter()
                try:
                    conn.request("GET", f"/audio/{row}")
                    r = conn.getresponse()
                    wav = r.read()
                    ok = r.status == 200 and wav[:4] == b"RIFF"
                except Exception as e:
                    ok, wav = False, str(e).encode()
                    conn = http.client.HTTPConnection(addr, int(port), timeout=30)
                dt = time.perf_counter() - t
                with lock:
                    (lat["audio"].append(dt) if ok else failures.append(("audio", wav[:200])))

    rss = [rss_mib(server.pid)]
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        rss.append(rss_mib(server.pid))
    elapsed = time.perf_counter() - start
    rss.append(rss_mib(server.pid))
    server.terminate()
    server.wait()

    total = sum(len(v) for v in lat.values())
    print(f"{a.clients} clients, {elapsed:.1f} s: {total} requests ({total / elapsed:.0f}/s), {len(failures)} failed")
    for kind, v in lat.items():
        if v:
            v = sorted(v)
            p50, p99 = statistics.median(v) * 1e3, v[min(len(v) - 1, int(0.99 * len(v)))] * 1e3
            print(f"  {kind:<7} {len(v):>7} requests  {len(v) / elapsed:>7.0f}/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    print(f"  server RSS: {rss[0]:.0f} MiB at start, {max(rss):.0f} MiB peak, {rss[-1]:.0f} MiB at the end")
    for f in failures[:5]:
        print("  failure:", f)


if __name__ == "__main__":
    main()
