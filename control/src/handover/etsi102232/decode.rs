//! Splitting and decoding a PS-PDU stream.

use super::*;

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
