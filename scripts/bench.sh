#!/usr/bin/env bash
# Benchmarks side by side with the reference's Python stack (see BENCHMARKS.md). Builds the release
# binary and a venv with benches/requirements.txt, then runs each benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --python
.venv/bin/python -m pip install -q -r benches/requirements.txt
cargo build --release --locked
.venv/bin/python benches/scan_probe.py "$@"
