//! ETSI TS 102 232-1 PS-PDU (LI-PS-PDU version35, BER, IMPLICIT TAGS) carrying
//! ETSI TS 102 232-3 IP access contents (IPAccessPDU version15).
//!
//! - Content → `cCPayloadSequence { CCPayload { payloadDirection, cCContents iPCC
//!   { iPCCObjId, iPCCContents iPPackets } } }`.
//! - Begin/End → `iRIPayloadSequence { IRIPayload { iRIType begin/end, iRIContents
//!   iPIRI { accessEventType startOf/endOfInterceptionWithSessionActive, ... } } }`.
//! - HeaderReport → `IRIPayload { iRIType iRI-Report, iRIContents iPIRIOnly {...},
//!   payloadDirection }`. IPIRIOnly has no field for raw header octets: it carries
//!   the header *fields* (addresses, protocol, TTL/hop limit, ports) and the
//!   original length twice, in the field the IP header provides for it (IPv4
//!   totalLength / IPv6 payloadLength) and in `iPAggregatedNbrOfBytes` (with
//!   `iPAggregatedNbrOfPackets` = 1). The decoder returns it as IRI JSON.
//! - Keepalive / KeepaliveAck → `tRIPayload keep-alive / keep-aliveResponse`.
//!
//! See scripts/asn1/README.md for the provenance of every ASN.1 type used.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::ber::{self, Reader, Tag, Writer};
use super::pdu::{
    DecodeError, Decoded, DecodedKind, Direction, EncodeError, Encoder, Event, PduHeader,
};

/// li-psDomainId of LI-PS-PDU version35: {itu-t(0) identified-organization(4)
/// etsi(0) securityDomain(2) lawfulIntercept(2) li-ps(5) genHeader(1) version35(35)}.
pub const LI_PS_DOMAIN_ID: [u32; 8] = [0, 4, 0, 2, 2, 5, 1, 35];
/// IPAccessPDU version15 (the one LI-PS-PDU version35 imports): {li-ps(5) iPAccess(3) version15(15)}.
const IP_ACCESS: [u32; 3] = [5, 3, 15];
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

/// Header fields of a headers-only report, read from the header octets.
struct HeaderFields {
    v4: bool,
    ttl: u8,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    ports: Option<(u16, u16)>,
}

fn header_fields(e: &Event<'_>) -> Result<HeaderFields, EncodeError> {
    let Event::HeaderReport {
        ip_headers: h,
        flow,
        ..
    } = e
    else {
        return Err(EncodeError::NotIp);
    };
    let (v4, ttl, proto, src, dst, l4) = match h.first().map(|b| b >> 4) {
        Some(4) if h.len() >= 20 => {
            let ihl = usize::from(h[0] & 0x0f) * 4;
            let s: [u8; 4] = h[12..16].try_into().map_err(|_| EncodeError::NotIp)?;
            let d: [u8; 4] = h[16..20].try_into().map_err(|_| EncodeError::NotIp)?;
            (
                true,
                h[8],
                h[9],
                IpAddr::from(s),
                IpAddr::from(d),
                h.get(ihl..),
            )
        }
        Some(6) if h.len() >= 40 => {
            let s: [u8; 16] = h[8..24].try_into().map_err(|_| EncodeError::NotIp)?;
            let d: [u8; 16] = h[24..40].try_into().map_err(|_| EncodeError::NotIp)?;
            (
                false,
                h[7],
                h[6],
                IpAddr::from(s),
                IpAddr::from(d),
                h.get(40..),
            )
        }
        _ => return Err(EncodeError::NotIp),
    };
    let ports = match flow {
        Some(f) if f.proto == 6 || f.proto == 17 => Some((f.src_port, f.dst_port)),
        Some(_) => None,
        None if proto == 6 || proto == 17 => l4.and_then(|l| l.get(..4)).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        }),
        None => None,
    };
    // The transport protocol is the flow's when known (it sees past IPv6 extension headers).
    let proto = flow.map_or(proto, |f| f.proto);
    Ok(HeaderFields {
        v4,
        ttl,
        proto,
        src,
        dst,
        ports,
    })
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

fn write_header_report(w: &mut Writer<'_>, e: &Event<'_>, f: &HeaderFields) {
    let Event::HeaderReport {
        wire_len,
        direction,
        ..
    } = e
    else {
        return;
    };
    let mut buf = [0u8; 16];
    let iri = w.open(Tag::SEQUENCE, 100);
    w.enumerated(Tag::ctx(0), IRI_REPORT);
    let contents = w.open(Tag::ctx_cons(2), 90);
    let only = w.open(Tag::ctx_cons(3), 90);
    w.relative_oid(Tag::ctx(0), &IPIRI_ONLY_OBJ_ID);
    let ipinfo = w.open(Tag::ctx_cons(1), 50);
    if f.v4 {
        let v4 = w.open(Tag::ctx_cons(1), 30);
        w.primitive(Tag::ctx(2), &(*wire_len as u16).to_be_bytes()); // totalLength
        w.primitive(Tag::ctx(5), &[f.ttl]);
        w.primitive(Tag::ctx(6), &[f.proto]);
        w.primitive(Tag::ctx(8), ip_octets(f.src, &mut buf));
        w.primitive(Tag::ctx(9), ip_octets(f.dst, &mut buf));
        w.close(v4);
    } else {
        let v6 = w.open(Tag::ctx_cons(2), 60);
        w.primitive(Tag::ctx(2), &wire_len.saturating_sub(40).to_be_bytes()); // payloadLength, SIZE(4)
        w.primitive(Tag::ctx(3), &[f.proto]);
        w.primitive(Tag::ctx(4), &[f.ttl]);
        w.primitive(Tag::ctx(5), ip_octets(f.src, &mut buf));
        w.primitive(Tag::ctx(6), ip_octets(f.dst, &mut buf));
        w.close(v6);
    }
    w.close(ipinfo);
    let proto = w.open(Tag::ctx_cons(2), 12);
    // TCP → tCPInformation [1]; anything else → uDPInformation [2] (ports only
    // for UDP). The IP-layer protocol field says which transport it really is.
    let alt = w.open(Tag::ctx_cons(if f.proto == 6 { 1 } else { 2 }), 8);
    if let Some((sp, dp)) = f.ports {
        w.primitive(Tag::ctx(0), &sp.to_be_bytes());
        w.primitive(Tag::ctx(1), &dp.to_be_bytes());
    }
    w.close(alt);
    w.close(proto);
    w.uint(Tag::ctx(3), 1);
    w.uint(Tag::ctx(4), u64::from(*wire_len));
    w.close(only);
    w.close(contents);
    w.enumerated(Tag::ctx(6), direction_code(*direction));
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
        let fields = match e {
            Event::HeaderReport { .. } => Some(header_fields(e)?),
            _ => None,
        };
        let body_hint = match e {
            Event::Content { ip_packet, .. } => ip_packet.len() + 20,
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
                let seq = w.open(Tag::ctx_cons(0), 110);
                if let Some(f) = &fields {
                    write_header_report(&mut w, e, f);
                }
                w.close(seq);
            }
            Event::Begin { target, at_ns } | Event::End { target, at_ns } => {
                let seq = w.open(Tag::ctx_cons(0), 90);
                write_ipiri(&mut w, matches!(e, Event::Begin { .. }), *target, *at_ns);
                w.close(seq);
            }
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
            let f = header_fields(e)?;
            write_header_report(&mut Writer::new(out), e, &f);
        }
        _ => return Err(EncodeError::NotIp),
    }
    Ok(())
}

/// Decodes exactly one BER `IRIPayload` to IRI JSON.
///
/// # Errors
/// Invalid BER or trailing bytes.
pub(crate) fn decode_iri_payload(bytes: &[u8]) -> Result<DecodedKind, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut iri = r.nested(Tag::SEQUENCE)?;
    r.finish()?;
    read_iri(&mut iri)
}

/// Splits one PS-PDU off the front of `buf`.
///
/// # Errors
/// Not a valid PS-PDU, or one larger than [`MAX_PDU_LEN`].
pub fn decode_next(buf: &[u8]) -> Result<Option<(Decoded, usize)>, DecodeError> {
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
pub fn decode(pdu: &[u8]) -> Result<Decoded, DecodeError> {
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
        liid_or_xid: liid,
        cin: u64::from(cin),
        sequence,
        timestamp_ns,
        kind,
    })
}

fn read_header(r: &mut Reader<'_>) -> Result<(String, u32, u32, u64), DecodeError> {
    let domain = ber::decode_oid(r.expect(Tag::ctx(0))?)?;
    if domain.get(..7) != Some(&LI_PS_DOMAIN_ID[..7]) {
        return Err(DecodeError::Invalid("li-psDomainId"));
    }
    let liid = r.expect(Tag::ctx(1))?;
    let liid = String::from_utf8(liid.to_vec()).map_err(|_| DecodeError::Invalid("LIID"))?;
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

fn read_cc(cc: &mut Reader<'_>) -> Result<DecodedKind, DecodeError> {
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
    if ber::decode_relative_oid(ipcc.expect(Tag::ctx(0))?)?.get(..2) != Some(&IP_ACCESS[..2]) {
        return Err(DecodeError::Invalid("iPCCObjId"));
    }
    let mut ipc = ipcc.nested(Tag::ctx_cons(1))?;
    ipcc.finish()?;
    let packet = ipc.expect(Tag::ctx(0))?;
    ipc.finish()?;
    Ok(DecodedKind::Content {
        ip_packet: packet.to_vec(),
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

fn read_iri(iri: &mut Reader<'_>) -> Result<DecodedKind, DecodeError> {
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
    match tag {
        t if t == Tag::ctx_cons(2) => read_ipiri(&mut body, &mut obj)?,
        t if t == Tag::ctx_cons(3) => read_ipiri_only(&mut body, &mut obj)?,
        _ => return Err(DecodeError::Unsupported("IRIContents")),
    }
    while let Some(t) = iri.peek_tag() {
        let v = iri.tlv()?.1;
        let name = match t.number {
            5 if !t.constructed => "sessionDirection",
            6 if !t.constructed => "payloadDirection",
            _ => continue,
        };
        obj.insert(
            name.into(),
            enum_name(
                ber::decode_u32(v)?,
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
    Ok(DecodedKind::Iri(Value::Object(obj)))
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
    if ber::decode_relative_oid(r.expect(Tag::ctx(0))?)?.get(..2) != Some(&IP_ACCESS[..2]) {
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

fn read_ipiri_only(r: &mut Reader<'_>, obj: &mut Map<String, Value>) -> Result<(), DecodeError> {
    if ber::decode_relative_oid(r.expect(Tag::ctx(0))?)?.get(..2) != Some(&IP_ACCESS[..2]) {
        return Err(DecodeError::Invalid("iPIRIOnlyObjId"));
    }
    obj.insert("report".into(), json!("packetHeader"));
    let mut info = r.nested(Tag::ctx_cons(1))?;
    let (t, v) = info.tlv()?;
    info.finish()?;
    let mut f = Reader::new(v);
    let byte = |v: &[u8]| {
        v.first()
            .copied()
            .map(u32::from)
            .ok_or(DecodeError::Invalid("octet"))
    };
    let be = |v: &[u8]| v.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
    while let Some(ft) = f.peek_tag() {
        let fv = f.tlv()?.1;
        let (name, value) = match (t.number, ft.number) {
            (1, 2) => ("totalLength", json!(be(fv))),
            (1, 5) => ("ttl", json!(byte(fv)?)),
            (1, 6) => ("protocol", json!(byte(fv)?)),
            (1, 8) | (2, 5) => ("source", json!(ip_from(fv)?.to_string())),
            (1, 9) | (2, 6) => ("destination", json!(ip_from(fv)?.to_string())),
            (2, 2) => ("payloadLength", json!(be(fv))),
            (2, 3) => ("protocol", json!(byte(fv)?)),
            (2, 4) => ("hopLimit", json!(byte(fv)?)),
            _ => continue,
        };
        obj.insert(name.into(), value);
    }
    obj.insert("iPVersion".into(), json!(if t.number == 1 { 4 } else { 6 }));
    let mut proto = r.nested(Tag::ctx_cons(2))?;
    let (pt, pv) = proto.tlv()?;
    proto.finish()?;
    obj.insert(
        "transport".into(),
        json!(if pt.number == 1 { "tcp" } else { "udp" }),
    );
    let mut p = Reader::new(pv);
    while let Some(ft) = p.peek_tag() {
        let fv = p.tlv()?.1;
        match ft.number {
            0 => obj.insert("sourcePort".into(), json!(be(fv))),
            1 => obj.insert("destinationPort".into(), json!(be(fv))),
            _ => None,
        };
    }
    if let Some(n) = r.optional(Tag::ctx(3))? {
        obj.insert(
            "iPAggregatedNbrOfPackets".into(),
            json!(ber::decode_uint(n)?),
        );
    }
    if let Some(n) = r.optional(Tag::ctx(4))? {
        obj.insert("iPAggregatedNbrOfBytes".into(), json!(ber::decode_uint(n)?));
    }
    r.skip_rest()?;
    Ok(())
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
        assert_eq!(
            (d.liid_or_xid.as_str(), d.cin, d.sequence),
            ("LIID-42", 77, 5)
        );
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
                    ip_packet: p.clone(),
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

    #[test]
    fn header_report_carries_fields_and_wire_len() {
        let mut h = vec![0u8; 40];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&1500u16.to_be_bytes());
        h[8] = 64;
        h[9] = 6;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        h[20..24].copy_from_slice(&[0x30, 0x39, 0x00, 0x50]);
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
                wire_len: 1500,
                direction: Direction::FromTarget,
                flow,
            };
            let DecodedKind::Iri(v) = decode(&enc(&e)).unwrap().kind else {
                panic!()
            };
            assert_eq!(v["iRIType"], "iRI-Report");
            assert_eq!(v["totalLength"], 1500);
            assert_eq!(v["iPAggregatedNbrOfBytes"], 1500);
            assert_eq!(v["protocol"], 6);
            assert_eq!(v["sourcePort"], 12345);
            assert_eq!(v["destinationPort"], 80);
            assert_eq!(
                json_ip(&v, "destination"),
                Some(Ipv4Addr::new(10, 0, 0, 2).into())
            );
            assert_eq!(v["payloadDirection"], "fromTarget");
        }
        let v6 = [0x60u8; 40];
        let e = Event::HeaderReport {
            ip_headers: &v6,
            wire_len: 90,
            direction: Direction::Both,
            flow: None,
        };
        let DecodedKind::Iri(v) = decode(&enc(&e)).unwrap().kind else {
            panic!()
        };
        assert_eq!(
            (v["iPVersion"].clone(), v["payloadLength"].clone()),
            (json!(6), json!(50))
        );
        assert_eq!(
            json_ip(&v, "source"),
            Some(Ipv6Addr::from([0x60; 16]).into())
        );
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
