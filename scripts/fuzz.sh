#!/usr/bin/env bash
# Fuzz every protocol decoder for a bounded time: scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Runs each cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET seconds
# (default 30; 0 replays the corpus once without fuzzing) and exits non-zero
# if any target crashed, printing where the crashing input was saved and how
# to replay it.
#
# Works on stable Rust: `--sanitizer none` keeps cargo-fuzz from passing the
# nightly-only `-Zsanitizer=address`; everything else it passes (the
# sanitizer-coverage LLVM flags, --cfg fuzzing, debug assertions) is stable,
# and libfuzzer-sys builds libFuzzer from its C++ source with the system C++
# compiler. The decoders are `#![forbid(unsafe_code)]`, so AddressSanitizer
# would mostly halve the speed. (With RUSTC_BOOTSTRAP=1, plain
# `cargo fuzz run TARGET` builds with ASan on stable too; see fuzz/README.md.)
#
# Environment:
#   YUFU_FUZZ_TARGET_DIR  build directory (default ~/.cache/yufu/fuzz-target,
#                         apart from the main build so the two never rebuild
#                         each other's artifacts)
#   YUFU_FUZZ_CORPUS_DIR  working corpus, grown run after run (default
#                         ~/.cache/yufu/fuzz-corpus); the committed seeds in
#                         fuzz/corpus/<target>/ are only read
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]   (a whole number; 0 replays the corpus only)" >&2
  exit 2
fi

target_dir="${YUFU_FUZZ_TARGET_DIR:-$HOME/.cache/yufu/fuzz-target}"
corpus_dir="${YUFU_FUZZ_CORPUS_DIR:-$HOME/.cache/yufu/fuzz-corpus}"
# cargo-fuzz reads CARGO_TARGET_DIR to find the binaries it built; .ci/run
# exports the main build's, so override it here rather than only passing
# --target-dir.
export CARGO_TARGET_DIR="$target_dir"
mkdir -p "$target_dir" "$corpus_dir"

# cargo-fuzz itself: a normal crates.io binary, built with stable.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi
echo "$(cargo fuzz --version), $(rustc --version)"

# The same flags for build and run, so `run` finds the build up to date.
flags=(--fuzz-dir fuzz --sanitizer none --target-dir "$target_dir")

# Build every target in one cargo invocation (shared dependencies compile
# once), before the clock of the first target starts.
cargo fuzz build "${flags[@]}"

mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
if [ "$seconds" = 0 ]; then
  mode=(-runs=0)
  echo "replaying the corpus of ${#targets[@]} targets (no fuzzing)"
else
  mode=(-max_total_time="$seconds")
  echo "fuzzing ${#targets[@]} targets for ${seconds}s each"
fi

failed=()
for target in "${targets[@]}"; do
  work="$corpus_dir/$target"
  seeds="fuzz/corpus/$target"
  mkdir -p "$work" "$seeds"
  log="$(mktemp)"
  # New inputs go to the first corpus directory (outside the clone); the
  # committed seeds are read only. -timeout turns a hang (an input taking
  # over 10 s) into a failure with a saved input, like a crash.
  if cargo fuzz run "${flags[@]}" "$target" "$work" "$seeds" -- \
      "${mode[@]}" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n1 | grep -Eo '[0-9]+' || true)
    printf 'fuzz %-16s ok: %s runs, %s exec/s, coverage %s, corpus %s inputs\n' \
      "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$(find "$work" "$seeds" -type f | wc -l)"
  else
    failed+=("$target")
    echo
    echo "fuzz $target FAILED; the end of its log:"
    # The panic message and backtrace, without libFuzzer's dictionary dump.
    grep -v '^"' "$log" | tail -n 60
    # libFuzzer names the saved input: "Test unit written to fuzz/artifacts/…".
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      echo
      echo "crashing input saved to $artifact ($(wc -c <"$artifact") bytes):"
      od -An -tx1 "$artifact" | head -n 16
      echo "replay it: cargo fuzz run ${flags[*]} $target $artifact"
    fi
  fi
  rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzzing FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets ok"
