#!/usr/bin/env bash
# testpmd-style dataplane run: dpdk-testpmd rxonly and calea-probe's worker (dp_bench)
# on the same net_pcap vdev and the same generated traffic, Mpps side by side; then
# both again on the same flows in each encapsulation of ENCAPS, reported only.
#
#   perf/run.sh [--short | --scaling]
#                              DURATION=secs overrides the per-run duration (default 10),
#                              REPEAT=n the runs per configuration (default 1; the best counts),
#                              ENCAPS="gtpu gre ..." the encapsulations (gen_traffic's flags:
#                              gtpu pppoe gre ipip pseudowire vxlan erspan, pseudowire-no-cw for
#                              a pseudowire without control word, and an IP tunnel's
#                              name with -over-ipv6 for its IPv6-transport form; any of them
#                              with +ipv6 for IPv6 flows inside, and ipv6 for plain IPv6
#                              flows, each with 1M IPv6 targets; subscribers for plain
#                              IPv4 flows with one end in the targets' block, a non-target
#                              subscriber (gen_traffic --subscribers); the default, all of
#                              those and gtpu-over-ipv6 vxlan-over-ipv6 ipv6 gtpu+ipv6
#                              pseudowire+ipv6 subscribers, or gtpu alone with --short; "" none).
#
# --short (CI): 3-second runs, best of 2 (a shared 2-core machine's load comes and goes:
# best-of-n compares each side at its least disturbed), and if the ratio is then under
# FLOOR (default 0.5, the CI floor issue #2 sets), up to RETRIES (default 2) more runs
# of its testpmd/probe pair; exits non-zero only if it is under FLOOR after them.
# testpmd runs twice on the plain capture: as the issue states it (its default mbuf
# pool) and with --mp-alloc=xbuf, its frame buffers packed as the probe's are without
# hugepages (dpdk::Mempool); the faster of the two is the ratio's reference.
# The last line is always: probe/testpmd ratio: R (probe X Mpps, testpmd Y Mpps, targets 1000000)
#
# Scaling (in the full run, or alone with --scaling): the probe with 1M targets on 1
# and then 2 workers, each polling an RX queue of its own (net_pcap: one queue per
# rx_pcap=, the same capture on each), worker i on core FIRST+i; prints each
# worker's Mpps and the scaling ratio (2-worker total / 1-worker Mpps; 2.00 is
# linear). On a 2-core machine the second worker shares a core with the control
# thread that drains the hand-off rings: the ratio is what that machine gives.
set -euo pipefail

cd "$(dirname "$0")/.."
short=0 scaling_only=0
case "${1:-}" in
    --short) short=1 ;;
    --scaling) scaling_only=1 ;;
    "") ;;
    *) echo "usage: perf/run.sh [--short | --scaling]" >&2; exit 2 ;;
esac
duration="${DURATION:-10}"
((short)) && duration="${DURATION:-3}"
repeat="${REPEAT:-1}"
((short)) && repeat="${REPEAT:-2}"
best() { sort -g | tail -1; }
# The median of a column of figures (the lower middle of an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# $1 / $2 to two decimals.
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

if ! pkg-config --exists libdpdk || ! command -v dpdk-testpmd >/dev/null; then
    scripts/install-deps.sh
fi

cargo build --release --quiet -p perf --bin gen_traffic --bin dp_bench
bin=target/release

work="$(mktemp -d)"
tp_pid=""
cleanup() {
    if [[ -n "$tp_pid" ]] && kill -0 "$tp_pid" 2>/dev/null; then kill -INT "$tp_pid" 2>/dev/null || true; wait "$tp_pid" 2>/dev/null || true; fi
    rm -rf "$work"
    # EAL leaves its runtime directories behind.
    for base in /var/run/dpdk "${XDG_RUNTIME_DIR:-/tmp}/dpdk"; do rm -rf "$base/tp-$$" "$base/dp-$$"; done
}
trap cleanup EXIT

"$bin/gen_traffic" --out "$work/traffic.pcap" --targets-out "$work/targets.txt" --targets 1000000
vdev="net_pcap0,rx_pcap=$work/traffic.pcap,infinite_rx=1"
# The same capture with 1 % of its frames signalling (SIP, RADIUS, DHCP) to
# the servers of the probe's signalling intercept.
"$bin/gen_traffic" --out "$work/signalling.pcap" --targets-out "$work/signalling-targets.txt" \
    --targets 1000000 --signalling-fraction 0.01
signalling_vdev="net_pcap0,rx_pcap=$work/signalling.pcap,infinite_rx=1"
# The same flows in one encapsulation each, every frame in it (a mobile core's
# user plane, a broadband access network, site tunnels, a metro core, traffic
# mirrors); their targets are among the first 1000 of targets.txt, which
# provisions them.
# A tunnel's -over-ipv6 form carries its outer header in IPv6 (a transport
# network on IPv6). IPv6 flows (+ipv6, or plain: ipv6) have IPv6 targets: their
# capture's own list of 1M provisions them.
known_encaps="gtpu pppoe gre ipip pseudowire vxlan erspan"
ip_tunnels="gtpu gre ipip vxlan erspan"
default_encaps="$known_encaps pseudowire-no-cw gtpu-over-ipv6 vxlan-over-ipv6 ipv6 gtpu+ipv6 pseudowire+ipv6 subscribers"
((short)) && default_encaps=gtpu
((scaling_only)) && default_encaps=""
read -r -a encaps <<<"${ENCAPS-$default_encaps}"
declare -A encap_targets
for e in "${encaps[@]}"; do
    tunnel="${e%+ipv6}" flags=() targets=1000
    encap_targets[$e]="$work/targets.txt"
    if [[ "$e" == *+ipv6 || "$e" == ipv6 ]]; then
        flags=(--ipv6) targets=1000000 encap_targets[$e]="$work/$e-targets.txt"
        [[ "$e" == ipv6 ]] && tunnel=""
    fi
    if [[ "$tunnel" == *-over-ipv6 && " $ip_tunnels " == *" ${tunnel%-over-ipv6} "* ]]; then
        flags+=("--${tunnel%-over-ipv6}" --ipv6-transport)
    elif [[ "$tunnel" == pseudowire-no-cw ]]; then
        flags+=(--pseudowire --no-control-word)
    elif [[ "$tunnel" == subscribers ]]; then
        # Its subscribers are the addresses past all 1M targets.
        flags+=(--subscribers) targets=1000000
    elif [[ " $known_encaps " == *" $tunnel "* ]]; then
        flags+=("--$tunnel")
    elif [[ -n "$tunnel" ]]; then
        echo "perf/run.sh: unknown encapsulation '$e' in ENCAPS (known: $known_encaps pseudowire-no-cw; ${ip_tunnels// /, } with -over-ipv6; any with +ipv6; ipv6; subscribers)" >&2
        exit 2
    fi
    "$bin/gen_traffic" --out "$work/$e.pcap" --targets-out "$work/$e-targets.txt" --targets "$targets" "${flags[@]}"
done
encap_vdev() { echo "net_pcap0,rx_pcap=$work/$1.pcap,infinite_rx=1"; }
eal=(--no-huge -m 1024 --no-pci -l 0-1 --no-telemetry --log-level=lib.eal:warning)

# testpmd: wait until it forwards (EAL start-up and capture loading take a few s),
# run `duration` more seconds, stop it with SIGINT (clean exit), average its
# per-second Rx-pps samples, dropping the first partial one; sets `tp_mpps` (runs
# in this shell, so the EXIT trap can always stop testpmd). $1: the vdev; the rest:
# more testpmd options.
rx_pps_samples() { grep -a 'Rx-pps:' "$work/testpmd.log" | awk '$2 > 0 { print $2 }'; }
testpmd_run() {
    local vdev=$1
    shift
    dpdk-testpmd "${eal[@]}" --file-prefix "tp-$$" --vdev "$vdev" -- \
        --forward-mode=rxonly -a --stats-period 1 --total-num-mbufs=16384 "$@" >"$work/testpmd.log" 2>&1 </dev/null &
    tp_pid=$!
    for _ in $(seq 1 120); do
        [[ -n "$(rx_pps_samples)" ]] && break
        kill -0 "$tp_pid" 2>/dev/null || { cat "$work/testpmd.log" >&2; echo "perf/run.sh: testpmd exited" >&2; exit 1; }
        sleep 0.5
    done
    sleep "$duration"
    kill -INT "$tp_pid"
    wait "$tp_pid" || true
    tp_pid=""
    tp_mpps="$(rx_pps_samples | awk 'NR > 1 { s += $1; n++ } END { if (n) printf "%.2f", s / n / 1e6 }')"
    if [[ -z "$tp_mpps" ]]; then
        cat "$work/testpmd.log" >&2
        echo "perf/run.sh: no testpmd Rx-pps samples (run longer: DURATION=10)" >&2
        exit 1
    fi
}
# The probe on vdev $1 with $2 targets, N and any of +mix (dp_bench --mix),
# +endpoints (dp_bench --endpoints 100000) and +signalling (dp_bench
# --signalling, on the signalling capture instead of $1), from list $3
# (default: the plain capture's); sets `mpps`.
probe_run() {
    local vdev=$1 list=${3:-$work/targets.txt} more=() part
    local -a parts
    IFS=+ read -ra parts <<<"$2"
    for part in "${parts[@]:1}"; do
        case "$part" in
            mix) more+=(--mix) ;;
            endpoints) more+=(--endpoints 100000) ;;
            signalling) more+=(--signalling) vdev="$signalling_vdev" ;;
            *) echo "perf/run.sh: unknown target set '$2'" >&2; exit 2 ;;
        esac
    done
    out="$("$bin/dp_bench" --targets-file "$list" --targets "${parts[0]}" "${more[@]}" \
        --duration "$duration" -- "${eal[@]}" --file-prefix "dp-$$" --vdev "$vdev" 2>&1)" || { echo "$out" >&2; exit 1; }
    grep -E '^(dp_bench:|matches |port:|worker:)' <<<"$out" | sed 's/^/  /'
    mpps="$(awk '/^probe:/ { print $2 }' <<<"$out")"
}
# Scaling: 1 and 2 workers, one RX queue each, 1M targets; the best of `repeat` runs each.
# infinite_rx holds a queue's whole capture in mbufs: 16383 for each queue.
scaling() {
    local n first out total per_worker
    declare -A scaling_mpps
    for n in 1 2; do
        # Leave core 0 to the control thread where the machine has cores to spare.
        first=$(( $(nproc) > n ? 1 : 0 ))
        local rx_pcaps=""
        for _ in $(seq 1 "$n"); do rx_pcaps+=",rx_pcap=$work/traffic.pcap"; done
        for rep in $(seq 1 "$repeat"); do
            out="$("$bin/dp_bench" --targets-file "$work/targets.txt" --targets 1000000 \
                --workers "$n" --core "$first" --mbufs $((16384 * n - 1)) --duration "$duration" -- "${eal[@]}" \
                --file-prefix "dp-$$" --vdev "net_pcap0${rx_pcaps},infinite_rx=1" 2>&1)" || { echo "$out" >&2; exit 1; }
            total="$(awk '/^probe:/ { print $2 }' <<<"$out")"
            per_worker="$(awk '/^worker [0-9]+ on core/ { printf "%sworker %s %s Mpps", sep, $2, $6; sep = ", " }' <<<"$out")"
            # Per CPU-second the worker threads got: what a worker does on a core of its own.
            per_cpu="$(awk '/^worker:/ { print $2 }' <<<"$out")"
            echo "scaling: $n worker(s) on cores $first-$((first + n - 1)) (run $rep): $total Mpps${per_worker:+ ($per_worker)}," \
                "${per_cpu:-?} Mpps per worker CPU-second"
            scaling_mpps[$n]+="$total"$'\n'
        done
    done
    local one two
    one="$(best <<<"${scaling_mpps[1]}")" two="$(best <<<"${scaling_mpps[2]}")"
    echo "scaling ratio, 2 workers / 1 worker: $(ratio_of "$two" "$one")" \
        "($two vs $one Mpps, $(ratio_of "$two" 2) Mpps a worker; linear is 2.00; $(nproc) cores)"
}
if ((scaling_only)); then
    scaling
    exit 0
fi

# Each repetition runs testpmd, then the probe with every target count, so both
# sides of the ratio see the machine in the same state; the best run of each counts.
tp_runs="" tp_xbuf_runs=""
# testpmd on the plain capture with its default pool, then with --mp-alloc=xbuf;
# each run's figure is kept. $1 names the run in the output.
testpmd_both() {
    testpmd_run "$vdev"
    echo "testpmd rxonly ($1): $tp_mpps Mpps"
    tp_runs+="$tp_mpps"$'\n'
    testpmd_run "$vdev" --mp-alloc=xbuf
    echo "testpmd rxonly --mp-alloc=xbuf ($1): $tp_mpps Mpps"
    tp_xbuf_runs+="$tp_mpps"$'\n'
}
declare -A probe_runs encap_tp_runs encap_probe_runs rep_mpps paired
tp_signalling_runs=""
# "1000000+mix": the 1M hosts plus a carrier's mix of prefixes and MACs
# (dp_bench --mix) that no frame is in; "1000000+signalling": the 1M hosts and
# the signalling intercept, 1 % of the frames signalling to it;
# "1000000+endpoints+signalling": that plus 100k UDP endpoint targets (a
# call's media), 0.1 % of the frames matching one and 0.9 % touching an
# endpoint's address on another port (dp_bench --endpoints); all reported,
# not part of the ratio.
target_counts=(0 1000 100000 1000000 1000000+mix 1000000+signalling 1000000+endpoints+signalling)
for rep in $(seq 1 "$repeat"); do
    testpmd_both "run $rep"
    # The signalling rows' reference: testpmd on their own capture, whose
    # signalling frames (162-456 bytes) the vdev copies as it does for testpmd.
    for pool in "" --mp-alloc=xbuf; do
        testpmd_run "$signalling_vdev" ${pool:+"$pool"}
        echo "testpmd rxonly${pool:+ $pool} on the signalling capture (run $rep): $tp_mpps Mpps"
        tp_signalling_runs+="$tp_mpps"$'\n'
    done
    # In reverse order every other repetition: a trend in the machine's load
    # then favours neither the rows that run first nor those that run last.
    order=("${target_counts[@]}")
    if ((rep % 2 == 0)); then
        for ((i = ${#target_counts[@]} - 1, j = 0; i >= 0; i--, j++)); do order[j]=${target_counts[i]}; done
    fi
    for targets in "${order[@]}"; do
        probe_run "$vdev" "$targets"
        echo "probe with $targets targets (run $rep): $mpps Mpps"
        probe_runs[$targets]+="$mpps"$'\n'
        rep_mpps[$targets]="$mpps"
    done
    # Each signalling row against the 1M row of the same repetition, a row
    # or two away: the machine's load swings less within such a pair than
    # between the best runs of the two.
    for targets in "${target_counts[@]}"; do
        [[ $targets == *signalling* ]] || continue
        paired[$targets]+="$(ratio_of "${rep_mpps[$targets]}" "${rep_mpps[1000000]}")"$'\n'
    done
    # Encapsulations: reported, not part of the ratio.
    for e in "${encaps[@]}"; do
        testpmd_run "$(encap_vdev "$e")"
        echo "$e: testpmd rxonly (run $rep): $tp_mpps Mpps"
        encap_tp_runs[$e]+="$tp_mpps"$'\n'
        probe_run "$(encap_vdev "$e")" 1000000 "${encap_targets[$e]}"
        echo "$e: probe with 1000000 targets (run $rep): $mpps Mpps"
        encap_probe_runs[$e]+="$mpps"$'\n'
    done
done
((short)) || scaling
echo "testpmd rxonly: $(best <<<"$tp_runs") Mpps"
echo "testpmd rxonly --mp-alloc=xbuf: $(best <<<"$tp_xbuf_runs") Mpps"
for targets in "${target_counts[@]}"; do
    echo "probe with $targets targets: $(best <<<"${probe_runs[$targets]}") Mpps"
done
tp_signalling="$(best <<<"$tp_signalling_runs")"
echo "testpmd rxonly on the signalling capture: $tp_signalling Mpps"
one_m="$(best <<<"${probe_runs[1000000]}")"
for targets in "${target_counts[@]}"; do
    [[ $targets == *signalling* ]] || continue
    p="$(best <<<"${probe_runs[$targets]}")" pairs="${paired[$targets]%$'\n'}"
    echo "$targets: probe $p Mpps, testpmd on the same capture $tp_signalling Mpps," \
        "ratio $(ratio_of "$p" "$tp_signalling"), of the 1M row $(ratio_of "$p" "$one_m")" \
        "(run by run: $(paste -sd' ' <<<"$pairs"), median $(median <<<"$pairs"))"
done
for e in "${encaps[@]}"; do
    e_probe="$(best <<<"${encap_probe_runs[$e]}")"
    e_tp="$(best <<<"${encap_tp_runs[$e]}")"
    echo "$e (every frame in it), 1000000 targets: probe $e_probe Mpps, testpmd $e_tp Mpps," \
        "ratio $(ratio_of "$e_probe" "$e_tp")"
done
# The ratio of the best runs so far; sets `probe_mpps`, `testpmd_mpps`, `ratio`.
best_ratio() {
    probe_mpps="$(best <<<"${probe_runs[1000000]}")"
    testpmd_mpps="$(best <<<"$tp_runs$tp_xbuf_runs")"
    ratio="$(ratio_of "$probe_mpps" "$testpmd_mpps")"
}
under_floor() { awk -v r="$ratio" -v f="$floor" 'BEGIN { exit !(r < f) }'; }
floor="${FLOOR:-0.5}"
best_ratio
# Under the floor in --short: up to RETRIES (default 2) more runs of the ratio's
# pair alone, testpmd then the probe, before it counts (a neighbour's burst of
# load on a shared machine can take either side's best runs).
retries="${RETRIES:-2}"
if ((short)); then
    for retry in $(seq 1 "$retries"); do
        under_floor || break
        echo "perf/run.sh: ratio $ratio under the floor $floor; the pair again (retry $retry of $retries)"
        testpmd_both "retry $retry"
        probe_run "$vdev" 1000000
        echo "probe with 1000000 targets (retry $retry): $mpps Mpps"
        probe_runs[1000000]+="$mpps"$'\n'
        best_ratio
    done
fi
under=0
if ((short)) && under_floor; then
    echo "perf/run.sh: probe/testpmd ratio $ratio is under the floor $floor" >&2
    under=1
fi
echo "probe/testpmd ratio, testpmd's default pool alone: $(ratio_of "$probe_mpps" "$(best <<<"$tp_runs")")"
# Last, also when under the floor.
echo "probe/testpmd ratio: $ratio (probe $probe_mpps Mpps, testpmd $testpmd_mpps Mpps, targets 1000000)"
exit "$under"
