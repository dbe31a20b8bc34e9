//! IPIRI (TS 102 232-3 IPIRIContents): Begin/End of interception; the decoder
//! also reads the session IPIRI of [`super::session`].

use super::ipmm::{read_ipmmiri, IPMMIRI_TAG};
use super::*;

/// iP-assignment notKnown.
const IP_NOT_KNOWN: u32 = 3;

/// An `IPAddress`: `assignment` is iP-assignment (static 1, dynamic 2, notKnown
/// 3); a prefix is the address with iPv6PrefixLength or iPv4SubnetMask.
pub(super) fn write_ip_address(
    w: &mut Writer<'_>,
    tag: Tag,
    a: IpAddr,
    assignment: Option<u32>,
    prefix: Option<u8>,
) {
    let mut buf = [0u8; 16];
    let o = w.open(tag, 30);
    w.enumerated(Tag::ctx(1), u32::from(a.is_ipv6()));
    let v = w.open(Tag::ctx_cons(2), 18);
    w.primitive(Tag::ctx(1), ip_octets(a, &mut buf));
    w.close(v);
    if let Some(assignment) = assignment {
        w.enumerated(Tag::ctx(3), assignment);
    }
    match (a, prefix) {
        (IpAddr::V6(_), Some(len)) => w.uint(Tag::ctx(4), u64::from(len)),
        (IpAddr::V4(_), Some(len)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            w.primitive(Tag::ctx(5), &mask.to_be_bytes());
        }
        (_, None) => {}
    }
    w.close(o);
}

pub(super) fn write_ipiri(w: &mut Writer<'_>, begin: bool, target: Option<IpAddr>, at_ns: u64) {
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
        write_ip_address(w, Tag::ctx_cons(4), t, Some(IP_NOT_KNOWN), None);
    }
    w.generalized_time(Tag::ctx(if begin { 10 } else { 11 }), at_ns);
    w.close(c);
    w.close(ipiri);
    w.close(contents);
    w.close(iri);
}

pub(super) fn read_iri<'a>(iri: &mut Reader<'a>) -> Result<DecodedKind<'a>, DecodeError> {
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
        t if t == Tag::ctx_cons(IPMMIRI_TAG) => {
            let sip = read_ipmmiri(&mut body)?;
            iri.skip_rest()?;
            return Ok(sip);
        }
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

/// The address of an `IPAddress` (`r` at its iP-type), read up to its iP-value.
pub(super) fn read_ip_value(r: &mut Reader<'_>) -> Result<IpAddr, DecodeError> {
    r.expect(Tag::ctx(1))?;
    let mut value = r.nested(Tag::ctx_cons(2))?;
    let a = ip_from(value.expect(Tag::ctx(1))?)?;
    value.finish()?;
    Ok(a)
}

/// Inserts an `IPAddress` as `{name}` (the address), `{name}Assignment` and
/// `{name}PrefixLength` (from iPv6PrefixLength or iPv4SubnetMask).
fn read_ip_address(v: &[u8], name: &str, obj: &mut Map<String, Value>) -> Result<(), DecodeError> {
    let mut r = Reader::new(v);
    let a = read_ip_value(&mut r)?;
    obj.insert(name.into(), json!(a.to_string()));
    if let Some(v) = r.optional(Tag::ctx(3))? {
        let names = [(1, "static"), (2, "dynamic"), (3, "notKnown")];
        let assignment = enum_name(ber::decode_u32(v)?, &names);
        obj.insert(format!("{name}Assignment"), assignment);
    }
    let prefix = match (r.optional(Tag::ctx(4))?, r.optional(Tag::ctx(5))?) {
        (Some(len), _) => Some(ber::decode_u32(len)?),
        (None, Some(mask)) => {
            let mask =
                <[u8; 4]>::try_from(mask).map_err(|_| DecodeError::Invalid("iPv4SubnetMask"))?;
            Some(u32::from_be_bytes(mask).leading_ones())
        }
        (None, None) => None,
    };
    if let Some(len) = prefix {
        obj.insert(format!("{name}PrefixLength"), json!(len));
    }
    r.skip_rest()?;
    Ok(())
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
                (0, "accessAttempt"),
                (1, "accessAccept"),
                (2, "accessReject"),
                (3, "accessFailed"),
                (4, "sessionStart"),
                (5, "sessionEnd"),
                (6, "interimUpdate"),
                (7, "startOfInterceptionWithSessionActive"),
                (8, "accessEnd"),
                (9, "endOfInterceptionWithSessionActive"),
                (10, "unknown"),
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
            (4, true) => read_ip_address(v, "targetIPAddress", obj)?,
            (19, true) => read_ip_address(v, "pOPIPAddress", obj)?,
            (21, true) => read_ip_address(v, "additionalIPAddress", obj)?,
            (5, false) => {
                let id =
                    std::str::from_utf8(v).map_err(|_| DecodeError::Invalid("targetNetworkID"))?;
                obj.insert("targetNetworkID".into(), json!(id));
            }
            (12, false) => {
                let names = [
                    (0, "undefined"),
                    (1, "regularLogoff"),
                    (2, "connectionLoss"),
                    (3, "connectionTimeout"),
                    (4, "leaseExpired"),
                ];
                obj.insert("endReason".into(), enum_name(ber::decode_u32(v)?, &names));
            }
            (15, false) => {
                obj.insert("rawAAAData".into(), json!(hex::encode(v)));
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
