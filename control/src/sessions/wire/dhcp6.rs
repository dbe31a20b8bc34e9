//! DHCPv6 (RFC 8415) from a trusted server or relay: Relay-Forw/Relay-Repl
//! unwrapped here (with the relays' Interface-Id, Remote-Id and Client
//! Link-Layer Address), the client/server message inside decoded by
//! `dhcproto`: Reply, Release and Decline with their IA_NA addresses and IA_PD
//! prefixes.
//!
//! Every option tree is checked here before `dhcproto` sees it: its decoder
//! subtracts a fixed header from short Status Code, Vendor Class and Vendor
//! Options lengths (an overflow panic in debug builds), reads fixed-size
//! options past a short length, and reads nothing of an empty option's
//! value (Rapid Commit, Reconfigure Accept), decoding that as the next options.

use dataplane::targets::Target;
use dhcproto::v6::{self, DhcpOption, MessageType};
use dhcproto::Decodable;

use super::dhcp4::lifetime;
use super::{dhcp_nas, push_octets, signal};
use crate::model::IdentityKind;
use crate::sessions::signal::Assigned;
use crate::sessions::{Protocol, Refusal, Signal, SignalEvent, SignalPacket};

const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;
/// msg-type, hop-count, link-address, peer-address.
const RELAY_HEADER: usize = 34;
/// Relays a message may pass through (RFC 8415 §7.6 HOP_COUNT_LIMIT is 8).
const MAX_RELAYS: usize = 8;

const OPTION_RELAY_MSG: u16 = 9;
const OPTION_INTERFACE_ID: u16 = 18;
const OPTION_REMOTE_ID: u16 = 37;
const OPTION_CLIENT_LINKLAYER_ADDR: u16 = 79;

const MALFORMED: Refusal = Refusal::Malformed("DHCPv6 options");

/// A DHCPv6 message the sender was already checked for.
pub(super) fn parse(p: &SignalPacket<'_>) -> Result<Signal, Refusal> {
    let mut identities = Vec::new();
    let mut message = p.payload;
    for _ in 0..=MAX_RELAYS {
        match message.first() {
            Some(&(RELAY_FORW | RELAY_REPL)) => {}
            Some(_) => return client_message(p, message, identities),
            None => return Err(Refusal::Malformed("empty DHCPv6 message")),
        }
        let options = message
            .get(RELAY_HEADER..)
            .ok_or(Refusal::Malformed("short DHCPv6 relay header"))?;
        let mut inner = None;
        for (code, value) in options_of(options)? {
            match code {
                OPTION_RELAY_MSG => inner = Some(value),
                OPTION_INTERFACE_ID => {
                    push_octets(&mut identities, IdentityKind::DhcpCircuitId, value);
                }
                // enterprise-number, then the remote-id the relay was configured with (RFC 4649).
                OPTION_REMOTE_ID => {
                    let id = value.get(4..).ok_or(MALFORMED)?;
                    push_octets(&mut identities, IdentityKind::DhcpRemoteId, id);
                }
                // link-layer type (1: Ethernet), address (RFC 6939).
                OPTION_CLIENT_LINKLAYER_ADDR => {
                    if let Some((&[0, 1], mac)) = value.split_first_chunk::<2>() {
                        if mac.len() == 6 {
                            push_octets(&mut identities, IdentityKind::DhcpClientMac, mac);
                        }
                    }
                }
                _ => {}
            }
        }
        message = inner.ok_or(Refusal::Malformed("DHCPv6 relay message without option 9"))?;
    }
    Err(Refusal::Malformed("DHCPv6 relayed more than 8 times"))
}

/// The client or server message inside any relay headers.
fn client_message(
    p: &SignalPacket<'_>,
    message: &[u8],
    mut identities: Vec<crate::model::Identity>,
) -> Result<Signal, Refusal> {
    check_tree(
        message
            .get(4..)
            .ok_or(Refusal::Malformed("short DHCPv6 message"))?,
        0,
    )?;
    let msg = v6::Message::decode(&mut dhcproto::Decoder::new(message)).map_err(|_| MALFORMED)?;
    let event = match msg.msg_type() {
        MessageType::Reply => SignalEvent::LeaseGranted,
        MessageType::Release => SignalEvent::LeaseReleased,
        MessageType::Decline => SignalEvent::LeaseDeclined,
        _ => return Err(Refusal::NotSignalling),
    };
    let mut assigned = Vec::new();
    for opt in msg.opts().iter() {
        match opt {
            DhcpOption::ClientId(duid) => {
                push_octets(&mut identities, IdentityKind::Dhcpv6Duid, duid);
            }
            DhcpOption::IANA(ia) => {
                assigned.extend(ia.opts.iter().filter_map(|o| match o {
                    DhcpOption::IAAddr(a) => Some(Assigned {
                        target: Target::Ipv6(a.addr),
                        lifetime_secs: lifetime(a.valid_life),
                    }),
                    _ => None,
                }));
            }
            DhcpOption::IAPD(pd) => {
                for o in pd.opts.iter() {
                    if let DhcpOption::IAPrefix(pfx) = o {
                        assigned.push(Assigned {
                            target: prefix(pfx)?,
                            lifetime_secs: lifetime(pfx.valid_lifetime),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // A Reply to Information-Request, or one refusing every IA, binds nothing.
    if assigned.is_empty() {
        return Err(Refusal::NotSignalling);
    }
    let mut s = signal(p, Protocol::Dhcp6, event, dhcp_nas(p));
    s.identities = identities;
    s.assigned = assigned;
    Ok(s)
}

/// An IA_PD prefix, host bits cleared.
fn prefix(p: &v6::IAPrefix) -> Result<Target, Refusal> {
    if p.prefix_len > 128 {
        return Err(Refusal::Malformed("IA Prefix length over 128"));
    }
    let mask = u128::MAX
        .checked_shl(128 - u32::from(p.prefix_len))
        .unwrap_or(0);
    let net = u128::from(p.prefix_ip) & mask;
    Ok(Target::Ipv6Net(net.into(), p.prefix_len))
}

/// Options (code, value) tiling `bytes` exactly.
fn options_of(bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, Refusal> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (&[c0, c1, l0, l1], tail) = rest.split_first_chunk::<4>().ok_or(MALFORMED)?;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let value = tail.get(..len).ok_or(MALFORMED)?;
        out.push((u16::from_be_bytes([c0, c1]), value));
        rest = &tail[len..];
    }
    Ok(out)
}

/// Checks an option tree for what `dhcproto` decodes unchecked: lengths
/// within their parent, fixed-size options of their size, the headers of
/// options that carry options, and nesting at most 4 deep (IA, address,
/// status is 3).
fn check_tree(bytes: &[u8], depth: usize) -> Result<(), Refusal> {
    if depth > 4 {
        return Err(MALFORMED);
    }
    for (code, value) in options_of(bytes)? {
        // (minimum length, exactly that, options follow that header)
        let (min, exact, nested) = match code {
            3 | 25 => (12, false, true),           // IA_NA, IA_PD
            4 | 17 => (4, false, true),            // IA_TA, vendor options
            5 => (24, false, true),                // IAADDR
            26 => (25, false, true),               // IAPREFIX
            OPTION_RELAY_MSG => (34, false, true), // decoded as a relay message
            14 | 20 => (0, true, false),           // rapid commit, reconfigure accept
            7 | 19 => (1, true, false),            // preference, reconfigure message
            8 => (2, true, false),                 // elapsed time
            12 => (16, true, false),               // server unicast
            13 => (2, false, false),               // status code
            16 => (4, false, false),               // vendor class
            11 => (11, false, false),              // authentication
            32 => (4, true, false),                // information refresh time
            _ => (0, false, false),
        };
        if value.len() < min || (exact && value.len() != min) {
            return Err(MALFORMED);
        }
        if nested {
            check_tree(&value[min..], depth + 1)?;
        }
    }
    Ok(())
}
