//! Messages per second `Verifier::parse` takes on one core: RADIUS
//! Accounting-Request Start (Request Authenticator checked), DHCPv4 ACK with
//! option 82, DHCPv6 Reply (IA_NA + IA_PD) inside a Relay-Repl; 4096 distinct
//! messages of each, median of 9 runs. Next to it, as the reference measured
//! in the same run on the same messages, one MD5 over each message (the least
//! a RADIUS check costs), and the ratio of the two.
//!
//! `cargo run --release -p perf --bin signal_parse_bench`
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;

use anyhow::{ensure, Result};
use control::sessions::wire::{sign_radius, Verifier};
use control::sessions::{NasConfig, SessionsConfig, SignalPacket, Transport};
use dhcproto::{v4, v6, Encodable};
use md5::{Digest, Md5};
use perf::timing::FrameTimer;

const MESSAGES: u32 = 4096;
const TIMER: FrameTimer = FrameTimer {
    rounds: 50,
    runs: 9,
};
const SECRET: &[u8] = b"bench-secret-of-a-bng";
const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DHCP4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 67));
const DHCP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

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

/// An Accounting-Request Start of subscriber `i`, as a BNG sends it.
fn accounting(i: u32) -> Vec<u8> {
    let user = format!("user{i}@isp.example");
    let session = format!("{i:016x}");
    let port = format!("ge-0/0/{}.{}", i % 48, i % 4000);
    let attrs: [(u8, &[u8]); 8] = [
        (40, &[0, 0, 0, 1]),
        (1, user.as_bytes()),
        (44, session.as_bytes()),
        (4, &[192, 0, 2, 1]),
        (32, b"bng1.pop3"),
        (87, port.as_bytes()),
        (8, &(0x6440_0000 + i).to_be_bytes()),
        (31, b"02:00:5e:00:53:01"),
    ];
    let mut p = vec![4, (i % 256) as u8, 0, 0];
    p.extend_from_slice(&[0; 16]);
    for (t, v) in attrs {
        p.extend_from_slice(&[t, v.len() as u8 + 2]);
        p.extend_from_slice(v);
    }
    let len = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&len);
    sign_radius(&mut p, SECRET, &[0; 16]);
    p
}

/// A DHCPACK for client `i`, relayed (option 82).
fn dhcp4_ack(i: u32) -> Result<Vec<u8>> {
    let mac = [
        2,
        0,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ];
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut m = v4::Message::new(
        zero,
        (0x6440_0000 + i).into(),
        zero,
        [10, 0, 0, 1].into(),
        &mac,
    );
    m.set_opcode(v4::Opcode::BootReply);
    m.opts_mut()
        .insert(v4::DhcpOption::MessageType(v4::MessageType::Ack));
    m.opts_mut().insert(v4::DhcpOption::AddressLeaseTime(3600));
    let mut info = v4::relay::RelayAgentInformation::default();
    info.insert(v4::relay::RelayInfo::AgentCircuitId(
        format!("olt1/1/{i}").into_bytes(),
    ));
    m.opts_mut()
        .insert(v4::DhcpOption::RelayAgentInformation(info));
    Ok(m.to_vec()?)
}

/// A DHCPv6 Reply (IA_NA, IA_PD) for client `i` in a Relay-Repl with Interface-Id.
fn dhcp6_relayed_reply(i: u32) -> Result<Vec<u8>> {
    let mut m = v6::Message::new_with_id(v6::MessageType::Reply, [1, 2, 3]);
    let mut duid = vec![0, 3, 0, 1, 2, 0];
    duid.extend_from_slice(&i.to_be_bytes());
    m.opts_mut().insert(v6::DhcpOption::ClientId(duid));
    let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0));
    let mut na = v6::DhcpOptions::new();
    na.insert(v6::DhcpOption::IAAddr(v6::IAAddr {
        addr: (base + u128::from(i)).into(),
        preferred_life: 3600,
        valid_life: 7200,
        opts: v6::DhcpOptions::new(),
    }));
    m.opts_mut().insert(v6::DhcpOption::IANA(v6::IANA {
        id: 1,
        t1: 0,
        t2: 0,
        opts: na,
    }));
    let mut pd = v6::DhcpOptions::new();
    pd.insert(v6::DhcpOption::IAPrefix(v6::IAPrefix {
        preferred_lifetime: 3600,
        valid_lifetime: 7200,
        prefix_len: 56,
        prefix_ip: (base + (u128::from(i) << 72)).into(),
        opts: v6::DhcpOptions::new(),
    }));
    m.opts_mut().insert(v6::DhcpOption::IAPD(v6::IAPD {
        id: 2,
        t1: 0,
        t2: 0,
        opts: pd,
    }));
    let inner = m.to_vec()?;
    let mut r = vec![13, 0];
    r.extend_from_slice(&[0; 32]);
    let circuit = format!("olt1/1/{i}");
    for (code, value) in [(18u16, circuit.as_bytes()), (9, &inner[..])] {
        r.extend_from_slice(&code.to_be_bytes());
        r.extend_from_slice(&(value.len() as u16).to_be_bytes());
        r.extend_from_slice(value);
    }
    Ok(r)
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
