//! IP multimedia (TS 102 232-5 IPMultimediaPDU version16, the version
//! LI-PS-PDU version35 imports): a call's SIP messages as HI2 IPMMIRI, its RTP
//! as HI3 IPMMCC. The PS-PDU header's communicationIdentityNumber is the call's.
//!
//! - Sip → `IRIPayload { iRIType iRI-Report, iRIContents iPMMIRI { iPMMIRIObjId,
//!   iPMMIRIContents sIPMessage { iPSourceAddress, iPDestinationAddress,
//!   sIPContent } } }`. `SIPMessage` has addresses but no ports; the message's
//!   octets are carried whole (a message reassembled from TCP has no single IP
//!   packet, so originalIPMMMessage is not used). iRIType is Report for every
//!   message: which message begins or ends a call is the SIP's own to say.
//! - Media → `CCPayload { payloadDirection, cCContents iPMMCC { iPMMCCObjId,
//!   mMCCContents, frameType ipFrame, mMCCprotocol rTP } }`: the IP packet
//!   that carried the RTP, so the CC keeps its addresses and ports (rtpFrame
//!   would carry the RTP alone, with neither).

use std::net::SocketAddr;

use super::cc::cc_payload;
use super::iri::{read_ip_value, write_ip_address};
use super::*;
use crate::handover::pdu::SipReport;

/// IPMultimediaPDU version16: {li-ps(5) iPMultimedia(5) version16(16)}.
const IP_MULTIMEDIA: [u32; 3] = [5, 5, 16];
/// Contents octets of the IPMultimediaPDU RELATIVE-OIDs up to the version arc.
const IP_MULTIMEDIA_PREFIX: [u8; 2] = [5, 5];
/// iPMMIRIObjId = {iPMultimediaPDU iRI(1)}.
pub const IPMMIRI_OBJ_ID: [u32; 4] = [IP_MULTIMEDIA[0], IP_MULTIMEDIA[1], IP_MULTIMEDIA[2], 1];
/// iPMMCCObjId = {iPMultimediaPDU cC(2)}.
pub const IPMMCC_OBJ_ID: [u32; 4] = [IP_MULTIMEDIA[0], IP_MULTIMEDIA[1], IP_MULTIMEDIA[2], 2];
/// IRIContents.iPMMIRI and CCContents.iPMMCC (LI-PS-PDU version35).
pub(super) const IPMMIRI_TAG: u32 = 11;
pub(super) const IPMMCC_TAG: u32 = 12;
/// IPMMIRIContents.sIPMessage.
const SIP_MESSAGE: u32 = 1;
/// FrameType ipFrame; MMCCprotocol rTP.
const IP_FRAME: u32 = 0;
const RTP: u32 = 0;
/// IPv6 extension headers that may precede UDP in a media packet (hop-by-hop,
/// routing, destination options), and how many are walked at most.
const IPV6_EXTENSIONS: [u8; 3] = [0, 43, 60];
const MAX_EXTENSIONS: usize = 8;

/// `IRIPayload` with the IPMMIRI of one SIP message.
pub(super) fn write_ipmmiri(w: &mut Writer<'_>, r: &SipReport) {
    let hint = r.message.len() + 80;
    let iri = w.open(Tag::SEQUENCE, hint + 16);
    w.enumerated(Tag::ctx(0), IRI_REPORT);
    let contents = w.open(Tag::ctx_cons(2), hint + 12);
    let ipmm = w.open(Tag::ctx_cons(IPMMIRI_TAG), hint + 10);
    w.relative_oid(Tag::ctx(0), &IPMMIRI_OBJ_ID);
    let choice = w.open(Tag::ctx_cons(1), hint + 4);
    let sip = w.open(Tag::ctx_cons(SIP_MESSAGE), hint);
    write_ip_address(w, Tag::ctx_cons(0), r.src.ip(), None, None);
    write_ip_address(w, Tag::ctx_cons(1), r.dst.ip(), None, None);
    w.primitive(Tag::ctx(2), &r.message);
    w.close(sip);
    w.close(choice);
    w.close(ipmm);
    w.close(contents);
    w.close(iri);
}

/// `cCPayloadSequence` with the IPMMCC of one RTP packet.
pub(super) fn write_ipmmcc(w: &mut Writer<'_>, ip_packet: &[u8], direction: Direction) {
    let n = ip_packet.len();
    cc_payload(w, direction, n + 20, |w| {
        let mm = w.open(Tag::ctx_cons(IPMMCC_TAG), n + 16);
        w.relative_oid(Tag::ctx(0), &IPMMCC_OBJ_ID);
        w.primitive(Tag::ctx(1), ip_packet);
        w.enumerated(Tag::ctx(2), IP_FRAME);
        w.enumerated(Tag::ctx(4), RTP);
        w.close(mm);
    });
}

fn check_obj_id(v: &[u8]) -> Result<(), DecodeError> {
    if ber::oid_starts_with(v, &IP_MULTIMEDIA_PREFIX)? {
        Ok(())
    } else {
        Err(DecodeError::Invalid("IPMultimediaPDU object identifier"))
    }
}

/// The SIP message of an IPMMIRI (the contents of its `[11]`).
pub(super) fn read_ipmmiri<'a>(r: &mut Reader<'a>) -> Result<DecodedKind<'a>, DecodeError> {
    check_obj_id(r.expect(Tag::ctx(0))?)?;
    let mut choice = r.nested(Tag::ctx_cons(1))?;
    r.skip_rest()?;
    let mut sip = choice
        .nested(Tag::ctx_cons(SIP_MESSAGE))
        .map_err(|_| DecodeError::Unsupported("IPMMIRIContents other than sIPMessage"))?;
    choice.finish()?;
    let src = read_ip_value(&mut sip.nested(Tag::ctx_cons(0))?)?;
    let dst = read_ip_value(&mut sip.nested(Tag::ctx_cons(1))?)?;
    let message = sip.expect(Tag::ctx(2))?;
    sip.skip_rest()?;
    Ok(DecodedKind::Sip {
        message: Cow::Borrowed(message),
        src: Some(SocketAddr::new(src, 0)),
        dst: Some(SocketAddr::new(dst, 0)),
    })
}

/// The RTP packet of an IPMMCC (the contents of its `[12]`).
pub(super) fn read_ipmmcc<'a>(
    r: &mut Reader<'a>,
    direction: Direction,
) -> Result<DecodedKind<'a>, DecodeError> {
    check_obj_id(r.expect(Tag::ctx(0))?)?;
    let contents = r.expect(Tag::ctx(1))?;
    let frame = ber::decode_u32(r.expect(Tag::ctx(2))?)?;
    r.optional(Tag::ctx(3))?;
    let protocol = r.optional(Tag::ctx(4))?.map(ber::decode_u32).transpose()?;
    r.skip_rest()?;
    if frame != IP_FRAME || protocol.is_some_and(|p| p != RTP) {
        return Err(DecodeError::Unsupported(
            "IPMMCC other than RTP in IP frames",
        ));
    }
    let (src, dst, rtp) = udp_of(contents).ok_or(DecodeError::Invalid("IPMMCC IP frame"))?;
    Ok(DecodedKind::Media {
        rtp: Cow::Borrowed(rtp),
        src,
        dst,
        direction,
    })
}

/// The addresses, ports and payload of a UDP datagram in an IP packet (not
/// a fragment; IPv6 extension headers walked).
fn udp_of(p: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let (src, dst, next, at): (IpAddr, IpAddr, u8, usize) = match p.first()? >> 4 {
        4 => {
            let more_or_offset = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
            if more_or_offset != 0 {
                return None;
            }
            let s: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            (s.into(), d.into(), *p.get(9)?, usize::from(p[0] & 0x0f) * 4)
        }
        6 => {
            let s: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let mut next = *p.get(6)?;
            let mut at = 40;
            for _ in 0..MAX_EXTENSIONS {
                if !IPV6_EXTENSIONS.contains(&next) {
                    break;
                }
                next = *p.get(at)?;
                at += (usize::from(*p.get(at + 1)?) + 1) * 8;
            }
            (s.into(), d.into(), next, at)
        }
        _ => return None,
    };
    if next != 17 || at < 20 {
        return None;
    }
    let udp = p.get(at..at + 8)?;
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let rtp = p.get(at + 8..at + len.max(8))?;
    let port = |i: usize| u16::from_be_bytes([udp[i], udp[i + 1]]);
    Some((
        SocketAddr::new(src, port(0)),
        SocketAddr::new(dst, port(2)),
        rtp,
    ))
}
