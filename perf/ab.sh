#!/usr/bin/env bash
# A/B of two builds' worker on the same captures, in alternating pairs (a noisy VM
# moves single runs by 10-15 %: compare pairs, not runs).
#   perf/ab.sh A_RELEASE_DIR B_RELEASE_DIR      e.g. ../base/target/release target/release
# Each dir holds gen_traffic and dp_bench (cargo build --release -p perf --bin gen_traffic
# --bin dp_bench). CAPS (plain gtpu vxlan), PAIRS (3) and DUR (4 s) tune the run.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: perf/ab.sh A_RELEASE_DIR B_RELEASE_DIR" >&2; exit 2; }
A=$1 B=$2
w="$(mktemp -d)"
trap 'rm -rf "$w"' EXIT
"$A/gen_traffic" --out "$w/plain.pcap" --targets-out "$w/plain.txt" --targets 1000000 >/dev/null
eal=(--no-huge -m 1024 --no-pci -l 0-1 --no-telemetry --log-level=lib.eal:warning)
run() { # bin capture targets
    "$1/dp_bench" --targets-file "$w/plain.txt" --targets "$3" --duration "${DUR:-4}" -- "${eal[@]}" \
        --file-prefix "ab-$$" --vdev "net_pcap0,rx_pcap=$2,infinite_rx=1" 2>&1 | awk '/^probe:/ { print $2 }'
}
for cap in ${CAPS:-plain gtpu vxlan}; do
    n=1000000
    if [[ $cap != plain ]]; then
        # As perf/run.sh: every frame in the tunnel, its targets the first 1000 of plain's.
        "$A/gen_traffic" --out "$w/$cap.pcap" --targets-out "$w/$cap.txt" --targets 1000 "--$cap" >/dev/null
        n=1000
    fi
    for i in $(seq 1 "${PAIRS:-3}"); do
        echo "$cap pair $i: A $(run "$A" "$w/$cap.pcap" $n) Mpps, B $(run "$B" "$w/$cap.pcap" $n) Mpps"
    done
done
