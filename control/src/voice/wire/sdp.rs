//! The media of an SDP body (RFC 4566, RFC 3264), alone or in a multipart
//! body (RFC 5621). The SDP itself is read by `sdp-types`.

use std::net::{IpAddr, Ipv4Addr};

use sdp_types::attributes::Rtcp;
use sdp_types::{AddrType, Connection, NetType, Session};

use super::sip::{fields, split_head};
use super::SipError;
use crate::voice::sip::{Media, MediaDirection, Sdp};

/// Multipart bodies nested deeper than this are not searched for SDP.
const MAX_NESTING: usize = 4;

/// The SDP a body of `content_type` carries, if any.
pub(super) fn of_body(content_type: Option<&str>, body: &[u8]) -> Result<Option<Sdp>, SipError> {
    of_part(content_type, body, 0)
}

fn of_part(content_type: Option<&str>, body: &[u8], depth: usize) -> Result<Option<Sdp>, SipError> {
    let Some(content_type) = content_type else {
        return Ok(None);
    };
    let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let mime = mime.trim().to_ascii_lowercase();
    if mime == "application/sdp" {
        return media(body).map(Some);
    }
    if !mime.starts_with("multipart/") || depth >= MAX_NESTING {
        return Ok(None);
    }
    let boundary = params
        .split(';')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"'))
        })
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or(SipError::Malformed("multipart without boundary"))?;
    for part in parts(body, boundary)? {
        let (head, content) = split_head(part).unwrap_or((b"", part));
        let head = std::str::from_utf8(head).map_err(|_| SipError::Malformed("part head"))?;
        let part_type = fields(head)?
            .into_iter()
            .find_map(|(name, value)| (name == "content-type").then_some(value));
        if let Some(sdp) = of_part(part_type.as_deref(), content, depth + 1)? {
            return Ok(Some(sdp));
        }
    }
    Ok(None)
}

/// The body parts between `--boundary` delimiter lines (RFC 2046 §5.1.1).
fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, SipError> {
    let delimiter = [b"--", boundary.as_bytes()].concat();
    // Delimiters start a line: at the start of the body or after a LF.
    let starts: Vec<usize> = (0..body.len())
        .filter(|&i| {
            (i == 0 || body.get(i - 1) == Some(&b'\n'))
                && body.get(i..).is_some_and(|b| b.starts_with(&delimiter))
        })
        .collect();
    let mut out = Vec::new();
    for pair in starts.windows(2) {
        let &[from, to] = pair else { continue };
        let part = body.get(from..to).unwrap_or_default();
        // Skip the delimiter line; drop the CRLF that belongs to the next one.
        let line_end = part
            .iter()
            .position(|&b| b == b'\n')
            .map_or(part.len(), |p| p + 1);
        let content = part.get(line_end..).unwrap_or_default();
        let content = content.strip_suffix(b"\n").unwrap_or(content);
        out.push(content.strip_suffix(b"\r").unwrap_or(content));
    }
    let closed = starts
        .last()
        .and_then(|&last| body.get(last + delimiter.len()..))
        .is_some_and(|rest| rest.starts_with(b"--"));
    if !closed {
        return Err(SipError::Malformed("multipart without closing delimiter"));
    }
    Ok(out)
}

/// The media lines of an SDP body.
fn media(body: &[u8]) -> Result<Sdp, SipError> {
    let session = Session::parse(body).map_err(|_| SipError::Sdp("not an SDP description"))?;
    let session_direction = direction(&session.attributes);
    let media = session
        .medias
        .iter()
        .map(|m| {
            let connection = m.connections.first().or(session.connection.as_ref());
            let addr = match (connection.map(address).transpose()?, m.port) {
                (Some(addr), _) => addr,
                // A refused stream needs no address.
                (None, 0) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                (None, _) => return Err(SipError::Sdp("media without connection address")),
            };
            let (rtcp_port, rtcp_addr) = if m.port == 0 {
                (0, addr)
            } else if m.has_attribute("rtcp-mux") {
                (m.port, addr)
            } else if let Some(rtcp) = m.get_first_attribute_typed::<Rtcp>() {
                let rtcp = rtcp.map_err(|_| SipError::Sdp("a=rtcp"))?;
                (rtcp.port, rtcp_address(&rtcp)?.unwrap_or(addr))
            } else {
                let port = m.port.checked_add(1);
                (port.ok_or(SipError::Sdp("no port for RTCP"))?, addr)
            };
            let direction = match m.port {
                0 => MediaDirection::Inactive,
                _ => direction(&m.attributes)
                    .or(session_direction)
                    .unwrap_or(MediaDirection::SendRecv),
            };
            Ok(Media {
                kind: m.media.clone(),
                addr,
                rtp_port: m.port,
                rtcp_port,
                rtcp_addr,
                direction,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Sdp { media })
}

/// A `c=` line's unicast or multicast IP address.
fn address(c: &Connection) -> Result<IpAddr, SipError> {
    c.try_address()
        .map(|a| a.ip)
        .map_err(|_| SipError::Sdp("connection address is not an IP address"))
}

/// The connection address of `a=rtcp:PORT IN IP4|IP6 ADDR` (RFC 3605), if
/// it has one; an address of another network or family than it says is refused.
fn rtcp_address(rtcp: &Rtcp) -> Result<Option<IpAddr>, SipError> {
    let Some(address) = rtcp.try_address() else {
        return Ok(None);
    };
    let bad = SipError::Sdp("a=rtcp connection address");
    let ip = address.map_err(|_| bad.clone())?.ip;
    let family = match ip {
        IpAddr::V4(_) => AddrType::Ip4,
        IpAddr::V6(_) => AddrType::Ip6,
    };
    if rtcp.nettype != Some(NetType::In) || rtcp.addrtype != Some(family) {
        return Err(bad);
    }
    Ok(Some(ip))
}

/// The last direction attribute among `attributes`.
fn direction(attributes: &[sdp_types::Attribute]) -> Option<MediaDirection> {
    attributes.iter().rev().find_map(|a| {
        Some(match a.attribute.to_ascii_lowercase().as_str() {
            "sendrecv" => MediaDirection::SendRecv,
            "sendonly" => MediaDirection::SendOnly,
            "recvonly" => MediaDirection::RecvOnly,
            "inactive" => MediaDirection::Inactive,
            _ => return None,
        })
    })
}
