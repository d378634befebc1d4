#!/usr/bin/env bash
# The test command: installs what the tests need (system packages, the notebook venv) and runs every
# test of the workspace, the notebook test included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --python
export CLAP_TOOLS_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace --locked "$@"
