#!/usr/bin/env bash
# Installs what is missing (Debian 12), then runs every check calea-probe has:
# formatting, clippy, all unit/integration/end-to-end tests (real DPDK EAL on vdevs,
# real TLS, real SQLite, tshark and asn1tools as independent decoders), short
# coverage-guided fuzz runs of the packet parser, the signalling verifier and the SIP
# parser (CALEA_FUZZ_SECONDS each, default 60; 0 skips them) and the short dataplane perf
# run, which fails under a probe/testpmd ratio of 0.5 (issue #2's CI floor;
# CALEA_PERF_FLOOR overrides it).
#
#   scripts/test.sh            everything
#   scripts/test.sh --no-perf  skip the perf runs
set -euo pipefail
cd "$(dirname "$0")/.."

perf=1
for arg in "$@"; do
  case "$arg" in
    --no-perf) perf=0 ;;
    *) echo "usage: scripts/test.sh [--no-perf]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# The ETSI/X1 schemas and sample captures live beside the checkout in CI and for
# developers (../shared); tests that need them read CALEA_SHARED_DIR.
if [ -z "${CALEA_SHARED_DIR:-}" ] && [ -d ../shared/specs ]; then
  CALEA_SHARED_DIR="$(cd ../shared && pwd)"
  export CALEA_SHARED_DIR
fi
echo "CALEA_SHARED_DIR=${CALEA_SHARED_DIR:-<unset: spec-based tests use the copies under scripts/asn1>}"

# A whole-suite run gains nothing from incremental caches, which cost gigabytes of
# disk; each step reports the build's size and the space left (CI's disk is small).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
disk() {
  echo "target $(du -sh target 2>/dev/null | cut -f1), $(df -h --output=avail . | tail -1 | tr -d ' ') free"
}

step() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== $name ($(disk))"
  "$@"
  echo "=== $name: ok ($((SECONDS - t0)) s; $(disk))"
}

step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test" cargo test --workspace --locked
# The model, store, encoders and calea-collector need no libdpdk: built and
# tested with none to be found (dpdk-sys's build script reruns when these
# variables change, so the step fails if anything still pulls it in). The
# library's tests, the collector's and the encoders' (the rest run above).
step "cargo test without libdpdk" env PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/nonexistent \
  cargo test --locked -p li-types -p control --no-default-features --lib --bins \
  --test collector_calls --test collector_garbage --test encode_etsi102232 \
  --test encode_session_iri --test encode_voice --test encode_x2x3

# cargo fuzz needs unstable compiler flags (sanitizer, coverage): nightly when
# rustup has it, else the stable toolchain with RUSTC_BOOTSTRAP=1.
fuzz_parser() {
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  local fuzz=(cargo +nightly fuzz)
  if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
  fi
  (
    cd fuzz
    cargo run --quiet --locked --bin dissect_seeds
    "${fuzz[@]}" run dissect -- -max_total_time="$fuzz_seconds" -print_final_stats=1
    "${fuzz[@]}" run signal -- -max_total_time="$fuzz_seconds" -print_final_stats=1
    "${fuzz[@]}" run sip -- -max_total_time="$fuzz_seconds" -print_final_stats=1
  )
}
fuzz_seconds="${CALEA_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz: parser ($fuzz_seconds s)" fuzz_parser
fi
if [ "$perf" = 1 ]; then
  # Issue #2's floor: fails under a probe/testpmd ratio of 0.5. The short runs on
  # these shared 2-core machines measured 0.56-0.61 before 2026-12-06 and
  # 0.79-0.95 on that day's builds (perf/results/dataplane-2026-12-06.md); one under the
  # floor is run again (perf/run.sh's RETRIES) before it fails CI.
  step "perf: dataplane vs dpdk-testpmd (short)" env FLOOR="${CALEA_PERF_FLOOR:-0.5}" perf/run.sh --short
fi
echo "scripts/test.sh: all checks passed"
