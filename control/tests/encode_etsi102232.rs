//! PS-PDUs (ETSI TS 102 232-1/-3, BER) checked by an independent decoder:
//! python3 + asn1tools over the ASN.1 (scripts/asn1/decode_pspdu.py, which also
//! re-encodes each PDU and requires byte-identical output); and by our own decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod encode_support;

use std::io::Write;
use std::process::{Command, Stdio};

use control::handover::etsi102232::PsPduEncoder;
use control::handover::pdu::{decode_next, DecodedKind, Direction, Encoder, Event, Format};
use encode_support::{events, external, header, identity};
use proptest::prelude::*;
use serde_json::{json, Value};

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asn1/decode_pspdu.py")
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::FromTarget => "fromTarget",
        Direction::ToTarget => "toTarget",
        Direction::Both => "combined",
    }
}

#[test]
fn asn1tools_decodes_and_reencodes_every_pdu_identically() {
    if !external("python3", &["-c", "import asn1tools"]) {
        return;
    }
    let id = identity();
    let fixtures = events();
    let pdus: Vec<Vec<u8>> = fixtures
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut out = Vec::new();
            PsPduEncoder
                .encode(&header(&id, i as u32), &e.event(), &mut out)
                .unwrap();
            out
        })
        .collect();
    let mut child = Command::new("python3")
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for p in &pdus {
        writeln!(stdin, "{}", hex::encode(p)).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "asn1tools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), pdus.len());

    for (i, (v, e)) in lines.iter().zip(&fixtures).enumerate() {
        let h = header(&id, i as u32);
        let ps = &v["pSHeader"];
        assert_eq!(ps["li-psDomainId"], "0.4.0.2.2.5.1.35");
        assert_eq!(ps["lawfulInterceptionIdentifier"], hex::encode(h.liid));
        assert_eq!(ps["authorizationCountryCode"], "DE");
        let ci = &ps["communicationIdentifier"];
        assert_eq!(
            ci["networkIdentifier"]["operatorIdentifier"],
            hex::encode("OPERATOR-A")
        );
        assert_eq!(
            ci["networkIdentifier"]["networkElementIdentifier"],
            hex::encode("probe-07")
        );
        assert_eq!(ci["communicationIdentityNumber"], json!(h.cin));
        assert_eq!(ci["deliveryCountryCode"], "DE");
        assert_eq!(ps["sequenceNumber"], json!(h.sequence));
        assert_eq!(
            ps["microSecondTimeStamp"]["seconds"],
            json!(h.timestamp_ns / 1_000_000_000)
        );
        assert_eq!(
            ps["microSecondTimeStamp"]["microSeconds"],
            json!(h.timestamp_ns / 1000 % 1_000_000)
        );
        assert_eq!(ps["timeStampQualifier"], "timeOfInterception");
        assert!(
            ps["timeStamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-21T19:40:13"),
            "{ps}"
        );
        let payload = &v["payload"];
        match e.event() {
            Event::Content {
                ip_packet,
                direction,
            } => {
                assert_eq!(payload[0], "cCPayloadSequence");
                let cc = &payload[1][0];
                assert_eq!(cc["payloadDirection"], direction_name(direction));
                assert_eq!(cc["cCContents"][0], "iPCC");
                let ipcc = &cc["cCContents"][1];
                assert_eq!(ipcc["iPCCObjId"], "05030f02"); // {5 3 15 2}
                assert_eq!(
                    ipcc["iPCCContents"],
                    json!(["iPPackets", hex::encode(ip_packet)])
                );
            }
            Event::HeaderReport {
                wire_len,
                direction,
                ..
            } => {
                assert_eq!(payload[0], "iRIPayloadSequence");
                let iri = &payload[1][0];
                assert_eq!(iri["iRIType"], "iRI-Report");
                assert_eq!(iri["payloadDirection"], direction_name(direction));
                assert_eq!(iri["iRIContents"][0], "iPIRIOnly");
                let only = &iri["iRIContents"][1];
                assert_eq!(only["iPIRIOnlyObjId"], "05030f03");
                let v4 = &only["iPInformation"];
                assert_eq!(v4[0], "iPv4Information");
                assert_eq!(v4[1]["source"], "0a010203");
                assert_eq!(v4[1]["destination"], "cb007109");
                assert_eq!(
                    v4[1]["totalLength"],
                    hex::encode((wire_len as u16).to_be_bytes())
                );
                assert_eq!(v4[1]["protocol"], "06");
                let tcp = &only["protocolInformation"];
                assert_eq!(tcp[0], "tCPInformation");
                assert_eq!(tcp[1]["sourcePort"], hex::encode(51000u16.to_be_bytes()));
                assert_eq!(tcp[1]["destinationPort"], hex::encode(443u16.to_be_bytes()));
                assert_eq!(only["iPAggregatedNbrOfPackets"], 1);
                assert_eq!(only["iPAggregatedNbrOfBytes"], json!(wire_len));
            }
            Event::Begin { target, at_ns } | Event::End { target, at_ns } => {
                let begin = matches!(e.event(), Event::Begin { .. });
                assert_eq!(payload[0], "iRIPayloadSequence");
                let iri = &payload[1][0];
                assert_eq!(iri["iRIType"], if begin { "iRI-Begin" } else { "iRI-End" });
                assert_eq!(iri["iRIContents"][0], "iPIRI");
                let ipiri = &iri["iRIContents"][1];
                assert_eq!(ipiri["iPIRIObjId"], "05030f01");
                let c = &ipiri["iPIRIContents"];
                let event = if begin {
                    "startOfInterceptionWithSessionActive"
                } else {
                    "endOfInterceptionWithSessionActive"
                };
                assert_eq!(c["accessEventType"], event);
                let secs = at_ns / 1_000_000_000;
                let when = c[if begin { "startTime" } else { "endTime" }]
                    .as_str()
                    .unwrap();
                let parsed = time::OffsetDateTime::parse(
                    when,
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                assert_eq!(
                    parsed.unix_timestamp_nanos(),
                    i128::from(
                        secs * 1_000_000_000 + at_ns % 1_000_000_000 / 1_000_000 * 1_000_000
                    )
                );
                match target {
                    Some(t) => {
                        let bin = match t {
                            std::net::IpAddr::V4(a) => hex::encode(a.octets()),
                            std::net::IpAddr::V6(a) => hex::encode(a.octets()),
                        };
                        assert_eq!(
                            c["targetIPAddress"]["iP-value"],
                            json!(["iPBinaryAddress", bin])
                        );
                        assert_eq!(
                            c["targetIPAddress"]["iP-type"],
                            if t.is_ipv4() { "iPV4" } else { "iPV6" }
                        );
                        assert_eq!(c["targetUsername"], hex::encode(t.to_string()));
                    }
                    None => {
                        assert!(c.get("targetIPAddress").is_none());
                        assert_eq!(c["iPVersion"], "iPV4andV6");
                    }
                }
            }
            Event::Keepalive => assert_eq!(payload, &json!(["tRIPayload", ["keep-alive", null]])),
            Event::KeepaliveAck => assert_eq!(
                payload,
                &json!(["tRIPayload", ["keep-aliveResponse", null]])
            ),
        }
    }
}

#[test]
fn own_decoder_round_trips_every_pdu_from_one_stream() {
    let id = identity();
    let fixtures = events();
    let mut stream = Vec::new();
    for (i, e) in fixtures.iter().enumerate() {
        Format::Etsi102232
            .encoder()
            .encode(&header(&id, i as u32), &e.event(), &mut stream)
            .unwrap();
    }
    let mut at = 0;
    for (i, e) in fixtures.iter().enumerate() {
        let (d, used) = decode_next(Format::Etsi102232, &stream[at..])
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_next(Format::Etsi102232, &stream[at..at + used - 1]),
            Ok(None)
        );
        let h = header(&id, i as u32);
        assert_eq!(
            (d.liid_or_xid.as_str(), d.cin, d.sequence),
            (h.liid, u64::from(h.cin), h.sequence)
        );
        assert_eq!(d.timestamp_ns, h.timestamp_ns / 1000 * 1000); // microsecond precision
        match (e.event(), &d.kind) {
            (
                Event::Content {
                    ip_packet,
                    direction,
                },
                DecodedKind::Content {
                    ip_packet: p,
                    direction: dd,
                },
            ) => {
                assert_eq!((ip_packet, direction), (&p[..], *dd));
            }
            (Event::HeaderReport { wire_len, .. }, DecodedKind::Iri(v)) => {
                assert_eq!(
                    (
                        v["iPAggregatedNbrOfBytes"].clone(),
                        v["totalLength"].clone()
                    ),
                    (json!(wire_len), json!(wire_len))
                );
                assert_eq!(
                    (v["sourcePort"].clone(), v["destinationPort"].clone()),
                    (json!(51000), json!(443))
                );
            }
            (Event::Begin { .. }, DecodedKind::Iri(v)) => assert_eq!(v["iRIType"], "iRI-Begin"),
            (Event::End { .. }, DecodedKind::Iri(v)) => assert_eq!(v["iRIType"], "iRI-End"),
            (Event::Keepalive, DecodedKind::Keepalive)
            | (Event::KeepaliveAck, DecodedKind::KeepaliveAck) => {}
            (ev, k) => panic!("record {i}: {ev:?} decoded as {k:?}"),
        }
        at += used;
    }
    assert_eq!(at, stream.len());
}

proptest! {
    #[test]
    fn random_headers_and_packets_round_trip(
        liid in "[A-Za-z0-9-]{1,25}",
        cin in any::<u32>(),
        sequence in any::<u32>(),
        timestamp_ns in 0u64..4_102_444_800_000_000_000,
        packet in proptest::collection::vec(any::<u8>(), 0..3000),
        dir in 0u8..3,
        x2x3 in any::<bool>(),
    ) {
        let id = identity();
        let mut h = header(&id, 0);
        h.liid = &liid;
        h.cin = cin;
        h.sequence = sequence;
        h.timestamp_ns = timestamp_ns;
        let direction = [Direction::FromTarget, Direction::ToTarget, Direction::Both][usize::from(dir)];
        let mut packet = packet;
        if x2x3 {
            // X3 needs an IP packet (format by version nibble).
            packet.splice(0..0, encode_support::udp4([1, 2, 3, 4], [5, 6, 7, 8], 61000, 61001, 0));
        }
        let format = if x2x3 { Format::X2X3 } else { Format::Etsi102232 };
        let mut out = vec![0xab; 3];
        format.encoder().encode(&h, &Event::Content { ip_packet: &packet, direction }, &mut out).unwrap();
        let (d, used) = decode_next(format, &out[3..]).unwrap().unwrap();
        prop_assert_eq!(used, out.len() - 3);
        prop_assert_eq!(d.sequence, sequence);
        prop_assert_eq!(d.cin, u64::from(cin));
        if x2x3 {
            prop_assert_eq!(d.timestamp_ns, timestamp_ns);
        } else {
            prop_assert_eq!(&d.liid_or_xid, &liid);
            prop_assert_eq!(d.timestamp_ns, timestamp_ns / 1000 * 1000);
        }
        prop_assert_eq!(d.kind, DecodedKind::Content { ip_packet: packet, direction });
    }
}

/// Throughput figure, not a pass/fail speed check:
/// `cargo test --release -p control --test encode_etsi102232 -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: prints ns/PDU"]
fn bench_encode_1500_byte_cc() {
    let id = identity();
    let packet = encode_support::udp4([10, 0, 0, 1], [10, 0, 0, 2], 61000, 61001, 1472);
    let e = Event::Content {
        ip_packet: &packet,
        direction: Direction::FromTarget,
    };
    for format in [Format::Etsi102232, Format::X2X3] {
        let mut out = Vec::with_capacity(64 * 1024);
        let n = 2_000_000u32;
        let start = std::time::Instant::now();
        for i in 0..n {
            if out.len() > 60 * 1024 {
                out.clear(); // reuse, as the delivery engine does
            }
            let mut h = header(&id, 0);
            h.sequence = i;
            format.encoder().encode(&h, &e, &mut out).unwrap();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        let gbps = packet.len() as f64 * 8.0 / ns;
        println!("{format:?}: {ns:.1} ns/PDU for 1500-byte CC = {gbps:.1} Gbit/s of CC on one core (encode only)");
        assert!(decode_next(format, &out).unwrap().is_some());
    }
}
