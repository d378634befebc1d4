#!/usr/bin/env python3
"""Model-core CPU benchmark, side by side in one invocation: clap-tools' log-mel front end against
torchaudio's, and each audio encoder's clip embeddings (waveform → log-mel → encoder, full size, eval)
against the reference's own class in PyTorch (Cnn14, ResNet38, AudioSpectrogramTransformer), both on
the CPU with the same number of threads.

    bash scripts/bench.sh model /tmp/ref [--threads 2] [--clips 50] [--batch 8] [--repeats 3]
        [--encoders cnn14,wavegram_logmel_cnn14,resnet38,ast] [--skip-logmel]

(/tmp/ref: a checkout of the reference, `git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/ref`.)
Runs in the venv of tests/fixtures/model/requirements.txt (torch, torchaudio and the reference's
imports); the Rust side is target/release/examples/bench_model.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio

ROOT = Path(__file__).resolve().parent.parent


def rust(args, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([str(os.environ.get("BENCH_MODEL_BIN", ROOT / "target/release/examples/bench_model")), *args], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def clips(n, samples):
    rng = np.random.default_rng(0)
    t = np.arange(samples)
    return [(0.05 * rng.standard_normal(samples) + 0.3 * np.sin(0.07 * t)).astype(np.float32) for _ in range(n)]


def torchaudio_logmel(sr, waves):
    fmax = {32000: 14000, 16000: 8000}[sr]
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=32 * sr // 1000, win_length=32 * sr // 1000, hop_length=10 * sr // 1000,
        f_min=50, f_max=fmax, n_mels=64, norm="slaney", mel_scale="slaney")
    db = torchaudio.transforms.AmplitudeToDB()
    xs = [torch.from_numpy(w) for w in waves]
    with torch.no_grad():
        db(mel(xs[0]))
        t = time.perf_counter()
        for x in xs:
            db(mel(x))
        single = (time.perf_counter() - t) / len(xs)
        batch = torch.stack(xs)
        t = time.perf_counter()
        db(mel(batch))
        batched = (time.perf_counter() - t) / len(xs)
    return single, batched


def reference_encoder(checkout, kind, sr):
    """The reference's own class for `kind`, full size, random weights, eval mode."""
    sys.path.insert(0, str(checkout))
    from models import audio_encoder as ae
    if kind == "cnn14":
        return ae.Cnn14(sample_rate=sr).eval()
    if kind == "resnet38":
        return ae.ResNet38(sample_rate=sr).eval()
    if kind == "wavegram_logmel_cnn14":
        return ae.Wavegram_Logmel_Cnn14(sample_rate=sr).eval()
    # AST base384 over a DeiT from today's timm, as the fixtures build it (see ast_encoder.py there).
    sys.path.insert(0, str(ROOT / "tests/fixtures/model"))
    import ast_encoder
    return ast_encoder.build(ae, {"dim": 768, "heads": 12, "depth": 12, "frames": 1024}, 0)


def torch_encoder(checkout, kind, sr, batch, seconds, repeats):
    model = reference_encoder(checkout, kind, sr)
    n = int(seconds * sr)
    x = torch.from_numpy(np.stack(clips(batch, n)))
    lengths = torch.full((batch,), n)
    times = []
    with torch.no_grad():
        model(x, lengths)
        for _ in range(repeats):
            t = time.perf_counter()
            model(x, lengths)
            times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", help="a checkout of wsntxxn/DCASE2022T6_CLAP")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--encoders", default="cnn14", help="comma-separated: cnn14, wavegram_logmel_cnn14, resnet38, ast")
    ap.add_argument("--skip-logmel", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report = {"threads": args.threads, "torch": torch.__version__, "torchaudio": torchaudio.__version__}
    for sr in () if args.skip_logmel else (32000, 16000):
        ours = rust(["logmel", "--rate", str(sr), "--clips", str(args.clips), "--seconds", str(args.seconds)],
                    args.threads)
        single, batched = torchaudio_logmel(sr, clips(args.clips, int(args.seconds * sr)))
        row = {"ours_ms_single": ours["ms_per_clip_single"], "torchaudio_ms_single": single * 1e3,
               "speedup_single": single * 1e3 / ours["ms_per_clip_single"],
               "ours_ms_batch": ours["ms_per_clip_batch"], "torchaudio_ms_batch": batched * 1e3,
               "speedup_batch": batched * 1e3 / ours["ms_per_clip_batch"]}
        report[f"logmel_{sr}"] = row
        print(f"log-mel {sr} Hz, {args.seconds:g} s clips, {args.threads} threads: one clip at a time "
              f"{row['ours_ms_single']:.2f} ms vs torchaudio {row['torchaudio_ms_single']:.2f} ms "
              f"({row['speedup_single']:.2f}x); batch of {args.clips} {row['ours_ms_batch']:.2f} vs "
              f"{row['torchaudio_ms_batch']:.2f} ms per clip ({row['speedup_batch']:.2f}x)", flush=True)
    for kind in [k for k in args.encoders.split(",") if k]:
        ours = rust([kind, "--batch", str(args.batch), "--seconds", str(args.seconds),
                     "--repeats", str(args.repeats)], args.threads)
        theirs = torch_encoder(args.checkout, kind, 32000, args.batch, args.seconds, args.repeats)
        row = {"ours_clips_per_s": ours["clips_per_s"], "pytorch_clips_per_s": args.batch / theirs,
               "ratio": ours["clips_per_s"] / (args.batch / theirs), "ours_s_per_batch": ours["s_per_batch"],
               "pytorch_s_per_batch": theirs}
        report[kind] = row
        print(f"{kind} clip embeddings, batch {args.batch} x {args.seconds:g} s, {args.threads} threads: "
              f"{row['ours_clips_per_s']:.2f} clips/s vs PyTorch {row['pytorch_clips_per_s']:.2f} clips/s "
              f"({row['ratio']:.2f}x)", flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
