#!/usr/bin/env bash
# Set-up shared by scripts/demo.sh, scripts/test.sh and .ci/run: system packages and, with
# `--python`, the Python venv (.venv) the tests use (notebook, h5py interop). Safe to run again: it installs only
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build needs: libhdf5 for the HDF5 shards (found through pkg-config), and
# OpenBLAS, which the CPU kernels load at run time for their matrix products (without it they fall
# back to the pure-Rust gemm crate, about a third as fast). The tests (`--python`) also drive the
# search page in a real browser: Chromium and its WebDriver.
APT_PACKAGES=(pkg-config libhdf5-dev libopenblas0-pthread)
[ "${1:-}" = "--python" ] && APT_PACKAGES+=(chromium chromium-driver)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }

if [ "${1:-}" = "--python" ]; then
    PY=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        echo "setup: creating .venv" >&2
        "$PY" -m venv .venv
    fi
    # Reinstall only when the requirements changed.
    stamp=.venv/.requirements.sha256
    want=$(cat tests/requirements.txt notebooks/requirements.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -r tests/requirements.txt
        echo "$want" > "$stamp"
    fi
fi
