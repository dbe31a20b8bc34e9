//! What the signalling path carries: one UDP datagram from a configured NAS,
//! DHCP server or relay ([`SignalPacket`]), and what it says once parsed and
//! authenticated ([`Signal`]).

use std::net::IpAddr;

use dataplane::targets::Target;

use super::binding::Nas;
use crate::model::Identity;

/// The transport a signalling message came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One UDP datagram (reassembled if it was fragmented).
    Udp,
    /// One message framed out of a TCP stream (SIP).
    Tcp,
}

/// One signalling message as the dataplane saw it: a UDP datagram, or a
/// message cut out of a TCP stream.
#[derive(Clone, Copy, Debug)]
pub struct SignalPacket<'a> {
    /// Receive time, nanoseconds since the Unix epoch (the clock of the workers).
    pub ts_ns: u64,
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP or TCP.
    pub transport: Transport,
    /// The UDP payload (or the TCP message).
    pub payload: &'a [u8],
}

/// Which protocol a signal came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// RADIUS (RFC 2865/2866).
    Radius,
    /// DHCPv4 (RFC 2131).
    Dhcp4,
    /// DHCPv6 (RFC 8415).
    Dhcp6,
    /// The probe's static assignment table.
    Static,
}

/// What a message means for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalEvent {
    /// RADIUS Access-Request (an access attempt).
    AccessRequest,
    /// RADIUS Access-Accept.
    AccessAccept,
    /// RADIUS Access-Reject.
    AccessReject,
    /// Accounting-Request, Acct-Status-Type Start.
    AccountingStart,
    /// Accounting-Request, Interim-Update.
    AccountingInterim,
    /// Accounting-Request, Stop.
    AccountingStop,
    /// Accounting-On: the NAS (re)started; every session of it ended.
    AccountingOn,
    /// Accounting-Off: the NAS stops; every session of it ended.
    AccountingOff,
    /// DHCPv4 ACK (or DHCPv6 Reply) granting the leases in [`Signal::assigned`].
    LeaseGranted,
    /// DHCPv4 RELEASE / DHCPv6 Release.
    LeaseReleased,
    /// DHCPv4 DECLINE / DHCPv6 Decline.
    LeaseDeclined,
    /// DHCPv4 NAK (the client's lease is not valid).
    LeaseRefused,
}

/// An address or prefix a message assigns, with its lifetime if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// `Target::Ipv4`, `Target::Ipv6`, `Target::Ipv4Net` or `Target::Ipv6Net`.
    pub target: Target,
    /// Lease time / valid lifetime in seconds (`None`: until the session ends).
    pub lifetime_secs: Option<u32>,
}

/// One authenticated signalling message, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signal {
    /// When it was received.
    pub ts_ns: u64,
    /// Its protocol.
    pub protocol: Protocol,
    /// What it means.
    pub event: SignalEvent,
    /// Acct-Session-Id (RADIUS); DHCP has none (leases are keyed by client).
    pub session_id: Option<String>,
    /// Every identity the message names (User-Name, Calling-Station-Id,
    /// NAS-Port-Id with the NAS identity, chaddr, option 82, client id, DUID).
    pub identities: Vec<crate::model::Identity>,
    /// Addresses and prefixes it assigns (or releases).
    pub assigned: Vec<Assigned>,
    /// The NAS (RADIUS) or the DHCP server / relay it came from.
    pub nas: Option<Nas>,
    /// The message's own octets (the UDP payload), for X2 and the audit.
    pub message: Vec<u8>,
}

impl Signal {
    /// The identity of `kind` the message names, if any.
    #[must_use]
    pub fn identity(&self, kind: crate::model::IdentityKind) -> Option<&Identity> {
        self.identities.iter().find(|i| i.kind() == kind)
    }
}

/// Why a datagram changed no binding. Counted per reason; none is an error of
/// the probe, several are attacks (a forged accounting request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not on a signalling port, or a message type that says nothing about bindings.
    #[error("not signalling")]
    NotSignalling,
    /// From an address not configured as a NAS, DHCP server or relay.
    #[error("sender is not a configured NAS, DHCP server or relay")]
    UnknownSender,
    /// A RADIUS Request Authenticator that the NAS's shared secret does not produce.
    #[error("bad RADIUS authenticator")]
    BadAuthenticator,
    /// Truncated, inconsistent lengths, or a required attribute missing.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

impl Refusal {
    /// Every metric label, in [`Refusal::label`] order.
    pub const LABELS: [&'static str; 4] = [
        "not_signalling",
        "unknown_sender",
        "bad_authenticator",
        "malformed",
    ];

    /// Its metric label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::NotSignalling => Self::LABELS[0],
            Self::UnknownSender => Self::LABELS[1],
            Self::BadAuthenticator => Self::LABELS[2],
            Self::Malformed(_) => Self::LABELS[3],
        }
    }
}
