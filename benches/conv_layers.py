"""CNN14's twelve 3×3 convolutions one by one, clap-tools' CPU backend beside PyTorch's, in one invocation.

For each layer (10 s clips: 1001 frames × 64 mel bins, halved by each block's pooling) it times the
forward pass with a bias (inference, BatchNorm folded) and the two gradients of training (input and
weights), and reports GFLOP/s counted as a direct convolution (2·batch·c_out·c_in·9·positions) and the
ratio to PyTorch. clap-tools runs twice: its own kernels, and burn-flex's stock ones
(CLAP_TOOLS_KERNELS=stock). A 2048³ matrix product on both sides gives the attainable peak.

    cargo build --release --example bench_model
    BENCH_MODEL_BIN=$CARGO_TARGET_DIR/release/examples/bench_model .venv-torch/bin/python benches/conv_layers.py \\
        --threads 2 --batch 8 --repeats 3
"""

import argparse
import json
import os
import subprocess
import sys
import time


def ours(binary, threads, batch, seconds, repeats, kernels):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), CLAP_TOOLS_KERNELS=kernels)
    cmd = [binary, "layers", "--batch", str(batch), "--seconds", str(seconds), "--repeats", str(repeats)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def median_time(repeats, f):
    f()
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def torch_side(threads, batch, seconds, repeats):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    rows = []
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = median_time(repeats, lambda: torch.mm(a, b))
    rows.append({"what": "matmul 2048^3", "s": t, "gflops": 2 * 2048**3 / t / 1e9})
    h, w = int(seconds * 100) + 1, 64
    channels = [1, 64, 128, 256, 512, 1024, 2048]
    for block in range(6):
        for conv, c_in in ((1, channels[block]), (2, channels[block + 1])):
            c_out = channels[block + 1]
            x = torch.randn(batch, c_in, h, w)
            weight = torch.randn(c_out, c_in, 3, 3)
            bias = torch.randn(c_out)
            grad = torch.randn(batch, c_out, h, w)
            with torch.no_grad():
                forward = median_time(repeats, lambda: F.conv2d(x, weight, bias, padding=1))
            # The two gradients as autograd computes them in training (aten's convolution_backward).
            mask_x, mask_w = [True, False, False], [False, True, False]
            bwd = torch.ops.aten.convolution_backward
            args = lambda mask: (grad, x, weight, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)
            input_grad = median_time(repeats, lambda: bwd(*args(mask_x)))
            weight_grad = median_time(repeats, lambda: bwd(*args(mask_w)))
            flop = 2 * batch * c_out * c_in * 9 * h * w
            rows.append({"what": f"conv_block{block + 1}.conv{conv}", "gflop": flop / 1e9, "forward_s": forward,
                         "input_grad_s": input_grad, "weight_grad_s": weight_grad})
        if block < 5:
            h, w = h // 2, w // 2
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write every figure here")
    args = ap.parse_args()
    binary = os.environ.get("BENCH_MODEL_BIN", "target/release/examples/bench_model")
    mine = ours(binary, args.threads, args.batch, args.seconds, args.repeats, "auto")
    stock = ours(binary, args.threads, args.batch, args.seconds, args.repeats, "stock")
    torch_rows = torch_side(args.threads, args.batch, args.seconds, args.repeats)
    print(f"batch {args.batch} x {args.seconds:g} s, {args.threads} threads; times in ms, "
          "GFLOP/s as a direct convolution; ratio = PyTorch time / ours")
    print(f"{'matmul 2048^3':<20} ours {mine[0]['gflops']:.0f} GFLOP/s, stock {stock[0]['gflops']:.0f}, "
          f"PyTorch {torch_rows[0]['gflops']:.0f}")
    totals = {k: [0.0, 0.0, 0.0] for k in ("forward_s", "input_grad_s", "weight_grad_s")}
    header = f"{'layer':<20}" + "".join(f"{p:>34}" for p in ("forward", "input gradient", "weight gradient"))
    print(header)
    for m, s, t in zip(mine[1:], stock[1:], torch_rows[1:]):
        cells = []
        for key in totals:
            totals[key][0] += m[key]
            totals[key][1] += s[key]
            totals[key][2] += t[key]
            gf = m["gflop"] / m[key]
            cells.append(f"{m[key] * 1e3:7.1f} ({gf:4.0f}) st {s[key] * 1e3:7.1f} pt {t[key] * 1e3:7.1f} {t[key] / m[key]:4.2f}x")
        print(f"{m['what']:<20}" + " ".join(f"{c:>34}" for c in cells))
    print(f"{'total':<20}" + " ".join(
        f"{v[0] * 1e3:7.0f}        st {v[1] * 1e3:7.0f} pt {v[2] * 1e3:7.0f} {v[2] / v[0]:4.2f}x".rjust(34) for v in totals.values()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": mine, "stock": stock, "pytorch": torch_rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
