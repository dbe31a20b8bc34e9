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

/// Options whose length dhcproto 0.15 asserts (a panic in a build with debug
/// assertions) instead of checking: (code, shortest, longest).
const ASSERTED_LENGTHS: [(u8, u8, u8); 8] = [
    (80, 0, 0),    // Rapid Commit
    (81, 3, 255),  // Client FQDN
    (94, 3, 3),    // Client Network Interface Identifier
    (151, 1, 255), // Bulk Leasequery status code
    (152, 4, 4),   // Bulk Leasequery base time
    (153, 4, 4),   // start time of state
    (154, 4, 4),   // query start time
    (155, 4, 4),   // query end time
];

/// Refuses a message with an option dhcproto would assert on (see
/// [`ASSERTED_LENGTHS`]); a truncated option list is left to the decoder.
fn check_options(payload: &[u8]) -> Result<(), Refusal> {
    // Fixed header (236 octets) and magic cookie (4).
    let mut rest = payload.get(240..).unwrap_or_default();
    while let [code, tail @ ..] = rest {
        match *code {
            0 => rest = tail,
            255 => break,
            code => {
                let [len, value @ ..] = tail else { break };
                if let Some(&(_, lo, hi)) = ASSERTED_LENGTHS.iter().find(|(c, ..)| *c == code) {
                    if !(lo..=hi).contains(len) {
                        return Err(Refusal::Malformed("DHCPv4 option length"));
                    }
                }
                rest = value.get(usize::from(*len)..).unwrap_or_default();
            }
        }
    }
    Ok(())
}

/// A DHCPv4 message the sender was already checked for.
pub(super) fn parse(p: &SignalPacket<'_>) -> Result<Signal, Refusal> {
    check_options(p.payload)?;
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn packet(options: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 236];
        m[..3].copy_from_slice(&[2, 1, 6]);
        m.extend_from_slice(&[99, 130, 83, 99]);
        m.extend_from_slice(options);
        m
    }

    fn parsed(payload: &[u8]) -> Result<Signal, Refusal> {
        let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 67));
        parse(&SignalPacket {
            ts_ns: 0,
            src: server,
            dst: server,
            src_port: 67,
            dst_port: 68,
            transport: crate::sessions::Transport::Udp,
            payload,
        })
    }

    #[test]
    fn options_the_decoder_would_assert_on_are_refused() {
        // A Client FQDN of one octet: dhcproto asserts three (the fuzzer's find).
        let short_fqdn = packet(&[53, 1, 5, 81, 1, 0, 255]);
        assert_eq!(
            parsed(&short_fqdn),
            Err(Refusal::Malformed("DHCPv4 option length"))
        );
        let short_time = packet(&[53, 1, 5, 152, 2, 0, 0, 255]);
        assert_eq!(
            parsed(&short_time),
            Err(Refusal::Malformed("DHCPv4 option length"))
        );
        // Well-formed lengths pass the check (this ACK has no yiaddr: not signalling).
        let fine = packet(&[53, 1, 5, 81, 3, 0, 0, 0, 255]);
        assert_eq!(parsed(&fine), Err(Refusal::NotSignalling));
    }
}
