//! ETSI TS 103 221-2 X2/X3 PDUs.
//!
//! Every PDU is a 40-octet header — version, PDU type, header length, payload
//! length, payload format, payload direction, XID (16-octet UUID), correlation ID
//! (8 octets) — then conditional attribute TLVs (type u16, length u16, value),
//! then the payload. All integers are big-endian.
//!
//! - Content → X3, payload format IPv4/IPv6 packet (by the version nibble).
//! - HeaderReport → X2, payload format 4 "proprietary": the target's packet's
//!   IP and transport header octets verbatim (never a payload octet). Not format IPv4/IPv6
//!   packet: a header-only "packet" whose length field exceeds the payload is a
//!   malformed IP packet to any decoder (tshark flags it as an error). There is
//!   no standard attribute for the original packet length; the IP header's own
//!   total/payload length field carries it, and a proprietary attribute (type 4:
//!   IANA enterprise number [`PEN`], sub-type 1, u32 length) makes it explicit.
//! - Frame → X3 (content) or X2 (headers mode: the Ethernet header with its VLAN
//!   tags only), payload format 7 "Ethernet frame", with the proprietary
//!   original-length attribute.
//! - Begin/End → X2, payload format "ETSI TS 102 232-1 defined payload": the BER
//!   `IRIPayload` with `iPIRI` of the PS-PDU encoder (decoded by both sides).
//! - Session → X2, payload format 11 "RADIUS Packet" or 10 "DHCP Message" with
//!   the signalling message that reported it (numbers as registered in TS 103
//!   221-2 and Wireshark's 5gli dissector); without one (expiry, start or end of
//!   interception while the session is active) format 1 with the session IPIRI.
//!   The decoder gives the message as hex and its main fields as JSON.
//! - Sip → X2, payload format 9 "SIP message": the message's octets, with
//!   the sender's and receiver's addresses and ports and the transport (UDP or
//!   TCP) as attributes, and payload direction 1 (not known to the POI: the
//!   message is the call's, not a target's packet). The correlation ID is the
//!   call's.
//! - Media → X3, payload format 8 "RTP packet": the UDP payload, with the
//!   packet's addresses and ports as attributes; the call's correlation ID.
//! - Keepalive / KeepaliveAck → PDU types 3 / 4, no payload, nil XID.
//!
//! Attributes on X2/X3: sequence number (u32), timestamp (u64 seconds + u32 ns),
//! source/destination address, ports, IP protocol, matched target identifier
//! (the target's address as TS 103 280 `<IPv4Address>`/`<IPv6Address>` text).

use std::net::IpAddr;

use dataplane::targets::Target;

use super::etsi102232;
use super::pdu::{
    DecodeError, Decoded, DecodedKind, Direction, EncodeError, Encoder, Event, Flow, PduHeader,
};
use super::pdu::{SessionReport, SipReport};
use super::signalling;
use crate::sessions::{Protocol, Transport};

/// Header version written (TS 103 221-2 major version 2).
pub const VERSION: u16 = 2;
/// Fixed header length before the attributes.
pub const FIXED_HEADER_LEN: usize = 40;
/// Largest PDU the stream decoder accepts.
pub const MAX_PDU_LEN: usize = 128 * 1024;
/// IANA private enterprise number used in the proprietary original-length
/// attribute (32473 is the number RFC 5612 reserves for documentation).
pub const PEN: u32 = 32473;

/// PDU types.
mod pdu_type {
    pub const X2: u16 = 1;
    pub const X3: u16 = 2;
    pub const KEEPALIVE: u16 = 3;
    pub const KEEPALIVE_ACK: u16 = 4;
}

/// Payload formats.
mod format {
    pub const KEEPALIVE: u16 = 0;
    pub const ETSI_102232_1: u16 = 1;
    pub const PROPRIETARY: u16 = 4;
    pub const IPV4: u16 = 5;
    pub const IPV6: u16 = 6;
    pub const ETHERNET: u16 = 7;
    pub const RTP: u16 = 8;
    pub const SIP: u16 = 9;
    pub const DHCP: u16 = 10;
    pub const RADIUS: u16 = 11;
}

/// Attribute types.
mod attr {
    pub const PROPRIETARY: u16 = 4;
    pub const SEQUENCE: u16 = 8;
    pub const TIMESTAMP: u16 = 9;
    pub const SRC_V4: u16 = 10;
    pub const DST_V4: u16 = 11;
    pub const SRC_V6: u16 = 12;
    pub const DST_V6: u16 = 13;
    pub const SRC_PORT: u16 = 14;
    pub const DST_PORT: u16 = 15;
    pub const IP_PROTOCOL: u16 = 16;
    pub const MATCHED_TARGET: u16 = 17;
}

/// Payload direction "not known to the POI".
const DIRECTION_UNKNOWN: u16 = 1;

/// Proprietary sub-type: original packet length (u32).
const PROPRIETARY_ORIGINAL_LENGTH: u16 = 1;

/// Encodes X2/X3 PDUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct X2X3Encoder;

fn direction_code(d: Direction) -> u16 {
    match d {
        Direction::ToTarget => 2,
        Direction::FromTarget => 3,
        Direction::Both => 4,
    }
}

fn direction_from_code(c: u16) -> Result<Direction, DecodeError> {
    match c {
        2 => Ok(Direction::ToTarget),
        3 => Ok(Direction::FromTarget),
        4 => Ok(Direction::Both),
        _ => Err(DecodeError::Unsupported("payload direction")),
    }
}

/// Addresses, protocol and ports read from an IP packet or header.
fn flow_of(packet: &[u8]) -> Option<Flow> {
    let (src, dst, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match packet.first()? >> 4 {
        4 => {
            let s: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            (
                s.into(),
                d.into(),
                *packet.get(9)?,
                packet.get(ihl..).unwrap_or_default(),
            )
        }
        6 => {
            let s: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            (
                s.into(),
                d.into(),
                *packet.get(6)?,
                packet.get(40..).unwrap_or_default(),
            )
        }
        _ => return None,
    };
    let (src_port, dst_port) = match (proto, l4.get(..4)) {
        (6 | 17, Some(p)) => (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ),
        _ => (0, 0),
    };
    Some(Flow {
        src,
        dst,
        proto,
        src_port,
        dst_port,
    })
}

fn ip_format(packet: &[u8]) -> Result<u16, EncodeError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => Ok(format::IPV4),
        Some(6) if packet.len() >= 40 => Ok(format::IPV6),
        _ => Err(EncodeError::NotIp),
    }
}

/// A session event's payload format, and the message it carries: the RADIUS
/// packet or DHCP message that reported it, else (expiry, start or end of
/// interception with the session active, a static assignment) the session IPIRI.
fn session_format(r: &SessionReport) -> (u16, Option<&[u8]>) {
    match &r.message {
        Some((Protocol::Radius, m)) => (format::RADIUS, Some(m)),
        Some((Protocol::Dhcp4 | Protocol::Dhcp6, m)) => (format::DHCP, Some(m)),
        Some((Protocol::Static, _)) | None => (format::ETSI_102232_1, None),
    }
}

/// The addresses, ports and transport of a SIP message.
fn sip_flow(r: &SipReport) -> Flow {
    Flow {
        src: r.src.ip(),
        dst: r.dst.ip(),
        proto: match r.transport {
            Transport::Udp => 17,
            Transport::Tcp => 6,
        },
        src_port: r.src.port(),
        dst_port: r.dst.port(),
    }
}

/// The addresses and ports of an RTP packet (always UDP).
fn media_flow(src: std::net::SocketAddr, dst: std::net::SocketAddr) -> Flow {
    Flow {
        src: src.ip(),
        dst: dst.ip(),
        proto: 17,
        src_port: src.port(),
        dst_port: dst.port(),
    }
}

struct Attrs<'a> {
    out: &'a mut Vec<u8>,
}

impl Attrs<'_> {
    fn put(&mut self, t: u16, v: &[u8]) {
        self.out.extend_from_slice(&t.to_be_bytes());
        self.out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        self.out.extend_from_slice(v);
    }

    fn addr(&mut self, v4: u16, v6: u16, a: IpAddr) {
        match a {
            IpAddr::V4(a) => self.put(v4, &a.octets()),
            IpAddr::V6(a) => self.put(v6, &a.octets()),
        }
    }

    /// The proprietary original-length attribute (see the module docs).
    fn original_length(&mut self, wire_len: u32) {
        let mut v = [0u8; 10];
        v[..4].copy_from_slice(&PEN.to_be_bytes());
        v[4..6].copy_from_slice(&PROPRIETARY_ORIGINAL_LENGTH.to_be_bytes());
        v[6..].copy_from_slice(&wire_len.to_be_bytes());
        self.put(attr::PROPRIETARY, &v);
    }

    fn flow(&mut self, f: &Flow) {
        self.addr(attr::SRC_V4, attr::SRC_V6, f.src);
        self.addr(attr::DST_V4, attr::DST_V6, f.dst);
        if f.proto == 6 || f.proto == 17 {
            self.put(attr::SRC_PORT, &f.src_port.to_be_bytes());
            self.put(attr::DST_PORT, &f.dst_port.to_be_bytes());
        }
        self.put(attr::IP_PROTOCOL, &[f.proto]);
    }

    fn target(&mut self, a: IpAddr) {
        use std::io::Write;
        let mut buf = [0u8; 80];
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let _ = match a {
            IpAddr::V4(a) => write!(cur, "<IPv4Address>{a}</IPv4Address>"),
            IpAddr::V6(a) => write!(cur, "<IPv6Address>{a}</IPv6Address>"),
        };
        let n = cur.position() as usize;
        self.put(attr::MATCHED_TARGET, &buf[..n]);
    }
}

fn matched(f: &Flow, d: Direction) -> IpAddr {
    match d {
        Direction::ToTarget => f.dst,
        Direction::FromTarget | Direction::Both => f.src,
    }
}

impl Encoder for X2X3Encoder {
    fn encode(
        &self,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let (ptype, fmt, dir) = match e {
            Event::Content {
                ip_packet,
                direction,
            } => (
                pdu_type::X3,
                ip_format(ip_packet)?,
                direction_code(*direction),
            ),
            Event::HeaderReport {
                ip_headers,
                direction,
                ..
            } => {
                ip_format(ip_headers)?;
                (
                    pdu_type::X2,
                    format::PROPRIETARY,
                    direction_code(*direction),
                )
            }
            Event::Frame {
                header_only,
                direction,
                ..
            } => (
                if *header_only {
                    pdu_type::X2
                } else {
                    pdu_type::X3
                },
                format::ETHERNET,
                direction_code(*direction),
            ),
            Event::Begin { .. } | Event::End { .. } => (pdu_type::X2, format::ETSI_102232_1, 5),
            Event::Session(r) => (pdu_type::X2, session_format(r).0, 5),
            Event::Sip(_) => (pdu_type::X2, format::SIP, DIRECTION_UNKNOWN),
            Event::Media { direction, .. } => {
                (pdu_type::X3, format::RTP, direction_code(*direction))
            }
            Event::Keepalive => (pdu_type::KEEPALIVE, format::KEEPALIVE, 0),
            Event::KeepaliveAck => (pdu_type::KEEPALIVE_ACK, format::KEEPALIVE, 0),
        };
        let keepalive = matches!(e, Event::Keepalive | Event::KeepaliveAck);
        let start = out.len();
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&ptype.to_be_bytes());
        out.extend_from_slice(&[0; 8]); // header and payload lengths, patched below
        out.extend_from_slice(&fmt.to_be_bytes());
        out.extend_from_slice(&dir.to_be_bytes());
        if keepalive {
            out.extend_from_slice(&[0; 24]);
        } else {
            out.extend_from_slice(h.xid.as_bytes());
            out.extend_from_slice(&u64::from(h.cin).to_be_bytes());
        }
        let mut a = Attrs { out };
        a.put(attr::SEQUENCE, &h.sequence.to_be_bytes());
        if !keepalive {
            let mut ts = [0u8; 12];
            ts[..8].copy_from_slice(&(h.timestamp_ns / 1_000_000_000).to_be_bytes());
            ts[8..].copy_from_slice(&((h.timestamp_ns % 1_000_000_000) as u32).to_be_bytes());
            a.put(attr::TIMESTAMP, &ts);
        }
        match e {
            Event::Content {
                ip_packet,
                direction,
            } => {
                if let Some(f) = flow_of(ip_packet) {
                    a.flow(&f);
                    a.target(matched(&f, *direction));
                }
            }
            Event::HeaderReport {
                ip_headers,
                wire_len,
                direction,
                flow,
                ..
            } => {
                if let Some(f) = flow.or_else(|| flow_of(ip_headers)) {
                    a.flow(&f);
                    a.target(matched(&f, *direction));
                }
                a.original_length(*wire_len);
            }
            Event::Frame { wire_len, .. } => a.original_length(*wire_len),
            Event::Begin {
                target: Some(t), ..
            }
            | Event::End {
                target: Some(t), ..
            } => a.target(*t),
            Event::Session(r) => {
                let host = r.addresses.iter().find_map(|t| match *t {
                    Target::Ipv4(a) => Some(IpAddr::V4(a)),
                    Target::Ipv6(a) => Some(IpAddr::V6(a)),
                    _ => None,
                });
                if let Some(t) = host {
                    a.target(t);
                }
            }
            Event::Sip(r) => a.flow(&sip_flow(r)),
            Event::Media {
                src,
                dst,
                direction,
                ..
            } => {
                let f = media_flow(*src, *dst);
                a.flow(&f);
                a.target(matched(&f, *direction));
            }
            _ => {}
        }
        let header_len = out.len() - start;
        let result = match e {
            Event::Content { ip_packet, .. } => {
                out.extend_from_slice(ip_packet);
                Ok(())
            }
            Event::HeaderReport { ip_headers, .. } => {
                out.extend_from_slice(ip_headers);
                Ok(())
            }
            Event::Frame { frame, .. } => {
                out.extend_from_slice(frame);
                Ok(())
            }
            Event::Begin { .. } | Event::End { .. } => etsi102232::encode_iri_payload(e, out),
            Event::Session(r) => match session_format(r) {
                (_, Some(message)) => {
                    out.extend_from_slice(message);
                    Ok(())
                }
                (_, None) => etsi102232::encode_iri_payload(e, out),
            },
            Event::Sip(r) => {
                out.extend_from_slice(&r.message);
                Ok(())
            }
            Event::Media { rtp, .. } => {
                out.extend_from_slice(rtp);
                Ok(())
            }
            Event::Keepalive | Event::KeepaliveAck => Ok(()),
        };
        if let Err(err) = result {
            out.truncate(start);
            return Err(err);
        }
        let payload_len = out.len() - start - header_len;
        out[start + 4..start + 8].copy_from_slice(&(header_len as u32).to_be_bytes());
        out[start + 8..start + 12].copy_from_slice(&(payload_len as u32).to_be_bytes());
        Ok(())
    }
}

fn be_u16(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    let v: [u8; 2] = b
        .get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Invalid("X2/X3 header"))?;
    Ok(u16::from_be_bytes(v))
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    let v: [u8; 4] = b
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Invalid("X2/X3 header"))?;
    Ok(u32::from_be_bytes(v))
}

/// Splits one X2/X3 PDU off the front of `buf`.
///
/// # Errors
/// Not a valid X2/X3 PDU (unknown version or type, inconsistent lengths or
/// attributes), or larger than [`MAX_PDU_LEN`].
pub fn decode_next(buf: &[u8]) -> Result<Option<(Decoded<'_>, usize)>, DecodeError> {
    if buf.len() < 12 {
        return Ok(None);
    }
    let version = be_u16(buf, 0)?;
    let ptype = be_u16(buf, 2)?;
    let header_len = be_u32(buf, 4)? as usize;
    let payload_len = be_u32(buf, 8)? as usize;
    if !(1..=5).contains(&version) {
        return Err(DecodeError::Unsupported("X2/X3 version"));
    }
    if !(1..=4).contains(&ptype) {
        return Err(DecodeError::Invalid("X2/X3 PDU type"));
    }
    if header_len < FIXED_HEADER_LEN || header_len + payload_len > MAX_PDU_LEN {
        return Err(DecodeError::Invalid("X2/X3 lengths"));
    }
    let total = header_len + payload_len;
    let Some(pdu) = buf.get(..total) else {
        return Ok(None);
    };
    Ok(Some((decode(pdu, header_len, ptype)?, total)))
}

fn decode(pdu: &[u8], header_len: usize, ptype: u16) -> Result<Decoded<'_>, DecodeError> {
    let fmt = be_u16(pdu, 12)?;
    let dir = be_u16(pdu, 14)?;
    let xid = uuid::Uuid::from_slice(pdu.get(16..32).ok_or(DecodeError::Invalid("XID"))?)
        .map_err(|_| DecodeError::Invalid("XID"))?;
    let cin = pdu
        .get(32..40)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
        .ok_or(DecodeError::Invalid("correlation ID"))?;
    let mut attrs = pdu
        .get(FIXED_HEADER_LEN..header_len)
        .ok_or(DecodeError::Invalid("header length"))?;
    let payload = pdu
        .get(header_len..)
        .ok_or(DecodeError::Invalid("payload length"))?;
    let (mut sequence, mut timestamp_ns, mut wire_len) = (0u32, 0u64, None);
    let (mut src, mut dst, mut src_port, mut dst_port) = (None, None, None, None);
    while !attrs.is_empty() {
        let t = be_u16(attrs, 0)?;
        let l = usize::from(be_u16(attrs, 2)?);
        let v = attrs
            .get(4..4 + l)
            .ok_or(DecodeError::Invalid("attribute length"))?;
        match (t, l) {
            (attr::SEQUENCE, 4) => sequence = be_u32(v, 0)?,
            (attr::TIMESTAMP, 12) => {
                let secs = u64::from(be_u32(v, 0)?) << 32 | u64::from(be_u32(v, 4)?);
                let ns = be_u32(v, 8)?;
                if ns >= 1_000_000_000 {
                    return Err(DecodeError::Invalid("timestamp"));
                }
                timestamp_ns = secs
                    .checked_mul(1_000_000_000)
                    .and_then(|s| s.checked_add(u64::from(ns)))
                    .ok_or(DecodeError::Invalid("timestamp"))?;
            }
            (attr::PROPRIETARY, 10)
                if be_u32(v, 0)? == PEN && be_u16(v, 4)? == PROPRIETARY_ORIGINAL_LENGTH =>
            {
                wire_len = Some(be_u32(v, 6)?);
            }
            (attr::SRC_V4 | attr::DST_V4, 4) | (attr::SRC_V6 | attr::DST_V6, 16) => {
                let a = etsi102232::ip_from(v)?;
                if matches!(t, attr::SRC_V4 | attr::SRC_V6) {
                    src = Some(a);
                } else {
                    dst = Some(a);
                }
            }
            (attr::SRC_PORT, 2) => src_port = Some(be_u16(v, 0)?),
            (attr::DST_PORT, 2) => dst_port = Some(be_u16(v, 0)?),
            (attr::SEQUENCE | attr::TIMESTAMP, _) => {
                return Err(DecodeError::Invalid("attribute length"))
            }
            _ => {}
        }
        attrs = attrs.get(4 + l..).unwrap_or_default();
    }
    let kind = match (ptype, fmt) {
        (pdu_type::KEEPALIVE, _) => DecodedKind::Keepalive,
        (pdu_type::KEEPALIVE_ACK, _) => DecodedKind::KeepaliveAck,
        (pdu_type::X3, format::IPV4 | format::IPV6) => DecodedKind::Content {
            ip_packet: payload,
            direction: direction_from_code(dir)?,
        },
        (pdu_type::X2, format::PROPRIETARY) => DecodedKind::HeaderReport {
            ip_headers: payload.into(),
            wire_len: wire_len.ok_or(DecodeError::Invalid(
                "header report without original length",
            ))?,
            direction: direction_from_code(dir)?,
            report: None,
        },
        (pdu_type::X2 | pdu_type::X3, format::ETHERNET) => DecodedKind::Frame {
            frame: payload,
            wire_len: wire_len.unwrap_or(u32::try_from(payload.len()).unwrap_or(u32::MAX)),
            header_only: ptype == pdu_type::X2,
            direction: direction_from_code(dir)?,
        },
        (pdu_type::X2, format::ETSI_102232_1) => etsi102232::decode_iri_payload(payload)?,
        (pdu_type::X2, format::RADIUS) => DecodedKind::Iri(signalling::radius_json(payload)),
        (pdu_type::X2, format::DHCP) => DecodedKind::Iri(signalling::dhcp_json(payload)),
        (pdu_type::X2, format::SIP) => DecodedKind::Sip {
            message: payload.into(),
            src: socket(src, src_port),
            dst: socket(dst, dst_port),
        },
        (pdu_type::X3, format::RTP) => DecodedKind::Media {
            rtp: payload.into(),
            src: socket(src, src_port).ok_or(DecodeError::Invalid("RTP packet without source"))?,
            dst: socket(dst, dst_port)
                .ok_or(DecodeError::Invalid("RTP packet without destination"))?,
            direction: direction_from_code(dir)?,
        },
        // Other sources' PDUs (SIP, RTP, 3GPP xIRI, ...) are kept as they came, not refused:
        // a collection function must not lose what it was handed.
        _ => DecodedKind::Iri(serde_json::json!({
            "type": "opaque",
            "pdu_type": if ptype == pdu_type::X3 { "X3" } else { "X2" },
            "payload_format": fmt,
            "payload_direction": dir,
            "payload": hex::encode(payload),
        })),
    };
    Ok(Decoded {
        liid_or_xid: xid.hyphenated().to_string().into(),
        cin,
        sequence,
        timestamp_ns,
        kind,
    })
}

/// An address and port read from attributes, if both were there.
fn socket(ip: Option<IpAddr>, port: Option<u16>) -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::new(ip?, port?))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::handover::pdu::Identity;

    fn header(id: &Identity) -> PduHeader<'_> {
        PduHeader {
            liid: "LIID-42",
            xid: uuid::Uuid::from_u128(0x8c29_2fa1_5831_46ec_86be_bd85_f208_3299),
            cin: 0x0102_0304,
            sequence: 9,
            timestamp_ns: 1_795_290_013_123_456_789,
            identity: id,
        }
    }

    fn identity() -> Identity {
        Identity {
            operator_id: "OP".into(),
            network_element_id: "NE".into(),
            country_code: "DE".into(),
        }
    }

    fn udp4() -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[198, 51, 100, 2]);
        p[20..24].copy_from_slice(&[0x13, 0x88, 0x00, 0x35]);
        p
    }

    #[test]
    fn encodes_x3_header_exactly() {
        let id = identity();
        let p = udp4();
        let mut out = vec![0xee];
        X2X3Encoder
            .encode(
                &header(&id),
                &Event::Content {
                    ip_packet: &p,
                    direction: Direction::FromTarget,
                },
                &mut out,
            )
            .unwrap();
        let pdu = &out[1..];
        assert_eq!(&pdu[..4], [0, 2, 0, 2]); // version 2, X3
        let hl = u32::from_be_bytes(pdu[4..8].try_into().unwrap()) as usize;
        assert_eq!(
            u32::from_be_bytes(pdu[8..12].try_into().unwrap()) as usize,
            p.len()
        );
        assert_eq!(&pdu[12..16], [0, 5, 0, 3]); // IPv4 packet, from target
        assert_eq!(&pdu[16..32], header(&id).xid.as_bytes());
        assert_eq!(&pdu[32..40], [0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(&pdu[40..48], [0, 8, 0, 4, 0, 0, 0, 9]); // sequence number
        assert_eq!(&pdu[hl..], &p[..]);
        assert_eq!(hl + p.len(), pdu.len());
        let (d, used) = decode_next(pdu).unwrap().unwrap();
        assert_eq!(used, pdu.len());
        assert_eq!(d.liid_or_xid, "8c292fa1-5831-46ec-86be-bd85f2083299");
        assert_eq!(
            (d.cin, d.sequence, d.timestamp_ns),
            (0x0102_0304, 9, 1_795_290_013_123_456_789)
        );
        assert_eq!(
            d.kind,
            DecodedKind::Content {
                ip_packet: &p,
                direction: Direction::FromTarget
            }
        );
    }

    #[test]
    fn header_report_keeps_original_length() {
        let id = identity();
        let h = udp4();
        let e = Event::HeaderReport {
            ip_headers: &h,
            l4_at: 20,
            wire_len: 1400,
            direction: Direction::ToTarget,
            flow: None,
        };
        let mut out = Vec::new();
        X2X3Encoder.encode(&header(&id), &e, &mut out).unwrap();
        let (d, _) = decode_next(&out).unwrap().unwrap();
        assert_eq!(
            d.kind,
            DecodedKind::HeaderReport {
                ip_headers: h.into(),
                wire_len: 1400,
                direction: Direction::ToTarget,
                report: None,
            }
        );
        let target = b"<IPv4Address>198.51.100.2</IPv4Address>";
        assert!(out.windows(target.len()).any(|w| w == target));
    }

    #[test]
    fn begin_end_carry_iri() {
        let id = identity();
        let t: IpAddr = "2001:db8::1".parse().unwrap();
        for e in [
            Event::Begin {
                target: Some(t),
                at_ns: 5_000_000_000,
            },
            Event::End {
                target: None,
                at_ns: 6_000_000_000,
            },
        ] {
            let mut out = Vec::new();
            X2X3Encoder.encode(&header(&id), &e, &mut out).unwrap();
            let DecodedKind::Iri(v) = decode_next(&out).unwrap().unwrap().0.kind else {
                panic!()
            };
            if matches!(e, Event::Begin { .. }) {
                assert_eq!(v["iRIType"], "iRI-Begin");
                assert_eq!(etsi102232::json_ip(&v, "targetIPAddress"), Some(t));
            } else {
                assert_eq!(v["iRIType"], "iRI-End");
                assert_eq!(v["endTime"], "19700101000006Z");
            }
        }
    }

    #[test]
    fn keepalives_round_trip() {
        let id = identity();
        for (e, k) in [
            (Event::Keepalive, DecodedKind::Keepalive),
            (Event::KeepaliveAck, DecodedKind::KeepaliveAck),
        ] {
            let mut out = Vec::new();
            X2X3Encoder.encode(&header(&id), &e, &mut out).unwrap();
            assert_eq!(out.len(), 48);
            let (d, _) = decode_next(&out).unwrap().unwrap();
            assert_eq!((d.kind, d.sequence), (k, 9));
        }
    }

    #[test]
    fn rejects_non_ip_and_garbage() {
        let id = identity();
        let mut out = vec![1, 2, 3];
        let e = Event::Content {
            ip_packet: &[0x12; 30],
            direction: Direction::Both,
        };
        assert_eq!(
            X2X3Encoder.encode(&header(&id), &e, &mut out),
            Err(EncodeError::NotIp)
        );
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(decode_next(&[0, 2, 0, 2, 0]), Ok(None));
        assert!(decode_next(&[0, 9, 0, 2, 0, 0, 0, 40, 0, 0, 0, 0]).is_err());
        assert!(decode_next(&[0, 2, 0, 7, 0, 0, 0, 40, 0, 0, 0, 0]).is_err());
        assert!(decode_next(&[0, 2, 0, 2, 0, 0, 0, 39, 0, 0, 0, 0]).is_err());
        let mut bad = vec![0u8; 44];
        bad[..12].copy_from_slice(&[0, 2, 0, 3, 0, 0, 0, 44, 0, 0, 0, 0]);
        bad[40..44].copy_from_slice(&[0, 8, 0, 9]); // attribute longer than the header
        assert!(decode_next(&bad).is_err());
    }
}
