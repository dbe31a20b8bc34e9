//! DHCPv4 (RFC 2131) from a trusted server or relay, decoded by `dhcproto`:
//! ACK, RELEASE, DECLINE and NAK with the client's identities (chaddr,
//! option 82 circuit and remote id, option 61 client id).

use std::net::Ipv4Addr;

use dataplane::targets::Target;
use dhcproto::v4::{self, relay::RelayCode, relay::RelayInfo, DhcpOption, HType, MessageType};
use dhcproto::Decodable;

use super::{dhcp_nas, push_octets, signal};
use crate::model::IdentityKind;
use crate::sessions::signal::Assigned;
use crate::sessions::{Protocol, Refusal, Signal, SignalEvent, SignalPacket};

/// A DHCPv4 message the sender was already checked for.
pub(super) fn parse(p: &SignalPacket<'_>) -> Result<Signal, Refusal> {
    let msg = v4::Message::decode(&mut dhcproto::Decoder::new(p.payload))
        .map_err(|_| Refusal::Malformed("DHCPv4 message"))?;
    let opts = msg.opts();
    let (event, address, lifetime_secs) = match opts.msg_type() {
        Some(MessageType::Ack) if !msg.yiaddr().is_unspecified() => {
            let lease = match opts.get(v4::OptionCode::AddressLeaseTime) {
                Some(DhcpOption::AddressLeaseTime(secs)) => lifetime(*secs),
                _ => None,
            };
            (SignalEvent::LeaseGranted, Some(msg.yiaddr()), lease)
        }
        Some(MessageType::Release) => {
            let a = Some(msg.ciaddr()).filter(|a| !a.is_unspecified());
            let a = a.ok_or(Refusal::Malformed("DHCPRELEASE without ciaddr"))?;
            (SignalEvent::LeaseReleased, Some(a), None)
        }
        Some(MessageType::Decline) => match opts.get(v4::OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => (SignalEvent::LeaseDeclined, Some(*a), None),
            _ => return Err(Refusal::Malformed("DHCPDECLINE without option 50")),
        },
        Some(MessageType::Nak) => (SignalEvent::LeaseRefused, None, None),
        // DHCPACK to an INFORM (yiaddr 0), DISCOVER, OFFER, REQUEST, ...
        _ => return Err(Refusal::NotSignalling),
    };
    let mut s = signal(p, Protocol::Dhcp4, event, dhcp_nas(p));
    s.assigned.extend(address.map(|a: Ipv4Addr| Assigned {
        target: Target::Ipv4(a),
        lifetime_secs,
    }));
    // hlen first: dhcproto's chaddr() slices by the wire's hlen (a panic above 16).
    if msg.htype() == HType::Eth && msg.hlen() == 6 {
        if let Some(mac) = msg.chaddr().get(..6) {
            push_octets(&mut s.identities, IdentityKind::DhcpClientMac, mac);
        }
    }
    if let Some(DhcpOption::RelayAgentInformation(info)) =
        opts.get(v4::OptionCode::RelayAgentInformation)
    {
        if let Some(RelayInfo::AgentCircuitId(id)) = info.get(RelayCode::AgentCircuitId) {
            push_octets(&mut s.identities, IdentityKind::DhcpCircuitId, id);
        }
        if let Some(RelayInfo::AgentRemoteId(id)) = info.get(RelayCode::AgentRemoteId) {
            push_octets(&mut s.identities, IdentityKind::DhcpRemoteId, id);
        }
    }
    if let Some(DhcpOption::ClientIdentifier(id)) = opts.get(v4::OptionCode::ClientIdentifier) {
        push_octets(&mut s.identities, IdentityKind::DhcpClientId, id);
    }
    Ok(s)
}

/// A lease time; all ones is infinity (RFC 2131 §3.3): until released.
pub(super) fn lifetime(secs: u32) -> Option<u32> {
    (secs != u32::MAX).then_some(secs)
}
