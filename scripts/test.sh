#!/usr/bin/env bash
# The test command: installs what the tests need (system packages, the notebook venv) and runs every
# test of the workspace, the notebook test included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --python
export CLAP_TOOLS_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace --locked "$@"
# The parity tests of the models again on the portable kernels (no AVX2 code) and on burn-flex's own
# (CLAP_TOOLS_KERNELS, see README "Building"), and the kernels' own tests on the portable code.
CLAP_TOOLS_KERNELS=portable cargo test --locked -p clap-tools-kernels -q
for kernels in portable stock; do
    echo "== model parity with CLAP_TOOLS_KERNELS=$kernels"
    CLAP_TOOLS_KERNELS=$kernels cargo test --locked --test it -q -- \
        matches_the_reference match_pytorch matches_pytorch gradients
done
