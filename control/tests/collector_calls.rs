//! Voice warrants through the real `calea-collector`: calls' RTP (HI3 IPMMCC)
//! and SIP (HI2 IPMMIRI) PS-PDUs from the real
//! encoders over TCP become, per LIID/XID, `calls/<cin>/rtp.pcap` (read whole
//! by pcap-file and tshark as RTP with good checksums), `calls/<cin>/sip.txt`
//! and `calls.jsonl`, exactly once across a restart with the probe's resend,
//! with a bounded number of open files however many calls run at once.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;
mod encode_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use control::collector::liid_dir;
use control::handover::pdu::{Direction, Event, Format, PduHeader, SipReport};
use control::sessions::Transport;
use delivery_common::*;
use encode_support::{external, udp4, udp6};

const TS0: u64 = 1_700_000_000_000_000_000;
/// The media ports of call `cin`: source `PORT + 2 * cin`, destination + 1000.
const PORT: u16 = 20_000;

/// One PDU of `liid` (an XID for X2/X3) from the real encoder.
fn pdu(format: Format, liid: &str, cin: u32, seq: u32, ts: u64, event: &Event<'_>) -> Vec<u8> {
    let id = identity();
    let h = PduHeader {
        liid,
        xid: liid.parse().unwrap_or(uuid::Uuid::nil()),
        cin,
        sequence: seq,
        timestamp_ns: ts,
        identity: &id,
    };
    let mut out = Vec::new();
    format.encoder().encode(&h, event, &mut out).unwrap();
    out
}

/// RTP packet `seq` of a call: version 2, PCMU, 160 octets of payload.
fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend((0..160).map(|i| (i * 7 + seq as usize) as u8));
    p
}

/// A sent RTP packet: (timestamp, src, dst, RTP).
type Sent = (u64, SocketAddr, SocketAddr, Vec<u8>);

/// The media PDU numbered `seq` of call `cin` (IPv6 for odd calls), and its
/// (timestamp, src, dst, RTP).
fn media(liid: &str, cin: u64, seq: u32) -> (Vec<u8>, Sent) {
    let (sport, dport) = (PORT + 2 * cin as u16, PORT + 1000 + 2 * cin as u16);
    let body = rtp(seq as u16);
    let v4 = cin.is_multiple_of(2);
    let mut ip = if v4 {
        udp4([192, 0, 2, 1], [198, 51, 100, 2], sport, dport, body.len())
    } else {
        let s = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets();
        let d = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets();
        udp6(s, d, sport, dport, body.len())
    };
    let at = ip.len() - body.len();
    ip[at..].copy_from_slice(&body);
    let (src, dst) = if v4 {
        (
            Ipv4Addr::new(192, 0, 2, 1).into(),
            Ipv4Addr::new(198, 51, 100, 2).into(),
        )
    } else {
        let s: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into();
        (s, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).into())
    };
    let (src, dst) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    let ts = TS0 + u64::from(seq) * 20_000_000;
    let event = Event::Media {
        ip_packet: &ip,
        rtp: &ip[at..],
        src,
        dst,
        direction: Direction::FromTarget,
    };
    let wire = pdu(Format::Etsi102232, liid, cin as u32, seq, ts, &event);
    (wire, (ts, src, dst, body))
}

/// The RTP sequence numbers tshark decodes in `pcap`, failing on any error or
/// bad IP/UDP checksum.
fn tshark_rtp(pcap: &Path, port: u16) -> Vec<u16> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-d", &format!("udp.port=={port},rtp")])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(["-T", "fields", "-e", "rtp.seq", "-e", "_ws.expert.severity"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints = stderr.lines().filter(|l| !l.contains("Running as user"));
    assert!(
        out.status.success() && complaints.count() == 0,
        "tshark: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (seq, expert) = l.split_once('\t').unwrap_or((l, ""));
            assert!(expert.is_empty(), "tshark flags {pcap:?}: {l}");
            seq.parse().unwrap()
        })
        .collect()
}

#[test]
fn calls_rtp_pcaps_are_whole_once_across_a_restart_with_few_open_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let liid = "LIID-VOICE-1";
    // More calls at once than a LIID keeps open; round-robin, so that each
    // packet's call is the least recently written one.
    let calls = 24u64;
    let mut sent: Vec<Vec<Sent>> = vec![Vec::new(); 24];
    for (run, seqs) in [(0, 0..240u32), (1, 200..360)] {
        let collector = CollectorProc::start_plaintext(&out, 0);
        let pid = collector.child.id().to_string();
        let before = open_fds(&pid);
        let mut wire = Vec::new();
        for seq in seqs {
            let cin = u64::from(seq) % calls;
            let (w, p) = media(liid, cin, seq);
            wire.extend(w);
            if run == 0 || seq >= 240 {
                sent[cin as usize].push(p);
            }
        }
        let conn = send_synced(&collector.addr, &wire);
        let most = open_fds(&pid);
        drop(conn);
        // The LIID's 4 files, calls.jsonl and 8 calls' rtp.pcap.
        assert!(most <= before + 4 + 1 + 8 + 12, "{before} -> {most}");
        let summary = collector.stop();
        let s = &summary["liids"][liid];
        assert_eq!(s["rtp_packets"], [240, 360][run], "{summary}");
        assert_eq!((&s["calls"], &s["gaps"]), (&calls.into(), &0.into()));
    }
    let dir = liid_dir(&out, liid);
    let check = external("tshark", &["-v"]);
    for (cin, sent) in sent.iter().enumerate() {
        let pcap = dir.join(format!("calls/{cin}/rtp.pcap"));
        let got = read_pcap(&pcap);
        assert_eq!(got.len(), sent.len(), "{}", pcap.display());
        for ((ts, data, _), (sts, src, dst, body)) in got.iter().zip(sent) {
            assert_eq!(ts, sts);
            let ip = if src.is_ipv4() { 20 } else { 40 };
            assert_eq!(data[ip..ip + 2], src.port().to_be_bytes());
            assert_eq!(data[ip + 2..ip + 4], dst.port().to_be_bytes());
            assert_eq!(&data[ip + 8..], &body[..]);
        }
        if check && cin % 5 == 0 {
            let seqs: Vec<u16> = sent
                .iter()
                .map(|p| u16::from_be_bytes([p.3[2], p.3[3]]))
                .collect();
            assert_eq!(
                tshark_rtp(&pcap, sent[0].1.port()),
                seqs,
                "{}",
                pcap.display()
            );
        }
    }
    // One line per call: its one RTP flow (no line twice after the restart).
    let raw = std::fs::read_to_string(dir.join("calls.jsonl")).unwrap();
    let cins: Vec<u64> = raw
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["cin"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(cins, (0..calls).collect::<Vec<_>>());
}

/// SIP of one call from alice (192.0.2.1) to bob (198.51.100.2).
fn sip_message(first_line: &str, cseq: &str, to_tag: bool, sdp: Option<&str>) -> Vec<u8> {
    let to_tag = if to_tag { ";tag=b" } else { "" };
    let body = sdp.unwrap_or("");
    let kind = if sdp.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "{first_line}\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.org>;tag=a\r\nTo: <sip:bob@example.org>{to_tag}\r\n\
         Call-ID: c1@example.org\r\nCSeq: {cseq}\r\nContact: <sip:alice@192.0.2.1>\r\n\
         Max-Forwards: 70\r\n{kind}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn sdp(addr: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=sendrecv\r\n"
    )
}

/// Needs `voice::wire::parse` (voice-wire) to fill calls.jsonl.
#[test]
fn a_calls_sip_goes_to_its_sip_txt_and_its_record_to_calls_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let xid = "LIID-VOICE-2";
    let alice: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    let bob: SocketAddr = "198.51.100.2:5060".parse().unwrap();
    let (offer, answer) = (sdp("192.0.2.1", 40_000), sdp("198.51.100.2", 50_000));
    let messages = [
        (
            alice,
            bob,
            sip_message(
                "INVITE sip:bob@example.org SIP/2.0",
                "1 INVITE",
                false,
                Some(&offer),
            ),
        ),
        (
            bob,
            alice,
            sip_message("SIP/2.0 180 Ringing", "1 INVITE", true, None),
        ),
        (
            bob,
            alice,
            sip_message("SIP/2.0 200 OK", "1 INVITE", true, Some(&answer)),
        ),
        (
            alice,
            bob,
            sip_message("ACK sip:bob@198.51.100.2 SIP/2.0", "1 ACK", true, None),
        ),
        (
            alice,
            bob,
            sip_message("BYE sip:bob@198.51.100.2 SIP/2.0", "2 BYE", true, None),
        ),
        (
            bob,
            alice,
            sip_message("SIP/2.0 200 OK", "2 BYE", true, None),
        ),
    ];
    let cin = 77u32;
    let mut wire = Vec::new();
    for (seq, (src, dst, message)) in (0u32..).zip(&messages) {
        let at_ns = TS0 + u64::from(seq) * 1_000_000_000;
        let report = SipReport {
            at_ns,
            cin,
            src: *src,
            dst: *dst,
            transport: Transport::Udp,
            message: message.clone(),
        };
        wire.extend(pdu(
            Format::Etsi102232,
            xid,
            cin,
            seq,
            at_ns,
            &Event::Sip(&report),
        ));
    }
    let collector = CollectorProc::start_plaintext(&out, 0);
    drop(send_synced(&collector.addr, &wire));
    let summary = collector.stop();
    assert_eq!(summary["liids"][xid]["sip_messages"], 6, "{summary}");
    let dir = liid_dir(&out, xid);
    // Each message whole, after its header line, in order.
    let text = std::fs::read(dir.join(format!("calls/{cin}/sip.txt"))).unwrap();
    let mut rest = &text[..];
    for (seq, (src, dst, message)) in (0u64..).zip(&messages) {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let head = std::str::from_utf8(&rest[..nl]).unwrap();
        let when = format!("2023-11-14T22:13:{:02}Z", 20 + seq);
        assert_eq!(
            head,
            // HI2 SIPMessage carries addresses, no ports.
            format!(
                "--- {when} {} -> {} ({} bytes)",
                src.ip(),
                dst.ip(),
                message.len()
            )
        );
        rest = &rest[nl + 1..];
        assert_eq!(&rest[..message.len()], &message[..]);
        assert_eq!(rest[message.len()], b'\n');
        rest = &rest[message.len() + 1..];
    }
    assert!(rest.is_empty());
    let raw = std::fs::read_to_string(dir.join("calls.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(raw.lines().last().unwrap()).unwrap();
    assert_eq!(last["cin"], cin);
    assert_eq!(last["state"], "ended");
    assert_eq!(last["call_id"], "c1@example.org");
    assert_eq!(
        (&last["caller"], &last["callee"]),
        (
            &"sip:alice@example.org".into(),
            &"sip:bob@example.org".into()
        )
    );
    assert_eq!(last["start"], "2023-11-14T22:13:20Z");
    assert_eq!(last["answer"], "2023-11-14T22:13:22Z");
    assert_eq!(last["end"], "2023-11-14T22:13:24Z");
    assert_eq!(
        last["end_reason"],
        serde_json::json!({"kind": "bye", "by": "caller"})
    );
    let rtp: Vec<&str> = last["sdp_media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rtp"].as_str().unwrap())
        .collect();
    assert_eq!(rtp, ["192.0.2.1:40000", "198.51.100.2:50000"]);
}
