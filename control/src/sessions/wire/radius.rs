//! RADIUS (RFC 2865 authentication, RFC 2866 accounting, RFC 3162/4818/6911
//! IPv6 attributes, RFC 3579 Message-Authenticator): a strict parser of the
//! few attributes that bind a subscriber to addresses, and the checks of the
//! authenticators with the NAS's shared secret.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use dataplane::targets::Target;
use hmac::digest::CtOutput;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::{push_text, signal, NasEntry, MAX_MESSAGE};
use crate::model::IdentityKind;
use crate::sessions::signal::Assigned;
use crate::sessions::{Nas, Protocol, Refusal, Signal, SignalEvent, SignalPacket};

const ACCESS_REQUEST: u8 = 1;
const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;
const ACCOUNTING_REQUEST: u8 = 4;

const USER_NAME: u8 = 1;
const NAS_IP_ADDRESS: u8 = 4;
const FRAMED_IP_ADDRESS: u8 = 8;
const CALLING_STATION_ID: u8 = 31;
const NAS_IDENTIFIER: u8 = 32;
const ACCT_STATUS_TYPE: u8 = 40;
const ACCT_SESSION_ID: u8 = 44;
const MESSAGE_AUTHENTICATOR: u8 = 80;
const NAS_PORT_ID: u8 = 87;
const NAS_IPV6_ADDRESS: u8 = 95;
const FRAMED_IPV6_PREFIX: u8 = 97;
const DELEGATED_IPV6_PREFIX: u8 = 123;
const FRAMED_IPV6_ADDRESS: u8 = 168;

const HEADER: usize = 20;

/// The Access-Request authenticators a NAS sent, by RADIUS Identifier: what
/// an Access-Accept/Reject is checked against. One slot per identifier (the
/// NAS reuses one only after the exchange ended), so it is bounded by
/// construction: 256 entries per configured NAS.
pub(super) struct RequestLog(Mutex<Box<[Option<[u8; 16]>; 256]>>);

impl Default for RequestLog {
    fn default() -> Self {
        Self(Mutex::new(Box::new([None; 256])))
    }
}

impl RequestLog {
    fn remember(&self, id: u8, authenticator: [u8; 16]) {
        if let Ok(mut slots) = self.0.lock() {
            slots[usize::from(id)] = Some(authenticator);
        }
    }

    /// The request authenticator of `id`, forgotten: a response is accepted once.
    fn take(&self, id: u8) -> Option<[u8; 16]> {
        self.0.lock().ok()?[usize::from(id)].take()
    }
}

/// One RADIUS packet whose lengths are consistent.
pub(super) struct Packet<'a> {
    /// The octets the Length field covers (the datagram's padding cut off).
    bytes: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Checks the header and that the attributes tile the packet exactly.
    pub(super) fn new(payload: &'a [u8]) -> Result<Self, Refusal> {
        let Some(&[_, _, hi, lo]) = payload.get(..4) else {
            return Err(Refusal::Malformed("shorter than a RADIUS header"));
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if !(HEADER..=MAX_MESSAGE).contains(&length) {
            return Err(Refusal::Malformed("RADIUS Length outside 20..=4096"));
        }
        // Octets beyond Length are padding (RFC 2865 §3); fewer are a truncation.
        let bytes = payload.get(..length).ok_or(Refusal::Malformed(
            "datagram shorter than its RADIUS Length",
        ))?;
        let mut rest = &bytes[HEADER..];
        while !rest.is_empty() {
            let len = rest.get(1).map_or(0, |&l| usize::from(l));
            if len < 2 || len > rest.len() {
                return Err(Refusal::Malformed("RADIUS attribute length"));
            }
            rest = &rest[len..];
        }
        Ok(Self { bytes })
    }

    pub(super) fn code(&self) -> u8 {
        self.bytes[0]
    }

    fn identifier(&self) -> u8 {
        self.bytes[1]
    }

    fn authenticator(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.bytes[4..HEADER]);
        a
    }

    /// Every attribute as (type, offset of its value, value).
    fn attributes(&self) -> impl Iterator<Item = (u8, usize, &'a [u8])> + 'a {
        let bytes = self.bytes;
        let mut at = HEADER;
        std::iter::from_fn(move || {
            let (&kind, &len) = (bytes.get(at)?, bytes.get(at + 1)?);
            let value = bytes.get(at + 2..at + usize::from(len))?;
            let start = at + 2;
            at += usize::from(len);
            Some((kind, start, value))
        })
    }

    fn first(&self, kind: u8) -> Option<&'a [u8]> {
        self.attributes()
            .find(|&(k, _, _)| k == kind)
            .map(|(_, _, v)| v)
    }

    /// MD5(Code | Identifier | Length | `authenticator` | Attributes | secret)
    /// equals the packet's authenticator (RFC 2865 §3, RFC 2866 §3).
    fn authenticator_is(&self, authenticator: &[u8; 16], secret: &[u8]) -> bool {
        let mut md5 = Md5::new();
        md5.update(&self.bytes[..4]);
        md5.update(authenticator);
        md5.update(&self.bytes[HEADER..]);
        md5.update(secret);
        let want = CtOutput::<Md5>::new(md5.finalize());
        want == CtOutput::new(self.authenticator().into())
    }

    /// One Message-Authenticator, HMAC-MD5 over the packet with its own value
    /// zeroed (RFC 3579 §3.2).
    fn message_authenticator_ok(&self, secret: &[u8]) -> Result<bool, Refusal> {
        let mut found = self
            .attributes()
            .filter(|&(k, _, _)| k == MESSAGE_AUTHENTICATOR);
        let Some((_, at, value)) = found.next() else {
            return Ok(false);
        };
        if found.next().is_some() || value.len() != 16 {
            return Err(Refusal::Malformed("Message-Authenticator"));
        }
        let Ok(mut mac) = Hmac::<Md5>::new_from_slice(secret) else {
            return Ok(false);
        };
        mac.update(&self.bytes[..at]);
        mac.update(&[0; 16]);
        mac.update(&self.bytes[at + 16..]);
        Ok(mac.verify_slice(value).is_ok())
    }
}

/// Sets the authenticator of `packet` as a NAS or RADIUS server with
/// `secret` does: MD5 over the packet with `request_authenticator` in its
/// place (16 zeros for an Accounting-Request, the request's for a response).
/// For test captures, the demo and benchmarks; a packet shorter than its
/// header is left as it is.
pub fn sign(packet: &mut [u8], secret: &[u8], request_authenticator: &[u8; 16]) {
    let Some(&[_, _, hi, lo]) = packet.get(..4) else {
        return;
    };
    let length = usize::from(u16::from_be_bytes([hi, lo])).min(packet.len());
    if length < HEADER {
        return;
    }
    packet[4..HEADER].copy_from_slice(request_authenticator);
    let digest = Md5::new()
        .chain_update(&packet[..length])
        .chain_update(secret)
        .finalize();
    packet[4..HEADER].copy_from_slice(&digest);
}

/// A request from a NAS: Accounting-Request on an accounting port,
/// Access-Request on an authentication port.
pub(super) fn request(
    p: &SignalPacket<'_>,
    nas: &NasEntry,
    accounting: bool,
) -> Result<Signal, Refusal> {
    let packet = Packet::new(p.payload)?;
    match (packet.code(), accounting) {
        (ACCOUNTING_REQUEST, true) => {
            if !packet.authenticator_is(&[0; 16], &nas.secret) {
                return Err(Refusal::BadAuthenticator);
            }
            let event = match packet.first(ACCT_STATUS_TYPE) {
                Some(&[0, 0, 0, 1]) => SignalEvent::AccountingStart,
                Some(&[0, 0, 0, 2]) => SignalEvent::AccountingStop,
                Some(&[0, 0, 0, 3]) => SignalEvent::AccountingInterim,
                Some(&[0, 0, 0, 7]) => SignalEvent::AccountingOn,
                Some(&[0, 0, 0, 8]) => SignalEvent::AccountingOff,
                Some(&[_, _, _, _]) => return Err(Refusal::NotSignalling),
                _ => return Err(Refusal::Malformed("Acct-Status-Type")),
            };
            let signal = describe(p, &packet, nas, event, p.src)?;
            let per_session = !matches!(
                event,
                SignalEvent::AccountingOn | SignalEvent::AccountingOff
            );
            if per_session && signal.session_id.is_none() {
                return Err(Refusal::Malformed("Acct-Session-Id missing"));
            }
            Ok(signal)
        }
        (ACCESS_REQUEST, false) => {
            if !packet.message_authenticator_ok(&nas.secret)? {
                return Err(Refusal::BadAuthenticator);
            }
            nas.requests
                .remember(packet.identifier(), packet.authenticator());
            describe(p, &packet, nas, SignalEvent::AccessRequest, p.src)
        }
        _ => Err(Refusal::NotSignalling),
    }
}

/// A response to a NAS: Access-Accept/Reject from its RADIUS server, checked
/// against the Access-Request it answers.
pub(super) fn response(
    p: &SignalPacket<'_>,
    nas: &NasEntry,
    auth: bool,
) -> Result<Signal, Refusal> {
    let packet = Packet::new(p.payload)?;
    let event = match (packet.code(), auth) {
        (ACCESS_ACCEPT, true) => SignalEvent::AccessAccept,
        (ACCESS_REJECT, true) => SignalEvent::AccessReject,
        _ => return Err(Refusal::NotSignalling),
    };
    let request = nas
        .requests
        .take(packet.identifier())
        .ok_or(Refusal::BadAuthenticator)?;
    if !packet.authenticator_is(&request, &nas.secret) {
        return Err(Refusal::BadAuthenticator);
    }
    describe(p, &packet, nas, event, p.dst)
}

/// The signal of an authenticated packet: its identities, addresses, session
/// and NAS (NAS-IP-Address or NAS-IPv6-Address, else `nas_sender`: the NAS
/// may speak through a proxy).
fn describe(
    p: &SignalPacket<'_>,
    packet: &Packet<'_>,
    nas: &NasEntry,
    event: SignalEvent,
    nas_sender: IpAddr,
) -> Result<Signal, Refusal> {
    let nas_identifier = packet
        .first(NAS_IDENTIFIER)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .or_else(|| nas.name.clone());
    let nas_address = match (packet.first(NAS_IP_ADDRESS), packet.first(NAS_IPV6_ADDRESS)) {
        (Some(v), _) => IpAddr::V4(ipv4(v).ok_or(Refusal::Malformed("NAS-IP-Address"))?),
        (None, Some(v)) => IpAddr::V6(ipv6(v).ok_or(Refusal::Malformed("NAS-IPv6-Address"))?),
        (None, None) => nas_sender,
    };
    let mut s = signal(
        p,
        Protocol::Radius,
        event,
        Nas {
            address: nas_address,
            identifier: nas_identifier.clone(),
        },
    );
    for (kind, _, value) in packet.attributes() {
        let text = || String::from_utf8_lossy(value);
        match kind {
            USER_NAME => push_text(&mut s.identities, IdentityKind::Username, &text()),
            CALLING_STATION_ID => {
                push_text(&mut s.identities, IdentityKind::CallingStationId, &text());
            }
            NAS_PORT_ID => {
                let nas_id = nas_identifier
                    .clone()
                    .unwrap_or_else(|| nas_address.to_string());
                let port = format!("{nas_id}/{}", text());
                push_text(&mut s.identities, IdentityKind::NasPortId, &port);
            }
            ACCT_SESSION_ID if s.session_id.is_none() && !value.is_empty() => {
                s.session_id = Some(text().into_owned());
            }
            FRAMED_IP_ADDRESS => {
                let a = ipv4(value).ok_or(Refusal::Malformed("Framed-IP-Address"))?;
                // 255.255.255.255 / .254 ask the user / the NAS to pick one (RFC 2865 §5.8).
                if a.octets()[..3] != [255; 3] || a.octets()[3] < 254 {
                    assign(&mut s, Target::Ipv4(a));
                }
            }
            FRAMED_IPV6_ADDRESS => {
                let a = ipv6(value).ok_or(Refusal::Malformed("Framed-IPv6-Address"))?;
                assign(&mut s, Target::Ipv6(a));
            }
            FRAMED_IPV6_PREFIX | DELEGATED_IPV6_PREFIX => {
                let net = ipv6_prefix(value).ok_or(Refusal::Malformed("IPv6 prefix attribute"))?;
                assign(&mut s, net);
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Adds an address the session holds until it ends.
fn assign(s: &mut Signal, target: Target) {
    let a = Assigned {
        target,
        lifetime_secs: None,
    };
    if !s.assigned.contains(&a) {
        s.assigned.push(a);
    }
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

fn ipv6(v: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(v).ok().map(Ipv6Addr::from)
}

/// Reserved, Prefix-Length, Prefix (only the octets the length needs may be
/// sent; RFC 3162 §2.3): host bits cleared.
fn ipv6_prefix(v: &[u8]) -> Option<Target> {
    let (&[_, len], prefix) = v.split_first_chunk::<2>()?;
    if len > 128 || prefix.len() > 16 || prefix.len() * 8 < usize::from(len) {
        return None;
    }
    let mut octets = [0u8; 16];
    octets[..prefix.len()].copy_from_slice(prefix);
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    let net = Ipv6Addr::from(u128::from_be_bytes(octets) & mask);
    Some(Target::Ipv6Net(net, len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn attribute_lengths_must_tile_the_packet() {
        // Accounting-Request, id 1, Length 27, zero authenticator, User-Name "alice".
        let mut good = vec![4, 1, 0, 27];
        good.extend_from_slice(&[0; 16]);
        good.extend_from_slice(&[1, 7, b'a', b'l', b'i', b'c', b'e']);
        assert!(Packet::new(&good).is_ok());
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 7]);
        assert!(
            Packet::new(&padded).is_ok(),
            "octets past Length are padding"
        );
        assert!(matches!(
            Packet::new(&good[..good.len() - 1]),
            Err(Refusal::Malformed(_))
        ));
        let mut zero_len = good.clone();
        zero_len[21] = 0;
        assert!(matches!(Packet::new(&zero_len), Err(Refusal::Malformed(_))));
        let mut too_long = good.clone();
        too_long[21] = 9;
        assert!(matches!(Packet::new(&too_long), Err(Refusal::Malformed(_))));
        let mut one_octet_left = good;
        one_octet_left.push(1);
        let len = u16::try_from(one_octet_left.len()).unwrap().to_be_bytes();
        one_octet_left[2..4].copy_from_slice(&len);
        assert!(matches!(
            Packet::new(&one_octet_left),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(Packet::new(&[4; 19]), Err(Refusal::Malformed(_))));
        let mut huge = vec![4, 1, 0x10, 0x01];
        huge.resize(5000, 0);
        assert!(matches!(Packet::new(&huge), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn ipv6_prefixes_are_short_form_and_masked() {
        assert_eq!(
            ipv6_prefix(&[0, 56, 0x20, 1, 0x0d, 0xb8, 0, 0, 0x12]),
            Some(Target::Ipv6Net("2001:db8:0:1200::".parse().unwrap(), 56))
        );
        assert_eq!(
            ipv6_prefix(&[0, 60, 0x20, 1, 0x0d, 0xb8, 0, 0, 0x12, 0x3f]),
            Some(Target::Ipv6Net("2001:db8:0:1230::".parse().unwrap(), 60))
        );
        assert_eq!(
            ipv6_prefix(&[0, 0]),
            Some(Target::Ipv6Net(Ipv6Addr::UNSPECIFIED, 0))
        );
        assert_eq!(ipv6_prefix(&[0, 64, 0x20, 1]), None, "too few octets");
        assert_eq!(ipv6_prefix(&[0, 129]), None);
        assert_eq!(ipv6_prefix(&[0]), None);
    }

    #[test]
    fn a_response_is_checked_once_against_its_request() {
        let log = RequestLog::default();
        log.remember(7, [1; 16]);
        assert_eq!(log.take(7), Some([1; 16]));
        assert_eq!(log.take(7), None);
        assert_eq!(log.take(8), None);
    }
}
