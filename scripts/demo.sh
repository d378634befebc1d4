#!/usr/bin/env bash
# The demo: builds clap-tools and runs `clap-tools demo` on a synthesised corpus.
# Extra arguments go to `clap-tools demo` (see `clap-tools demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --locked -- demo "$@"
