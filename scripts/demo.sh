#!/usr/bin/env bash
# The whole calea-probe chain on one machine, no hardware: installs what is missing,
# builds release, then runs `calea-probe demo` (test PKI, generated capture on a
# net_pcap vdev, calea-collector over TLS, two intercepts provisioned through the API).
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./calea-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-calea-demo}
scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release -p control --bins
rm -rf "$out"
exec target/release/calea-probe demo --out "$out"
