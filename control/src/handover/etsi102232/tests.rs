use super::*;
use crate::handover::pdu::{Flow, Identity};
use std::net::{Ipv4Addr, Ipv6Addr};

fn identity() -> Identity {
    Identity {
        operator_id: "OP1".into(),
        network_element_id: "probe-1".into(),
        country_code: "DE".into(),
    }
}

fn header<'a>(id: &'a Identity) -> PduHeader<'a> {
    PduHeader {
        liid: "LIID-42",
        xid: uuid::Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
        cin: 77,
        sequence: 5,
        timestamp_ns: 1_795_290_013_123_456_789,
        identity: id,
    }
}

fn enc(e: &Event<'_>) -> Vec<u8> {
    let id = identity();
    let mut out = vec![0xee]; // encoders append
    PsPduEncoder.encode(&header(&id), e, &mut out).unwrap();
    assert_eq!(out[0], 0xee);
    out.remove(0);
    out
}

#[test]
fn encodes_keepalive_exactly() {
    let pdu = enc(&Event::Keepalive);
    // Payload [2] { tRIPayload [2] { keep-alive [3] NULL } }
    assert!(pdu.ends_with(&[0xa2, 0x04, 0xa2, 0x02, 0x83, 0x00]));
    // pSHeader starts with li-psDomainId version35 and the LIID.
    let mut expect = vec![
        0x80, 0x07, 0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x23, 0x81, 0x07,
    ];
    expect.extend_from_slice(b"LIID-42");
    assert_eq!(&pdu[4..4 + expect.len()], &expect[..]);
    let d = decode(&pdu).unwrap();
    assert_eq!(d.kind, DecodedKind::Keepalive);
    assert_eq!((&*d.liid_or_xid, d.cin, d.sequence), ("LIID-42", 77, 5));
    assert_eq!(d.timestamp_ns, 1_795_290_013_123_456_000);
}

#[test]
fn content_round_trips() {
    for len in [20usize, 100, 200, 1500, 9000] {
        let mut p = vec![0x45u8; len];
        p[1] = (len % 251) as u8;
        let pdu = enc(&Event::Content {
            ip_packet: &p,
            direction: Direction::ToTarget,
        });
        let (d, used) = decode_next(&pdu).unwrap().unwrap();
        assert_eq!(used, pdu.len());
        assert_eq!(
            d.kind,
            DecodedKind::Content {
                ip_packet: &p,
                direction: Direction::ToTarget
            }
        );
        assert_eq!(decode_next(&pdu[..pdu.len() - 1]), Ok(None));
    }
}

#[test]
fn begin_decodes_to_json() {
    let t: IpAddr = "192.0.2.7".parse().unwrap();
    let pdu = enc(&Event::Begin {
        target: Some(t),
        at_ns: 1_795_290_000_000_000_000,
    });
    let DecodedKind::Iri(v) = decode(&pdu).unwrap().kind else {
        panic!()
    };
    assert_eq!(v["iRIType"], "iRI-Begin");
    assert_eq!(v["accessEventType"], "startOfInterceptionWithSessionActive");
    assert_eq!(json_ip(&v, "targetIPAddress"), Some(t));
    assert_eq!(v["startTime"], "20261121194000Z");
}

/// IPv4 (with options) + TCP (with options) headers, every field non-zero.
fn v4_tcp() -> Vec<u8> {
    let mut h = vec![0u8; 24 + 32];
    h[..24].copy_from_slice(&[
        0x46, 0xb8, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00, 0x3f, 6, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0,
        2, 0x94, 0x04, 0x00, 0x00,
    ]);
    h[24..44].copy_from_slice(&[
        0x30, 0x39, 0x00, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x18, 0xff, 0xee, 0x12, 0x21, 0x00,
        0x07,
    ]);
    h[44..56].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 10]);
    h
}

fn report(e: &Event<'_>) -> (Vec<u8>, u32, Direction, Value) {
    match decode(&enc(e)).unwrap().kind {
        DecodedKind::HeaderReport {
            ip_headers,
            wire_len,
            direction,
            report: Some(v),
        } => (ip_headers.into_owned(), wire_len, direction, v),
        k => panic!("{k:?}"),
    }
}

#[test]
fn header_report_rebuilds_ipv4_tcp_exactly() {
    let h = v4_tcp();
    let flow = Flow {
        src: Ipv4Addr::new(10, 0, 0, 1).into(),
        dst: Ipv4Addr::new(10, 0, 0, 2).into(),
        proto: 6,
        src_port: 12345,
        dst_port: 80,
    };
    for flow in [None, Some(flow)] {
        let e = Event::HeaderReport {
            ip_headers: &h,
            l4_at: 24,
            wire_len: 1500,
            direction: Direction::FromTarget,
            flow,
        };
        let (rebuilt, len, dir, v) = report(&e);
        assert_eq!(rebuilt, h);
        assert_eq!((len, dir), (1500, Direction::FromTarget));
        assert_eq!(v["iRIType"], "iRI-Report");
        assert_eq!(v["iPVersion"], 4);
        assert_eq!(v["headerLength"], 6);
        assert_eq!(v["typeOfService"], 0xb8);
        assert_eq!(v["totalLength"], 1500);
        assert_eq!(v["identification"], 0x1234);
        assert_eq!(v["fragment"], 0x4000);
        assert_eq!(v["ttl"], 0x3f);
        assert_eq!(v["protocol"], 6);
        assert_eq!(v["headerChecksum"], 0xabcd);
        assert_eq!(v["ipOptions"], "94040000");
        assert_eq!(v["transport"], "tcp");
        assert_eq!(v["sourcePort"], 12345);
        assert_eq!(v["destinationPort"], 80);
        assert_eq!(v["sequenceNumber"], 0x0102_0304);
        assert_eq!(v["ackNumber"], 0x0506_0708);
        assert_eq!(v["dataOffset"], 8);
        assert_eq!(v["controlBits"], 0x18);
        assert_eq!(v["windowSize"], 0xffee);
        assert_eq!(v["checkSum"], 0x1221);
        assert_eq!(v["urgentPointer"], 7);
        assert_eq!(v["tcpOptions"], "0101080a000000090000000a");
        assert_eq!(v["iPAggregatedNbrOfPackets"], 1);
        assert_eq!(v["iPAggregatedNbrOfBytes"], 1500);
        assert_eq!(
            json_ip(&v, "destination"),
            Some(Ipv4Addr::new(10, 0, 0, 2).into())
        );
        assert_eq!(v["payloadDirection"], "fromTarget");
    }
}

#[test]
fn header_report_tags_follow_ts_102_232_3() {
    let pdu = enc(&Event::HeaderReport {
        ip_headers: &v4_tcp(),
        l4_at: 24,
        wire_len: 1500,
        direction: Direction::ToTarget,
        flow: None,
    });
    // iPIRIOnly [3] { objId [0] 5.3.15.3, iPInformation [1] { iPv4Information [0] {
    // headerLength [0] 06, ...
    let ipv4 = [
        0x80, 0x04, 5, 3, 15, 3, 0xa1, 0x30, 0xa0, 0x2e, 0x80, 0x01, 0x06,
    ];
    assert!(pdu.windows(ipv4.len()).any(|w| w == ipv4), "{pdu:02x?}");
    // protocolInformation [2] { tCPInformation [1] { ... dataOffset [4] BIT STRING
    // 4 bits = 8, controlBits [5] 6 bits = ACK PSH
    let bits = [0x84, 0x02, 0x04, 0x80, 0x85, 0x02, 0x02, 0x18 << 2];
    assert!(pdu.windows(bits.len()).any(|w| w == bits), "{pdu:02x?}");
}

#[test]
fn header_report_of_udp_and_icmp() {
    let mut h = v4_tcp()[..28].to_vec();
    h[0] = 0x45;
    h[9] = 17;
    h[20..28].copy_from_slice(&[0x13, 0x88, 0x00, 0x35, 0x05, 0xc8, 0xbe, 0xef]);
    fn e(h: &[u8]) -> Event<'_> {
        Event::HeaderReport {
            ip_headers: h,
            l4_at: 20,
            wire_len: 1500,
            direction: Direction::ToTarget,
            flow: None,
        }
    }
    let (rebuilt, _, _, v) = report(&e(&h));
    assert_eq!(rebuilt, h);
    assert_eq!(
        (&v["transport"], &v["length"], &v["checkSum"]),
        (&json!("udp"), &json!(1480), &json!(0xbeef))
    );
    // ICMP: protocolInformation none; only the IP header can be rebuilt.
    h[9] = 1;
    let (rebuilt, len, _, v) = report(&e(&h));
    assert_eq!((&rebuilt[..], len), (&h[..20], 1500));
    assert_eq!(
        (&v["transport"], &v["protocol"]),
        (&json!("none"), &json!(1))
    );
}

#[test]
fn header_report_of_ipv6_rebuilds_base_header_and_transport() {
    let mut h = vec![0u8; 40 + 8];
    h[..8].copy_from_slice(&[0x6a, 0xbc, 0xde, 0xf1, 0x00, 0x64, 17, 0x40]);
    h[8..24].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
    h[24] = 0x20;
    h[40..48].copy_from_slice(&[0x13, 0x88, 0x00, 0x35, 0x00, 0x64, 0xbe, 0xef]);
    let e = Event::HeaderReport {
        ip_headers: &h,
        l4_at: 40,
        wire_len: 140,
        direction: Direction::Both,
        flow: None,
    };
    let pdu = enc(&e);
    // flowLabel as published: SIZE (20) octets, the 20-bit value right-aligned.
    let mut flow = vec![0x81, 20];
    flow.extend_from_slice(&[0; 17]);
    flow.extend_from_slice(&[0x0c, 0xde, 0xf1]);
    assert!(pdu.windows(flow.len()).any(|w| w == flow));
    let (rebuilt, len, dir, v) = report(&e);
    assert_eq!((rebuilt, len, dir), (h, 140, Direction::Both));
    assert_eq!(v["iPVersion"], 6);
    assert_eq!(v["trafficClass"], 0xab);
    assert_eq!(v["flowLabel"], 0xcdef1);
    assert_eq!(v["payloadLength"], 100);
    assert_eq!(v["nextHeader"], 17);
    assert_eq!(v["hopLimit"], 0x40);
    assert_eq!(json_ip(&v, "source"), Some(Ipv6Addr::LOCALHOST.into()));
}

#[test]
fn rejects_bad_fields() {
    let id = identity();
    let mut h = header(&id);
    h.liid = "";
    let mut out = Vec::new();
    assert!(PsPduEncoder
        .encode(&h, &Event::Keepalive, &mut out)
        .is_err());
    h.liid = "this-liid-is-much-too-long-for-ber";
    assert!(PsPduEncoder
        .encode(&h, &Event::Keepalive, &mut out)
        .is_err());
    let e = Event::HeaderReport {
        ip_headers: &[0x45; 10],
        l4_at: 20,
        wire_len: 10,
        direction: Direction::Both,
        flow: None,
    };
    assert_eq!(
        PsPduEncoder.encode(&header(&id), &e, &mut out),
        Err(EncodeError::NotIp)
    );
    assert!(out.is_empty());
}

#[test]
fn rejects_garbage_and_trailing_bytes() {
    assert!(decode_next(&[0x31, 0x00]).is_err());
    assert_eq!(decode_next(&[0x30]), Ok(None));
    assert_eq!(decode_next(&[0x30, 0x82, 0x01]), Ok(None));
    let mut pdu = enc(&Event::Keepalive);
    pdu.push(0);
    assert!(decode(&pdu).is_err());
    let (_, used) = decode_next(&pdu).unwrap().unwrap();
    assert_eq!(used, pdu.len() - 1);
}

#[test]
fn a_probe_id_is_checked_once_for_every_pdu_header() {
    for bad in [
        Identity {
            operator_id: String::new(),
            ..identity()
        },
        Identity {
            operator_id: "O".repeat(17),
            ..identity()
        },
        Identity {
            network_element_id: "n".repeat(17),
            ..identity()
        },
        Identity {
            country_code: "DEU".into(),
            ..identity()
        },
        Identity {
            country_code: "D*".into(),
            ..identity()
        },
    ] {
        assert!(
            matches!(
                ProbeId::new(bad.clone()),
                Err(EncodeError::FieldSize { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(ProbeId::new(identity()).unwrap().identity(), &identity());
}

#[test]
fn a_route_header_encodes_the_pdus_the_per_pdu_header_did() {
    let probe = ProbeId::new(identity()).unwrap();
    let pre = RouteHeader::new("LIID-42", &probe).unwrap();
    // The record's header brings the varying fields; LIID and identity are the route's.
    let other = Identity {
        operator_id: "OTHER".into(),
        ..identity()
    };
    let mut h = header(&other);
    h.liid = "not-this-one";
    let packet = [0x45u8; 40];
    for e in [
        Event::Keepalive,
        Event::Content {
            ip_packet: &packet,
            direction: Direction::FromTarget,
        },
        Event::Begin {
            target: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            at_ns: 1_795_290_013_000_000_000,
        },
    ] {
        let mut out = Vec::new();
        PsPduEncoder.encode_routed(&pre, &h, &e, &mut out).unwrap();
        assert_eq!(out, enc(&e), "{e:?}");
    }
    for liid in [String::new(), "x".repeat(26)] {
        assert!(
            matches!(
                RouteHeader::new(&liid, &probe),
                Err(EncodeError::FieldSize {
                    field: "lawfulInterceptionIdentifier",
                    ..
                })
            ),
            "{liid:?}"
        );
    }
}

#[test]
fn a_liid_no_ps_pdu_can_carry_still_goes_out_in_x2x3() {
    use crate::handover::format::{Format, RouteHeaders};
    let probe = ProbeId::new(identity()).unwrap();
    let long = "x".repeat(26);
    let pre = RouteHeaders::new(&long, &probe);
    let id = identity();
    let h = header(&id);
    let mut out = Vec::new();
    assert!(matches!(
        Format::Etsi102232.encode_routed(&pre, &h, &Event::Keepalive, &mut out),
        Err(EncodeError::FieldSize { .. })
    ));
    assert!(out.is_empty());
    Format::X2X3
        .encode_routed(&pre, &h, &Event::Keepalive, &mut out)
        .unwrap();
    assert!(!out.is_empty());
}
