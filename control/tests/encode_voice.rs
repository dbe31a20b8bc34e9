//! A call's SIP (IRI) and RTP (CC), correlated by the call's number: both
//! formats through our decoder; X2/X3 through Wireshark's 5gli, SIP and RTP
//! dissectors; PS-PDUs (TS 102 232-5 IPMMIRI / IPMMCC) through asn1tools over
//! the ASN.1; and the engine, which delivers a calls route's records only as
//! the media of one of its calls, after the signalling watermark, with the
//! call's number.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;
mod encode_support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::handover::pdu::{decode_next, encode, DecodedKind, Direction, Event, Format};
use control::handover::{CallGate, SipReport};
use control::model::DestinationFormat;
use control::sessions::Transport;
use dataplane::synth::Frame;
use dataplane::targets::Mode;
use encode_support::{
    asn1tools, external, header, identity, tshark_5gli_rows, udp4, udp6, write_tcp_pcap, PORT,
};

/// The call's correlation number.
const CIN: u32 = 0x00c0_ffee;
const CALL_ID: &str = "a84b4c76e66710@pc33.example.com";

/// A SIP INVITE with an SDP offer.
fn invite() -> Vec<u8> {
    let sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
               c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
         Max-Forwards: 70\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
         Call-ID: {CALL_ID}\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@pc33.example.com>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// A SIP 200 OK (no body).
fn ok() -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
         To: Bob <sip:bob@example.com>;tag=a6c85cf\r\n\
         From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
         Call-ID: {CALL_ID}\r\n\
         CSeq: 314159 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn sip(message: Vec<u8>, src: &str, dst: &str, transport: Transport) -> SipReport {
    SipReport {
        at_ns: 1_795_290_013_250_000_000,
        cin: CIN,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        transport,
        message,
    }
}

fn reports() -> Vec<SipReport> {
    vec![
        sip(
            invite(),
            "192.0.2.1:5060",
            "198.51.100.9:5060",
            Transport::Udp,
        ),
        sip(
            ok(),
            "[2001:db8::9]:5061",
            "[2001:db8::1]:41000",
            Transport::Tcp,
        ),
    ]
}

/// An RTP packet (version 2, PCMU, sequence `seq`, SSRC 0x11223344) of
/// `len` octets.
fn rtp(seq: u16, len: usize) -> Vec<u8> {
    let mut r = vec![0x80, 0x00];
    r.extend_from_slice(&seq.to_be_bytes());
    r.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    r.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    r.resize(len, 0xd5);
    r
}

/// IP packets carrying RTP: IPv4 and IPv6, both directions.
fn media_packets() -> Vec<(Vec<u8>, Direction)> {
    let a6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    let mut v4 = udp4([192, 0, 2, 1], [198, 51, 100, 9], 4000, 5000, 172);
    v4[28..].copy_from_slice(&rtp(7, 172));
    let mut v6 = udp6(b6, a6, 5002, 4002, 172);
    v6[48..].copy_from_slice(&rtp(8, 172));
    // udp6's checksum covered its own payload: recompute over the RTP.
    v6[46..48].copy_from_slice(&[0, 0]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&v6[8..40]);
    pseudo.extend_from_slice(&180u32.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&v6[40..]);
    let c = encode_support::checksum(&pseudo);
    v6[46..48].copy_from_slice(&c.to_be_bytes());
    vec![(v4, Direction::FromTarget), (v6, Direction::ToTarget)]
}

/// The Media event of an IP/UDP packet without options or extension headers.
fn media(p: &[u8], direction: Direction) -> Event<'_> {
    let (src, dst, l4): (IpAddr, IpAddr, usize) = if p[0] >> 4 == 4 {
        let s: [u8; 4] = p[12..16].try_into().unwrap();
        let d: [u8; 4] = p[16..20].try_into().unwrap();
        (s.into(), d.into(), 20)
    } else {
        let s: [u8; 16] = p[8..24].try_into().unwrap();
        let d: [u8; 16] = p[24..40].try_into().unwrap();
        (s.into(), d.into(), 40)
    };
    let port = |at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
    Event::Media {
        ip_packet: p,
        rtp: &p[l4 + 8..],
        src: SocketAddr::new(src, port(l4)),
        dst: SocketAddr::new(dst, port(l4 + 2)),
        direction,
    }
}

/// The SIP IRI then the RTP CC, in `format`.
fn encode_all(format: Format) -> Vec<Vec<u8>> {
    let id = identity();
    let mut pdus = Vec::new();
    for (i, r) in reports().iter().enumerate() {
        let mut h = header(&id, i as u32);
        h.cin = r.cin;
        let mut out = Vec::new();
        encode(format, &h, &Event::Sip(r), &mut out).unwrap();
        pdus.push(out);
    }
    for (i, (p, d)) in media_packets().iter().enumerate() {
        let mut h = header(&id, 10 + i as u32);
        h.cin = CIN;
        let mut out = Vec::new();
        encode(format, &h, &media(p, *d), &mut out).unwrap();
        pdus.push(out);
    }
    pdus
}

#[test]
fn sip_and_rtp_round_trip_with_the_calls_number() {
    for format in [Format::X2X3, Format::Etsi102232] {
        let pdus = encode_all(format);
        let decoded: Vec<_> = pdus
            .iter()
            .map(|p| {
                let (d, used) = decode_next(format, p).unwrap().unwrap();
                assert_eq!(used, p.len());
                assert_eq!(d.cin, u64::from(CIN), "{format:?}");
                d.kind
            })
            .collect();
        for (kind, r) in decoded.iter().zip(reports()) {
            let DecodedKind::Sip { message, src, dst } = kind else {
                panic!("{format:?}: {kind:?}")
            };
            assert_eq!(message.as_ref(), r.message.as_slice());
            // A PS-PDU's SIPMessage has addresses, not ports.
            let port = |a: SocketAddr| match format {
                Format::X2X3 => a,
                Format::Etsi102232 => SocketAddr::new(a.ip(), 0),
            };
            assert_eq!((*src, *dst), (Some(port(r.src)), Some(port(r.dst))));
        }
        for (kind, (p, direction)) in decoded[2..].iter().zip(media_packets()) {
            let Event::Media { rtp, src, dst, .. } = media(&p, direction) else {
                unreachable!()
            };
            assert_eq!(
                *kind,
                DecodedKind::Media {
                    rtp: rtp.into(),
                    src,
                    dst,
                    direction
                },
                "{format:?}"
            );
        }
    }
}

#[test]
fn tshark_5gli_decodes_sip_and_rtp_cleanly() {
    let pdus = encode_all(Format::X2X3);
    if !external("tshark", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x2x3.pcap");
    write_tcp_pcap(&pcap, &pdus);
    let fields = [
        "li5g.type",
        "li5g.pf",
        "sip.Method",
        "sip.Status-Code",
        "sip.Call-ID",
        "sdp.media.port",
        "_ws.expert.severity",
        "_ws.malformed",
    ];
    let rows = tshark_5gli_rows(&pcap, &fields, pdus.len());
    let text = format!("{rows:?}");
    let col = |i: usize| -> Vec<&str> { rows[i].iter().map(String::as_str).collect() };
    assert_eq!(
        col(0)[..6],
        ["1", "9", "INVITE", "", CALL_ID, "4000"],
        "{text}"
    );
    assert_eq!(col(1)[..5], ["1", "9", "", "200", CALL_ID], "{text}");
    assert_eq!(col(2)[..2], ["2", "8"], "{text}");
    assert_eq!(col(3)[..2], ["2", "8"], "{text}");
    // The RTP inside format 8, as RTP: decoded as such when asked to.
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-d",
            &format!("tcp.port=={PORT},5gli"),
            "-T",
            "fields",
            "-e",
            "rtp.seq",
            "-e",
            "rtp.ssrc",
            "-Y",
            "li5g.pf == 8",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rtp: Vec<&str> = text.lines().collect();
    assert_eq!(rtp, ["7\t0x11223344", "8\t0x11223344"], "{text}");
}

#[test]
fn asn1tools_decodes_ipmm_iri_and_cc() {
    let pdus = encode_all(Format::Etsi102232);
    if !external("python3", &["-c", "import asn1tools"]) {
        return;
    }
    let decoded = asn1tools(&[], &pdus);
    assert_eq!(decoded.len(), pdus.len());
    let header = |v: &serde_json::Value| {
        v["pSHeader"]["communicationIdentifier"]["communicationIdentityNumber"].clone()
    };
    for (v, r) in decoded.iter().zip(reports()) {
        assert_eq!(header(v), u64::from(CIN), "{v}");
        let iri = &v["payload"][1][0];
        assert_eq!(iri["iRIType"], "iRI-Report", "{v}");
        let mm = &iri["iRIContents"];
        assert_eq!(mm[0], "iPMMIRI", "{v}");
        assert_eq!(mm[1]["iPMMIRIObjId"], "05051001", "{v}");
        let sip = &mm[1]["iPMMIRIContents"];
        assert_eq!(sip[0], "sIPMessage", "{v}");
        assert_eq!(sip[1]["sIPContent"], hex::encode(&r.message), "{v}");
        let addr = |a: &serde_json::Value| -> IpAddr {
            let bytes = hex::decode(a["iP-value"][1].as_str().unwrap()).unwrap();
            match bytes.len() {
                4 => <[u8; 4]>::try_from(bytes).unwrap().into(),
                _ => <[u8; 16]>::try_from(bytes).unwrap().into(),
            }
        };
        assert_eq!(addr(&sip[1]["iPSourceAddress"]), r.src.ip(), "{v}");
        assert_eq!(addr(&sip[1]["iPDestinationAddress"]), r.dst.ip(), "{v}");
    }
    for (v, (p, d)) in decoded[2..].iter().zip(media_packets()) {
        assert_eq!(header(v), u64::from(CIN), "{v}");
        let cc = &v["payload"][1][0];
        let direction = match d {
            Direction::FromTarget => "fromTarget",
            _ => "toTarget",
        };
        assert_eq!(cc["payloadDirection"], direction, "{v}");
        let mm = &cc["cCContents"];
        assert_eq!(mm[0], "iPMMCC", "{v}");
        assert_eq!(mm[1]["iPMMCCObjId"], "05051002", "{v}");
        assert_eq!(mm[1]["mMCCContents"], hex::encode(&p), "{v}");
        assert_eq!(mm[1]["frameType"], "ipFrame", "{v}");
        assert_eq!(mm[1]["mMCCprotocol"], "rTP", "{v}");
    }
}

/// The voice glue's answers for the engine test: key 1's call (and key 2's,
/// the same call seen by a headers warrant) had its media at
/// 192.0.2.1:4000 from T0+100 to T0+200.
struct Calls {
    watermark: AtomicU64,
}

const T0: u64 = 1_795_290_000_000_000_000;
const CALLER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const CALLEE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

impl CallGate for Calls {
    fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::Relaxed)
    }
    fn media_call(&self, key: u32, addr: IpAddr, port: u16, ts_ns: u64) -> Option<u32> {
        ((key == 1 || key == 2)
            && addr == IpAddr::V4(CALLER)
            && port == 4000
            && (T0 + 100..T0 + 200).contains(&ts_ns))
        .then_some(CIN)
    }
}

/// What a raw X2/X3 receiver got: (correlation ID, PDU type, payload).
type Received = Arc<Mutex<Vec<(u64, &'static str, Vec<u8>)>>>;

/// A plaintext X2/X3 peer on 127.0.0.1 that decodes what it receives and
/// answers keepalives.
fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got: Received = Arc::default();
    let got2 = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some((d, used)) = decode_next(Format::X2X3, &buf).unwrap() {
                    let entry = match d.kind {
                        DecodedKind::Keepalive => {
                            let id = identity();
                            let mut ack = Vec::new();
                            encode(
                                Format::X2X3,
                                &header(&id, 0),
                                &Event::KeepaliveAck,
                                &mut ack,
                            )
                            .unwrap();
                            let _ = conn.write_all(&ack);
                            None
                        }
                        DecodedKind::Sip { message, .. } => Some(("sip", message.into_owned())),
                        DecodedKind::Media { rtp, .. } => Some(("rtp", rtp.into_owned())),
                        DecodedKind::HeaderReport { ip_headers, .. } => {
                            Some(("headers", ip_headers.into_owned()))
                        }
                        other => Some(("other", format!("{other:?}").into_bytes())),
                    };
                    if let Some((what, bytes)) = entry {
                        got2.lock().unwrap().push((d.cin, what, bytes));
                    }
                    buf.drain(..used);
                }
            }
        }
    });
    (addr, got)
}

/// An Ethernet/IPv4/UDP frame from `src`:`sport` to CALLEE:5000 carrying RTP `seq`.
fn rtp_frame(src: Ipv4Addr, sport: u16, seq: u16) -> Vec<u8> {
    Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, CALLEE)
        .udp(sport, 5000)
        .payload(&rtp(seq, 60))
        .build()
}

#[test]
fn calls_route_delivers_only_its_calls_media_after_the_watermark() {
    use delivery_common::{push, route, start_engine, wait_for};
    let tmp = tempfile::tempdir().unwrap();
    let (addr, got) = receiver();
    let mut dest = delivery_common::destination(
        "lea",
        &addr,
        DestinationFormat::X2x3,
        &delivery_common::Pki::new(tmp.path()),
        &tmp.path().join("spool"),
    );
    dest.tls = None;
    dest.insecure_plaintext = true;
    let (engine, mut producer, _trail) = start_engine(vec![dest], 64);
    let gate = Arc::new(Calls {
        watermark: AtomicU64::new(T0 + 150),
    });
    engine.set_call_gate(gate.clone());
    for (key, mode) in [(1, Mode::Content), (2, Mode::Headers)] {
        let mut r = route(key, &format!("LIID-VOICE-{key}"), mode, "lea", CALLER);
        r.targets.clear();
        r.calls = true;
        engine.add_route(r);
    }
    let sent = |engine: &control::handover::HandoverEngine, n: u64| {
        wait_for(30, "PDUs encoded", || {
            engine.stats().destinations[0].pdus >= n
        });
    };
    let from = dataplane::targets::Direction::FromTarget;
    // In the call, before the watermark: delivered, with the call's number.
    push(
        &mut producer,
        &rtp_frame(CALLER, 4000, 1),
        1,
        Mode::Content,
        from,
        T0 + 120,
    );
    // Another port of the same address: not the call's media.
    push(
        &mut producer,
        &rtp_frame(CALLER, 4002, 2),
        1,
        Mode::Content,
        from,
        T0 + 130,
    );
    // In the call but newer than the watermark: held.
    push(
        &mut producer,
        &rtp_frame(CALLER, 4000, 3),
        1,
        Mode::Content,
        from,
        T0 + 180,
    );
    // After the call: held, then never delivered (another call may reuse the port).
    push(
        &mut producer,
        &rtp_frame(CALLER, 4000, 4),
        1,
        Mode::Content,
        from,
        T0 + 250,
    );
    // The headers warrant on the same call: its headers, never the RTP. It
    // waits behind the held records (one queue keeps the order).
    push(
        &mut producer,
        &rtp_frame(CALLER, 4000, 5),
        2,
        Mode::Headers,
        from,
        T0 + 120,
    );
    // SIP IRI follows the records already handed off: once it is encoded, the
    // held records were judged (held), not delivered.
    engine.sip_event(
        1,
        sip(
            invite(),
            "192.0.2.1:5060",
            "198.51.100.9:5060",
            Transport::Udp,
        ),
    );
    sent(&engine, 2);
    assert_eq!(engine.stats().destinations[0].pdus, 2);
    gate.watermark.store(T0 + 300, Ordering::Relaxed);
    sent(&engine, 4);
    // A marker after the released records: the one after the call was judged.
    engine.sip_event(
        1,
        sip(ok(), "198.51.100.9:5060", "192.0.2.1:5060", Transport::Udp),
    );
    sent(&engine, 5);
    wait_for(30, "PDUs received", || got.lock().unwrap().len() >= 5);
    engine.shutdown(Duration::from_secs(5));
    let summary = got.lock().unwrap().clone();
    let cin = u64::from(CIN);
    assert_eq!(summary.len(), 5, "{summary:?}");
    assert_eq!(summary[0], (cin, "rtp", rtp(1, 60)), "{summary:?}");
    assert_eq!(summary[1], (cin, "sip", invite()), "{summary:?}");
    assert_eq!(summary[2], (cin, "rtp", rtp(3, 60)), "{summary:?}");
    assert_eq!(
        (summary[3].0, summary[3].1),
        (cin, "headers"),
        "{summary:?}"
    );
    assert_eq!(summary[3].2.len(), 28, "IPv4 and UDP headers, no RTP octet");
    assert_eq!(summary[4], (cin, "sip", ok()), "{summary:?}");
}
