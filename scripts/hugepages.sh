#!/usr/bin/env bash
# Reserves 2 MiB hugepages for DPDK and mounts hugetlbfs (production hosts; tests and
# perf/run.sh use --no-huge instead).   scripts/hugepages.sh [PAGES]   (default 1024 = 2 GiB)
set -euo pipefail
pages="${1:-1024}"
if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi

echo "$pages" | "${sudo[@]}" tee /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages >/dev/null
got="$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"
if ((got < pages)); then
    echo "hugepages: only $got of $pages pages reserved (memory fragmented? reserve at boot: hugepages=$pages)" >&2
    exit 1
fi
if ! mountpoint -q /dev/hugepages; then
    "${sudo[@]}" mkdir -p /dev/hugepages
    "${sudo[@]}" mount -t hugetlbfs nodev /dev/hugepages
fi
echo "hugepages: $got x 2 MiB reserved, hugetlbfs on /dev/hugepages"
