//! `voice::wire::parse` on real-world SIP (the RFC 3665 / RFC 3261 call flows
//! as phones and proxies write them: INVITE with SDP, provisional and final
//! responses, ACK, BYE, CANCEL, hold, REGISTER, compact forms, multipart
//! bodies, IPv6 media) and on malformed messages in the style of the RFC 4475
//! torture tests, each refused with the right `SipError`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::voice::wire::{parse, SipError, MAX_MESSAGE};
use control::voice::{Media, MediaDirection, Method, NameAddr, Sdp, SipMessage, StartLine};

/// `head` (lines ending in `\n`) with CRLF line ends, a Content-Length and `body`.
fn message(head: &str, body: &str) -> Vec<u8> {
    let head = head.replace('\n', "\r\n");
    let body = body.replace('\n', "\r\n");
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

const INVITE_HEAD: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: \"Alice, Atlanta\" <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=udp>
P-Asserted-Identity: \"Alice\" <sip:alice@atlanta.example.com>, <tel:+15551234567>
Content-Type: application/sdp
";

const OFFER: &str = "v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=X-nat:0
m=image 49174 udptl t38
c=IN IP4 192.0.2.102
a=T38FaxVersion:0
";

fn audio(addr: IpAddr, rtp: u16, rtcp: u16, direction: MediaDirection) -> Media {
    Media {
        kind: "audio".into(),
        addr,
        rtp_port: rtp,
        rtcp_port: rtcp,
        rtcp_addr: addr,
        direction,
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn invite_with_sdp() {
    let m = parse(&message(INVITE_HEAD, OFFER)).unwrap();
    assert_eq!(
        m,
        SipMessage {
            start: StartLine::Request {
                method: Method::Invite,
                uri: "sip:bob@biloxi.example.com".into(),
            },
            call_id: "3848276298220188511@atlanta.example.com".into(),
            from: NameAddr {
                uri: "sip:alice@atlanta.example.com".into(),
                tag: Some("9fxced76sl".into()),
            },
            to: NameAddr {
                uri: "sip:bob@biloxi.example.com".into(),
                tag: None,
            },
            cseq: (1, Method::Invite),
            contacts: vec![NameAddr {
                uri: "sip:alice@client.atlanta.example.com;transport=udp".into(),
                tag: None,
            }],
            asserted: vec![
                "sip:alice@atlanta.example.com".into(),
                "tel:+15551234567".into()
            ],
            expires: None,
            sdp: Some(Sdp {
                media: vec![
                    audio(v4(192, 0, 2, 101), 49172, 49173, MediaDirection::SendRecv),
                    // T.38 fax: its own media-level address, a transport that is not RTP.
                    Media {
                        kind: "image".into(),
                        addr: v4(192, 0, 2, 102),
                        rtp_port: 49174,
                        rtcp_port: 49175,
                        rtcp_addr: v4(192, 0, 2, 102),
                        direction: MediaDirection::SendRecv,
                    },
                ],
            }),
        }
    );
}

#[test]
fn provisional_and_final_responses() {
    let answer = "v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 192.0.2.201
t=0 0
m=audio 3456 RTP/AVP 0
a=rtcp:3460
a=rtpmap:0 PCMU/8000
";
    for (status, reason) in [(180, "Ringing"), (183, "Session Progress"), (200, "OK")] {
        let head = format!(
            "SIP/2.0 {status} {reason}
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
From: \"Alice, Atlanta\" <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com>
Content-Type: application/sdp
"
        );
        let m = parse(&message(&head, answer)).unwrap();
        assert_eq!(m.start, StartLine::Response { status });
        assert_eq!(m.to.tag.as_deref(), Some("8321234356"));
        assert_eq!(m.cseq, (1, Method::Invite));
        assert_eq!(
            m.sdp.unwrap().media,
            [audio(
                v4(192, 0, 2, 201),
                3456,
                3460,
                MediaDirection::SendRecv
            )]
        );
    }
}

fn in_dialog(method: &str, cseq: u32) -> Vec<u8> {
    let head = format!(
        "{method} sip:bob@client.biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bd5
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: {cseq} {method}
"
    );
    message(&head, "")
}

#[test]
fn ack_bye_cancel_without_body() {
    for (method, expected) in [
        ("ACK", Method::Ack),
        ("BYE", Method::Bye),
        ("CANCEL", Method::Cancel),
    ] {
        let m = parse(&in_dialog(method, 2)).unwrap();
        assert_eq!(m.cseq, (2, expected.clone()));
        assert!(matches!(m.start, StartLine::Request { ref method, .. } if *method == expected));
        assert_eq!(m.sdp, None);
        assert_eq!(m.from.tag.as_deref(), Some("9fxced76sl"));
    }
    let m = parse(&in_dialog("INFO", 3)).unwrap();
    assert_eq!(m.cseq.1, Method::Other("INFO".into()));
}

#[test]
fn reinvite_on_hold() {
    // RFC 3264 §8.4 (sendonly) and the older RFC 2543 form (c=0.0.0.0).
    let head = INVITE_HEAD.replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let hold = "v=0
o=alice 2890844526 2890844527 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
a=sendonly
m=audio 49172 RTP/AVP 0
m=video 0 RTP/AVP 31
";
    let m = parse(&message(&head, hold)).unwrap();
    let media = m.sdp.unwrap().media;
    assert_eq!(
        media[0],
        audio(v4(192, 0, 2, 101), 49172, 49173, MediaDirection::SendOnly)
    );
    assert_eq!((media[1].rtp_port, media[1].rtcp_port), (0, 0));
    assert_eq!(media[1].direction, MediaDirection::Inactive);

    let old = "v=0
o=alice 2890844526 2890844528 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 49172 RTP/AVP 0
a=recvonly
";
    let media = parse(&message(&head, old)).unwrap().sdp.unwrap().media;
    assert_eq!(
        media,
        [audio(
            v4(0, 0, 0, 0),
            49172,
            49173,
            MediaDirection::RecvOnly
        )]
    );
}

#[test]
fn register_with_contacts_and_expires() {
    let head = "REGISTER sip:registrar.biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Bob <sip:bob@biloxi.example.com>;tag=456248
Call-ID: 843817637684230@998sdasdh09
CSeq: 1826 REGISTER
Contact: <sip:bob@192.0.2.4>, \"Bob, mobile\" <sip:bob@[2001:db8::4]:5070;transport=tcp>
Expires: 7200
";
    let m = parse(&message(head, "")).unwrap();
    assert_eq!(m.cseq, (1826, Method::Register));
    assert_eq!(m.expires, Some(7200));
    let uris: Vec<_> = m.contacts.iter().map(|c| c.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "sip:bob@192.0.2.4",
            "sip:bob@[2001:db8::4]:5070;transport=tcp"
        ]
    );

    // A Contact's expires parameter overrides the header (RFC 3261 §10.2.1.1).
    let param = head.replace("<sip:bob@192.0.2.4>,", "<sip:bob@192.0.2.4>;expires=0,");
    assert_eq!(parse(&message(&param, "")).unwrap().expires, Some(0));

    // Removing every binding.
    let star = head
        .replace("Contact: <sip:bob@192.0.2.4>, \"Bob, mobile\" <sip:bob@[2001:db8::4]:5070;transport=tcp>", "Contact: *")
        .replace("Expires: 7200", "Expires: 0");
    let m = parse(&message(&star, "")).unwrap();
    assert_eq!(m.contacts[0].uri, "*");
    assert_eq!(m.expires, Some(0));
}

#[test]
fn compact_forms_and_case_insensitive_names() {
    let body = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0\r\n";
    let raw = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
         f: <sip:alice@example.com>;TAG=a1\r\n\
         t: sip:bob@example.com\r\n\
         i: compact-1@192.0.2.9\r\n\
         CSEQ: 5 INVITE\r\n\
         m: <sip:alice@192.0.2.9>\r\n\
         CONTACT: sip:alice@[2001:db8::9]\r\n\
         c: Application/SDP\r\n\
         l: {}\r\n\r\n{body}",
        body.len()
    );
    let m = parse(raw.as_bytes()).unwrap();
    assert_eq!(m.call_id, "compact-1@192.0.2.9");
    assert_eq!(m.from.tag.as_deref(), Some("a1"));
    assert_eq!(m.to.uri, "sip:bob@example.com");
    assert_eq!(m.cseq, (5, Method::Invite));
    assert_eq!(m.contacts.len(), 2);
    assert_eq!(m.sdp.unwrap().media[0].rtp_port, 8000);
}

#[test]
fn unquoted_display_names_as_phones_write_them() {
    let head = INVITE_HEAD.replace("To: Bob <", "To: Jörg (work) <");
    let m = parse(&message(&head, OFFER)).unwrap();
    assert_eq!(m.to.uri, "sip:bob@biloxi.example.com");
}

#[test]
fn folded_header_lines_and_bare_lf() {
    let raw = "BYE sip:bob@example.com SIP/2.0\n\
               From: Alice\n  <sip:alice@example.com>\n\t;tag=x1\n\
               To: <sip:bob@example.com>;tag=y2\n\
               Call-ID: fold@example.com\n\
               CSeq: 7\n BYE\n\n";
    let m = parse(raw.as_bytes()).unwrap();
    assert_eq!(m.from.uri, "sip:alice@example.com");
    assert_eq!(m.from.tag.as_deref(), Some("x1"));
    assert_eq!(m.cseq, (7, Method::Bye));
}

#[test]
fn multipart_body_with_sdp() {
    let head = INVITE_HEAD.replace(
        "Content-Type: application/sdp",
        "Content-Type: multipart/mixed;boundary=\"unique-boundary-1\"",
    );
    let body = format!(
        "--unique-boundary-1
Content-Type: application/isup;version=itu-t92+

binary-isup-goes-here
--unique-boundary-1
Content-Type: application/sdp

{OFFER}
--unique-boundary-1--
"
    );
    let m = parse(&message(&head, &body)).unwrap();
    let media = m.sdp.unwrap().media;
    assert_eq!(media.len(), 2);
    assert_eq!(media[0].rtp_port, 49172);
    // A multipart body without SDP carries none.
    let none = body.replace("application/sdp", "text/plain");
    assert_eq!(parse(&message(&head, &none)).unwrap().sdp, None);
}

#[test]
fn ipv6_media_rtcp_mux_and_rtcp_address() {
    let head = INVITE_HEAD.to_owned();
    let body = "v=0
o=alice 1 1 IN IP6 2001:db8::101
s=-
c=IN IP6 2001:db8::101
t=0 0
m=audio 40000 RTP/AVP 0
a=rtcp-mux
a=inactive
m=audio 40002 RTP/AVP 0
c=IN IP6 2001:db8::102
a=rtcp:40011 IN IP6 2001:db8::103
m=audio 40004 RTP/AVP 0
c=IN IP6 2001:db8::102
a=rtcp:40013
m=audio 40006 RTP/AVP 0
c=IN IP6 2001:db8::102
a=rtcp:40015 IN IP4 192.0.2.9
";
    let media = parse(&message(&head, body)).unwrap().sdp.unwrap().media;
    let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101));
    let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x102));
    let rtcp_on = |addr: IpAddr, m: Media| Media {
        rtcp_addr: addr,
        ..m
    };
    assert_eq!(
        media,
        [
            audio(a, 40000, 40000, MediaDirection::Inactive),
            // RFC 3605: RTCP on its own address, of either family.
            rtcp_on(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x103)),
                audio(b, 40002, 40011, MediaDirection::SendRecv)
            ),
            audio(b, 40004, 40013, MediaDirection::SendRecv),
            rtcp_on(
                v4(192, 0, 2, 9),
                audio(b, 40006, 40015, MediaDirection::SendRecv)
            ),
        ]
    );
}

/// Each malformed message and the error it must get.
#[test]
fn malformed_messages_are_refused() {
    let good = String::from_utf8(message(INVITE_HEAD, OFFER)).unwrap();
    for raw in [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "SIP/2.0 99 Too Low\r\n\r\n",
        "SIP/2.0 2000 OK\r\n\r\n",
        "\r\n\r\n",
    ] {
        assert_eq!(parse(raw.as_bytes()), Err(SipError::NotSip), "{raw:?}");
    }
    // RFC 4475 style damage to a good INVITE: (what, replaced by, error).
    use SipError::{Malformed, NotSip};
    let damage = [
        ("SIP/2.0\r\nVia", "SIP/7.0\r\nVia", NotSip),
        ("INVITE sip:bob", "INVITE  sip:bob", NotSip),
        ("INVITE sip:bob@", "INVITE bob@", Malformed("Request-URI")),
        (
            "CSeq: 1 INVITE",
            "CSeq: 1 ACK",
            Malformed("CSeq method differs from the request's"),
        ),
        (
            "CSeq: 1 INVITE",
            "CSeq: 2147483648 INVITE",
            Malformed("CSeq number"),
        ),
        (
            "CSeq: 1 INVITE",
            "CSeq: -1 INVITE",
            Malformed("CSeq number"),
        ),
        ("CSeq: 1 INVITE", "CSeq: 1INVITE", Malformed("CSeq")),
        (
            "Call-ID: 3848",
            "Call-ID: x\r\ni: 3848",
            Malformed("more than one Call-ID"),
        ),
        (
            "example.com>\r\nCall",
            "example.com>\r\nt: <sip:eve@example.com>\r\nCall",
            Malformed("more than one To"),
        ),
        ("Call-ID: ", "X-Call-ID: ", Malformed("no Call-ID")),
        ("From: ", "X-From: ", Malformed("no From")),
        ("CSeq: ", "X-CSeq: ", Malformed("no CSeq")),
        (
            "example.com>\r\nCall",
            "example.com\r\nCall",
            Malformed("address"),
        ),
        (
            "\"Alice, Atlanta\" <",
            "\"Alice, Atlanta <",
            Malformed("unclosed quote"),
        ),
        ("Bob <sip:bob@", "Bob <sip bob@", Malformed("address")),
        (
            "example.com>\r\nCall",
            "example.com> x\r\nCall",
            Malformed("address"),
        ),
        (
            "Max-Forwards: 70",
            "Max-Forwards 70",
            Malformed("header line"),
        ),
        (
            "Max-Forwards: 70",
            "Max Forwards: 70",
            Malformed("header name"),
        ),
        (
            "Content-Length: ",
            "Content-Length: 99999\r\nl: ",
            Malformed("conflicting Content-Length"),
        ),
        (
            "Content-Length: ",
            "Content-Length: 9999\r\nX: ",
            Malformed("body shorter than Content-Length"),
        ),
        (
            "Content-Length: ",
            "Expires: 0 0\r\nX: ",
            Malformed("Expires"),
        ),
        ("\r\n\r\nv=0", "\r\nv=0", Malformed("no end of header")),
    ];
    for (what, by, expected) in damage {
        let raw = good.replacen(what, by, 1);
        assert_ne!(raw, good, "{what:?} is in the message");
        assert_eq!(parse(raw.as_bytes()), Err(expected), "{raw:?}");
    }
    let bad_sdp = [
        (
            OFFER.replace("c=IN IP4 192.0.2.101", "c=IN IP4 media.example.com"),
            "connection address is not an IP address",
        ),
        (
            OFFER.replace("c=IN IP4 192.0.2.101\n", ""),
            "media without connection address",
        ),
        (OFFER.replace("v=0", "v=1"), "not an SDP description"),
        (OFFER.replace("a=ptime:20", "a=rtcp:x"), "a=rtcp"),
        (
            OFFER.replace("a=ptime:20", "a=rtcp:49999 IN IP4 2001:db8::1"),
            "a=rtcp connection address",
        ),
        (
            OFFER.replace("a=ptime:20", "a=rtcp:49999 IN IP4 rtcp.example.com"),
            "a=rtcp connection address",
        ),
        (
            OFFER.replace("a=ptime:20", "a=rtcp:49999 TN RFC2543 5551234"),
            "a=rtcp connection address",
        ),
        (
            OFFER.replace("m=audio 49172", "m=audio 65535"),
            "no port for RTCP",
        ),
    ];
    for (body, expected) in bad_sdp {
        assert_eq!(
            parse(&message(INVITE_HEAD, &body)),
            Err(SipError::Sdp(expected)),
            "{body}"
        );
    }
    let mut bytes = good.into_bytes();
    bytes[5] = 0xff;
    assert_eq!(parse(&bytes), Err(SipError::Malformed("head not UTF-8")));
    let mut long = message(INVITE_HEAD, "");
    long.resize(MAX_MESSAGE + 1, b' ');
    assert_eq!(parse(&long), Err(SipError::TooLong));
}

/// Every prefix and every single-byte corruption of a real message either
/// parses or is refused: nothing panics.
#[test]
fn truncated_and_corrupted_messages_do_not_panic() {
    let raw = message(INVITE_HEAD, OFFER);
    for n in 0..raw.len() {
        let _ = parse(&raw[..n]);
        for b in [0u8, b'\r', b'\n', b':', b';', b'<', b'"', b',', 0xc3] {
            let mut bad = raw.clone();
            bad[n] = b;
            let _ = parse(&bad);
        }
    }
}
