#!/usr/bin/env bash
# Installs what calea-probe needs to build, test and benchmark on Debian 12 (bookworm).
# Idempotent: installs only packages that are missing; runs `apt-get update` at most once.
set -euo pipefail

packages=(dpdk dpdk-dev libdpdk-dev libpcap-dev pkg-config clang libclang-dev build-essential
          tshark openssl sqlite3 python3-pip systemd freeradius-utils)

if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    "${sudo[@]}" apt-get update
    # tshark asks whether non-root users may capture: answer non-interactively.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo[@]}" debconf-set-selections
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "install-deps: system packages present"
fi

if ! command -v cargo >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/cargo" ]]; then
    echo "install-deps: installing Rust (rustup)"
    command -v curl >/dev/null 2>&1 || "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y curl
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

if ! python3 -c 'import asn1tools' 2>/dev/null; then
    echo "install-deps: installing asn1tools (pip)"
    # Debian 12 marks the system Python externally managed (PEP 668): pip then
    # needs --break-system-packages for a user install.
    if ! python3 -m pip install --user asn1tools 2>/dev/null; then
        python3 -m pip install --user --break-system-packages asn1tools
    fi
fi

if ! python3 -c 'import xmlschema' 2>/dev/null; then
    echo "install-deps: installing xmlschema (pip), the X1 tests' independent XSD validator"
    if ! python3 -m pip install --user xmlschema 2>/dev/null; then
        python3 -m pip install --user --break-system-packages xmlschema
    fi
fi
