//! Messages per second `Verifier::parse` takes on one core: RADIUS
//! Accounting-Request Start (Request Authenticator checked), DHCPv4 ACK with
//! option 82, DHCPv6 Reply (IA_NA + IA_PD) inside a Relay-Repl; 4096 distinct
//! messages of each, median of 9 runs. Next to it, as the reference measured
//! in the same run on the same messages, one MD5 over each message (the least
//! a RADIUS check costs), and the ratio of the two.
//!
//! `cargo run --release -p perf --bin signal_parse_bench`
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;

use anyhow::{ensure, Result};
use control::sessions::wire::Verifier;
use control::sessions::{NasConfig, SessionsConfig, SignalPacket, Transport};
use md5::{Digest, Md5};
use perf::signalling::{accounting, dhcp4_ack, dhcp6_relayed_reply, DHCP4, DHCP6, NAS, SECRET};
use perf::timing::FrameTimer;

const MESSAGES: u32 = 4096;
const TIMER: FrameTimer = FrameTimer {
    rounds: 50,
    runs: 9,
};

fn verifier() -> Result<Verifier> {
    let path = std::env::temp_dir().join(format!("signal-bench-{}", std::process::id()));
    std::fs::write(&path, SECRET)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let mut cfg: SessionsConfig = toml::from_str("")?;
    cfg.nas.push(NasConfig {
        address: NAS,
        secret_file: path.clone(),
        name: Some("bng1".into()),
    });
    cfg.dhcp_servers = vec![DHCP4];
    cfg.dhcp_relays = vec![DHCP6];
    let v = Verifier::from_config(&cfg);
    std::fs::remove_file(path)?;
    Ok(v?)
}

fn main() -> Result<()> {
    let v = verifier()?;
    let shapes = [
        (
            "RADIUS Accounting-Request Start",
            (0..MESSAGES).map(accounting).collect::<Vec<_>>(),
            NAS,
            (40_000, 1813),
        ),
        (
            "DHCPv4 ACK, option 82",
            (0..MESSAGES).map(dhcp4_ack).collect::<Result<_>>()?,
            DHCP4,
            (67, 67),
        ),
        (
            "DHCPv6 Reply in Relay-Repl",
            (0..MESSAGES)
                .map(dhcp6_relayed_reply)
                .collect::<Result<_>>()?,
            DHCP6,
            (547, 547),
        ),
    ];
    println!(
        "Verifier::parse per message ({MESSAGES} distinct messages, {} rounds, median of {}), one core; reference: one MD5 over each message",
        TIMER.rounds, TIMER.runs
    );
    println!();
    println!("| message | bytes | parse ns/msg | parse msg/s | MD5 ns/msg | parse / MD5 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, messages, src, (src_port, dst_port)) in shapes {
        let packet = |payload: &[u8]| -> Result<_, _> {
            let p = SignalPacket {
                ts_ns: 1,
                src,
                dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
                src_port,
                dst_port,
                transport: Transport::Udp,
                payload,
            };
            v.parse(&p)
        };
        // Every message must be accepted: a benchmark of refusals measures nothing.
        for m in &messages {
            let parsed = packet(m);
            ensure!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        let parse = TIMER.ns_per_frame(&messages, |m| {
            packet(m).map_or(0, |s| s.assigned.len() as u64)
        });
        let md5 = TIMER.ns_per_frame(&messages, |m| u64::from(Md5::digest(m)[0]));
        let bytes = messages.iter().map(Vec::len).sum::<usize>() / messages.len();
        println!(
            "| {name} | {bytes} | {parse:.0} | {:.0} | {md5:.0} | {:.1} |",
            1e9 / parse,
            parse / md5
        );
    }
    Ok(())
}
