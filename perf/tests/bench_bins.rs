//! gen_traffic and dp_bench as run by perf/run.sh: deterministic traffic with
//! the stated share of target frames, and a bench whose worker matches exactly
//! those frames (real EAL on net_pcap, one child process with its own prefix).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use dataplane::synth::read_pcap;

fn gen(dir: &Path, name: &str, seed: u64, targets: u32) {
    let out = Command::new(env!("CARGO_BIN_EXE_gen_traffic"))
        .arg("--out")
        .arg(dir.join(format!("{name}.pcap")))
        .arg("--targets-out")
        .arg(dir.join(format!("{name}.txt")))
        .args([
            "--packets",
            "4000",
            "--flows",
            "1000",
            "--match-fraction",
            "0.01",
        ])
        .args([
            "--targets",
            &targets.to_string(),
            "--hot-targets",
            "50",
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Frames whose IPv4 source or destination (Ethernet + IPv4 at 14) is in `targets`.
fn target_frames(frames: &[(u64, Vec<u8>)], targets: &HashSet<Ipv4Addr>) -> usize {
    let addr = |f: &[u8], at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    frames
        .iter()
        .filter(|(_, f)| targets.contains(&addr(f, 26)) || targets.contains(&addr(f, 30)))
        .count()
}

fn read_targets(path: &Path) -> Vec<Ipv4Addr> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn gen_traffic_is_deterministic_with_the_requested_share_of_target_frames() {
    let dir = tempfile::tempdir().unwrap();
    gen(dir.path(), "a", 9, 500);
    gen(dir.path(), "b", 9, 500);
    gen(dir.path(), "c", 10, 500);
    let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    assert_eq!(read("a.pcap"), read("b.pcap"));
    assert_eq!(read("a.txt"), read("b.txt"));
    assert_ne!(read("a.pcap"), read("c.pcap"));

    let targets = read_targets(&dir.path().join("a.txt"));
    assert_eq!(targets.len(), 500);
    let all: HashSet<Ipv4Addr> = targets.iter().copied().collect();
    assert_eq!(all.len(), 500, "targets are distinct");
    let frames = read_pcap(dir.path().join("a.pcap")).unwrap();
    assert_eq!(frames.len(), 4000);
    assert!(frames.iter().all(|(_, f)| f.len() == 60));
    assert_eq!(target_frames(&frames, &all), 40, "1 % of 4000");
    let hot: HashSet<Ipv4Addr> = targets[..50].iter().copied().collect();
    assert_eq!(
        target_frames(&frames, &hot),
        40,
        "only hot targets are used"
    );
}

#[test]
fn dp_bench_worker_matches_exactly_the_target_frames_of_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    gen(dir.path(), "t", 3, 2000);
    let pcap = dir.path().join("t.pcap");
    let prefix = format!("dpb-test-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_dp_bench"))
        .arg("--targets-file")
        .arg(dir.path().join("t.txt"))
        .args([
            "--targets",
            "2000",
            "--duration",
            "1",
            "--core",
            "0",
            "--mbufs",
            "4095",
            "--rx-desc",
            "256",
        ])
        .args([
            "--",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-telemetry",
            "-l",
            "0",
        ])
        .args(["--file-prefix", &prefix])
        .arg("--vdev")
        .arg(format!("net_pcap0,rx_pcap={}", pcap.display()))
        .output()
        .unwrap();
    // EAL leaves its runtime directory behind (root: /var/run/dpdk, else XDG_RUNTIME_DIR).
    let xdg = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    for base in ["/var/run/dpdk".to_owned(), format!("{xdg}/dpdk")] {
        let _ = std::fs::remove_dir_all(Path::new(&base).join(&prefix));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |line: &str, key: &str| -> u64 {
        let l = stdout.lines().find(|l| l.starts_with(line)).unwrap();
        let mut it = l.split_whitespace();
        it.position(|w| w == key).unwrap();
        it.next().unwrap().parse().unwrap()
    };
    assert_eq!(field("port:", "ipackets"), 4000);
    assert_eq!(field("matches", "matches"), 40);
    assert_eq!(
        field("matches", "drained"),
        40,
        "every record reached the control side"
    );
    assert_eq!(field("matches", "handoff-drops"), 0);
    assert!(stdout.contains("2000 targets loaded"), "{stdout}");
}
