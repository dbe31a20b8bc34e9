//! ETSI TS 102 232-1 PS-PDU (LI-PS-PDU version35, BER, IMPLICIT TAGS) carrying
//! ETSI TS 102 232-3 IP access contents (IPAccessPDU version15).
//!
//! - Content → `cCPayloadSequence { CCPayload { payloadDirection, cCContents iPCC
//!   { iPCCObjId, iPCCContents iPPackets } } }`.
//! - Begin/End → `iRIPayloadSequence { IRIPayload { iRIType begin/end, iRIContents
//!   iPIRI { accessEventType startOf/endOfInterceptionWithSessionActive, ... } } }`.
//! - Session → `iRIPayloadSequence { IRIPayload { iRIType, iRIContents iPIRI
//!   { accessEventType, targetUsername, targetIPAddress, ... } } }` (see `session`).
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
//! - Sip / Media → TS 102 232-5 IPMMIRI / IPMMCC (see `ipmm`).
//! - Keepalive / KeepaliveAck → `tRIPayload keep-alive / keep-aliveResponse`.
//!
//! See scripts/asn1/README.md for the provenance of every ASN.1 type used.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::ber::{self, Reader, Tag, Writer};
use super::ipheader::{self, Layer, L4};
use super::pdu::{
    DecodeError, Decoded, DecodedKind, Direction, EncodeError, Encoder, Event, Identity, PduHeader,
    ProbeId,
};

mod cc;
mod decode;
mod ipmm;
mod iri;
mod iri_only;
mod session;
#[cfg(test)]
mod tests;

use cc::{read_cc, write_cc};
pub use decode::{decode, decode_next};
use ipmm::{write_ipmmcc, write_ipmmiri};
pub use ipmm::{IPMMCC_OBJ_ID, IPMMIRI_OBJ_ID};
use iri::{read_iri, write_ipiri};
use iri_only::{report_of, write_header_report, IriOnly};
pub use session::access_event;
use session::write_session_ipiri;

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

fn check_liid(liid: &str) -> Result<(), EncodeError> {
    check_size("lawfulInterceptionIdentifier", liid.len(), 1, 25)
}

/// Checks what every PS-PDU header carries of the probe's identity.
pub(crate) fn check_identity(id: &Identity) -> Result<(), EncodeError> {
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
    Ok(())
}

/// The PSHeader fields that are the same for every PDU of a route, encoded
/// and checked once: li-psDomainId, the LIID, the authorization country code
/// and the networkIdentifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteHeader {
    /// li-psDomainId, lawfulInterceptionIdentifier, authorizationCountryCode.
    lead: Vec<u8>,
    /// networkIdentifier.
    network: Vec<u8>,
    /// deliveryCountryCode.
    country: Vec<u8>,
}

impl RouteHeader {
    /// The header of `liid`'s PDUs sent by `probe`.
    ///
    /// # Errors
    /// [`EncodeError::FieldSize`]: the LIID is not 1 to 25 octets.
    pub fn new(liid: &str, probe: &ProbeId) -> Result<Self, EncodeError> {
        Self::checked(liid, probe.identity())
    }

    /// As [`RouteHeader::new`], for an identity [`check_identity`] passed.
    fn checked(liid: &str, id: &Identity) -> Result<Self, EncodeError> {
        check_liid(liid)?;
        let mut lead = Vec::with_capacity(16 + liid.len());
        let mut w = Writer::new(&mut lead);
        let _ = w.oid(Tag::ctx(0), &LI_PS_DOMAIN_ID);
        w.primitive(Tag::ctx(1), liid.as_bytes());
        w.primitive(Tag::ctx(2), id.country_code.as_bytes());
        let mut network = Vec::with_capacity(36);
        let mut w = Writer::new(&mut network);
        let ni = w.open(Tag::ctx_cons(0), 20);
        w.primitive(Tag::ctx(0), id.operator_id.as_bytes());
        w.primitive(Tag::ctx(1), id.network_element_id.as_bytes());
        w.close(ni);
        let mut country = Vec::with_capacity(4);
        Writer::new(&mut country).primitive(Tag::ctx(2), id.country_code.as_bytes());
        Ok(RouteHeader {
            lead,
            network,
            country,
        })
    }
}

fn write_header(w: &mut Writer<'_>, pre: &RouteHeader, h: &PduHeader<'_>) {
    let ph = w.open(Tag::ctx_cons(1), 120);
    w.encoded(&pre.lead);
    let ci = w.open(Tag::ctx_cons(3), 40);
    w.encoded(&pre.network);
    w.uint(Tag::ctx(1), u64::from(h.cin));
    w.encoded(&pre.country);
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

impl Encoder for PsPduEncoder {
    fn encode(
        &self,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        check_liid(h.liid)?;
        check_identity(h.identity)?;
        let pre = RouteHeader::checked(h.liid, h.identity)?;
        self.encode_routed(&pre, h, e, out)
    }
}

impl PsPduEncoder {
    /// [`Encoder::encode`] with the route's header fields encoded before;
    /// `h`'s LIID and identity are not looked at.
    ///
    /// # Errors
    /// As [`Encoder::encode`], but for the header fields.
    pub fn encode_routed(
        &self,
        pre: &RouteHeader,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
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
            Event::Session(r) => 240 + r.message.as_ref().map_or(0, |(_, m)| m.len()),
            Event::Sip(r) => 100 + r.message.len(),
            Event::Media { ip_packet, .. } => ip_packet.len() + 30,
            _ => 120,
        };
        out.reserve(body_hint + 150);
        let mut w = Writer::new(out);
        let pdu = w.open(Tag::SEQUENCE, body_hint + 140);
        write_header(&mut w, pre, h);
        let payload = w.open(Tag::ctx_cons(2), body_hint + 4);
        match e {
            Event::Content {
                ip_packet,
                direction,
            } => write_cc(&mut w, ip_packet, *direction),
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
            Event::Session(r) => {
                let seq = w.open(Tag::ctx_cons(0), body_hint);
                write_session_ipiri(&mut w, r);
                w.close(seq);
            }
            Event::Sip(r) => {
                let seq = w.open(Tag::ctx_cons(0), body_hint);
                write_ipmmiri(&mut w, r);
                w.close(seq);
            }
            Event::Media {
                ip_packet,
                direction,
                ..
            } => write_ipmmcc(&mut w, ip_packet, *direction),
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

/// Appends the BER `IRIPayload` of a Begin, End, Session or HeaderReport event (the X2
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
        Event::Session(r) => write_session_ipiri(&mut Writer::new(out), r),
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
pub(crate) fn decode_iri_payload(bytes: &[u8]) -> Result<DecodedKind<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut iri = r.nested(Tag::SEQUENCE)?;
    r.finish()?;
    read_iri(&mut iri)
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

pub(crate) fn ip_from(v: &[u8]) -> Result<IpAddr, DecodeError> {
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

/// The IPv4/IPv6 address of a decoded IRI JSON field, if present and valid.
pub fn json_ip(v: &Value, field: &str) -> Option<IpAddr> {
    v.get(field)?.as_str()?.parse().ok()
}
