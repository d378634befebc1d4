#!/usr/bin/env bash
# Benchmarks side by side with the reference's Python stack (see BENCHMARKS.md). Builds the release
# binary and a venv with benches/requirements.txt, then runs the benchmark named by $1:
#   scan  — header probing vs soundfile.info       (bash scripts/bench.sh scan --files 2000)
#   pack    — packing vs the reference's packer     (bash scripts/bench.sh pack --files 100 300)
#   metrics — metrics vs the reference's numpy code (bash scripts/bench.sh metrics /tmp/ref, a checkout
#             of the reference: git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/ref)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-}"
case "$which" in
    scan|pack|metrics) shift ;;
    *) echo "usage: bash scripts/bench.sh scan|pack|metrics [options]" >&2; exit 2 ;;
esac
bash scripts/setup.sh --python
.venv/bin/python -m pip install -q -r benches/requirements.txt
cargo build --release --locked
case "$which" in
    scan) .venv/bin/python benches/scan_probe.py "$@" ;;
    pack) .venv/bin/python benches/pack.py "$@" ;;
    metrics) .venv/bin/python benches/metrics.py "$@" ;;
esac
