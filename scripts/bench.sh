#!/usr/bin/env bash
# Benchmarks side by side with the reference's Python stack (see BENCHMARKS.md). Builds the release
# binary and a venv with benches/requirements.txt, then runs the benchmark named by $1:
#   scan  — header probing vs soundfile.info       (bash scripts/bench.sh scan --files 2000)
#   pack    — packing vs the reference's packer     (bash scripts/bench.sh pack --files 100 300)
#   metrics — metrics vs the reference's numpy code (bash scripts/bench.sh metrics /tmp/ref, a checkout
#             of the reference: git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/ref)
#   model   — log-mel vs torchaudio, the audio encoders vs the reference's classes in PyTorch on the
#             CPU (bash scripts/bench.sh model /tmp/ref --threads 2 --encoders cnn14,wavegram_logmel_cnn14,resnet38,ast);
#             uses a torch venv, .venv-torch, from tests/fixtures/model/requirements.txt
#   train   — GPU training throughput vs the reference in PyTorch (bash scripts/bench.sh train /tmp/ref
#             --batch 128 [--encoder cnn14|wavegram_logmel_cnn14|resnet38|ast]); builds examples/bench_train with --features
#             cuda; needs a GPU and torch
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-}"
case "$which" in
    scan|pack|metrics|model|train) shift ;;
    *) echo "usage: bash scripts/bench.sh scan|pack|metrics|model|train [options]" >&2; exit 2 ;;
esac
if [ "$which" = model ]; then
    if [ ! -x .venv-torch/bin/python ]; then
        python3 -m venv .venv-torch
        .venv-torch/bin/python -m pip install -q -r tests/fixtures/model/requirements.txt
    fi
    cargo build --release --locked --example bench_model
    exec .venv-torch/bin/python benches/model.py "$@"
fi
if [ "$which" = train ]; then
    # The GPU machine's own Python (with torch and transformers) runs the reference side.
    cargo build --locked --features cuda --example bench_train
    exec "${PYTHON:-python3}" benches/train.py "$@"
fi
bash scripts/setup.sh --python
.venv/bin/python -m pip install -q -r benches/requirements.txt
cargo build --release --locked
case "$which" in
    scan) .venv/bin/python benches/scan_probe.py "$@" ;;
    pack) .venv/bin/python benches/pack.py "$@" ;;
    metrics) .venv/bin/python benches/metrics.py "$@" ;;
esac
