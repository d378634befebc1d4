#!/usr/bin/env python3
"""GPU training throughput, side by side in one invocation: clap-tools' training step (CNN14 +
BERT-medium, batch of 10 s clips, InfoNCE over the batch, Adam) on the cuda backend, against the
reference's AudioSingleTextClap (its Cnn14, a BertModel of prajjwal1/bert-medium's shape, its
InfoNceLoss) in PyTorch on the same GPU, fp32 as the reference trains.

    bash scripts/bench.sh train /tmp/ref [--batch 128] [--seconds 10] [--steps 5] [--warmup 2]

(/tmp/ref: a checkout of the reference.) The Rust side is $BENCH_TRAIN_BIN, by default
target/debug/examples/bench_train built with `--features cuda`. Random weights on both sides (the
work does not depend on them). PyTorch's step includes the reference's log-mel front end on the GPU;
ours computes log-mels on the CPU in the trainer's background workers, timed apart and reported.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def rust(args):
    binary = os.environ.get("BENCH_TRAIN_BIN", str(ROOT / "target/debug/examples/bench_train"))
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"{binary} failed ({out.returncode})")
    return json.loads(out.stdout)


def stub_missing_imports():
    """The reference's audio_encoder imports wget (downloads) and torchlibrosa (SpecAugmentation, which
    its training forward does not call unless specaug=True); GPU machines without them get inert
    stand-ins so the model itself is the reference's own code."""
    import types
    try:
        import wget  # noqa: F401
    except ImportError:
        sys.modules["wget"] = types.ModuleType("wget")
    try:
        import torchlibrosa.augmentation  # noqa: F401
    except ImportError:
        class SpecAugmentation(torch.nn.Module):
            def __init__(self, *args, **kwargs):
                super().__init__()

            def forward(self, x):
                raise RuntimeError("SpecAugmentation stand-in: torchlibrosa is not installed")

        pkg = types.ModuleType("torchlibrosa")
        aug = types.ModuleType("torchlibrosa.augmentation")
        aug.SpecAugmentation = SpecAugmentation
        pkg.augmentation = aug
        sys.modules.update({"torchlibrosa": pkg, "torchlibrosa.augmentation": aug})
        print("note: torchlibrosa missing; SpecAugmentation stubbed (unused: specaug=False)", file=sys.stderr)


def torch_steps(checkout, batch, seconds, steps, warmup, device, encoder="cnn14"):
    sys.path.insert(0, str(checkout))
    stub_missing_imports()
    from transformers import BertConfig, BertModel
    from models import audio_encoder as ae
    from models.audio_text_model import AudioSingleTextClap
    from models.loss import InfoNceLoss
    from models.text_encoder import Bert

    # The reference's Bert wrapper downloads its model; build the same wrapper around a local
    # BertModel of bert-medium's shape instead.
    text = Bert.__new__(Bert)
    torch.nn.Module.__init__(text)
    text.model = BertModel(BertConfig(vocab_size=30522, hidden_size=512, num_hidden_layers=8,
                                      num_attention_heads=8, intermediate_size=2048), add_pooling_layer=False)
    text.embed_dim = 512
    if encoder == "ast":
        # AST base384 over a DeiT from today's timm, as the fixtures build it (ast_encoder.py).
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests/fixtures/model"))
        import ast_encoder
        audio, audio_dim = ast_encoder.build(ae, {"dim": 768, "heads": 12, "depth": 12, "frames": 1024}, 0), 768
    else:
        audio, audio_dim = {"cnn14": ae.Cnn14, "wavegram_logmel_cnn14": ae.Wavegram_Logmel_Cnn14,
                             "resnet38": ae.ResNet38}[encoder](sample_rate=32000), 2048
    model = AudioSingleTextClap(audio, text, audio_dim, 512, 1024).to(device).train()
    loss_fn = InfoNceLoss()
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)
    n = int(seconds * 32000)
    g = torch.Generator().manual_seed(0)
    seq = 30
    lens = [8 + i % 20 for i in range(batch)]
    mask = torch.tensor([[1 if k < l else 0 for k in range(seq)] for l in lens])
    inputs = {
        "waveform": (0.1 * torch.randn(batch, n, generator=g)).to(device),
        "wave_length": torch.full((batch,), n).to(device),
        "input_ids": (torch.randint(1000, 21000, (batch, seq), generator=g) * mask).to(device),
        "attention_mask": mask.to(device),
        "token_type_ids": torch.zeros(batch, seq, dtype=torch.long).to(device),
    }
    times = []
    for step in range(warmup + steps):
        t = time.perf_counter()
        out = model(inputs)
        loss = loss_fn(out["audio_emb"], out["text_emb"], out["logit_scale"])
        optim.zero_grad()
        loss.backward()
        optim.step()
        loss.item()  # waits for the device
        if step >= warmup:
            times.append(time.perf_counter() - t)
        print(f"pytorch step {step + 1}: {time.perf_counter() - t:.3f} s", file=sys.stderr, flush=True)
    return sum(times) / len(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", help="a checkout of wsntxxn/DCASE2022T6_CLAP")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--encoder", default="cnn14", choices=["cnn14", "wavegram_logmel_cnn14", "resnet38", "ast"])
    ap.add_argument("--skip-rust", action="store_true")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}
    common = ["--batch", str(args.batch), "--seconds", str(args.seconds), "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--encoder", args.encoder]
    if not args.skip_rust:
        report["ours"] = rust(common)
    theirs, times = torch_steps(args.checkout, args.batch, args.seconds, args.steps, args.warmup, device,
                                args.encoder)
    report["pytorch"] = {"s_per_step": theirs, "samples_per_s": args.batch / theirs, "step_times": times}
    if "ours" in report:
        report["ratio"] = report["ours"]["samples_per_s"] / report["pytorch"]["samples_per_s"]
        print(f"training {args.encoder} + BERT-medium, batch {args.batch} x {args.seconds:g} s, {report['device']}: "
              f"{report['ours']['samples_per_s']:.1f} samples/s vs PyTorch {report['pytorch']['samples_per_s']:.1f} "
              f"({report['ratio']:.2f}x); our host log-mel {report['ours']['host_logmel_s_per_batch']:.2f} s per "
              f"batch on {report['ours']['host_threads']} threads", flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
