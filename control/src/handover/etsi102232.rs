//! ETSI TS 102 232-1 PS-PDU (LI-PS-PDU version35, BER, IMPLICIT TAGS) carrying
//! ETSI TS 102 232-3 IP access contents (IPAccessPDU version15).
//!
//! - Content → `cCPayloadSequence { CCPayload { payloadDirection, cCContents iPCC
//!   { iPCCObjId, iPCCContents iPPackets } } }`.
//! - Begin/End → `iRIPayloadSequence { IRIPayload { iRIType begin/end, iRIContents
//!   iPIRI { accessEventType startOf/endOfInterceptionWithSessionActive, ... } } }`.
//! - HeaderReport → `IRIPayload { iRIType iRI-Report, iRIContents iPIRIOnly {...},
//!   payloadDirection }` (TS 102 232-3 IPIRIOnly). It carries header *fields*, not
//!   octets: every field of the reported IP header (IPv4 with options; IPv6 base
//!   header) and of its TCP/UDP header (`none` for other transports), so that the
//!   decoder rebuilds the header octets from them (see [`IriOnly::rebuild`] for the
//!   exceptions), and the original IP length (the header's own length field, and
//!   `iPAggregatedNbrOfBytes`, with `iPAggregatedNbrOfPackets` = 1). A tunnelled
//!   packet is reported by the layer the target was found in, as the engine
//!   hands it over. The decoder returns the rebuilt headers and the report as
//!   IRI JSON.
//! - Keepalive / KeepaliveAck → `tRIPayload keep-alive / keep-aliveResponse`.
//!
//! See scripts/asn1/README.md for the provenance of every ASN.1 type used.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::ber::{self, Reader, Tag, Writer};
use super::ipheader::{self, Layer, L4};
use super::pdu::{
    DecodeError, Decoded, DecodedKind, Direction, EncodeError, Encoder, Event, PduHeader,
};

/// li-psDomainId of LI-PS-PDU version35: {itu-t(0) identified-organization(4)
/// etsi(0) securityDomain(2) lawfulIntercept(2) li-ps(5) genHeader(1) version35(35)}.
pub const LI_PS_DOMAIN_ID: [u32; 8] = [0, 4, 0, 2, 2, 5, 1, 35];
/// IPAccessPDU version15 (the one LI-PS-PDU version35 imports): {li-ps(5) iPAccess(3) version15(15)}.
const IP_ACCESS: [u32; 3] = [5, 3, 15];
/// Contents octets of li-psDomainId up to the version arc.
const LI_PS_DOMAIN_PREFIX: [u8; 6] = [4, 0, 2, 2, 5, 1];
/// Contents octets of the IPAccessPDU RELATIVE-OIDs up to the version arc.
const IP_ACCESS_PREFIX: [u8; 2] = [5, 3];
/// iPIRIObjId = {iPAccessPDU iRI(1)}.
pub const IPIRI_OBJ_ID: [u32; 4] = [IP_ACCESS[0], IP_ACCESS[1], IP_ACCESS[2], 1];
/// iPCCObjId = {iPAccessPDU cC(2)}.
pub const IPCC_OBJ_ID: [u32; 4] = [IP_ACCESS[0], IP_ACCESS[1], IP_ACCESS[2], 2];
/// iPIRIOnlyObjId = {iPAccessPDU iRIOnly(3)}.
pub const IPIRI_ONLY_OBJ_ID: [u32; 4] = [IP_ACCESS[0], IP_ACCESS[1], IP_ACCESS[2], 3];

/// Largest PS-PDU the stream decoder accepts (a CC PDU of a 64 KiB packet plus header).
pub const MAX_PDU_LEN: usize = 128 * 1024;

const IRI_BEGIN: u32 = 1;
const IRI_END: u32 = 2;
const IRI_REPORT: u32 = 4;
const START_OF_INTERCEPTION_WITH_SESSION_ACTIVE: u32 = 7;
const END_OF_INTERCEPTION_WITH_SESSION_ACTIVE: u32 = 9;
const TIME_OF_INTERCEPTION: u32 = 1;

/// Encodes PS-PDUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct PsPduEncoder;

fn check_size(field: &'static str, len: usize, min: usize, max: usize) -> Result<(), EncodeError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(EncodeError::FieldSize {
            field,
            len,
            min,
            max,
        })
    }
}

fn direction_code(d: Direction) -> u32 {
    match d {
        Direction::FromTarget => 0,
        Direction::ToTarget => 1,
        Direction::Both => 3, // combined
    }
}

fn direction_from_code(c: u32) -> Result<Direction, DecodeError> {
    match c {
        0 => Ok(Direction::FromTarget),
        1 => Ok(Direction::ToTarget),
        3 => Ok(Direction::Both),
        _ => Err(DecodeError::Unsupported("payloadDirection")),
    }
}

/// The layer a headers-only report describes (the target's packet's, as the
/// dataplane found it), checked before anything is written.
fn report_of<'a>(e: &Event<'a>) -> Result<(Layer<'a>, u32, Direction), EncodeError> {
    let Event::HeaderReport {
        ip_headers,
        l4_at,
        wire_len,
        direction,
        flow,
    } = *e
    else {
        return Err(EncodeError::NotIp);
    };
    // Without a flow, the protocol the IP header names (it carries no options).
    let proto = flow
        .map(|f| f.proto)
        .or_else(|| match ip_headers.first()? >> 4 {
            4 => ip_headers.get(9).copied(),
            _ => ip_headers.get(6).copied(),
        });
    let layer = ipheader::layer(ip_headers, l4_at, proto.unwrap_or(0)).ok_or(EncodeError::NotIp)?;
    let len = ipheader::stated_len(layer.ip).unwrap_or(wire_len);
    Ok((layer, len, direction))
}

fn ip_octets(a: IpAddr, buf: &mut [u8; 16]) -> &[u8] {
    match a {
        IpAddr::V4(v) => {
            buf[..4].copy_from_slice(&v.octets());
            &buf[..4]
        }
        IpAddr::V6(v) => {
            buf.copy_from_slice(&v.octets());
            &buf[..]
        }
    }
}

fn write_header(w: &mut Writer<'_>, h: &PduHeader<'_>) {
    let id = h.identity;
    let ph = w.open(Tag::ctx_cons(1), 120);
    let _ = w.oid(Tag::ctx(0), &LI_PS_DOMAIN_ID);
    w.primitive(Tag::ctx(1), h.liid.as_bytes());
    w.primitive(Tag::ctx(2), id.country_code.as_bytes());
    let ci = w.open(Tag::ctx_cons(3), 40);
    let ni = w.open(Tag::ctx_cons(0), 20);
    w.primitive(Tag::ctx(0), id.operator_id.as_bytes());
    w.primitive(Tag::ctx(1), id.network_element_id.as_bytes());
    w.close(ni);
    w.uint(Tag::ctx(1), u64::from(h.cin));
    w.primitive(Tag::ctx(2), id.country_code.as_bytes());
    w.close(ci);
    w.uint(Tag::ctx(4), u64::from(h.sequence));
    w.generalized_time(Tag::ctx(5), h.timestamp_ns);
    let us = w.open(Tag::ctx_cons(7), 12);
    w.uint(Tag::ctx(0), h.timestamp_ns / 1_000_000_000);
    w.uint(Tag::ctx(1), h.timestamp_ns / 1000 % 1_000_000);
    w.close(us);
    w.enumerated(Tag::ctx(8), TIME_OF_INTERCEPTION);
    w.close(ph);
}

fn write_target_address(w: &mut Writer<'_>, tag: Tag, a: IpAddr) {
    let mut buf = [0u8; 16];
    let o = w.open(tag, 24);
    w.enumerated(Tag::ctx(1), u32::from(a.is_ipv6()));
    let v = w.open(Tag::ctx_cons(2), 18);
    w.primitive(Tag::ctx(1), ip_octets(a, &mut buf));
    w.close(v);
    w.enumerated(Tag::ctx(3), 3); // iP-assignment notKnown
    w.close(o);
}

fn write_ipiri(w: &mut Writer<'_>, begin: bool, target: Option<IpAddr>, at_ns: u64) {
    let iri = w.open(Tag::SEQUENCE, 80);
    w.enumerated(Tag::ctx(0), if begin { IRI_BEGIN } else { IRI_END });
    let contents = w.open(Tag::ctx_cons(2), 70);
    let ipiri = w.open(Tag::ctx_cons(2), 70);
    w.relative_oid(Tag::ctx(0), &IPIRI_OBJ_ID);
    let c = w.open(Tag::ctx_cons(1), 60);
    let event = if begin {
        START_OF_INTERCEPTION_WITH_SESSION_ACTIVE
    } else {
        END_OF_INTERCEPTION_WITH_SESSION_ACTIVE
    };
    w.enumerated(Tag::ctx(0), event);
    // targetUsername is mandatory; a probe on a tap knows only the address.
    let mut name = [0u8; 45];
    let name_len = target.map_or(0, |t| {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut name[..]);
        let _ = write!(cur, "{t}");
        cur.position() as usize
    });
    w.primitive(Tag::ctx(1), &name[..name_len]);
    w.enumerated(Tag::ctx(2), 0); // internetAccessType undefined
    let version = match target {
        Some(IpAddr::V4(_)) => 1,
        Some(IpAddr::V6(_)) => 2,
        None => 3,
    };
    w.enumerated(Tag::ctx(3), version);
    if let Some(t) = target {
        write_target_address(w, Tag::ctx_cons(4), t);
    }
    w.generalized_time(Tag::ctx(if begin { 10 } else { 11 }), at_ns);
    w.close(c);
    w.close(ipiri);
    w.close(contents);
    w.close(iri);
}

/// IPv4Information: every field of the header, as its octets.
fn write_ipv4_information(w: &mut Writer<'_>, ip: &[u8]) {
    let v4 = w.open(Tag::ctx_cons(0), ip.len() + 32);
    w.primitive(Tag::ctx(0), &[ip[0] & 0x0f]); // headerLength, in 32-bit words
    w.primitive(Tag::ctx(1), &ip[1..2]); // typeOfService (DSCP + ECN)
    w.primitive(Tag::ctx(2), &ip[2..4]); // totalLength
    w.primitive(Tag::ctx(3), &ip[4..6]); // identification
    w.primitive(Tag::ctx(4), &ip[6..8]); // fragment: flags + offset
    w.primitive(Tag::ctx(5), &ip[8..9]); // ttl
    w.primitive(Tag::ctx(6), &ip[9..10]); // protocol
    w.primitive(Tag::ctx(7), &ip[10..12]); // headerChecksum
    w.primitive(Tag::ctx(8), &ip[12..16]);
    w.primitive(Tag::ctx(9), &ip[16..20]);
    if ip.len() > 20 {
        w.primitive(Tag::ctx(10), &ip[20..]);
    }
    w.close(v4);
}

/// IPv6Information: every field of the base header. The published SIZE
/// constraints are followed literally: flowLabel is 20 octets and payloadLength
/// 4, each holding the field's value big-endian, right-aligned.
fn write_ipv6_information(w: &mut Writer<'_>, ip: &[u8]) {
    let v6 = w.open(Tag::ctx_cons(1), 90);
    w.primitive(Tag::ctx(0), &[ip[0] << 4 | ip[1] >> 4]); // trafficClass
    let mut flow = [0u8; FLOW_LABEL_OCTETS];
    flow[FLOW_LABEL_OCTETS - 3..].copy_from_slice(&[ip[1] & 0x0f, ip[2], ip[3]]);
    w.primitive(Tag::ctx(1), &flow);
    w.primitive(Tag::ctx(2), &[0, 0, ip[4], ip[5]]); // payloadLength
    w.primitive(Tag::ctx(3), &ip[6..7]); // nextHeader (of the base header)
    w.primitive(Tag::ctx(4), &ip[7..8]); // hopLimit
    w.primitive(Tag::ctx(5), &ip[8..24]);
    w.primitive(Tag::ctx(6), &ip[24..40]);
    w.close(v6);
}

/// ProtocolInformation: every TCP or UDP header field; `none` for anything else.
fn write_protocol_information(w: &mut Writer<'_>, l4: L4<'_>) {
    let info = w.open(Tag::ctx_cons(2), 100);
    match l4 {
        L4::Tcp(t) => {
            let tcp = w.open(Tag::ctx_cons(1), t.len() + 40);
            w.primitive(Tag::ctx(0), &t[0..2]);
            w.primitive(Tag::ctx(1), &t[2..4]);
            w.primitive(Tag::ctx(2), &t[4..8]);
            w.primitive(Tag::ctx(3), &t[8..12]);
            // BIT STRINGs: first octet = unused bits of the last one.
            w.primitive(Tag::ctx(4), &[4, t[12] & 0xf0]); // dataOffset, 4 bits
            w.primitive(Tag::ctx(5), &[2, (t[13] & 0x3f) << 2]); // URG ACK PSH RST SYN FIN
            w.primitive(Tag::ctx(6), &t[14..16]);
            w.primitive(Tag::ctx(7), &t[16..18]);
            w.primitive(Tag::ctx(8), &t[18..20]);
            if t.len() > 20 {
                w.primitive(Tag::ctx(9), &t[20..]);
            }
            w.close(tcp);
        }
        L4::Udp(u) => {
            let udp = w.open(Tag::ctx_cons(2), 16);
            for (i, f) in u.chunks_exact(2).enumerate() {
                w.primitive(Tag::ctx(i as u32), f);
            }
            w.close(udp);
        }
        L4::Other => w.null(Tag::ctx(0)),
    }
    w.close(info);
}

fn write_header_report(w: &mut Writer<'_>, layer: &Layer<'_>, len: u32, direction: Direction) {
    let iri = w.open(Tag::SEQUENCE, 200);
    w.enumerated(Tag::ctx(0), IRI_REPORT);
    let contents = w.open(Tag::ctx_cons(2), 200);
    let only = w.open(Tag::ctx_cons(3), 200);
    w.relative_oid(Tag::ctx(0), &IPIRI_ONLY_OBJ_ID);
    let info = w.open(Tag::ctx_cons(1), 100);
    if layer.v4 {
        write_ipv4_information(w, layer.ip);
    } else {
        write_ipv6_information(w, layer.ip);
    }
    w.close(info);
    write_protocol_information(w, layer.l4);
    w.uint(Tag::ctx(3), 1);
    w.uint(Tag::ctx(4), u64::from(len));
    w.close(only);
    w.close(contents);
    w.enumerated(Tag::ctx(6), direction_code(direction));
    w.close(iri);
}

impl Encoder for PsPduEncoder {
    fn encode(
        &self,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let id = h.identity;
        check_size("lawfulInterceptionIdentifier", h.liid.len(), 1, 25)?;
        check_size("operatorIdentifier", id.operator_id.len(), 1, 16)?;
        check_size(
            "networkElementIdentifier",
            id.network_element_id.len(),
            1,
            16,
        )?;
        check_size("countryCode", id.country_code.len(), 2, 2)?;
        if ber::decode_printable(id.country_code.as_bytes()).is_err() {
            return Err(EncodeError::FieldSize {
                field: "countryCode",
                len: 0,
                min: 2,
                max: 2,
            });
        }
        if let Event::Frame { .. } = e {
            // CCContents of the IPAccess subset has only iPCC; l2CC (TS 102 232-3
            // L2AccessPDU) is not part of what this encoder implements.
            return Err(EncodeError::NotDeliverable("an Ethernet frame"));
        }
        let report = match e {
            Event::HeaderReport { .. } => Some(report_of(e)?),
            _ => None,
        };
        let body_hint = match e {
            Event::Content { ip_packet, .. } => ip_packet.len() + 20,
            Event::HeaderReport { .. } => 220,
            _ => 120,
        };
        out.reserve(body_hint + 150);
        let mut w = Writer::new(out);
        let pdu = w.open(Tag::SEQUENCE, body_hint + 140);
        write_header(&mut w, h);
        let payload = w.open(Tag::ctx_cons(2), body_hint + 4);
        match e {
            Event::Content {
                ip_packet,
                direction,
            } => {
                let seq = w.open(Tag::ctx_cons(1), ip_packet.len() + 18);
                let cc = w.open(Tag::SEQUENCE, ip_packet.len() + 16);
                w.enumerated(Tag::ctx(0), direction_code(*direction));
                let contents = w.open(Tag::ctx_cons(2), ip_packet.len() + 12);
                let ipcc = w.open(Tag::ctx_cons(2), ip_packet.len() + 10);
                w.relative_oid(Tag::ctx(0), &IPCC_OBJ_ID);
                let ipc = w.open(Tag::ctx_cons(1), ip_packet.len() + 4);
                w.primitive(Tag::ctx(0), ip_packet);
                w.close(ipc);
                w.close(ipcc);
                w.close(contents);
                w.close(cc);
                w.close(seq);
            }
            Event::HeaderReport { .. } => {
                let seq = w.open(Tag::ctx_cons(0), 210);
                if let Some((layer, len, direction)) = &report {
                    write_header_report(&mut w, layer, *len, *direction);
                }
                w.close(seq);
            }
            Event::Begin { target, at_ns } | Event::End { target, at_ns } => {
                let seq = w.open(Tag::ctx_cons(0), 90);
                write_ipiri(&mut w, matches!(e, Event::Begin { .. }), *target, *at_ns);
                w.close(seq);
            }
            Event::Frame { .. } => {} // refused above
            Event::Keepalive | Event::KeepaliveAck => {
                let tri = w.open(Tag::ctx_cons(2), 2);
                w.null(Tag::ctx(if matches!(e, Event::Keepalive) { 3 } else { 4 }));
                w.close(tri);
            }
        }
        w.close(payload);
        w.close(pdu);
        Ok(())
    }
}

/// Appends the BER `IRIPayload` of a Begin, End or HeaderReport event (the X2
/// payload in format "ETSI TS 102 232-1 defined payload").
///
/// # Errors
/// Another event, or a header report that is not IPv4/IPv6.
pub(crate) fn encode_iri_payload(e: &Event<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match e {
        Event::Begin { target, at_ns } | Event::End { target, at_ns } => {
            write_ipiri(
                &mut Writer::new(out),
                matches!(e, Event::Begin { .. }),
                *target,
                *at_ns,
            );
        }
        Event::HeaderReport { .. } => {
            let (layer, len, direction) = report_of(e)?;
            write_header_report(&mut Writer::new(out), &layer, len, direction);
        }
        _ => return Err(EncodeError::NotIp),
    }
    Ok(())
}

/// Decodes exactly one BER `IRIPayload` to IRI JSON.
///
/// # Errors
/// Invalid BER or trailing bytes.
pub(crate) fn decode_iri_payload(bytes: &[u8]) -> Result<DecodedKind<'static>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut iri = r.nested(Tag::SEQUENCE)?;
    r.finish()?;
    read_iri(&mut iri)
}

/// Splits one PS-PDU off the front of `buf`.
///
/// # Errors
/// Not a valid PS-PDU, or one larger than [`MAX_PDU_LEN`].
pub fn decode_next(buf: &[u8]) -> Result<Option<(Decoded<'_>, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != 0x30 {
        return Err(DecodeError::Invalid("PS-PDU: not a SEQUENCE"));
    }
    let Some(&len0) = buf.get(1) else {
        return Ok(None);
    };
    let (hdr, len) = if len0 < 0x80 {
        (2, usize::from(len0))
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 3 {
            return Err(DecodeError::Invalid("PS-PDU length"));
        }
        let Some(bytes) = buf.get(2..2 + n) else {
            return Ok(None);
        };
        (
            2 + n,
            bytes.iter().fold(0usize, |a, &b| a << 8 | usize::from(b)),
        )
    };
    if len > MAX_PDU_LEN {
        return Err(DecodeError::Invalid("PS-PDU length"));
    }
    let Some(pdu) = buf.get(..hdr + len) else {
        return Ok(None);
    };
    Ok(Some((decode(pdu)?, hdr + len)))
}

/// Decodes exactly one PS-PDU.
///
/// # Errors
/// Invalid BER, trailing bytes, or contents outside what this probe emits.
pub fn decode(pdu: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let mut top = Reader::new(pdu);
    let mut r = top.nested(Tag::SEQUENCE)?;
    top.finish()?;
    let (liid, cin, sequence, timestamp_ns) = read_header(&mut r.nested(Tag::ctx_cons(1))?)?;
    let mut payload = r.nested(Tag::ctx_cons(2))?;
    r.finish()?;
    let (tag, body) = payload.tlv()?;
    payload.finish()?;
    let mut body = Reader::new(body);
    let kind = match tag {
        t if t == Tag::ctx_cons(0) => {
            let mut iri = body.nested(Tag::SEQUENCE)?;
            body.finish()?;
            read_iri(&mut iri)?
        }
        t if t == Tag::ctx_cons(1) => {
            let mut cc = body.nested(Tag::SEQUENCE)?;
            body.finish()?;
            read_cc(&mut cc)?
        }
        t if t == Tag::ctx_cons(2) => {
            let (t, v) = body.tlv()?;
            body.finish()?;
            if !v.is_empty() {
                return Err(DecodeError::Invalid("NULL"));
            }
            match t {
                t if t == Tag::ctx(3) => DecodedKind::Keepalive,
                t if t == Tag::ctx(4) => DecodedKind::KeepaliveAck,
                _ => return Err(DecodeError::Unsupported("TRIPayload")),
            }
        }
        _ => return Err(DecodeError::Unsupported("Payload")),
    };
    Ok(Decoded {
        liid_or_xid: Cow::Borrowed(liid),
        cin: u64::from(cin),
        sequence,
        timestamp_ns,
        kind,
    })
}

fn read_header<'a>(r: &mut Reader<'a>) -> Result<(&'a str, u32, u32, u64), DecodeError> {
    // {0 4 0 2 2 5 1}: the first two arcs share one octet; every arc is < 128.
    if !ber::oid_starts_with(r.expect(Tag::ctx(0))?, &LI_PS_DOMAIN_PREFIX)? {
        return Err(DecodeError::Invalid("li-psDomainId"));
    }
    let liid = r.expect(Tag::ctx(1))?;
    let liid = std::str::from_utf8(liid).map_err(|_| DecodeError::Invalid("LIID"))?;
    if let Some(cc) = r.optional(Tag::ctx(2))? {
        ber::decode_printable(cc)?;
    }
    let mut ci = r.nested(Tag::ctx_cons(3))?;
    ci.nested(Tag::ctx_cons(0))?;
    let cin = ci
        .optional(Tag::ctx(1))?
        .map(ber::decode_u32)
        .transpose()?
        .unwrap_or(0);
    ci.skip_rest()?;
    let sequence = ber::decode_u32(r.expect(Tag::ctx(4))?)?;
    let mut ts = r
        .optional(Tag::ctx(5))?
        .map(ber::parse_generalized_time)
        .transpose()?
        .unwrap_or(0);
    r.optional(Tag::ctx(6))?;
    if let Some(us) = r.optional(Tag::ctx_cons(7))? {
        let mut us = Reader::new(us);
        let secs = ber::decode_uint(us.expect(Tag::ctx(0))?)?;
        let micros = ber::decode_uint(us.expect(Tag::ctx(1))?)?;
        us.skip_rest()?;
        if micros > 999_999 {
            return Err(DecodeError::Invalid("microSeconds"));
        }
        ts = secs
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(micros * 1000))
            .ok_or(DecodeError::Invalid("seconds"))?;
    }
    r.skip_rest()?;
    Ok((liid, cin, sequence, ts))
}

fn read_cc<'a>(cc: &mut Reader<'a>) -> Result<DecodedKind<'a>, DecodeError> {
    let direction = match cc.optional(Tag::ctx(0))? {
        Some(d) => direction_from_code(ber::decode_u32(d)?)?,
        None => {
            return Err(DecodeError::Unsupported(
                "CCPayload without payloadDirection",
            ))
        }
    };
    cc.optional(Tag::ctx(1))?;
    let mut contents = cc.nested(Tag::ctx_cons(2))?;
    cc.skip_rest()?;
    let mut ipcc = contents.nested(Tag::ctx_cons(2))?;
    contents.finish()?;
    if !ber::oid_starts_with(ipcc.expect(Tag::ctx(0))?, &IP_ACCESS_PREFIX)? {
        return Err(DecodeError::Invalid("iPCCObjId"));
    }
    let mut ipc = ipcc.nested(Tag::ctx_cons(1))?;
    ipcc.finish()?;
    let packet = ipc.expect(Tag::ctx(0))?;
    ipc.finish()?;
    Ok(DecodedKind::Content {
        ip_packet: packet,
        direction,
    })
}

fn enum_name(v: u32, names: &[(u32, &str)]) -> Value {
    names
        .iter()
        .find(|(n, _)| *n == v)
        .map_or_else(|| json!(v), |(_, s)| json!(s))
}

fn time_string(ns: u64) -> String {
    let mut v = Vec::with_capacity(21);
    Writer::new(&mut v).generalized_time(Tag::GENERALIZED_TIME, ns);
    String::from_utf8_lossy(v.get(2..).unwrap_or_default()).into_owned()
}

fn ip_from(v: &[u8]) -> Result<IpAddr, DecodeError> {
    match v.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(v).map_err(|_| DecodeError::Invalid("address"))?,
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(v).map_err(|_| DecodeError::Invalid("address"))?,
        )),
        _ => Err(DecodeError::Invalid("address")),
    }
}

fn read_iri(iri: &mut Reader<'_>) -> Result<DecodedKind<'static>, DecodeError> {
    let iri_type = iri
        .optional(Tag::ctx(0))?
        .map(ber::decode_u32)
        .transpose()?;
    let mut obj = Map::new();
    if let Some(t) = iri_type {
        obj.insert(
            "iRIType".into(),
            enum_name(
                t,
                &[
                    (1, "iRI-Begin"),
                    (2, "iRI-End"),
                    (3, "iRI-Continue"),
                    (4, "iRI-Report"),
                ],
            ),
        );
    }
    if let Some(t) = iri.optional(Tag::ctx(1))? {
        obj.insert(
            "timeStamp".into(),
            json!(time_string(ber::parse_generalized_time(t)?)),
        );
    }
    let mut contents = iri.nested(Tag::ctx_cons(2))?;
    let (tag, body) = contents.tlv()?;
    contents.finish()?;
    let mut body = Reader::new(body);
    let mut headers = None;
    match tag {
        t if t == Tag::ctx_cons(2) => read_ipiri(&mut body, &mut obj)?,
        t if t == Tag::ctx_cons(3) => {
            let only = IriOnly::read(&mut body)?;
            only.to_json(&mut obj)?;
            headers = Some(only.rebuild()?);
        }
        _ => return Err(DecodeError::Unsupported("IRIContents")),
    }
    let mut direction = None;
    while let Some(t) = iri.peek_tag() {
        let v = iri.tlv()?.1;
        let name = match t.number {
            5 if !t.constructed => "sessionDirection",
            6 if !t.constructed => "payloadDirection",
            _ => continue,
        };
        let code = ber::decode_u32(v)?;
        if name == "payloadDirection" {
            direction = Some(code);
        }
        obj.insert(
            name.into(),
            enum_name(
                code,
                &[
                    (0, "fromTarget"),
                    (1, "toTarget"),
                    (2, "indeterminate"),
                    (3, "combined"),
                    (4, "notapplicable"),
                ],
            ),
        );
    }
    match headers {
        Some((ip_headers, wire_len)) => Ok(DecodedKind::HeaderReport {
            ip_headers: Cow::Owned(ip_headers),
            wire_len,
            direction: direction
                .map(direction_from_code)
                .transpose()?
                .ok_or(DecodeError::Unsupported("report without payloadDirection"))?,
            report: Some(Value::Object(obj)),
        }),
        None => Ok(DecodedKind::Iri(Value::Object(obj))),
    }
}

fn read_ip_address(v: &[u8]) -> Result<IpAddr, DecodeError> {
    let mut r = Reader::new(v);
    r.expect(Tag::ctx(1))?;
    let mut value = r.nested(Tag::ctx_cons(2))?;
    let a = ip_from(value.expect(Tag::ctx(1))?)?;
    value.finish()?;
    r.skip_rest()?;
    Ok(a)
}

fn read_ipiri(r: &mut Reader<'_>, obj: &mut Map<String, Value>) -> Result<(), DecodeError> {
    if !ber::oid_starts_with(r.expect(Tag::ctx(0))?, &IP_ACCESS_PREFIX)? {
        return Err(DecodeError::Invalid("iPIRIObjId"));
    }
    let mut c = r.nested(Tag::ctx_cons(1))?;
    r.skip_rest()?;
    let event = ber::decode_u32(c.expect(Tag::ctx(0))?)?;
    obj.insert(
        "accessEventType".into(),
        enum_name(
            event,
            &[
                (7, "startOfInterceptionWithSessionActive"),
                (9, "endOfInterceptionWithSessionActive"),
            ],
        ),
    );
    let user = c.expect(Tag::ctx(1))?;
    obj.insert(
        "targetUsername".into(),
        json!(String::from_utf8_lossy(user)),
    );
    obj.insert(
        "internetAccessType".into(),
        json!(ber::decode_u32(c.expect(Tag::ctx(2))?)?),
    );
    let version = ber::decode_u32(c.expect(Tag::ctx(3))?)?;
    obj.insert(
        "iPVersion".into(),
        enum_name(version, &[(1, "iPV4"), (2, "iPV6"), (3, "iPV4andV6")]),
    );
    while let Some(t) = c.peek_tag() {
        let v = c.tlv()?.1;
        match (t.number, t.constructed) {
            (4, true) => {
                obj.insert(
                    "targetIPAddress".into(),
                    json!(read_ip_address(v)?.to_string()),
                );
            }
            (10, false) => {
                obj.insert(
                    "startTime".into(),
                    json!(time_string(ber::parse_generalized_time(v)?)),
                );
            }
            (11, false) => {
                obj.insert(
                    "endTime".into(),
                    json!(time_string(ber::parse_generalized_time(v)?)),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

const V4_FIELDS: [&str; 11] = [
    "headerLength",
    "typeOfService",
    "totalLength",
    "identification",
    "fragment",
    "ttl",
    "protocol",
    "headerChecksum",
    "source",
    "destination",
    "ipOptions",
];
const V6_FIELDS: [&str; 7] = [
    "trafficClass",
    "flowLabel",
    "payloadLength",
    "nextHeader",
    "hopLimit",
    "source",
    "destination",
];
const TCP_FIELDS: [&str; 10] = [
    "sourcePort",
    "destinationPort",
    "sequenceNumber",
    "ackNumber",
    "dataOffset",
    "controlBits",
    "windowSize",
    "checkSum",
    "urgentPointer",
    "tcpOptions",
];
const UDP_FIELDS: [&str; 4] = ["sourcePort", "destinationPort", "length", "checkSum"];
/// IPv6Information.flowLabel is `OCTET STRING (SIZE (20))` as published.
const FLOW_LABEL_OCTETS: usize = 20;

/// ProtocolInformation alternatives (context tags).
const PROTO_NONE: u32 = 0;
const PROTO_TCP: u32 = 1;
const PROTO_UDP: u32 = 2;

/// An IPIRIOnly as received: each header field's contents octets, by tag.
struct IriOnly<'a> {
    v6: bool,
    ip: [Option<&'a [u8]>; 11],
    transport: u32,
    l4: [Option<&'a [u8]>; 10],
    packets: Option<u64>,
    bytes: Option<u64>,
}

/// Big-endian unsigned value of an OCTET STRING of up to 8 significant octets.
fn be(v: &[u8]) -> Result<u64, DecodeError> {
    let lead = v.iter().take_while(|&&b| b == 0).count();
    if v.len() - lead > 8 {
        return Err(DecodeError::Invalid("header field value"));
    }
    Ok(v.iter().fold(0u64, |a, &b| a << 8 | u64::from(b)))
}

/// The single data octet of a BIT STRING of at most 8 bits, right-aligned.
fn bits(v: &[u8]) -> Result<u8, DecodeError> {
    match *v {
        [unused, b] if unused < 8 => Ok(b >> unused),
        _ => Err(DecodeError::Invalid("BIT STRING")),
    }
}

fn fields<'a, const N: usize>(r: &mut Reader<'a>) -> Result<[Option<&'a [u8]>; N], DecodeError> {
    let mut f = [None; N];
    while let Some(t) = r.peek_tag() {
        let v = r.tlv()?.1;
        if let Some(slot) = f.get_mut(t.number as usize) {
            *slot = Some(v);
        }
    }
    Ok(f)
}

impl<'a> IriOnly<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        if !ber::oid_starts_with(r.expect(Tag::ctx(0))?, &IP_ACCESS_PREFIX)? {
            return Err(DecodeError::Invalid("iPIRIOnlyObjId"));
        }
        let mut info = r.nested(Tag::ctx_cons(1))?;
        let (t, v) = info.tlv()?;
        info.finish()?;
        let v6 = match t {
            t if t == Tag::ctx_cons(0) => false,
            t if t == Tag::ctx_cons(1) => true,
            _ => return Err(DecodeError::Unsupported("IPInformation")),
        };
        let ip = fields(&mut Reader::new(v))?;
        let mut proto = r.nested(Tag::ctx_cons(2))?;
        let (pt, pv) = proto.tlv()?;
        proto.finish()?;
        let (transport, l4) = match pt {
            t if t == Tag::ctx(PROTO_NONE) && pv.is_empty() => (PROTO_NONE, [None; 10]),
            t if t == Tag::ctx_cons(PROTO_TCP) || t == Tag::ctx_cons(PROTO_UDP) => {
                (t.number, fields(&mut Reader::new(pv))?)
            }
            _ => return Err(DecodeError::Unsupported("ProtocolInformation")),
        };
        let packets = r.optional(Tag::ctx(3))?.map(ber::decode_uint).transpose()?;
        let bytes = r.optional(Tag::ctx(4))?.map(ber::decode_uint).transpose()?;
        r.skip_rest()?;
        Ok(IriOnly {
            v6,
            ip,
            transport,
            l4,
            packets,
            bytes,
        })
    }

    fn to_json(&self, obj: &mut Map<String, Value>) -> Result<(), DecodeError> {
        obj.insert("report".into(), json!("packetHeader"));
        obj.insert("iPVersion".into(), json!(if self.v6 { 6 } else { 4 }));
        let names: &[&str] = if self.v6 { &V6_FIELDS } else { &V4_FIELDS };
        for (name, v) in names.iter().zip(&self.ip) {
            let Some(v) = v else { continue };
            let value = match *name {
                "source" | "destination" => json!(ip_from(v)?.to_string()),
                "ipOptions" => json!(hex::encode(v)),
                _ => json!(be(v)?),
            };
            obj.insert((*name).into(), value);
        }
        let (transport, names): (&str, &[&str]) = match self.transport {
            PROTO_TCP => ("tcp", &TCP_FIELDS),
            PROTO_UDP => ("udp", &UDP_FIELDS),
            _ => ("none", &[]),
        };
        obj.insert("transport".into(), json!(transport));
        for (name, v) in names.iter().zip(&self.l4) {
            let Some(v) = v else { continue };
            let value = match *name {
                "tcpOptions" => json!(hex::encode(v)),
                "dataOffset" | "controlBits" => json!(bits(v)?),
                _ => json!(be(v)?),
            };
            obj.insert((*name).into(), value);
        }
        if let Some(n) = self.packets {
            obj.insert("iPAggregatedNbrOfPackets".into(), json!(n));
        }
        if let Some(n) = self.bytes {
            obj.insert("iPAggregatedNbrOfBytes".into(), json!(n));
        }
        Ok(())
    }

    /// Field `i` of `f` as exactly `n` octets (zeros if absent).
    fn exact<const N: usize>(f: &[Option<&[u8]>], i: usize) -> Result<[u8; N], DecodeError> {
        match f.get(i).copied().flatten() {
            None => Ok([0; N]),
            Some(v) => v
                .try_into()
                .map_err(|_| DecodeError::Invalid("header field size")),
        }
    }

    /// Field `i` of `f` as a value of at most `max`, big-endian in any size (0 if absent).
    fn value(f: &[Option<&[u8]>], i: usize, max: u64) -> Result<u64, DecodeError> {
        let v = f
            .get(i)
            .copied()
            .flatten()
            .map(be)
            .transpose()?
            .unwrap_or(0);
        if v > max {
            return Err(DecodeError::Invalid("header field value"));
        }
        Ok(v)
    }

    fn options<'f>(f: &[Option<&'f [u8]>], i: usize) -> Result<&'f [u8], DecodeError> {
        let o = f.get(i).copied().flatten().unwrap_or_default();
        if o.len() > 40 {
            return Err(DecodeError::Invalid("options"));
        }
        Ok(o)
    }

    /// Rebuilds the header octets the report describes, and the original IP
    /// length (iPAggregatedNbrOfBytes, else the IP header's own length field).
    ///
    /// Exact for IPv4 with TCP/UDP, except what IPIRIOnly has no field for: the
    /// TCP reserved bits, NS, CWR and ECE (controlBits is URG..FIN only) are
    /// rebuilt as 0. IPv6 extension headers are not carried: the rebuilt IPv6
    /// header is followed directly by the transport header and its nextHeader
    /// names that transport. ICMP headers (protocolInformation `none`) are not
    /// carried: the IP header alone is rebuilt.
    fn rebuild(&self) -> Result<(Vec<u8>, u32), DecodeError> {
        let mut h = Vec::with_capacity(120);
        let ip = &self.ip;
        let next = match self.transport {
            PROTO_TCP => Some(6),
            PROTO_UDP => Some(17),
            _ => None,
        };
        let stated = if self.v6 {
            let tc = Self::value(ip, 0, 0xff)? as u32;
            let flow = Self::value(ip, 1, 0xf_ffff)? as u32;
            let payload = Self::value(ip, 2, 0xffff)?;
            h.extend_from_slice(&(6 << 28 | tc << 20 | flow).to_be_bytes());
            h.extend_from_slice(&(payload as u16).to_be_bytes());
            h.push(next.unwrap_or(Self::exact::<1>(ip, 3)?[0]));
            h.extend_from_slice(&Self::exact::<1>(ip, 4)?);
            h.extend_from_slice(&Self::exact::<16>(ip, 5)?);
            h.extend_from_slice(&Self::exact::<16>(ip, 6)?);
            40 + payload
        } else {
            let options = Self::options(ip, 10)?;
            let ihl = match ip[0] {
                Some(_) => Self::value(ip, 0, 15)? as u8,
                None => (5 + options.len() / 4) as u8,
            };
            h.push(0x40 | ihl);
            h.extend_from_slice(&Self::exact::<1>(ip, 1)?);
            let total = Self::exact::<2>(ip, 2)?;
            h.extend_from_slice(&total);
            h.extend_from_slice(&Self::exact::<2>(ip, 3)?);
            h.extend_from_slice(&Self::exact::<2>(ip, 4)?);
            h.extend_from_slice(&Self::exact::<1>(ip, 5)?);
            h.extend_from_slice(&Self::exact::<1>(ip, 6)?);
            h.extend_from_slice(&Self::exact::<2>(ip, 7)?);
            h.extend_from_slice(&Self::exact::<4>(ip, 8)?);
            h.extend_from_slice(&Self::exact::<4>(ip, 9)?);
            h.extend_from_slice(options);
            u64::from(u16::from_be_bytes(total))
        };
        let l4 = &self.l4;
        match self.transport {
            PROTO_TCP => {
                let options = Self::options(l4, 9)?;
                h.extend_from_slice(&Self::exact::<2>(l4, 0)?);
                h.extend_from_slice(&Self::exact::<2>(l4, 1)?);
                h.extend_from_slice(&Self::exact::<4>(l4, 2)?);
                h.extend_from_slice(&Self::exact::<4>(l4, 3)?);
                let offset = match l4[4] {
                    Some(v) => bits(v)?,
                    None => (5 + options.len() / 4) as u8,
                };
                let flags = l4[5].map(bits).transpose()?.unwrap_or(0);
                h.extend_from_slice(&[offset << 4, flags & 0x3f]);
                h.extend_from_slice(&Self::exact::<2>(l4, 6)?);
                h.extend_from_slice(&Self::exact::<2>(l4, 7)?);
                h.extend_from_slice(&Self::exact::<2>(l4, 8)?);
                h.extend_from_slice(options);
            }
            PROTO_UDP => {
                for i in 0..4 {
                    h.extend_from_slice(&Self::exact::<2>(l4, i)?);
                }
            }
            _ => {}
        }
        let len = u32::try_from(self.bytes.unwrap_or(stated))
            .map_err(|_| DecodeError::Invalid("iPAggregatedNbrOfBytes"))?;
        Ok((h, len))
    }
}

/// The IPv4/IPv6 address of a decoded IRI JSON field, if present and valid.
pub fn json_ip(v: &Value, field: &str) -> Option<IpAddr> {
    v.get(field)?.as_str()?.parse().ok()
}

#[cfg(test)]
mod test {
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
            0x46, 0xb8, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00, 0x3f, 6, 0xab, 0xcd, 10, 0, 0, 1, 10,
            0, 0, 2, 0x94, 0x04, 0x00, 0x00,
        ]);
        h[24..44].copy_from_slice(&[
            0x30, 0x39, 0x00, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x18, 0xff, 0xee, 0x12, 0x21,
            0x00, 0x07,
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
}
