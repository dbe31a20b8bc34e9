//! The session tracker at scale: `--sessions` (default 1M) concurrent RADIUS
//! sessions (User-Name, Calling-Station-Id, a Framed-IP-Address and a
//! delegated /56 each), then the signalling rates on one core: the load, an
//! Accounting-On ending them all, the login storm after it, an interim update
//! of every session, every Stop, and a DHCPv4 ACK per subscriber. Prints the
//! resident memory per session (VmRSS before and after the load, so allocator
//! overhead counts) and each rate beside a reference measured in the same run:
//! inserting as many `u64` pairs into a `HashMap<u64, u64>`.
//!
//! `cargo build --release -p perf --bin session_bench && target/release/session_bench`
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use control::model::{Identity, IdentityKind};
use control::sessions::signal::Assigned;
use control::sessions::tracker::Tracker;
use control::sessions::{BindingChange, Nas, Protocol, SessionsConfig, Signal, SignalEvent};
use dataplane::targets::Target;
use perf::timing::{hashmap_insert_rate, resident_bytes, resident_per};

#[derive(Parser)]
struct Args {
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u32,
}

const NAS: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);

fn nas() -> Option<Nas> {
    Some(Nas {
        address: IpAddr::V4(NAS),
        identifier: Some("bras-1".to_owned()),
    })
}

fn lease(target: Target, lifetime_secs: Option<u32>) -> Assigned {
    Assigned {
        target,
        lifetime_secs,
    }
}

/// Subscriber `i`'s accounting Start.
fn start(i: u32) -> Result<Signal> {
    let v6 = 0x2001_0db8_u128 << 96 | u128::from(i) << 72;
    Ok(Signal {
        ts_ns: 0,
        protocol: Protocol::Radius,
        event: SignalEvent::AccountingStart,
        session_id: Some(format!("{i:08X}")),
        identities: vec![
            Identity::new(
                "bench",
                IdentityKind::Username,
                &format!("user{i}@isp.example"),
            )?,
            Identity::new(
                "bench",
                IdentityKind::CallingStationId,
                &format!("0049{i:010}"),
            )?,
        ],
        assigned: vec![
            lease(Target::Ipv4(Ipv4Addr::from(0x6400_0000 + i)), None),
            lease(Target::Ipv6Net(Ipv6Addr::from(v6), 56), None),
        ],
        nas: nas(),
        message: Vec::new(),
    })
}

/// Subscriber `i`'s DHCPv4 ACK (another address block, so no RADIUS session is superseded).
fn ack(i: u32) -> Result<Signal> {
    let m = i.to_be_bytes();
    Ok(Signal {
        ts_ns: 0,
        protocol: Protocol::Dhcp4,
        event: SignalEvent::LeaseGranted,
        session_id: None,
        identities: vec![Identity::from_octets(
            IdentityKind::DhcpClientMac,
            &[2, 0, m[0], m[1], m[2], m[3]],
        )?],
        assigned: vec![lease(
            Target::Ipv4(Ipv4Addr::from(0x0a00_0000 + i)),
            Some(86_400),
        )],
        nas: Some(Nas {
            address: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 2)),
            identifier: None,
        }),
        message: Vec::new(),
    })
}

/// Applies every signal (its `ts_ns` set to `ts0` plus one µs per message);
/// returns messages per second and the number of changes reported.
fn run(
    t: &mut Tracker,
    signals: &mut [Signal],
    ts0: u64,
    out: &mut Vec<BindingChange>,
) -> (f64, usize) {
    let mut changes = 0;
    let mut ts = ts0;
    for s in signals.iter_mut() {
        ts += 1_000;
        s.ts_ns = ts;
    }
    let begin = Instant::now();
    for s in signals.iter() {
        t.apply(s, out);
        changes += out.len();
        out.clear();
    }
    (
        signals.len() as f64 / begin.elapsed().as_secs_f64(),
        changes,
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    let n = args.sessions;
    let cfg = SessionsConfig {
        nas: Vec::new(),
        radius_accounting_ports: vec![1813],
        radius_auth_ports: vec![1812],
        dhcp_servers: Vec::new(),
        dhcp_relays: Vec::new(),
        radius_session_timeout_secs: 7500,
        dhcp_lease_grace_secs: 60,
    };

    let ref_rate = hashmap_insert_rate(n);
    println!("reference: HashMap<u64, u64> insert of {n}: {ref_rate:.0} /s");
    let line = |what: &str, rate: f64, changes: usize| {
        println!(
            "{what}: {rate:.0} messages/s on one core, {changes} changes (ratio to the reference {:.3})",
            rate / ref_rate
        );
    };

    let mut signals = (0..n).map(start).collect::<Result<Vec<_>>>()?;
    let mut t = Tracker::new(&cfg);
    let mut out = Vec::new();
    let before = resident_bytes()?;
    let s = 1_000_000_000;
    let (rate, changes) = run(&mut t, &mut signals, s, &mut out);
    let after = resident_bytes()?;
    println!(
        "{}",
        resident_per(t.len(), ("session", "sessions"), before, after)
    );
    line("load, Accounting-Start", rate, changes);

    let mut on = signals.first().cloned().context("no sessions")?;
    on.event = SignalEvent::AccountingOn;
    on.ts_ns = 3600 * s;
    let begin = Instant::now();
    t.apply(&on, &mut out);
    // The rest in bounded passes, as the signalling thread does between packets.
    let mut longest = begin.elapsed();
    loop {
        let pass = Instant::now();
        let more = t.end_pending(&mut out);
        longest = longest.max(pass.elapsed());
        if !more {
            break;
        }
    }
    let took = begin.elapsed();
    println!(
        "Accounting-On ending {} sessions: {:.0} ms ({:.0} sessions/s), longest pass {:.1} ms",
        out.len(),
        took.as_secs_f64() * 1e3,
        out.len() as f64 / took.as_secs_f64(),
        longest.as_secs_f64() * 1e3
    );
    out.clear();

    let (rate, changes) = run(&mut t, &mut signals, 3601 * s, &mut out);
    line("login storm after the Accounting-On, Start", rate, changes);
    for sig in &mut signals {
        sig.event = SignalEvent::AccountingInterim;
    }
    let (rate, changes) = run(&mut t, &mut signals, 4000 * s, &mut out);
    line("Interim-Update, unchanged (Refreshed)", rate, changes);
    for sig in &mut signals {
        sig.event = SignalEvent::AccountingStop;
    }
    let (rate, changes) = run(&mut t, &mut signals, 5000 * s, &mut out);
    line("Stop", rate, changes);
    drop(signals);

    let mut acks = (0..n).map(ack).collect::<Result<Vec<_>>>()?;
    let (rate, changes) = run(&mut t, &mut acks, 6000 * s, &mut out);
    line("DHCPv4 ACK, new leases", rate, changes);
    let (rate, changes) = run(&mut t, &mut acks, 7000 * s, &mut out);
    line("DHCPv4 ACK, renewals", rate, changes);
    let begin = Instant::now();
    t.expire(u64::MAX - 1, &mut out);
    println!(
        "expiry of {} leases: {:.0} ms",
        out.len(),
        begin.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
