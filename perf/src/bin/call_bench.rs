//! The call tracker at scale: `--calls` (default 100k) concurrent calls set
//! up (INVITE with SDP offer, 180, 200 with SDP answer, ACK: four media
//! endpoints each) and torn down (BYE), then whole calls one after another,
//! from pre-parsed messages on one core. Prints the resident memory per call
//! (VmRSS before and after the set-up, so allocator overhead counts) and each
//! rate beside a reference measured in the same run: inserting as many `u64`
//! pairs into a `HashMap<u64, u64>`.
//!
//! `cargo build --release -p perf --bin call_bench && target/release/call_bench`
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use control::voice::tracker::CallTracker;
use control::voice::{
    CallChange, Media, MediaDirection, Method, NameAddr, Sdp, SipMessage, StartLine, VoiceConfig,
};
use perf::timing::{hashmap_insert_rate, resident_bytes, resident_per};

#[derive(Parser)]
struct Args {
    /// Concurrent calls.
    #[arg(long, default_value_t = 100_000)]
    calls: u32,
}

fn na(uri: String, tag: Option<String>) -> NameAddr {
    NameAddr { uri, tag }
}

fn audio(addr: u32, port: u16) -> Option<Sdp> {
    Some(Sdp {
        media: vec![Media {
            kind: "audio".into(),
            addr: IpAddr::V4(Ipv4Addr::from(addr)),
            rtp_port: port,
            rtcp_port: port + 1,
            rtcp_addr: IpAddr::V4(Ipv4Addr::from(addr)),
            direction: MediaDirection::SendRecv,
        }],
    })
}

/// Call `i`'s INVITE, 180, 200, ACK and BYE.
fn call(i: u32) -> [SipMessage; 5] {
    let call_id = format!("{i:08x}-4c1e@192.0.2.10");
    let caller = || na(format!("sip:user{i}@example.com"), Some(format!("a{i:x}")));
    let callee = |tag: bool| {
        na(
            format!("sip:other{i}@example.net"),
            tag.then(|| format!("b{i:x}")),
        )
    };
    let msg = |start, to_tag, cseq, sdp| SipMessage {
        start,
        call_id: call_id.clone(),
        from: caller(),
        to: callee(to_tag),
        cseq,
        contacts: Vec::new(),
        asserted: Vec::new(),
        expires: None,
        sdp,
    };
    let request = |method: Method| StartLine::Request {
        method,
        uri: format!("sip:other{i}@example.net"),
    };
    let response = |status| StartLine::Response { status };
    [
        msg(
            request(Method::Invite),
            false,
            (1, Method::Invite),
            audio(0x0a00_0000 + i, 4000),
        ),
        msg(response(180), true, (1, Method::Invite), None),
        msg(
            response(200),
            true,
            (1, Method::Invite),
            audio(0x0b00_0000 + i, 6000),
        ),
        msg(request(Method::Ack), true, (1, Method::Ack), None),
        msg(request(Method::Bye), true, (2, Method::Bye), None),
    ]
}

/// Applies `msgs` one µs apart from `*ts` on; returns messages per second
/// and the number of changes reported.
fn run<'a>(
    t: &mut CallTracker,
    msgs: impl Iterator<Item = &'a SipMessage>,
    ts: &mut u64,
    out: &mut Vec<CallChange>,
) -> (f64, usize, usize) {
    let src: SocketAddr = SocketAddr::from(([192, 0, 2, 10], 5060));
    let dst: SocketAddr = SocketAddr::from(([192, 0, 2, 254], 5060));
    let (mut n, mut changes) = (0, 0);
    let begin = Instant::now();
    for m in msgs {
        *ts += 1_000;
        t.apply(*ts, src, dst, m, out);
        changes += out.len();
        out.clear();
        n += 1;
    }
    (n as f64 / begin.elapsed().as_secs_f64(), n, changes)
}

fn main() -> Result<()> {
    let n = Args::parse().calls;
    let cfg = VoiceConfig {
        sip_servers: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254))],
        sip_ports: vec![5060],
        call_timeout_secs: 4 * 3600,
        setup_timeout_secs: 180,
        max_calls: 1_000_000,
    };

    let ref_rate = hashmap_insert_rate(n);
    println!("reference: HashMap<u64, u64> insert of {n}: {ref_rate:.0} /s");
    let line = |what: &str, rate: f64, msgs: usize, changes: usize| {
        println!(
            "{what}: {rate:.0} messages/s on one core, {msgs} messages, {changes} changes (ratio to the reference {:.3})",
            rate / ref_rate
        );
    };

    let calls: Vec<[SipMessage; 5]> = (0..n).map(call).collect();
    let mut t = CallTracker::new(&cfg);
    let mut out = Vec::new();
    let mut ts = 1_000_000_000;
    let before = resident_bytes()?;
    let setup = calls.iter().flat_map(|c| c[..4].iter());
    let (rate, msgs, changes) = run(&mut t, setup, &mut ts, &mut out);
    let after = resident_bytes()?;
    println!(
        "{}",
        resident_per(t.calls(), ("call", "calls"), before, after)
    );
    line(
        "set-up of concurrent calls (INVITE, 180, 200, ACK)",
        rate,
        msgs,
        changes,
    );
    let byes = calls.iter().filter_map(|c| c.get(4));
    let (rate, msgs, changes) = run(&mut t, byes, &mut ts, &mut out);
    line("BYE of every call", rate, msgs, changes);
    // Let the ended calls go, then whole calls one after the other (new Call-IDs
    // would need new messages: the same ones after the ended entries left).
    ts += 60_000_000_000;
    t.expire(ts, &mut out);
    out.clear();
    let whole = calls.iter().flat_map(|c| c.iter());
    let (rate, msgs, changes) = run(&mut t, whole, &mut ts, &mut out);
    println!(
        "whole calls (INVITE, 180, 200, ACK, BYE) one after another: {:.0} calls/s on one core (ratio of messages/s to the reference {:.3})",
        rate / 5.0,
        rate / ref_rate
    );
    line("  of which", rate, msgs, changes);
    Ok(())
}
