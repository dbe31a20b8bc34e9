//! PS-PDUs (ETSI TS 102 232-1/-3, BER) checked by an independent decoder:
//! python3 + asn1tools over the ASN.1 (scripts/asn1/decode_pspdu.py, which also
//! re-encodes each PDU and requires byte-identical output); and by our own decoder.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod encode_support;

use control::handover::etsi102232::PsPduEncoder;
use control::handover::pdu::{decode_next, DecodedKind, Direction, Encoder, Event, Format};
use encode_support::{asn1tools, events, external, header, identity, Owned};
use proptest::prelude::*;
use serde_json::{json, Value};

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::FromTarget => "fromTarget",
        Direction::ToTarget => "toTarget",
        Direction::Both => "combined",
    }
}

fn hex_field(v: &Value, k: &str) -> Vec<u8> {
    v.get(k)
        .and_then(Value::as_str)
        .map(|h| hex::decode(h).unwrap())
        .unwrap_or_default()
}

/// BIT STRING as asn1tools gives it, `[hex, bits]`: its first octet.
fn bit_field(v: &Value, k: &str, bits: u64) -> u8 {
    assert_eq!(v[k][1], bits, "{k}");
    hex::decode(v[k][0].as_str().unwrap()).unwrap()[0]
}

/// IPv4 + TCP header octets from asn1tools' IPv4Information and TCPInformation.
fn rebuild_from_asn1tools(ip: &Value, tcp: &Value) -> Vec<u8> {
    let ihl = hex_field(ip, "headerLength");
    assert_eq!(ihl.len(), 1);
    let mut h = vec![0x40 | ihl[0]];
    for k in [
        "typeOfService",
        "totalLength",
        "identification",
        "fragment",
        "ttl",
        "protocol",
        "headerChecksum",
        "source",
        "destination",
        "options",
    ] {
        h.extend(hex_field(ip, k));
    }
    for k in [
        "sourcePort",
        "destinationPort",
        "sequenceNumber",
        "ackNumber",
    ] {
        h.extend(hex_field(tcp, k));
    }
    h.push(bit_field(tcp, "dataOffset", 4));
    h.push(bit_field(tcp, "controlBits", 6) >> 2);
    for k in ["windowSize", "checkSum", "urgentPointer", "options"] {
        h.extend(hex_field(tcp, k));
    }
    h
}

/// The PS-PDUs that the ETSI-published subset (no IPIRIOnly) can hold — CC, IRI
/// begin/end, keep-alives — decode against that file as shipped in
/// $CALEA_SHARED_DIR/specs/asn1, not only against our extended copy.
#[test]
fn asn1tools_decodes_against_the_shared_etsi_subset() {
    let Some(shared) = std::env::var_os("CALEA_SHARED_DIR") else {
        eprintln!(
            "CALEA_SHARED_DIR is not set: the check against the shared ETSI subset needs it \
             (scripts/test.sh sets it to ../shared when that folder is beside the checkout)"
        );
        return;
    };
    let spec = std::path::Path::new(&shared).join("specs/asn1/LI-PS-PDU-IPAccess-subset.asn");
    assert!(
        spec.is_file(),
        "CALEA_SHARED_DIR={} has no specs/asn1/LI-PS-PDU-IPAccess-subset.asn",
        spec.display()
    );
    if !external("python3", &["-c", "import asn1tools"]) {
        return;
    }
    let id = identity();
    let pdus: Vec<Vec<u8>> = events()
        .iter()
        .enumerate()
        .filter(|(_, e)| !matches!(e, Owned::Headers(..)))
        .map(|(i, e)| {
            let mut out = Vec::new();
            PsPduEncoder
                .encode(&header(&id, i as u32), &e.event(), &mut out)
                .unwrap();
            out
        })
        .collect();
    let decoded = asn1tools(&["--spec".as_ref(), spec.as_os_str()], &pdus);
    assert_eq!(decoded.len(), pdus.len());
    let kinds: Vec<&str> = decoded
        .iter()
        .map(|v| v["payload"][0].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"cCPayloadSequence"), "{kinds:?}");
    assert!(kinds.contains(&"iRIPayloadSequence"), "{kinds:?}");
    assert!(kinds.contains(&"tRIPayload"), "{kinds:?}");
    for v in &decoded {
        assert_eq!(v["pSHeader"]["li-psDomainId"], "0.4.0.2.2.5.1.35");
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
    let lines = asn1tools(&[], &pdus);
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
            Event::Frame { .. } => panic!("a PS-PDU carries no frame; no such fixture"),
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
                assert_eq!(only["iPAggregatedNbrOfPackets"], 1);
                assert_eq!(only["iPAggregatedNbrOfBytes"], json!(wire_len));
                let Event::HeaderReport { ip_headers, .. } = e.event() else {
                    unreachable!()
                };
                if ip_headers[0] >> 4 == 6 {
                    let v6 = &only["iPInformation"];
                    assert_eq!(v6[0], "iPv6Information");
                    assert_eq!(v6[1]["source"], hex::encode(&ip_headers[8..24]));
                    assert_eq!(v6[1]["destination"], hex::encode(&ip_headers[24..40]));
                    // SIZE (20) and SIZE (4) as published, values right-aligned.
                    assert_eq!(v6[1]["flowLabel"], "00".repeat(20));
                    assert_eq!(v6[1]["payloadLength"], "00000008");
                    assert_eq!(v6[1]["nextHeader"], "11");
                    assert_eq!(v6[1]["hopLimit"], hex::encode(&ip_headers[7..8]));
                    let udp = &only["protocolInformation"];
                    assert_eq!(udp[0], "uDPInformation");
                    assert_eq!(udp[1]["sourcePort"], hex::encode(5060u16.to_be_bytes()));
                    assert_eq!(udp[1]["length"], hex::encode(8u16.to_be_bytes()));
                    continue;
                }
                if ip_headers[9] == 17 {
                    let udp = &only["protocolInformation"];
                    assert_eq!(udp[0], "uDPInformation");
                    let mut h = Vec::new();
                    for k in ["sourcePort", "destinationPort", "length", "checkSum"] {
                        h.extend(hex_field(&udp[1], k));
                    }
                    assert_eq!(h, &ip_headers[20..28]);
                    continue;
                }
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
                // The independent decoder's fields alone rebuild the header octets.
                assert_eq!(rebuild_from_asn1tools(&v4[1], &tcp[1]), ip_headers);
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
            // Session IRI is checked in encode_session_iri.rs, voice in encode_voice.rs.
            Event::Session(_) | Event::Sip(_) | Event::Media { .. } => {
                panic!("not among the shared fixtures")
            }
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
            (&*d.liid_or_xid, d.cin, d.sequence),
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
            (
                Event::HeaderReport {
                    ip_headers,
                    wire_len,
                    direction,
                    ..
                },
                DecodedKind::HeaderReport {
                    ip_headers: hh,
                    wire_len: l,
                    direction: dd,
                    report: Some(v),
                },
            ) => {
                // IPv4 + TCP: the header octets are rebuilt exactly from the fields.
                assert_eq!((ip_headers, wire_len, direction), (&hh[..], *l, *dd));
                assert_eq!(v["iRIType"], "iRI-Report");
                assert_eq!(v["iPAggregatedNbrOfBytes"], json!(wire_len));
                let ports = (
                    u16::from_be_bytes([hh[hh.len() - 8], hh[hh.len() - 7]]),
                    u16::from_be_bytes([hh[hh.len() - 6], hh[hh.len() - 5]]),
                );
                if v["transport"] == "udp" {
                    assert_eq!(
                        (v["sourcePort"].clone(), v["destinationPort"].clone()),
                        (json!(ports.0), json!(ports.1))
                    );
                } else {
                    assert_eq!(v["transport"], "tcp");
                    assert_eq!(v["totalLength"], json!(wire_len));
                    assert_eq!(
                        (v["sourcePort"].clone(), v["destinationPort"].clone()),
                        (json!(51000), json!(443))
                    );
                }
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
            prop_assert_eq!(&*d.liid_or_xid, liid.as_str());
            prop_assert_eq!(d.timestamp_ns, timestamp_ns / 1000 * 1000);
        }
        prop_assert_eq!(d.kind, DecodedKind::Content { ip_packet: &packet, direction });
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
