//! Real DPDK EAL on `net_pcap` vdevs: what the safe layer receives is exactly
//! what the capture holds, queue by queue, frame by frame.
//!
//! DPDK allows one EAL per process, so each test re-runs this test binary as a
//! child process (`CALEA_EAL_CHILD` set, `--exact <test>`), with its own
//! `--file-prefix`. The child receives and prints one `@@` line per frame; the
//! parent wrote the captures and checks the child's lines against them.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dataplane::dpdk::{
    port_by_name, register_thread, DpdkError, Eal, Mempool, Mtu, Port, RssMode, RxOptions,
};
use dataplane::handoff;
use dataplane::source::DpdkSource;
use dataplane::synth::{write_pcap, Frame};
use dataplane::targets::{self, InterceptSpec, Mode, Slot, Target, Update};
use dataplane::worker::{self, Clock, WorkerCtx, WorkerStats};

const CHILD_ENV: &str = "CALEA_EAL_CHILD";
const DIR_ENV: &str = "CALEA_EAL_DIR";
const PREFIX_ENV: &str = "CALEA_EAL_PREFIX";
/// Capture time of frame 0: 2026-01-02T03:04:05.000006789Z.
const BASE_NS: u64 = 1_767_323_045_000_006_789;
/// Ethernet + IPv4 + UDP headers.
const PAYLOAD_OFFSET: usize = 14 + 20 + 8;

/// Ethernet/IPv4/UDP frame of `len` bytes whose UDP payload starts with `file`, `seq`.
fn frame(file: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut payload = vec![0u8; len.saturating_sub(PAYLOAD_OFFSET).max(5)];
    payload[0] = file;
    payload[1..5].copy_from_slice(&seq.to_be_bytes());
    let [_, _, hi, lo] = seq.to_be_bytes();
    Frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4(Ipv4Addr::new(10, file, hi, lo), Ipv4Addr::new(192, 0, 2, 1))
        .udp(4000, 5000)
        .payload(&payload)
        .build()
}

/// Capture time of frame `seq`, with a sub-microsecond part.
fn capture_ns(seq: u32) -> u64 {
    BASE_NS + u64::from(seq) * 1_000_777
}

/// Writes `count` frames of `file` (nanosecond pcap); returns them.
fn write_capture(path: &Path, file: u8, count: u32, len: impl Fn(u32) -> usize) -> Vec<Vec<u8>> {
    let frames: Vec<(u64, Vec<u8>)> = (0..count)
        .map(|seq| (capture_ns(seq), frame(file, seq, len(seq))))
        .collect();
    write_pcap(path, &frames).unwrap();
    frames.into_iter().map(|(_, f)| f).collect()
}

/// Runs `test` of this binary as a child with its own EAL; returns its `@@` lines.
fn run_child(test: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("calea-{}-{test}", std::process::id());
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(DIR_ENV, dir)
        .env(PREFIX_ENV, &prefix)
        .output()
        .unwrap();
    remove_eal_runtime_dir(&prefix);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {test} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest prints `test NAME ... ` without a newline before running it.
    stdout
        .lines()
        .filter_map(|l| l.split_once("@@ "))
        .map(|(_, l)| l.to_owned())
        .collect()
}

/// EAL leaves its runtime directory (config, sockets) behind after cleanup:
/// /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk.
fn remove_eal_runtime_dir(prefix: &str) {
    let xdg = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    for base in ["/var/run/dpdk".to_owned(), format!("{xdg}/dpdk")] {
        let _ = std::fs::remove_dir_all(Path::new(&base).join(prefix));
    }
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

fn eal(vdev: &str) -> Eal {
    let args: Vec<String> = [
        "eal-test",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "-l",
        "0",
        "--log-level=lib.eal:warning",
        "--file-prefix",
        &std::env::var(PREFIX_ENV).unwrap(),
        "--vdev",
        vdev,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Eal::init(&args).unwrap()
}

/// Receives until `expected` frames arrived (a finite pcap then stays empty),
/// printing `@@ F queue file seq frame_len wire_len segmented ts` per frame.
fn drain(rx: &mut dataplane::dpdk::RxQueue, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    let queue = rx.queue_id();
    while seen < expected && Instant::now() < deadline {
        let burst = rx.recv();
        // Where in their 4 KiB pages a burst's frames start: one mbuf a page
        // (DPDK's layout without hugepages) puts them all at one offset.
        let offsets: std::collections::BTreeSet<usize> = (0..burst.len())
            .map(|i| burst.frame(i).as_ptr() as usize % 4096)
            .collect();
        println!("@@ O {} {}", burst.len(), offsets.len());
        for i in 0..burst.len() {
            burst.prefetch(i + 3);
            let f = burst.frame(i);
            let seq = u32::from_be_bytes(
                f[PAYLOAD_OFFSET + 1..PAYLOAD_OFFSET + 5]
                    .try_into()
                    .unwrap(),
            );
            let ts = burst
                .timestamp_ns(i)
                .map_or("-".to_owned(), |t| t.to_string());
            println!(
                "@@ F {} {} {seq} {} {} {} {ts}",
                queue,
                f[PAYLOAD_OFFSET],
                f.len(),
                burst.wire_len(i),
                burst.is_segmented(i)
            );
        }
        seen += burst.len();
    }
}

#[derive(Debug, PartialEq)]
struct Rx {
    queue: u16,
    file: u8,
    seq: u32,
    frame_len: usize,
    wire_len: usize,
    segmented: bool,
    ts: Option<u64>,
}

fn frames(lines: &[String]) -> Vec<Rx> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("F "))
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            Rx {
                queue: v[0].parse().unwrap(),
                file: v[1].parse().unwrap(),
                seq: v[2].parse().unwrap(),
                frame_len: v[3].parse().unwrap(),
                wire_len: v[4].parse().unwrap(),
                segmented: v[5].parse().unwrap(),
                ts: v[6].parse().ok(),
            }
        })
        .collect()
}

fn stat(lines: &[String], key: &str) -> u64 {
    let prefix = format!("S {key} ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap()
        .parse()
        .unwrap()
}

fn print_stats(port: &Port) {
    let s = port.stats().unwrap();
    for (k, v) in [
        ("ipackets", s.ipackets),
        ("ibytes", s.ibytes),
        ("imissed", s.imissed),
        ("ierrors", s.ierrors),
    ] {
        println!("@@ S {k} {v}");
    }
}

#[test]
fn eal_single_queue_receives_every_frame_in_order_with_capture_timestamps() {
    const TEST: &str = "eal_single_queue_receives_every_frame_in_order_with_capture_timestamps";
    if is_child(TEST) {
        let dir = std::env::var(DIR_ENV).unwrap();
        let eal = eal(&format!("net_pcap0,rx_pcap={dir}/a.pcap"));
        assert!(matches!(
            Eal::init(&[]),
            Err(DpdkError::EalAlreadyInitialised)
        ));
        assert!(port_by_name(&eal, "net_pcap9").is_err());
        let pool = Mempool::new(&eal, "rx-pool", 4095, 64, 2176).unwrap();
        let id = port_by_name(&eal, "net_pcap0").unwrap();
        let tiny = RxOptions {
            mtu: Mtu::Exactly(60),
            ..RxOptions::default()
        };
        let refused = Port::configure(id, 1, 512, &pool, tiny).unwrap_err();
        println!("@@ E {refused}");
        let opts = RxOptions {
            timestamps: true,
            mtu: Mtu::Exactly(1500),
        };
        let port = Port::configure(id, 1, 512, &pool, opts).unwrap();
        println!("@@ M {} {}", port.mtu(), port.scatter());
        assert!(
            Port::configure(port.id(), 1, 512, &pool, RxOptions::default()).is_err(),
            "one owner per port"
        );
        println!("@@ T {}", port.has_timestamps());
        port.start().unwrap();
        let mut rx = port.rx_queue(0).unwrap();
        assert!(port.rx_queue(0).is_err(), "a queue is handed out once");
        assert!(port.rx_queue(1).is_err(), "out of range");
        drain(&mut rx, 1000);
        print_stats(&port);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sent = write_capture(&dir.path().join("a.pcap"), 7, 1000, |seq| {
        60 + (seq as usize * 7) % 1400
    });
    let lines = run_child(TEST, dir.path());

    assert!(
        lines.contains(&"T true".to_owned()),
        "net_pcap offers RX timestamps"
    );
    let refused = lines.iter().find(|l| l.starts_with("E ")).unwrap();
    assert!(
        refused.contains("MTU 60 asked, the device takes MTU 68..=65535"),
        "{refused}"
    );
    assert!(lines.contains(&"M 1500 false".to_owned()), "{lines:?}");
    let got = frames(&lines);
    let want: Vec<Rx> = sent
        .iter()
        .enumerate()
        .map(|(seq, f)| Rx {
            queue: 0,
            file: 7,
            seq: seq as u32,
            frame_len: f.len(),
            wire_len: f.len(),
            segmented: false,
            ts: Some(capture_ns(seq as u32) / 1000 * 1000),
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // Mbufs packed back to back without hugepages: the frames of a full
    // burst start at as many page offsets as there are frames.
    let full_bursts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("O 32 "))
        .collect();
    assert!(!full_bursts.is_empty(), "{lines:?}");
    assert!(full_bursts.iter().all(|&n| n == "32"), "{full_bursts:?}");
    assert_eq!(stat(&lines, "ipackets"), 1000);
    assert_eq!(
        stat(&lines, "ibytes"),
        sent.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(stat(&lines, "ierrors"), 0);
}

#[test]
fn eal_two_queues_each_see_exactly_their_own_capture() {
    const TEST: &str = "eal_two_queues_each_see_exactly_their_own_capture";
    if is_child(TEST) {
        let dir = std::env::var(DIR_ENV).unwrap();
        let eal = eal(&format!(
            "net_pcap0,rx_pcap={dir}/a.pcap,rx_pcap={dir}/b.pcap"
        ));
        let pool = Mempool::new(&eal, "rx-pool", 4095, 64, 2176).unwrap();
        let port = Port::configure(
            port_by_name(&eal, "net_pcap0").unwrap(),
            2,
            256,
            &pool,
            RxOptions::default(),
        )
        .unwrap();
        assert_eq!(port.rss(), RssMode::Off, "net_pcap has no RSS");
        println!("@@ M {} {}", port.mtu(), port.scatter());
        assert!(!port.has_timestamps(), "not asked for");
        port.start().unwrap();
        let queues = [port.rx_queue(0).unwrap(), port.rx_queue(1).unwrap()];
        std::thread::scope(|s| {
            for (mut rx, n) in queues.into_iter().zip([300, 500]) {
                let eal = &eal;
                s.spawn(move || {
                    register_thread(eal).unwrap();
                    drain(&mut rx, n);
                });
            }
        });
        print_stats(&port);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = write_capture(&dir.path().join("a.pcap"), 1, 300, |_| 64);
    let b = write_capture(&dir.path().join("b.pcap"), 2, 500, |seq| 64 + seq as usize);
    let lines = run_child(TEST, dir.path());

    // The default jumbo MTU; net_pcap chains large frames without offering scatter.
    assert!(lines.contains(&"M 9000 false".to_owned()), "{lines:?}");
    let mut per_queue: BTreeMap<u16, Vec<(u8, u32)>> = BTreeMap::new();
    for f in frames(&lines) {
        assert_eq!(f.ts, None);
        per_queue.entry(f.queue).or_default().push((f.file, f.seq));
    }
    assert_eq!(per_queue[&0], (0..300).map(|s| (1, s)).collect::<Vec<_>>());
    assert_eq!(per_queue[&1], (0..500).map(|s| (2, s)).collect::<Vec<_>>());
    assert_eq!(stat(&lines, "ipackets"), 800);
    let bytes: u64 = a.iter().chain(&b).map(|f| f.len() as u64).sum();
    assert_eq!(stat(&lines, "ibytes"), bytes);
}

/// Threads registered with DPDK release their lcore id when they exit: far more
/// worker threads than DPDK's lcore slots (128) come and go one after another,
/// and each gets the slot the one before freed.
#[test]
fn eal_registered_threads_release_their_lcore_id_on_exit() {
    const TEST: &str = "eal_registered_threads_release_their_lcore_id_on_exit";
    const THREADS: usize = 300;
    if is_child(TEST) {
        let dir = std::env::var(DIR_ENV).unwrap();
        let eal = eal(&format!("net_pcap0,rx_pcap={dir}/a.pcap"));
        for i in 0..THREADS {
            let eal = &eal;
            let id = std::thread::scope(|s| {
                s.spawn(|| {
                    let id = register_thread(eal).unwrap_or_else(|e| panic!("thread {i}: {e}"));
                    assert_eq!(Eal::lcore_id(), id);
                    // Registered once: a second call keeps the same id.
                    assert_eq!(register_thread(eal).unwrap(), id);
                    id
                })
                .join()
                .unwrap()
            });
            println!("@@ L {i} {id}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_capture(&dir.path().join("a.pcap"), 1, 1, |_| 64);
    let ids: Vec<u32> = run_child(TEST, dir.path())
        .iter()
        .filter_map(|l| l.strip_prefix("L "))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), THREADS);
    // The main thread is lcore 0; every worker thread reuses the next slot.
    assert!(ids.iter().all(|&id| id == ids[0] && id > 0), "{ids:?}");
}

#[test]
fn eal_frame_larger_than_an_mbuf_arrives_segmented_with_first_segment_only() {
    const TEST: &str = "eal_frame_larger_than_an_mbuf_arrives_segmented_with_first_segment_only";
    if is_child(TEST) {
        let dir = std::env::var(DIR_ENV).unwrap();
        let eal = eal(&format!("net_pcap0,rx_pcap={dir}/a.pcap"));
        let (pool, port) = small_mbuf_port(&eal, false);
        let mut rx = port.rx_queue(0).unwrap();
        let before = pool.available();
        drain(&mut rx, 3);
        println!("@@ P {before} {}", pool.available());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lens = [100usize, 1400, DATA_ROOM];
    write_capture(&dir.path().join("a.pcap"), 3, 3, |seq| lens[seq as usize]);
    let lines = run_child(TEST, dir.path());

    let got: Vec<(u32, usize, usize, bool)> = frames(&lines)
        .iter()
        .map(|f| (f.seq, f.frame_len, f.wire_len, f.segmented))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 100, 100, false),
            (1, DATA_ROOM, 1400, true),
            (2, DATA_ROOM, DATA_ROOM, false)
        ]
    );
    // Every mbuf went back to the pool after its burst (nothing leaked, segments included).
    let pool_line = lines.iter().find_map(|l| l.strip_prefix("P ")).unwrap();
    let (before, after) = pool_line.split_once(' ').unwrap();
    assert_eq!(before, after);
}

/// The production path: two workers, each running `worker::run` on a
/// `DpdkSource` over its own queue, hand off exactly the frames of their own
/// capture that carry the target, in order, and nothing else.
#[test]
fn eal_workers_on_two_queues_hand_off_exactly_their_target_frames() {
    const TEST: &str = "eal_workers_on_two_queues_hand_off_exactly_their_target_frames";
    if is_child(TEST) {
        let dir = std::env::var(DIR_ENV).unwrap();
        let eal = eal(&format!(
            "net_pcap0,rx_pcap={dir}/a.pcap,rx_pcap={dir}/b.pcap"
        ));
        let pool = Mempool::new(&eal, "rx-pool", 4095, 64, 2176).unwrap();
        let port = Port::configure(
            port_by_name(&eal, "net_pcap0").unwrap(),
            2,
            256,
            &pool,
            RxOptions {
                timestamps: true,
                ..RxOptions::default()
            },
        )
        .unwrap();
        port.start().unwrap();
        let (mut writer, replicas) = targets::replicas(2, 64);
        install_target(&mut writer, Mode::Headers, Target::Ipv4(TARGET));
        let quit = [AtomicBool::new(false), AtomicBool::new(false)];
        std::thread::scope(|s| {
            for ((q, tables), quit) in replicas.into_iter().enumerate().zip(&quit) {
                let (producer, mut consumer) = handoff::channel(1024, 2048);
                let stats = Arc::new(WorkerStats::default());
                let ctx = worker_ctx(&port, q as u16, tables, producer, &stats);
                s.spawn(move || worker::run(ctx, quit));
                s.spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while stats.rx_packets.load(Ordering::Relaxed) < 400
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    quit.store(true, Ordering::Relaxed);
                    println!("@@ N {q} {}", stats.rx_packets.load(Ordering::Relaxed));
                    consumer.drain(usize::MAX, |r| {
                        let m = r.matches()[0];
                        println!(
                            "@@ R {} {} {} {:?} {} {} {}",
                            r.worker(),
                            m.key,
                            r.matches().len(),
                            r.mode(),
                            r.timestamp_ns(),
                            r.wire_len(),
                            hex(r.data())
                        );
                    });
                });
            }
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for (file, q) in [(1u8, 0u16), (2, 1)] {
        // Every 7th frame (from file 1) or 5th (file 2) goes to or comes from the target.
        let every = if file == 1 { 7 } else { 5 };
        let frames: Vec<(u64, Vec<u8>)> = (0..400u32)
            .map(|seq| {
                let f = frame(file, seq, 80);
                let f = if seq.is_multiple_of(every) {
                    with_addr(f, seq.is_multiple_of(2))
                } else {
                    f
                };
                (capture_ns(seq), f)
            })
            .collect();
        for (seq, (ts, f)) in frames.iter().enumerate() {
            if (seq as u32).is_multiple_of(every) {
                // Headers mode: Ethernet + IPv4 + UDP, never a payload byte.
                want.push(format!(
                    "{q} 77 1 Headers {} 80 {}",
                    ts / 1000 * 1000,
                    hex(&f[..PAYLOAD_OFFSET])
                ));
            }
        }
        let name = if file == 1 { "a.pcap" } else { "b.pcap" };
        write_pcap(dir.path().join(name), &frames).unwrap();
    }
    let lines = run_child(TEST, dir.path());
    assert!(
        lines.contains(&"N 0 400".to_owned()),
        "worker 0 saw its 400 frames"
    );
    assert!(
        lines.contains(&"N 1 400".to_owned()),
        "worker 1 saw its 400 frames"
    );
    let mut got: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("R "))
        .map(str::to_owned)
        .collect();
    // Workers print concurrently: compare per worker, each in its own order.
    got.sort_by_key(|l| l.split(' ').next().map(str::to_owned));
    want.sort_by_key(|l| l.split(' ').next().map(str::to_owned));
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
}

/// A content warrant on frames larger than an mbuf: the worker classifies
/// each in its first segment and the record holds every segment's bytes, in
/// order, up to the chain length a record takes (then flagged truncated).
#[test]
fn eal_worker_copies_every_segment_of_a_frame_larger_than_an_mbuf() {
    const TEST: &str = "eal_worker_copies_every_segment_of_a_frame_larger_than_an_mbuf";
    if is_child(TEST) {
        content_worker_on_small_mbufs(Target::Ipv4(TARGET), 4);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // One segment; several; more than the nine a record takes.
    let frames: Vec<(u64, Vec<u8>)> = [100usize, 1400, 3000, 9000]
        .iter()
        .zip(0u32..)
        .map(|(&len, seq)| (capture_ns(seq), with_addr(frame(4, seq, len), true)))
        .collect();
    write_pcap(dir.path().join("a.pcap"), &frames).unwrap();
    let lines = run_child(TEST, dir.path());
    let got: Vec<(usize, bool, Vec<u8>)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("R "))
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (v[0].parse().unwrap(), v[1].parse().unwrap(), unhex(v[2]))
        })
        .collect();
    assert_eq!(got.len(), frames.len());
    for ((wire, truncated, data), (_, f)) in got.iter().zip(&frames) {
        assert_eq!(*wire, f.len());
        assert!(data[..] == f[..data.len()], "not the frame's first bytes");
        // Up to 9 segments are copied, each holding at least an mbuf's data room.
        let whole = f.len() <= 9 * DATA_ROOM;
        assert_eq!(
            (data.len() == f.len(), *truncated),
            (whole, !whole),
            "{}",
            f.len()
        );
        assert!(data.len() >= f.len().min(9 * DATA_ROOM));
    }
    // Every segment went back to the pool once copied.
    let pool_line = lines.iter().find_map(|l| l.strip_prefix("P ")).unwrap();
    let (before, after) = pool_line.split_once(' ').unwrap();
    assert_eq!(before, after);
    assert!(lines.contains(&"T 1".to_owned()), "{lines:?}");
}

/// IPv6 in MPLS larger than an mbuf, its source in 2001:db8:8100::/48 (bytes
/// 4-5 read as 802.1Q where an Ethernet header's EtherType would be): the
/// worker sees the first segment alone, and still takes the packet for IPv6
/// by its length on the wire, so the target's frame is handed off whole and
/// the other subscriber's is not.
#[test]
fn eal_worker_finds_ipv6_in_mpls_in_a_frame_larger_than_an_mbuf() {
    const TEST: &str = "eal_worker_finds_ipv6_in_mpls_in_a_frame_larger_than_an_mbuf";
    let target: std::net::Ipv6Addr = "2001:db8::77".parse().unwrap();
    if is_child(TEST) {
        content_worker_on_small_mbufs(Target::Ipv6(target), 2);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x8100, 0, 0, 0, 0, 5);
    let frames: Vec<(u64, Vec<u8>)> = [target, "2001:db8::78".parse().unwrap()]
        .into_iter()
        .zip(0u32..)
        .map(|(dst, seq)| {
            let f = Frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
                .mpls(&[16, 17])
                .ipv6(src, dst)
                .udp(4000, 5000)
                .payload(&[0x5a; 2000])
                .build();
            (capture_ns(seq), f)
        })
        .collect();
    write_pcap(dir.path().join("a.pcap"), &frames).unwrap();
    let lines = run_child(TEST, dir.path());
    let records: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("R ")).collect();
    let first = &frames[0].1;
    assert_eq!(
        records,
        [format!("{} false {}", first.len(), hex(first))],
        "{lines:?}"
    );
}

/// The child of the tests above: a content intercept on `target`, a worker
/// on net_pcap0 (the directory's `a.pcap`) over [`small_mbuf_port`] until
/// it received `frames`; prints the pool's free mbufs before and after
/// (`P`), the truncated copies (`T`) and each record (`R`: wire length,
/// truncated, bytes).
fn content_worker_on_small_mbufs(target: Target, frames: u64) {
    let dir = std::env::var(DIR_ENV).unwrap();
    let eal = eal(&format!("net_pcap0,rx_pcap={dir}/a.pcap"));
    let (pool, port) = small_mbuf_port(&eal, true);
    let (mut writer, mut replicas) = targets::replicas(1, 64);
    install_target(&mut writer, Mode::Content, target);
    let (producer, mut consumer) = handoff::channel(64, handoff::DEFAULT_FRAME_CAPACITY);
    let stats = Arc::new(WorkerStats::default());
    let ctx = worker_ctx(&port, 0, replicas.remove(0), producer, &stats);
    let quit = AtomicBool::new(false);
    let before = pool.available();
    std::thread::scope(|s| {
        let worker = s.spawn(|| worker::run(ctx, &quit));
        let deadline = Instant::now() + Duration::from_secs(60);
        while stats.rx_packets.load(Ordering::Relaxed) < frames && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        quit.store(true, Ordering::Relaxed);
        worker.join().unwrap();
    });
    println!("@@ P {before} {}", pool.available());
    println!("@@ T {}", stats.truncated_copies.load(Ordering::Relaxed));
    consumer.drain(usize::MAX, |r| {
        println!("@@ R {} {} {}", r.wire_len(), r.truncated(), hex(r.data()));
    });
}

/// Data room of the mbufs of [`small_mbuf_port`]: most test frames span several.
const DATA_ROOM: usize = 512;

/// net_pcap0 with one queue on a pool of [`DATA_ROOM`]-byte mbufs, started.
fn small_mbuf_port(eal: &Eal, timestamps: bool) -> (Mempool, Port) {
    let room = u16::try_from(128 + DATA_ROOM).unwrap();
    let pool = Mempool::new(eal, "small-pool", 2047, 32, room).unwrap();
    let port = Port::configure(
        port_by_name(eal, "net_pcap0").unwrap(),
        1,
        256,
        &pool,
        RxOptions {
            timestamps,
            ..RxOptions::default()
        },
    )
    .unwrap();
    port.start().unwrap();
    (pool, port)
}

/// Installs intercept 77 (`mode`, always open) on `target`.
fn install_target(writer: &mut targets::TableWriter, mode: Mode, target: Target) {
    let slot = Slot(3);
    let spec = InterceptSpec::always_open(77, mode);
    writer.send(&[
        Update::SetIntercept { slot, spec },
        Update::AddTarget { slot, target },
    ]);
}

/// An armed worker on queue `q` of `port`, stamping with the source's clock.
fn worker_ctx(
    port: &Port,
    q: u16,
    tables: targets::TableReplica,
    handoff: handoff::HandoffProducer,
    stats: &Arc<WorkerStats>,
) -> WorkerCtx<DpdkSource> {
    WorkerCtx {
        id: q,
        source: DpdkSource::new(port.rx_queue(q).unwrap()),
        tables,
        handoff,
        stats: Arc::clone(stats),
        clock: Clock::Source,
        update_budget: 64,
        armed: Arc::new(AtomicBool::new(true)),
    }
}

/// 192.0.2.77: put in the frame as source (`src`) or destination.
const TARGET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

/// `f` rebuilt with [`TARGET`] as its source or destination address.
fn with_addr(f: Vec<u8>, src: bool) -> Vec<u8> {
    let seq = u32::from_be_bytes(
        f[PAYLOAD_OFFSET + 1..PAYLOAD_OFFSET + 5]
            .try_into()
            .unwrap(),
    );
    let file = f[PAYLOAD_OFFSET];
    let [_, _, hi, lo] = seq.to_be_bytes();
    let other = Ipv4Addr::new(10, file, hi, lo);
    let (s, d) = if src {
        (TARGET, other)
    } else {
        (other, TARGET)
    };
    Frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4(s, d)
        .udp(4000, 5000)
        .payload(&f[PAYLOAD_OFFSET..])
        .build()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
