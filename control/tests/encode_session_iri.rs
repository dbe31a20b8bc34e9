//! Session IRI checked by independent decoders: every access event as a PS-PDU
//! through asn1tools over the ASN.1 (byte-identical re-encoding, every field);
//! as X2 (RADIUS packet, DHCP message, BER IPIRI) through Wireshark's 5gli and
//! RADIUS/DHCP dissectors; and by our own decoder.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod encode_support;

use control::handover::etsi102232::access_event;
use control::handover::pdu::{decode_next, encode, DecodedKind, Event, Format};
use control::handover::{AccessEvent, SessionReport};
use control::sessions::Protocol;
use encode_support::{
    asn1tools, dhcp_ack, external, header, identity, radius, report, tshark_5gli_rows,
    write_tcp_pcap,
};

const EVENTS: [AccessEvent; 9] = [
    AccessEvent::AccessAttempt,
    AccessEvent::AccessAccept,
    AccessEvent::AccessReject,
    AccessEvent::SessionStart,
    AccessEvent::InterimUpdate,
    AccessEvent::SessionEnd,
    AccessEvent::SessionExpired,
    AccessEvent::StartWithSessionActive,
    AccessEvent::EndWithSessionActive,
];

fn encode_one(format: Format, r: &SessionReport, i: u32) -> Vec<u8> {
    let id = identity();
    let mut out = Vec::new();
    encode(format, &header(&id, i), &Event::Session(r), &mut out).unwrap();
    out
}

#[test]
fn asn1tools_decodes_every_session_ipiri_field() {
    let reports: Vec<_> = EVENTS
        .iter()
        .map(|&e| report(e, Some((Protocol::Radius, radius()))))
        .collect();
    let pdus: Vec<_> = (0..)
        .zip(&reports)
        .map(|(i, r)| encode_one(Format::Etsi102232, r, i))
        .collect();
    for (pdu, r) in pdus.iter().zip(&reports) {
        let (d, _) = decode_next(Format::Etsi102232, pdu).unwrap().unwrap();
        let DecodedKind::Iri(v) = d.kind else {
            panic!("{:?}", d.kind)
        };
        assert_eq!(access_event(&v), Some(r.event), "{v}");
    }
    if !external("python3", &["-c", "import asn1tools"]) {
        return;
    }
    let decoded = asn1tools(&[], &pdus);
    assert_eq!(decoded.len(), pdus.len());
    for (v, r) in decoded.iter().zip(&reports) {
        let text = v.to_string();
        // Every field we wrote is in asn1tools' view, by its ASN.1 name.
        for field in [
            "accessEventType",
            "targetUsername",
            "internetAccessType",
            "iPVersion",
            "targetIPAddress",
            "targetNetworkID",
            "startTime",
            "rawAAAData",
            "pOPIPAddress",
            "additionalIPAddress",
            "iPv6PrefixLength",
        ] {
            assert!(
                text.contains(field),
                "{field} missing for {:?}: {text}",
                r.event
            );
        }
        assert!(text.contains(&hex::encode(radius())), "{text}");
        assert!(text.contains("dynamic"), "{text}");
        if matches!(
            r.event,
            AccessEvent::SessionEnd | AccessEvent::SessionExpired
        ) {
            assert!(
                text.contains("endReason") && text.contains("endTime"),
                "{text}"
            );
        }
    }
}

#[test]
fn tshark_5gli_decodes_session_x2_cleanly() {
    let reports = [
        report(
            AccessEvent::SessionStart,
            Some((Protocol::Radius, radius())),
        ),
        report(
            AccessEvent::SessionStart,
            Some((Protocol::Dhcp4, dhcp_ack())),
        ),
        report(AccessEvent::SessionExpired, None),
        report(AccessEvent::StartWithSessionActive, None),
    ];
    let pdus: Vec<_> = (0..)
        .zip(&reports)
        .map(|(i, r)| encode_one(Format::X2X3, r, i))
        .collect();
    // Our decoder: the message itself, or the IPIRI; correlated like the content.
    for (pdu, r) in pdus.iter().zip(&reports) {
        let (d, used) = decode_next(Format::X2X3, pdu).unwrap().unwrap();
        assert_eq!(used, pdu.len());
        assert_eq!(d.cin, u64::from(header(&identity(), 0).cin));
        let DecodedKind::Iri(v) = d.kind else {
            panic!("{:?}", d.kind)
        };
        match &r.message {
            Some((_, m)) => assert_eq!(v["message"], hex::encode(m), "{v}"),
            None => assert_eq!(access_event(&v), Some(r.event), "{v}"),
        }
    }
    if !external("tshark", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x2.pcap");
    write_tcp_pcap(&pcap, &pdus);
    let fields = [
        "li5g.pf",
        "radius.code",
        "radius.User_Name",
        "radius.Acct_Session_Id",
        "dhcp.ip.your",
        "dhcp.option.dhcp",
        "_ws.expert.severity",
        "_ws.malformed",
    ];
    let rows = tshark_5gli_rows(&pcap, &fields, pdus.len());
    let text = format!("{rows:?}");
    let col = |i: usize| -> Vec<&str> { rows[i].iter().map(String::as_str).collect() };
    assert_eq!(col(0)[..4], ["11", "4", "alice@isp", "S-1"], "{text}");
    assert_eq!(col(1)[0], "10", "{text}");
    assert_eq!(col(1)[4..6], ["100.64.0.9", "5"], "{text}");
    assert_eq!(col(2)[0], "1", "{text}");
    assert_eq!(col(3)[0], "1", "{text}");
}
