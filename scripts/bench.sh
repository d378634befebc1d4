#!/usr/bin/env bash
# Benchmarks side by side with the reference's Python stack (see BENCHMARKS.md). Builds the release
# binary and a venv with benches/requirements.txt, then runs the benchmark named by $1:
#   scan  — header probing vs soundfile.info       (bash scripts/bench.sh scan --files 2000)
#   pack  — packing vs the reference's packer       (bash scripts/bench.sh pack --files 100 300)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-}"
case "$which" in
    scan|pack) shift ;;
    *) echo "usage: bash scripts/bench.sh scan|pack [options]" >&2; exit 2 ;;
esac
bash scripts/setup.sh --python
.venv/bin/python -m pip install -q -r benches/requirements.txt
cargo build --release --locked
if [ "$which" = scan ]; then
    .venv/bin/python benches/scan_probe.py "$@"
else
    .venv/bin/python benches/pack.py "$@"
fi
