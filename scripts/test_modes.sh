#!/usr/bin/env bash
# Runs the whole suite several times in each of three modes, to show that its result depends on
# neither the order of the tests nor their concurrency:
#   parallel  the test harness's default (one thread per core)
#   serial    --test-threads=1
#   shuffled  libtest's own --shuffle with a seed per run (printed, so a failure can be replayed)
# Usage: bash scripts/test_modes.sh [RUNS] [MODE...]   (default: 5 runs of each mode; stops at the first failure)
# Replay a shuffled run: bash scripts/test_modes.sh 1 shuffled, with CLAP_TOOLS_SHUFFLE_SEED=SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(parallel serial shuffled)
case "$runs" in ''|*[!0-9]*) echo "test_modes: RUNS must be a number, not '$runs'" >&2; exit 2 ;; esac
for mode in "${modes[@]}"; do
    case "$mode" in
        parallel | serial | shuffled) ;;
        *) echo "test_modes: unknown mode '$mode' (parallel, serial, shuffled)" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh --python
export CLAP_TOOLS_PYTHON="$PWD/.venv/bin/python"

# Build once; the test binaries and the folder each runs in (its package's, as cargo test does).
mapfile -t bins < <(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
')
[ ${#bins[@]} -gt 0 ] || { echo "test_modes: no test binary was built" >&2; exit 1; }

for mode in "${modes[@]}"; do
    for run in $(seq 1 "$runs"); do
        args=()
        boot=()
        case "$mode" in
            parallel) ;;
            serial) args=(--test-threads=1) ;;
            # --shuffle is unstable in libtest; RUSTC_BOOTSTRAP lets a stable test binary take it (set for
            # the binaries only: cargo would rebuild everything if the compiler saw it).
            shuffled) seed=${CLAP_TOOLS_SHUFFLE_SEED:-$RANDOM$RANDOM}; args=(-Z unstable-options --shuffle --shuffle-seed "$seed"); boot=(RUSTC_BOOTSTRAP=1) ;;
        esac
        start=$(date +%s)
        for entry in "${bins[@]}"; do
            dir=${entry%%$'\t'*}
            bin=${entry#*$'\t'}
            log=$(mktemp)
            if ! (cd "$dir" && env "${boot[@]}" "$bin" "${args[@]}") >"$log" 2>&1; then
                tail -n 60 "$log"
                echo "test_modes: $mode run $run failed in $(basename "$bin") ${args[*]}" >&2
                exit 1
            fi
            grep -E '^test result:' "$log" | sed "s|^|$mode run $run $(basename "$bin"): |"
            rm -f "$log"
        done
        echo "== $mode run $run passed in $(( $(date +%s) - start )) s ${args[*]}"
    done
done
