//! CC: IPCC content of communication.

use super::*;

use super::ipmm::{read_ipmmcc, IPMMCC_TAG};

/// `cCPayloadSequence { CCPayload { payloadDirection, cCContents {...} } }`,
/// the CCContents alternative written by `contents` (about `hint` octets).
pub(super) fn cc_payload(
    w: &mut Writer<'_>,
    direction: Direction,
    hint: usize,
    contents: impl FnOnce(&mut Writer<'_>),
) {
    let seq = w.open(Tag::ctx_cons(1), hint + 8);
    let cc = w.open(Tag::SEQUENCE, hint + 6);
    w.enumerated(Tag::ctx(0), direction_code(direction));
    let choice = w.open(Tag::ctx_cons(2), hint);
    contents(w);
    w.close(choice);
    w.close(cc);
    w.close(seq);
}

/// `cCPayloadSequence { CCPayload { payloadDirection, cCContents iPCC {...} } }`.
pub(super) fn write_cc(w: &mut Writer<'_>, ip_packet: &[u8], direction: Direction) {
    cc_payload(w, direction, ip_packet.len() + 12, |w| {
        let ipcc = w.open(Tag::ctx_cons(2), ip_packet.len() + 10);
        w.relative_oid(Tag::ctx(0), &IPCC_OBJ_ID);
        let ipc = w.open(Tag::ctx_cons(1), ip_packet.len() + 4);
        w.primitive(Tag::ctx(0), ip_packet);
        w.close(ipc);
        w.close(ipcc);
    });
}

pub(super) fn read_cc<'a>(cc: &mut Reader<'a>) -> Result<DecodedKind<'a>, DecodeError> {
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
    let (tag, body) = contents.tlv()?;
    contents.finish()?;
    let mut body = Reader::new(body);
    if tag == Tag::ctx_cons(IPMMCC_TAG) {
        return read_ipmmcc(&mut body, direction);
    }
    if tag != Tag::ctx_cons(2) {
        return Err(DecodeError::Unsupported("CCContents"));
    }
    let mut ipcc = body;
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
