//! IPIRIOnly: headers-only reports and the rebuild of their header octets.

use super::*;

/// The layer a headers-only report describes (the target's packet's, as the
/// dataplane found it), checked before anything is written.
pub(super) fn report_of<'a>(e: &Event<'a>) -> Result<(Layer<'a>, u32, Direction), EncodeError> {
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

pub(super) fn write_header_report(
    w: &mut Writer<'_>,
    layer: &Layer<'_>,
    len: u32,
    direction: Direction,
) {
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
pub(super) struct IriOnly<'a> {
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
    pub(super) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
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

    pub(super) fn to_json(&self, obj: &mut Map<String, Value>) -> Result<(), DecodeError> {
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
    pub(super) fn rebuild(&self) -> Result<(Vec<u8>, u32), DecodeError> {
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
