//! X2/X3 PDUs checked by an independent decoder: Wireshark's `5gli` dissector
//! (tshark), over a real TCP stream in a pcap; and by our own decoder.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod encode_support;

use std::process::Command;

use control::handover::pdu::{decode_next, DecodedKind, Encoder, Event, Format};
use control::handover::x2x3::X2X3Encoder;
use encode_support::{events, external, header, identity, write_tcp_pcap, PORT};

fn encode_all() -> Vec<(Vec<u8>, usize)> {
    let id = identity();
    events()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut out = Vec::new();
            X2X3Encoder
                .encode(&header(&id, i as u32), &e.event(), &mut out)
                .unwrap();
            (out, i)
        })
        .collect()
}

#[test]
fn own_decoder_round_trips_every_pdu_from_one_stream() {
    let id = identity();
    let fixtures = events();
    let mut stream = Vec::new();
    for (i, e) in fixtures.iter().enumerate() {
        Format::X2X3
            .encoder()
            .encode(&header(&id, i as u32), &e.event(), &mut stream)
            .unwrap();
    }
    let mut at = 0;
    for (i, e) in fixtures.iter().enumerate() {
        // Every strict prefix of a PDU asks for more bytes.
        let (d, used) = decode_next(Format::X2X3, &stream[at..]).unwrap().unwrap();
        assert_eq!(
            decode_next(Format::X2X3, &stream[at..at + used - 1]),
            Ok(None)
        );
        let h = header(&id, i as u32);
        assert_eq!(d.sequence, h.sequence);
        match e.event() {
            Event::Keepalive => assert_eq!(d.kind, DecodedKind::Keepalive),
            Event::KeepaliveAck => assert_eq!(d.kind, DecodedKind::KeepaliveAck),
            ev => {
                assert_eq!(d.liid_or_xid, h.xid.hyphenated().to_string());
                assert_eq!((d.cin, d.timestamp_ns), (u64::from(h.cin), h.timestamp_ns));
                match (ev, &d.kind) {
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
                            report: None,
                        },
                    ) => assert_eq!((ip_headers, wire_len, direction), (&hh[..], *l, *dd)),
                    (Event::Begin { target, .. }, DecodedKind::Iri(v)) => {
                        assert_eq!(v["iRIType"], "iRI-Begin");
                        assert_eq!(
                            v["targetIPAddress"].as_str().map(|s| s.parse().unwrap()),
                            target
                        );
                    }
                    (Event::End { target, .. }, DecodedKind::Iri(v)) => {
                        assert_eq!(v["iRIType"], "iRI-End");
                        assert_eq!(
                            v["targetIPAddress"].as_str().map(|s| s.parse().unwrap()),
                            target
                        );
                    }
                    (ev, k) => panic!("record {i}: {ev:?} decoded as {k:?}"),
                }
            }
        }
        at += used;
    }
    assert_eq!(at, stream.len());
}

#[test]
fn tshark_5gli_decodes_every_pdu_cleanly() {
    if !external("tshark", &["--version"]) {
        return;
    }
    let pdus = encode_all();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x2x3.pcap");
    write_tcp_pcap(
        &pcap,
        &pdus.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
    );
    if let Ok(keep) = std::env::var("CALEA_KEEP_PCAP") {
        std::fs::copy(&pcap, keep).unwrap();
    }

    // Full dissection: nothing malformed.
    let verbose = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", &format!("tcp.port=={PORT},5gli"), "-V"])
        .output()
        .unwrap();
    assert!(
        verbose.status.success(),
        "{}",
        String::from_utf8_lossy(&verbose.stderr)
    );
    let text = String::from_utf8_lossy(&verbose.stdout);
    assert!(
        !text.contains("Malformed"),
        "tshark reports a malformed PDU:\n{text}"
    );
    assert_eq!(
        text.matches("5G Lawful Interception\n").count(),
        pdus.len(),
        "{text}"
    );

    // Field by field, one line per frame.
    let fields = [
        "li5g.type",
        "li5g.xid",
        "li5g.sq",
        "li5g.pld",
        "li5g.pf",
        "li5g.pd",
        "li5g.mti",
        "_ws.expert.severity",
        "_ws.malformed",
    ];
    let mut args = vec!["-n".to_string(), "-r".into(), pcap.display().to_string()];
    args.extend([
        "-d".into(),
        format!("tcp.port=={PORT},5gli"),
        "-T".into(),
        "fields".into(),
        "-E".into(),
        "separator=|".into(),
    ]);
    args.extend(["-E".into(), "occurrence=f".into()]);
    for f in fields {
        args.extend(["-e".into(), f.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3 + pdus.len(), "{text}");
    let id = identity();
    let fixtures = events();
    for (line, (pdu, i)) in lines[3..].iter().zip(&pdus) {
        let col: Vec<&str> = line.split('|').collect();
        let h = header(&id, *i as u32);
        let ptype = u16::from_be_bytes([pdu[2], pdu[3]]);
        assert_eq!(col[0], ptype.to_string(), "{line}");
        let hl = u32::from_be_bytes(pdu[4..8].try_into().unwrap()) as usize;
        // tshark shows a zero-length bytes field as "<MISSING>".
        let payload = if hl == pdu.len() {
            "<MISSING>".to_string()
        } else {
            hex::encode(&pdu[hl..])
        };
        assert_eq!(col[3], payload, "payload of record {i}");
        assert!(col[8].is_empty(), "malformed: {line}");
        // No expert item of severity warning (0x600000) or above.
        for sev in col[7].split(',').filter(|s| !s.is_empty()) {
            let v: u32 = sev
                .parse()
                .unwrap_or_else(|_| u32::from_str_radix(sev.trim_start_matches("0x"), 16).unwrap());
            assert!(v < 0x0060_0000, "expert warning on record {i}: {line}");
        }
        if matches!(fixtures[*i].event(), Event::Keepalive | Event::KeepaliveAck) {
            continue;
        }
        assert_eq!(col[1], h.xid.hyphenated().to_string());
        // tshark 4.0 declares the sequence attribute FT_UINT16; it must still show our value.
        assert_eq!(col[2], h.sequence.to_string(), "{line}");
    }
}

/// A real X2 PDU from another implementation (the shared sample capture: SIP
/// REGISTER, payload format 9, a matched-target attribute): the decoder reads it
/// as a call's SIP message, as it reads the probe's own.
#[test]
fn decodes_the_shared_sample_x2_capture_from_another_implementation() {
    let Some(shared) = std::env::var_os("CALEA_SHARED_DIR") else {
        eprintln!(
            "CALEA_SHARED_DIR is not set: the shared X2 sample capture check needs it \
             (scripts/test.sh sets it to ../shared when that folder is beside the checkout)"
        );
        return;
    };
    let path = std::path::Path::new(&shared).join("specs/samples/x2-demo-01.pcap");
    let frames =
        dataplane::synth::read_pcap(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, frame) = frames.first().expect("one frame");
    let mut d = dataplane::parse::Dissection::default();
    dataplane::parse::dissect(frame, &mut d).unwrap();
    let payload = &frame[usize::from(d.header_len)..];
    let (pdu, used) = decode_next(Format::X2X3, payload).unwrap().unwrap();
    assert_eq!(used, payload.len());
    assert_eq!(pdu.liid_or_xid, "8c292fa1-5831-46ec-86be-bd85f2083299");
    assert_eq!(pdu.cin, 1);
    let DecodedKind::Sip { message, .. } = pdu.kind else {
        panic!("expected a SIP message, got {:?}", pdu.kind);
    };
    assert!(message.starts_with(b"REGISTER sip:sipgate.de SIP/2.0"));
    assert!(control::voice::wire::parse(&message).is_ok());
}
