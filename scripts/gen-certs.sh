#!/usr/bin/env bash
# Generates a test PKI for calea-probe: a CA, a server certificate for localhost /
# 127.0.0.1 (API and collector) and one client certificate per CN given.
# Usage: scripts/gen-certs.sh OUT_DIR [CN ...]   (default CNs: admin provisioner auditor viewer probe)
# Uses `calea-probe certs` (rcgen), built with the `demo` feature that production
# builds leave out. Not for production keys.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [CN ...]}
shift || true
cns=("$@")
[ ${#cns[@]} -gt 0 ] || cns=(admin provisioner auditor viewer probe)
cd "$(dirname "$0")/.."
# Always through cargo: target/release/calea-probe may be a production build
# without `certs` (cargo rebuilds only when no build with these features is cached).
cargo build --release -p control --bin calea-probe --features demo
bin=target/release/calea-probe
args=()
for cn in "${cns[@]}"; do args+=(--client "$cn"); done
"$bin" certs --out "$out" "${args[@]}"
