//! Shared fixtures of the encode_* tests: the events every format must carry,
//! and the rule for external decoders (tshark, python3 + asn1tools).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::Duration;

use control::handover::pdu::{Direction, Event, Flow, Identity, PduHeader};
use control::handover::{AccessEvent, SessionReport};
use control::sessions::Protocol;
use dataplane::targets::Target;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use serde_json::Value;

/// TCP port the X2/X3 pcaps use (dissected as 5gli).
pub const PORT: u16 = 49_999;

/// True if external decoder checks must run. They are skipped only with
/// CALEA_SKIP_EXTERNAL_DECODERS=1; a missing tool otherwise fails the test.
pub fn external(tool: &str, probe: &[&str]) -> bool {
    if std::env::var("CALEA_SKIP_EXTERNAL_DECODERS").as_deref() == Ok("1") {
        eprintln!("CALEA_SKIP_EXTERNAL_DECODERS=1: not running {tool}");
        return false;
    }
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "`{tool} {}` failed: install the external decoders with scripts/install-deps.sh (or set CALEA_SKIP_EXTERNAL_DECODERS=1)", probe.join(" "));
    true
}

/// Sender identity used by the fixtures.
pub fn identity() -> Identity {
    Identity {
        operator_id: "OPERATOR-A".into(),
        network_element_id: "probe-07".into(),
        country_code: "DE".into(),
    }
}

/// One-complement sum for IPv4 header checksums.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A valid IPv4/UDP packet with `payload_len` payload octets.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let total = 28 + payload_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    p
}

/// A valid IPv6/UDP packet with `payload_len` payload octets.
pub fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 48 + payload_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src);
    p[24..40].copy_from_slice(&dst);
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&dport.to_be_bytes());
    p[44..46].copy_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    for (i, b) in p[48..].iter_mut().enumerate() {
        *b = (i % 13) as u8;
    }
    // UDP over IPv6 must carry a checksum (RFC 8200): pseudo-header + datagram.
    let mut pseudo = Vec::with_capacity(40 + p.len());
    pseudo.extend_from_slice(&p[8..40]);
    pseudo.extend_from_slice(&((8 + payload_len) as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&p[40..]);
    let c = checksum(&pseudo);
    p[46..48].copy_from_slice(&c.to_be_bytes());
    p
}

/// Headers (IPv4 + TCP) of a 1500-octet TCP segment: what headers mode copies.
pub fn tcp4_headers() -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&1500u16.to_be_bytes());
    p[8] = 63;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 1, 2, 3]);
    p[16..20].copy_from_slice(&[203, 0, 113, 9]);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&51000u16.to_be_bytes());
    p[22..24].copy_from_slice(&443u16.to_be_bytes());
    p[24..28].copy_from_slice(&1000u32.to_be_bytes());
    p[28..32].copy_from_slice(&2000u32.to_be_bytes());
    p[32] = 0x50;
    p[33] = 0x18; // PSH ACK
    p[34..36].copy_from_slice(&512u16.to_be_bytes());
    p
}

/// An owned event, so fixtures can be listed.
pub enum Owned {
    /// Content.
    Content(Vec<u8>, Direction),
    /// Header report.
    Headers(Vec<u8>, u32, Direction, Option<Flow>),
    /// Begin.
    Begin(Option<IpAddr>, u64),
    /// End.
    End(Option<IpAddr>, u64),
    /// Keepalive.
    Keepalive,
    /// Keepalive answer.
    KeepaliveAck,
}

impl Owned {
    /// Borrowed view for the encoder.
    pub fn event(&self) -> Event<'_> {
        match self {
            Owned::Content(p, d) => Event::Content {
                ip_packet: p,
                direction: *d,
            },
            Owned::Headers(h, l, d, f) => Event::HeaderReport {
                ip_headers: h,
                // The fixtures' IPv4 headers carry no options, IPv6 no extension headers.
                l4_at: if h[0] >> 4 == 4 {
                    usize::from(h[0] & 0x0f) * 4
                } else {
                    40
                },
                wire_len: *l,
                direction: *d,
                flow: *f,
            },
            Owned::Begin(t, at) => Event::Begin {
                target: *t,
                at_ns: *at,
            },
            Owned::End(t, at) => Event::End {
                target: *t,
                at_ns: *at,
            },
            Owned::Keepalive => Event::Keepalive,
            Owned::KeepaliveAck => Event::KeepaliveAck,
        }
    }
}

/// Every kind of record, both IP versions, small and large packets.
pub fn events() -> Vec<Owned> {
    let a6 = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
    ];
    let b6 = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x22,
    ];
    let flow = Flow {
        src: [10, 1, 2, 3].into(),
        dst: [203, 0, 113, 9].into(),
        proto: 6,
        src_port: 51000,
        dst_port: 443,
    };
    vec![
        Owned::Begin(
            Some("192.0.2.10".parse().unwrap()),
            1_795_290_000_000_000_000,
        ),
        Owned::Content(
            udp4([192, 0, 2, 10], [198, 51, 100, 1], 61000, 61001, 40),
            Direction::FromTarget,
        ),
        Owned::Content(
            udp4([198, 51, 100, 1], [192, 0, 2, 10], 61001, 61000, 1472),
            Direction::ToTarget,
        ),
        Owned::Content(udp6(a6, b6, 61002, 61003, 100), Direction::FromTarget),
        Owned::Content(
            udp4([192, 0, 2, 10], [192, 0, 2, 10], 61004, 61004, 0),
            Direction::Both,
        ),
        Owned::Headers(tcp4_headers(), 1500, Direction::FromTarget, Some(flow)),
        Owned::Headers(tcp4_headers(), 1500, Direction::ToTarget, None),
        Owned::Headers(udp6(a6, b6, 5060, 5061, 0), 48, Direction::Both, None),
        Owned::Headers(
            udp4([192, 0, 2, 10], [198, 51, 100, 1], 53, 5353, 0),
            28,
            Direction::ToTarget,
            None,
        ),
        Owned::Keepalive,
        Owned::KeepaliveAck,
        Owned::End(
            Some("2001:db8::11".parse().unwrap()),
            1_795_290_100_500_000_000,
        ),
        Owned::End(None, 1_795_290_200_000_000_000),
    ]
}

/// Header of the `i`-th fixture record.
pub fn header(id: &Identity, i: u32) -> PduHeader<'_> {
    PduHeader {
        liid: "LIID-DE-0042",
        xid: uuid::Uuid::from_u128(0x8c29_2fa1_5831_46ec_86be_bd85_f208_3299),
        cin: 4242,
        sequence: 100 + i,
        timestamp_ns: 1_795_290_013_000_000_000 + u64::from(i) * 1_234_567,
        identity: id,
    }
}

/// scripts/asn1/decode_pspdu.py.
pub fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asn1/decode_pspdu.py")
}

/// Runs the asn1tools script (`extra` arguments first) over `pdus`; its JSON lines.
pub fn asn1tools(extra: &[&std::ffi::OsStr], pdus: &[Vec<u8>]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(script())
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for p in pdus {
        writeln!(stdin, "{}", hex::encode(p)).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "asn1tools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes `segments` as one client→server TCP stream on 127.0.0.1 (after a
/// three-way handshake), one segment per PDU, with consistent sequence numbers.
pub fn write_tcp_pcap(path: &std::path::Path, segments: &[Vec<u8>]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let (cport, isn_c, isn_s) = (40_000u16, 1_000u32, 9_000u32);
    let mut frames: Vec<(bool, u32, u32, u8, &[u8])> = vec![
        (true, isn_c, 0, 0x02, &[]),             // SYN
        (false, isn_s, isn_c + 1, 0x12, &[]),    // SYN ACK
        (true, isn_c + 1, isn_s + 1, 0x10, &[]), // ACK
    ];
    let mut seq = isn_c + 1;
    for s in segments {
        frames.push((true, seq, isn_s + 1, 0x18, s));
        seq = seq.wrapping_add(s.len() as u32);
    }
    for (i, (c2s, seq, ack, flags, payload)) in frames.into_iter().enumerate() {
        let (sport, dport) = if c2s { (cport, PORT) } else { (PORT, cport) };
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (40 + payload.len()) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&ip_len.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[127, 0, 0, 1]);
        f[30..34].copy_from_slice(&[127, 0, 0, 1]);
        let c = checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[42..46].copy_from_slice(&ack.to_be_bytes());
        f[46] = 0x50;
        f[47] = flags;
        f[48..50].copy_from_slice(&65_535u16.to_be_bytes());
        f.extend_from_slice(payload);
        let ts = Duration::from_millis(1_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, &f))
            .unwrap();
    }
}

/// A RADIUS Accounting-Request (Start): User-Name, Acct-Status-Type,
/// Framed-IP-Address, Acct-Session-Id.
pub fn radius() -> Vec<u8> {
    let mut m = vec![4, 7, 0, 0];
    m.extend_from_slice(&[0xab; 16]);
    m.extend_from_slice(&[1, 11]);
    m.extend_from_slice(b"alice@isp");
    m.extend_from_slice(&[
        40, 6, 0, 0, 0, 1, 8, 6, 100, 64, 0, 9, 44, 5, b'S', b'-', b'1',
    ]);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// A DHCPv4 ACK of 100.64.0.9.
pub fn dhcp_ack() -> Vec<u8> {
    let mut m = vec![0u8; 240];
    m[..4].copy_from_slice(&[2, 1, 6, 0]);
    m[4..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    m[16..20].copy_from_slice(&[100, 64, 0, 9]);
    m[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
    m[236..].copy_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, 5, 51, 4, 0, 0, 14, 16, 255]);
    m
}

pub fn report(event: AccessEvent, message: Option<(Protocol, Vec<u8>)>) -> SessionReport {
    SessionReport {
        event,
        at_ns: 1_795_290_013_250_000_000,
        username: Some("alice@isp".into()),
        addresses: vec![
            Target::Ipv4(Ipv4Addr::new(100, 64, 0, 9)),
            Target::Ipv6Net(Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 0), 56),
        ],
        static_assignment: false,
        network_id: Some("02:00:00:00:00:09".into()),
        nas: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
        nas_id: Some("bng-1".into()),
        session_id: Some("S-1".into()),
        session_start_ns: Some(1_795_290_000_000_000_000),
        session_end_ns: None,
        message,
    }
}

/// Runs tshark's 5gli dissector over `pcap` (a [`write_tcp_pcap`] stream of
/// `pdus` PDUs) and returns one row of `fields` per PDU, the handshake
/// skipped. `fields` ends with `_ws.expert.severity` and `_ws.malformed`: no
/// row may be malformed or carry an expert warning.
pub fn tshark_5gli_rows(pcap: &std::path::Path, fields: &[&str], pdus: usize) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap).args([
        "-d",
        &format!("tcp.port=={PORT},5gli"),
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=f",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(3)
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), pdus, "{text}");
    let (severity, malformed) = (fields.len() - 2, fields.len() - 1);
    for (i, row) in rows.iter().enumerate() {
        assert!(row[malformed].is_empty(), "malformed: {row:?}");
        for sev in row[severity].split(',').filter(|s| !s.is_empty()) {
            let v: u32 = sev
                .parse()
                .unwrap_or_else(|_| u32::from_str_radix(sev.trim_start_matches("0x"), 16).unwrap());
            assert!(v < 0x0060_0000, "expert warning on record {i}: {row:?}");
        }
    }
    rows
}
