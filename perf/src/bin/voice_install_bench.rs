//! Media install latency: with `--targets` (default 1M) IPv4 targets loaded
//! on `--workers` polling workers and a content warrant for one SIP party,
//! measures for `--n` calls of that party the time from the call's INVITE
//! (offering a fresh media endpoint; its 200 answers at once) being given to
//! the voice glue — parse, call tracker, `Controller::bind` — to the first
//! packet to that endpoint handed off by a worker. Each call then ends
//! (BYE/200), removing its endpoints. Prints p50/p99/max in ms. Goal: p99 < 5 ms.
//!
//! `cargo run --release -p perf --bin voice_install_bench -- --n 2000`
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use control::daemon::signalling::{SignalSink, Watermark};
use control::daemon::voice::VoiceGlue;
use control::metrics::ProbeMetrics;
use control::sessions::{SignalPacket, Transport};
use control::time::now_ns;
use control::voice::VoiceConfig;
use hdrhistogram::Histogram;
use perf::loaded::Loaded;

#[derive(Parser)]
struct Args {
    /// Targets preloaded on every worker.
    #[arg(long, default_value_t = 1_000_000)]
    targets: u32,
    /// Calls measured.
    #[arg(long, default_value_t = 2000)]
    n: u32,
    /// Workers (each polls its own source).
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const PROXY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const PARTY: &str = "sip:target@example.com";
/// The UDP port the loaded traffic sends to (see `Loaded::send_to`).
const RTP_PORT: u16 = 2000;

/// One SIP message of call `n`, the target calling; `media`: the SDP's endpoint.
fn sip(first: &str, n: u32, cseq: &str, answered: bool, media: Option<Ipv4Addr>) -> Vec<u8> {
    let sdp = media.map_or_else(String::new, |a| {
        format!("v=0\r\no=- {n} 1 IN IP4 {a}\r\ns=-\r\nc=IN IP4 {a}\r\nt=0 0\r\nm=audio {RTP_PORT} RTP/AVP 0\r\n")
    });
    let to_tag = if answered { ";tag=callee" } else { "" };
    let kind = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{first}\r\nVia: SIP/2.0/UDP {PROXY};branch=z9hG4bK{n}-{cseq_n}\r\nFrom: <{PARTY}>;tag=caller\r\n\
         To: <sip:peer@example.com>{to_tag}\r\nCall-ID: bench-{n}\r\nCSeq: {cseq}\r\n{kind}\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        cseq_n = cseq.split(' ').next().unwrap_or("1"),
    )
    .into_bytes()
}

fn give(glue: &mut VoiceGlue, ua: Ipv4Addr, from_ua: bool, payload: &[u8]) {
    let (src, dst) = if from_ua { (ua, PROXY) } else { (PROXY, ua) };
    glue.signal(&SignalPacket {
        ts_ns: now_ns(),
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        src_port: 5060,
        dst_port: 5060,
        transport: Transport::Udp,
        payload,
    });
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut loaded = Loaded::start("voice-install-bench", args.targets, args.workers)?;
    let cfg: VoiceConfig = toml::from_str(&format!("sip_servers = [\"{PROXY}\"]"))?;
    let mut glue = VoiceGlue::new(
        &cfg,
        Arc::clone(&loaded.controller),
        ProbeMetrics::unregistered()?,
        Watermark::default(),
    )?;
    let warrant = loaded.create("VOICE", vec![PARTY.into()])?;
    let epoch = loaded.controller.install(&warrant)?;
    if !loaded.controller.wait_applied(epoch) {
        bail!("warrant not applied");
    }
    let ua = Ipv4Addr::new(198, 51, 100, 1);
    let mut install = Histogram::<u64>::new(3)?;
    for n in 0..args.n {
        // A fresh media address per call: each adds and removes table entries.
        let (ours, peer) = (
            Ipv4Addr::from(0x6440_0000 + 2 * n),
            Ipv4Addr::from(0x6440_0001 + 2 * n),
        );
        loaded.send_to(ours);
        let _ = loaded.saw(ours);
        let t0 = Instant::now();
        let invite = sip(
            "INVITE sip:peer@example.com SIP/2.0",
            n,
            "1 INVITE",
            false,
            Some(ours),
        );
        give(&mut glue, ua, true, &invite);
        let ok = sip("SIP/2.0 200 OK", n, "1 INVITE", true, Some(peer));
        give(&mut glue, ua, false, &ok);
        let deadline = t0 + Duration::from_secs(1);
        while !loaded.saw(ours) {
            if Instant::now() > deadline {
                bail!("no packet to call {n}'s media handed off within 1 s");
            }
            glue.idle(now_ns());
            std::hint::spin_loop();
        }
        install.record(u64::try_from(t0.elapsed().as_micros())?)?;
        give(
            &mut glue,
            ua,
            true,
            &sip("ACK sip:peer@example.com SIP/2.0", n, "1 ACK", true, None),
        );
        give(
            &mut glue,
            ua,
            true,
            &sip("BYE sip:peer@example.com SIP/2.0", n, "2 BYE", true, None),
        );
        give(
            &mut glue,
            ua,
            false,
            &sip("SIP/2.0 200 OK", n, "2 BYE", true, None),
        );
        loaded.drain();
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "INVITE given to the voice glue -> first media packet handed off: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        install.len(),
        ms(&install, 0.5),
        ms(&install, 0.99),
        install.max() as f64 / 1000.0
    );
    loaded.stop();
    Ok(())
}
