#!/usr/bin/env bash
# The whole calea-probe chain on one machine, no hardware: installs what is missing,
# builds release, then runs `calea-probe demo` (test PKI, generated capture on a
# net_pcap vdev, calea-collector over TLS, address, subscriber and voice
# intercepts provisioned through the API).
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./calea-demo, relative to where it is run;
# an earlier demo's output there is replaced)
set -euo pipefail
# The caller's folder, before changing to the checkout.
out=$(realpath -m -- "${1:-calea-demo}")
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
# `demo` is a feature production builds leave out.
cargo build --release -p control --bins --features demo
exec target/release/calea-probe demo --out "$out"
