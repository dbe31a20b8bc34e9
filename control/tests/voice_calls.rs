//! Issue #29's legal test, end to end: a real daemon reading the synthetic
//! voice capture (`dataplane::synth::voice::scenario`) through a FIFO on the
//! net_pcap vdev, into the real `calea-collector` over TLS. Two warrants on
//! `sip:alice@example.com`: content (to an ETSI TS 102 232 and an X2/X3
//! destination) and headers. The collector gets exactly alice's SIP
//! messages and RTP packets, one correlation number per call shared by its
//! IRI and CC (alice calling, called at her registered contact, a forked
//! call, a re-INVITE moving her media, hold, a cancelled call, a call with
//! IPv6 media, a call with its RTCP on an address of its own), none of the
//! calls of others on the same media addresses and
//! ports before, during and after hers;
//! the headers warrant gets the SIP and no RTP. tshark decodes what arrived.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;
mod encode_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use control::collector::liid_dir;
use control::demo::{delivered_calls, DeliveredCall};
use daemon_harness::{eventually, free_port, metric, mkfifo, Feed, Probe, Setup};
use dataplane::synth::voice::{
    self, CallExpectation, RtpId, Step, VoiceCapture, SIP_SERVER, TARGET,
};
use dataplane::synth::{read_pcap, write_pcap, Frame};
use serde_json::{json, Value};

/// Observed once per SIP message whose media every worker has applied.
const SIP_PARSED: &str = "calea_voice_sip_messages_total{result=\"parsed\"}";
const MEDIA_PENDING: &str = "calea_voice_media_installs_pending";

fn warrant(liid: &str, mode: &str, destinations: &[&str]) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-29",
        "issuing_authority": "Court",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "mode": mode,
        "targets": [TARGET],
        "destinations": destinations,
    })
}

/// The last `calls.jsonl` record of each CIN under `dir`.
fn records(dir: &Path) -> BTreeMap<u64, Value> {
    std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["cin"].as_u64().unwrap(), v))
        .collect()
}

/// What a warrant on the target gets: each of its calls under one CIN (with
/// all of its RTP in content mode, none in headers mode), nothing else.
fn expected(cap: &VoiceCapture, content: bool) -> Vec<(Vec<Vec<u8>>, Vec<RtpId>)> {
    let mut v: Vec<_> = target_calls(cap)
        .map(|c| {
            (
                c.sip.clone(),
                if content { c.rtp.clone() } else { Vec::new() },
            )
        })
        .collect();
    v.sort();
    v
}

fn target_calls(cap: &VoiceCapture) -> impl Iterator<Item = &CallExpectation> {
    cap.calls.iter().filter(|c| c.target)
}

/// The calls under `dir`, in the order of [`expected`] (CINs dropped).
fn delivered(dir: &Path) -> Vec<(Vec<Vec<u8>>, Vec<RtpId>)> {
    let mut v: Vec<_> = delivered_calls(dir)
        .into_iter()
        .map(|c| (c.sip, c.rtp))
        .collect();
    v.sort();
    v
}

/// Packets in one of an LIID's non-call pcaps (content.pcap, headers.pcap).
fn packets(dir: &Path, name: &str) -> usize {
    read_pcap(dir.join(name)).map_or(0, |p| p.len())
}

/// tshark reads `pcap` with `args` without an error and prints `fields`
/// of each packet; fails on a malformed packet or an error-level finding.
fn tshark(pcap: &Path, args: &[&str], fields: &[&str]) -> Vec<String> {
    let run = |extra: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(args)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Only its warning about running as root.
        let quiet = stderr.lines().all(|l| l.starts_with("Running as user"));
        assert!(
            out.status.success() && quiet,
            "tshark on {}: {stderr}",
            pcap.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bad = run(&["-Y", "_ws.malformed || _ws.expert.severity >= \"error\""]);
    assert!(
        bad.trim().is_empty(),
        "tshark finds errors in {}:\n{bad}",
        pcap.display()
    );
    let mut f = vec!["-T", "fields"];
    for field in fields {
        f.extend(["-e", field]);
    }
    run(&f).lines().map(str::to_owned).collect()
}

/// Every delivered SIP message of `dir`, each in a UDP datagram to 5060 in a
/// pcap tshark dissects as SIP: each one's Call-ID and CSeq.
fn tshark_sip(dir: &Path, calls: &[DeliveredCall]) -> Vec<String> {
    let frames: Vec<(u64, Vec<u8>)> = calls
        .iter()
        .flat_map(|c| &c.sip)
        .enumerate()
        .map(|(i, m)| {
            let f = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(voice::IAD, SIP_SERVER)
                .udp(5060, 5060)
                .payload(m)
                .build();
            (i as u64 + 1, f)
        })
        .collect();
    let pcap = dir.join("delivered-sip.pcap");
    write_pcap(&pcap, &frames).unwrap();
    tshark(&pcap, &[], &["sip.Call-ID", "sip.CSeq"])
}

#[tokio::test(flavor = "multi_thread")]
async fn voice_warrants_deliver_exactly_the_targets_calls() {
    let setup = Setup::new();
    let lea_port = free_port();
    let _collector = setup.collector(lea_port, "out");
    let config = format!(
        "{etsi}{x2}\n[voice]\nsip_servers = [\"{SIP_SERVER}\"]\n",
        etsi = setup.tls_destination("lea", lea_port),
        x2 = setup
            .tls_destination("lea-x2", lea_port)
            .replace("\"etsi-102232\"", "\"x2x3\""),
    );
    mkfifo(&setup.path("feed.pcap"));
    let opening = Feed::open(&setup.path("feed.pcap"));
    let probe = Probe::start(&setup.write_net_pcap_config("feed.pcap", &config));
    let mut feed = opening.join().unwrap();
    let prov = setup.client("prov");
    let content = prov
        .create_intercept(&warrant("LIID-VOICE", "content", &["lea", "lea-x2"]))
        .await
        .unwrap();
    prov.create_intercept(&warrant("LIID-VOICE-HDR", "headers", &["lea"]))
        .await
        .unwrap();
    let out = setup.path("out");
    let dirs: [(&str, PathBuf, bool); 3] = [
        ("ETSI content", liid_dir(&out, "LIID-VOICE"), true),
        (
            "X2/X3 content",
            liid_dir(&out, content["xid"].as_str().unwrap()),
            true,
        ),
        ("ETSI headers", liid_dir(&out, "LIID-VOICE-HDR"), false),
    ];

    let cap = voice::scenario();
    for step in &cap.steps {
        match step {
            Step::Frame(f) => {
                feed.write(f);
            }
            // The RTP after it may only be read once the media it follows
            // is in every worker's tables.
            &Step::Settle { sip_messages } => {
                #[allow(clippy::cast_precision_loss)]
                let parsed = sip_messages as f64;
                feed.until(&setup, "a call's media installed", |m| {
                    metric(m, SIP_PARSED) >= parsed && metric(m, MEDIA_PENDING) == 0.0
                })
                .await;
            }
        }
    }
    let total = |calls: &[(Vec<Vec<u8>>, Vec<RtpId>)]| {
        calls.iter().map(|(s, r)| s.len() + r.len()).sum::<usize>()
    };
    for (what, dir, content) in &dirs {
        let want = total(&expected(&cap, *content));
        eventually(Duration::from_secs(60), || {
            (total(&delivered(dir)) >= want).then_some(())
        })
        .unwrap_or_else(|| panic!("{what}: {} of {want} delivered", total(&delivered(dir))));
    }
    // Let a wrongly admitted message or packet arrive before the exact comparison.
    std::thread::sleep(Duration::from_millis(500));
    drop(feed);
    probe.stop();

    for (what, dir, content) in &dirs {
        let got = delivered(dir);
        let want = expected(&cap, *content);
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: one CIN per call of the target"
        );
        for (g, w) in got.iter().zip(&want) {
            let call = target_calls(&cap).find(|c| c.sip == w.0).unwrap();
            assert_eq!(
                g.0.len(),
                w.0.len(),
                "{what} {}: its SIP messages",
                call.name
            );
            assert!(
                g.0 == w.0,
                "{what} {}: its SIP messages as sent, in order",
                call.name
            );
            assert_eq!(g.1, w.1, "{what} {}: its RTP packets, in order", call.name);
        }
        // Media goes with its call, never as plain content or header reports.
        assert_eq!(packets(dir, "content.pcap"), 0, "{what}");
        assert_eq!(packets(dir, "headers.pcap"), 0, "{what}");
        // calls.jsonl: each CIN's last state.
        let by_cin = delivered_calls(dir);
        let records = records(dir);
        for c in &by_cin {
            let call = target_calls(&cap).find(|e| e.sip == c.sip).unwrap();
            let r = &records[&c.cin];
            assert_eq!(r["call_id"], call.call_id, "{what} {}: {r}", call.name);
            assert_eq!(r["caller"], call.caller, "{what} {}: {r}", call.name);
            assert_eq!(r["callee"], call.callee, "{what} {}: {r}", call.name);
            if !call.name.starts_with("reg-") {
                assert_eq!(
                    !r["answer"].is_null(),
                    call.answered,
                    "{what} {}: {r}",
                    call.name
                );
                assert!(!r["end"].is_null(), "{what} {}: ended: {r}", call.name);
            }
        }
        if encode_support::external("tshark", &["--version"]) {
            let sip = tshark_sip(dir, &by_cin);
            assert_eq!(
                sip.len(),
                want.iter().map(|(s, _)| s.len()).sum::<usize>(),
                "{what}"
            );
            assert!(
                sip.iter().all(|l| l.contains('@') && l.contains('\t')),
                "{what}: {sip:?}"
            );
            for c in &by_cin {
                let cin = c.cin;
                let pcap = dir.join(format!("calls/{cin}/rtp.pcap"));
                if c.rtp.is_empty() {
                    continue;
                }
                // RTP by its header, RTCP sender reports by their sender and count.
                let fields = tshark(
                    &pcap,
                    &["--enable-heuristic", "rtp_udp"],
                    &[
                        "rtp.ssrc",
                        "rtp.seq",
                        "rtcp.senderssrc",
                        "rtcp.sender.packetcount",
                    ],
                );
                let decoded: Vec<RtpId> = fields
                    .iter()
                    .map(|l| {
                        let f: Vec<&str> = l.split('\t').filter(|f| !f.is_empty()).collect();
                        let [ssrc, seq] = f[..] else {
                            panic!("{what} cin {cin}: neither RTP nor RTCP: {l:?}")
                        };
                        RtpId {
                            ssrc: u32::from_str_radix(ssrc.trim_start_matches("0x"), 16).unwrap(),
                            seq: seq.parse().unwrap(),
                        }
                    })
                    .collect();
                assert_eq!(decoded, c.rtp, "{what} cin {cin}: tshark's RTP and RTCP");
            }
        }
    }
    // The same calls, the same CINs, in both formats.
    let cins = |d: &Path| {
        delivered_calls(d)
            .into_iter()
            .map(|c| (c.sip, c.cin))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        cins(&dirs[0].1),
        cins(&dirs[1].1),
        "ETSI and X2/X3 correlate alike"
    );
    setup.assert_audit_verifies();
}
