//! IPIRI: Begin/End of interception (TS 102 232-3 IPIRIContents).

use super::*;

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
        write_target_address(w, Tag::ctx_cons(4), t);
    }
    w.generalized_time(Tag::ctx(if begin { 10 } else { 11 }), at_ns);
    w.close(c);
    w.close(ipiri);
    w.close(contents);
    w.close(iri);
}

pub(super) fn read_iri(iri: &mut Reader<'_>) -> Result<DecodedKind<'static>, DecodeError> {
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
