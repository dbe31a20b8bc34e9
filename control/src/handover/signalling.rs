//! The collector's view of an X2 "RADIUS Packet" / "DHCP Message" payload: the
//! message as hex (what was received, always) and its main fields as JSON, for
//! reading. A message that does not parse keeps its hex and says so.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Map, Value};

/// RADIUS attributes shown by name: (type, name, how the value reads).
const RADIUS_ATTRS: [(u8, &str, Kind); 10] = [
    (1, "User-Name", Kind::Text),
    (4, "NAS-IP-Address", Kind::V4),
    (8, "Framed-IP-Address", Kind::V4),
    (31, "Calling-Station-Id", Kind::Text),
    (32, "NAS-Identifier", Kind::Text),
    (40, "Acct-Status-Type", Kind::Int),
    (44, "Acct-Session-Id", Kind::Text),
    (87, "NAS-Port-Id", Kind::Text),
    (97, "Framed-IPv6-Prefix", Kind::V6Prefix),
    (123, "Delegated-IPv6-Prefix", Kind::V6Prefix),
];

#[derive(Clone, Copy)]
enum Kind {
    Text,
    V4,
    Int,
    V6Prefix,
}

fn attr_value(kind: Kind, v: &[u8]) -> Option<Value> {
    Some(match kind {
        Kind::Text => json!(String::from_utf8_lossy(v)),
        Kind::V4 => json!(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?).to_string()),
        Kind::Int => json!(u32::from_be_bytes(<[u8; 4]>::try_from(v).ok()?)),
        Kind::V6Prefix => {
            // RFC 3162: reserved octet, prefix length, then the prefix's octets.
            let (&len, prefix) = v.get(1..)?.split_first()?;
            let mut a = [0u8; 16];
            a.get_mut(..prefix.len())?.copy_from_slice(prefix);
            json!(format!("{}/{len}", Ipv6Addr::from(a)))
        }
    })
}

/// A RADIUS packet (RFC 2865 §3) as JSON.
pub(crate) fn radius_json(m: &[u8]) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), json!("radius"));
    obj.insert("message".into(), json!(hex::encode(m)));
    if radius_fields(m, &mut obj).is_none() {
        obj.insert("malformed".into(), json!(true));
    }
    Value::Object(obj)
}

fn radius_fields(m: &[u8], obj: &mut Map<String, Value>) -> Option<()> {
    let len = usize::from(u16::from_be_bytes([*m.get(2)?, *m.get(3)?]));
    let mut attrs = m.get(20..len)?;
    obj.insert("code".into(), json!(m.first()?));
    obj.insert("identifier".into(), json!(m.get(1)?));
    while let [t, l, ..] = *attrs {
        let value = attrs.get(2..usize::from(l))?;
        if let Some((_, name, kind)) = RADIUS_ATTRS.iter().find(|(n, ..)| *n == t) {
            obj.insert((*name).into(), attr_value(*kind, value)?);
        }
        attrs = attrs.get(usize::from(l)..)?;
    }
    attrs.is_empty().then_some(())
}

/// A DHCPv4 (RFC 2131, by its magic cookie) or DHCPv6 (RFC 8415) message as JSON.
pub(crate) fn dhcp_json(m: &[u8]) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), json!("dhcp"));
    obj.insert("message".into(), json!(hex::encode(m)));
    let parsed = if m.get(236..240) == Some(&[99, 130, 83, 99]) {
        dhcp4_fields(m, &mut obj)
    } else {
        obj.insert("version".into(), json!(6));
        m.get(..4).map(|h| {
            obj.insert("msgType".into(), json!(h[0]));
            obj.insert("transactionId".into(), json!(hex::encode(&h[1..])));
        })
    };
    if parsed.is_none() {
        obj.insert("malformed".into(), json!(true));
    }
    Value::Object(obj)
}

fn dhcp4_fields(m: &[u8], obj: &mut Map<String, Value>) -> Option<()> {
    let v4 = |at: usize| -> Option<Value> {
        Some(json!(Ipv4Addr::from(
            <[u8; 4]>::try_from(m.get(at..at + 4)?).ok()?
        )
        .to_string()))
    };
    obj.insert("version".into(), json!(4));
    obj.insert("op".into(), json!(m.first()?));
    obj.insert("xid".into(), json!(hex::encode(m.get(4..8)?)));
    obj.insert("ciaddr".into(), v4(12)?);
    obj.insert("yiaddr".into(), v4(16)?);
    let hlen = usize::from(*m.get(2)?).min(16);
    obj.insert("chaddr".into(), json!(hex::encode(m.get(28..28 + hlen)?)));
    // Option 53, DHCP message type; options are (code, length, value) after the cookie.
    let mut opts = m.get(240..)?;
    while let [code, rest @ ..] = opts {
        match *code {
            0 => opts = rest,
            255 => break,
            _ => {
                let (&l, rest) = rest.split_first()?;
                let value = rest.get(..usize::from(l))?;
                if *code == 53 {
                    obj.insert("messageType".into(), json!(value.first()?));
                }
                opts = rest.get(usize::from(l)..)?;
            }
        }
    }
    Some(())
}
