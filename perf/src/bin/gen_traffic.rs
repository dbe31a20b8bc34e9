//! Writes a deterministic benchmark capture: `--packets` 60-byte UDP/IPv4 frames
//! (64 on the wire) over `--flows` distinct flows, of which a `--match-fraction`
//! carry a target address as source or destination; and the target list, one
//! address a line (`dp_bench --targets N` provisions the first N). One of
//! `--pppoe`, `--gtpu`, `--gre`, `--ipip`, `--pseudowire`, `--vxlan` or
//! `--erspan` carries every frame in that encapsulation. With `--ipv6` the same flows are IPv6 (inside the
//! tunnel, with one), their addresses and the targets in 64:ff9b::/96;
//! `--ipv6-transport` puts a tunnel's outer header in IPv6 too, and
//! `--no-control-word` leaves a pseudowire's control word out.
//!
//! Matching packets use only the first `--hot-targets` targets, so every run
//! provisioning at least that many sees the same match rate. `--subscribers`
//! puts one end of every background flow in the targets' address block.
//!
//! `--signalling-fraction` replaces that fraction of the background frames
//! with signalling (plain frames only), in turn SIP INVITEs (with SDP) from
//! the flow's source to the SIP server, RADIUS accounting from a NAS and
//! relayed DHCPv4 ACKs ([`perf::signalling`]): with those addresses in the
//! probe's signalling intercept (`dp_bench --signalling`) they take the
//! signalling path, as a carrier's share of signalling does.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use dataplane::synth::write_pcap;
use perf::signalling;
use perf::traffic::{background_flow, ipv6_of, target_addr, Encap, Rng, Underlay, MAX_TARGETS};

#[derive(Parser, Debug)]
#[command(about = "Generate the perf/run.sh capture and target list")]
// At most one encapsulation flag.
#[command(group(clap::ArgGroup::new("encap").multiple(false)))]
struct Args {
    /// Capture to write.
    #[arg(long)]
    out: PathBuf,
    /// Target list to write (one IPv4 address a line).
    #[arg(long)]
    targets_out: PathBuf,
    /// Frames in the capture. net_pcap's infinite_rx keeps all of them in mbufs:
    /// keep well under testpmd's --total-num-mbufs (16384).
    #[arg(long, default_value_t = 8192)]
    packets: u32,
    /// Distinct background flows the frames are drawn from.
    #[arg(long, default_value_t = 65536)]
    flows: u32,
    /// Targets listed.
    #[arg(long, default_value_t = 1_000_000)]
    targets: u32,
    /// Matching frames use targets among the first this many.
    #[arg(long, default_value_t = 1000)]
    hot_targets: u32,
    /// Fraction of frames with a target address.
    #[arg(long, default_value_t = 0.001)]
    match_fraction: f64,
    /// Background flows between a subscriber who is no target (an address
    /// of the targets' block past the listed ones) and the internet, one way
    /// or the other, as a carrier's access link carries them: every frame
    /// then has an address in the block the targets are in.
    #[arg(long)]
    subscribers: bool,
    /// Carry every frame in GTP-U, as on a mobile core's user plane (targets
    /// are then the inner addresses).
    #[arg(long, group = "encap")]
    gtpu: bool,
    /// With --gtpu: add a PDU session container to each GTP-U header, as on 5G's N3.
    #[arg(long, requires = "gtpu")]
    pdu_session: bool,
    /// Carry every frame in VXLAN, as a switch's or a cloud's traffic mirror
    /// delivers it (targets are then the inner addresses).
    #[arg(long, group = "encap")]
    vxlan: bool,
    /// Carry every frame in ERSPAN type II, as a router's mirror session
    /// delivers it (targets are then the inner addresses).
    #[arg(long, group = "encap")]
    erspan: bool,
    /// Carry every frame in GRE (with a key), as a site-to-site tunnel does.
    #[arg(long, group = "encap")]
    gre: bool,
    /// Carry every frame in a PPPoE session on a VLAN, as a broadband access
    /// network does between subscribers and their BNG.
    #[arg(long, group = "encap")]
    pppoe: bool,
    /// Carry every frame in IP (IP in IP; 6in4 with --ipv6), as a plain
    /// site-to-site tunnel does.
    #[arg(long, group = "encap")]
    ipip: bool,
    /// Carry every frame as the Ethernet frame of an MPLS pseudowire, as a
    /// metro or VPLS core does.
    #[arg(long, group = "encap")]
    pseudowire: bool,
    /// With --pseudowire: no control word, the customer's MAC right after
    /// the label (RFC 4448 makes the word optional).
    #[arg(long, requires = "pseudowire")]
    no_control_word: bool,
    /// IPv6 flows (with a tunnel, IPv6 inside it), addresses and targets
    /// in 64:ff9b::/96.
    #[arg(long)]
    ipv6: bool,
    /// With a tunnel that has an outer IP header (GTP-U, GRE, IP in IP,
    /// VXLAN, ERSPAN): that header in IPv6 (64:ff9b::/96), as on an IPv6
    /// transport network.
    #[arg(long)]
    ipv6_transport: bool,
    /// Fraction of frames that are signalling (SIP, RADIUS, DHCP) instead
    /// of background traffic.
    #[arg(long, default_value_t = 0.0)]
    signalling_fraction: f64,
    /// Seed: same seed, same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Args {
    /// The one encapsulation the flags pick (the `encap` group allows one).
    fn encap(&self) -> Encap {
        let gtpu = Encap::Gtpu {
            pdu_session: self.pdu_session,
        };
        [
            (self.gtpu, gtpu),
            (self.vxlan, Encap::Vxlan),
            (self.erspan, Encap::Erspan),
            (self.gre, Encap::Gre),
            (self.pppoe, Encap::Pppoe),
            (self.ipip, Encap::IpIp),
            (
                self.pseudowire,
                Encap::Pseudowire {
                    control_word: !self.no_control_word,
                },
            ),
        ]
        .into_iter()
        .find_map(|(flag, encap)| flag.then_some(encap))
        .unwrap_or(Encap::Plain)
    }
}

fn main() -> Result<()> {
    let a = Args::parse();
    ensure!(a.targets <= MAX_TARGETS, "at most {MAX_TARGETS} targets");
    ensure!(
        a.hot_targets >= 1 && a.hot_targets <= a.targets.max(1),
        "need 1 <= hot-targets <= targets"
    );
    ensure!(
        (0.0..=1.0).contains(&a.match_fraction),
        "match-fraction is a fraction"
    );
    ensure!(
        (0.0..=1.0).contains(&a.signalling_fraction),
        "signalling-fraction is a fraction"
    );
    ensure!(a.packets > 0 && a.flows > 0, "need packets and flows");
    ensure!(
        !a.subscribers || a.targets < MAX_TARGETS,
        "--subscribers needs addresses past the targets: fewer than {MAX_TARGETS} targets"
    );

    let encap = a.encap();
    ensure!(
        !a.ipv6_transport || encap.is_ip_tunnel(),
        "--ipv6-transport needs --gtpu, --gre, --ipip, --vxlan or --erspan"
    );
    ensure!(
        a.signalling_fraction == 0.0 || (matches!(encap, Encap::Plain) && !a.ipv6),
        "--signalling-fraction needs plain IPv4 frames"
    );
    let underlay = if a.ipv6_transport {
        Underlay::Ipv6
    } else {
        Underlay::Ipv4
    };
    let family = |v4: Ipv4Addr| -> IpAddr {
        if a.ipv6 {
            ipv6_of(v4).into()
        } else {
            v4.into()
        }
    };
    let mut rng = Rng::new(a.seed);
    let flows: Vec<_> = (0..a.flows).map(|_| background_flow(&mut rng)).collect();
    let matching = (f64::from(a.packets) * a.match_fraction).round() as u64;
    let every = u64::from(a.packets)
        .checked_div(matching)
        .unwrap_or(u64::MAX);
    let start_ns: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
    let signalling = (f64::from(a.packets) * a.signalling_fraction).round() as u64;
    let every_signal = u64::from(a.packets).checked_div(signalling).unwrap_or(0);
    let (mut matched, mut signals) = (0u64, 0u64);
    let frames: Vec<(u64, Vec<u8>)> = (0..u64::from(a.packets))
        .map(|k| {
            let flow = rng.below(u64::from(a.flows)) as usize;
            let (mut src, mut dst, sp, dp) = flows[flow];
            if a.subscribers {
                let others = u64::from(MAX_TARGETS - a.targets);
                let subscriber = target_addr(a.targets + (flow as u64 % others) as u32);
                if flow.is_multiple_of(2) {
                    src = subscriber;
                } else {
                    dst = subscriber;
                }
            }
            let hit = matched < matching && k % every == every / 2;
            if hit {
                let t = target_addr(rng.below(u64::from(a.hot_targets)) as u32);
                if matched.is_multiple_of(2) {
                    src = t;
                } else {
                    dst = t;
                }
                matched += 1;
            }
            // A target's frame stays one: its signalling slot is taken by the next.
            if !hit && signals < signalling && k >= signals * every_signal + every_signal / 4 {
                let frame = signalling::frame(signals, src)?;
                signals += 1;
                return Ok((start_ns + k * 1000, frame));
            }
            let (src, dst) = (family(src), family(dst));
            Ok((
                start_ns + k * 1000,
                encap.frame_over(underlay, (src, dst), (sp, dp), flow as u32),
            ))
        })
        .collect::<Result<_>>()?;
    write_pcap(&a.out, &frames).with_context(|| format!("writing {}", a.out.display()))?;

    let file = File::create(&a.targets_out)
        .with_context(|| format!("creating {}", a.targets_out.display()))?;
    let mut w = BufWriter::new(file);
    for i in 0..a.targets {
        writeln!(w, "{}", family(target_addr(i)))?;
    }
    w.flush()?;
    println!(
        "gen_traffic: {} frames, {} flows, {matched} with a target, {signals} signalling, {} targets listed",
        a.packets, a.flows, a.targets
    );
    Ok(())
}
