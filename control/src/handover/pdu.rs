//! Format-neutral input and output of the handover encoders.
//!
//! The delivery engine hands an encoder a [`PduHeader`] and an [`Event`] and a
//! reusable `Vec<u8>`; the collector hands [`decode_next`] the bytes it received.
//! Both sides stay ignorant of the wire format they use ([`Format`], chosen in
//! [`super::format`]).

use std::borrow::Cow;
use std::net::IpAddr;

pub use dataplane::targets::Direction;

use super::ber::BerError;
use super::etsi102232;
pub use super::format::{decode_next, encode, Encoder, Format};

/// Who is sending: carried in every PS-PDU header (TS 102 232-1 networkIdentifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Operator identifier (1..=16 octets).
    pub operator_id: String,
    /// Network element identifier (1..=16 octets).
    pub network_element_id: String,
    /// ISO 3166 two-letter country code of the authorisation and delivery.
    pub country_code: String,
}

/// The probe's [`Identity`], checked once (when the configuration is loaded)
/// against what a PS-PDU header carries; the delivery engine takes only this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeId(Identity);

impl ProbeId {
    /// Checks `id`.
    ///
    /// # Errors
    /// [`EncodeError::FieldSize`]: the operator or network element identifier
    /// is not 1 to 16 octets, or the country code not two printable characters.
    pub fn new(id: Identity) -> Result<Self, EncodeError> {
        etsi102232::check_identity(&id)?;
        Ok(ProbeId(id))
    }

    /// The identity.
    #[must_use]
    pub fn identity(&self) -> &Identity {
        &self.0
    }
}

/// Per-record header fields, shared by every format.
#[derive(Clone, Copy, Debug)]
pub struct PduHeader<'a> {
    /// Lawful interception identifier (1..=25 octets).
    pub liid: &'a str,
    /// Intercept UUID (X2/X3 XID).
    pub xid: uuid::Uuid,
    /// Correlation number: the same for the IRI and CC of one intercept.
    pub cin: u32,
    /// Per-LIID sequence number of this record.
    pub sequence: u32,
    /// Time of interception, nanoseconds since the Unix epoch (UTC).
    pub timestamp_ns: u64,
    /// Sender identity.
    pub identity: &'a Identity,
}

/// 5-tuple of a reported packet (X2 attributes; informative in PS-PDUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the transport.
    pub proto: u8,
    /// Source port (0 if none).
    pub src_port: u16,
    /// Destination port (0 if none).
    pub dst_port: u16,
}

/// What one record reports.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Content of communication: a whole IP packet (HI3 CC / X3).
    Content {
        /// The IP packet, starting at the IP header.
        ip_packet: &'a [u8],
        /// Relative to the target.
        direction: Direction,
    },
    /// An Ethernet frame (X3, or X2 when `header_only`): a MAC target's frame
    /// with no IP packet inside, or a frame as captured (`as-captured`).
    Frame {
        /// The frame from its first Ethernet byte: whole (content), or only its
        /// Ethernet header with any VLAN tags (`header_only`).
        frame: &'a [u8],
        /// Length of the frame on the wire.
        wire_len: u32,
        /// True for a headers-mode report: never a byte past the Ethernet header.
        header_only: bool,
        /// Relative to the target.
        direction: Direction,
    },
    /// Headers-only report (pen register): one IP layer's headers (the
    /// target's packet's), never payload.
    HeaderReport {
        /// The IP header (with options or extension headers) and its transport
        /// header, if any.
        ip_headers: &'a [u8],
        /// Offset in `ip_headers` of what the IP header carries (its transport
        /// header, if it has one): the end of the IP header's own octets.
        l4_at: usize,
        /// Length of the original IP packet on the wire.
        wire_len: u32,
        /// Relative to the target.
        direction: Direction,
        /// The packet's 5-tuple, if known.
        flow: Option<Flow>,
    },
    /// Start of interception (intercept activated).
    Begin {
        /// Target address, if the warrant names one.
        target: Option<IpAddr>,
        /// When, nanoseconds since the Unix epoch.
        at_ns: u64,
    },
    /// End of interception (deactivated or expired).
    End {
        /// Target address, if the warrant names one.
        target: Option<IpAddr>,
        /// When, nanoseconds since the Unix epoch.
        at_ns: u64,
    },
    /// A subscriber-session event (HI2 IPIRI / X2).
    Session(&'a SessionReport),
    /// One SIP message of a target's call (HI2 IPMMIRI / X2 "SIP message");
    /// the header's `cin` is the call's.
    Sip(&'a SipReport),
    /// One RTP packet of a target's call (HI3 IPMMCC / X3 "RTP packet"); the
    /// header's `cin` is the call's.
    Media {
        /// The IP packet that carried it, up to the length its header states.
        ip_packet: &'a [u8],
        /// The RTP packet: the UDP payload inside `ip_packet`.
        rtp: &'a [u8],
        /// Where it came from.
        src: std::net::SocketAddr,
        /// Where it went.
        dst: std::net::SocketAddr,
        /// Relative to the target.
        direction: Direction,
    },
    /// Link keep-alive.
    Keepalive,
    /// Answer to a keep-alive (sent by a receiver).
    KeepaliveAck,
}

/// An access event of a subscriber session (TS 102 232-3 IPIRI accessEventType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessEvent {
    /// Access-Request seen.
    AccessAttempt,
    /// Access-Accept seen.
    AccessAccept,
    /// Access-Reject seen.
    AccessReject,
    /// A session (accounting Start, DHCP lease) began.
    SessionStart,
    /// Interim update or lease renewal.
    InterimUpdate,
    /// The session ended by signalling.
    SessionEnd,
    /// The session lapsed without signalling (or its NAS restarted).
    SessionExpired,
    /// Interception began while the session was already active.
    StartWithSessionActive,
    /// Interception ended while the session was still active.
    EndWithSessionActive,
}

/// One subscriber-session IRI: what the signalling said about the target's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionReport {
    /// What happened.
    pub event: AccessEvent,
    /// When (ns since the Unix epoch): receive time of the signalling, or the
    /// time interception began or ended.
    pub at_ns: u64,
    /// RADIUS User-Name, if known.
    pub username: Option<String>,
    /// Addresses and prefixes the session holds.
    pub addresses: Vec<dataplane::targets::Target>,
    /// True for a static assignment (IPAddress iP-assignment static), else dynamic.
    pub static_assignment: bool,
    /// targetNetworkID: Calling-Station-Id or the client MAC.
    pub network_id: Option<String>,
    /// The NAS (or DHCP server / relay).
    pub nas: Option<IpAddr>,
    /// Its NAS-Identifier or configured name.
    pub nas_id: Option<String>,
    /// Acct-Session-Id.
    pub session_id: Option<String>,
    /// When the session started.
    pub session_start_ns: Option<u64>,
    /// When it ended (end events).
    pub session_end_ns: Option<u64>,
    /// The signalling message itself, for X2 ("DHCP message" / "RADIUS packet").
    pub message: Option<(crate::sessions::Protocol, Vec<u8>)>,
}

/// One SIP message of a target's call (HI2 IP multimedia IRI, X2 "SIP message").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipReport {
    /// Receive time of the message, ns since the Unix epoch.
    pub at_ns: u64,
    /// The call's correlation number (its CC carries the same).
    pub cin: u32,
    /// Sender.
    pub src: std::net::SocketAddr,
    /// Receiver.
    pub dst: std::net::SocketAddr,
    /// UDP or TCP.
    pub transport: crate::sessions::Transport,
    /// The message's own octets.
    pub message: Vec<u8>,
}

/// One decoded PDU, borrowing from the received bytes where it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded<'a> {
    /// LIID (PS-PDU) or XID as a hyphenated UUID (X2/X3).
    pub liid_or_xid: Cow<'a, str>,
    /// Correlation number (communicationIdentityNumber / correlation ID).
    pub cin: u64,
    /// Sequence number (0 if the PDU carries none, e.g. an X2/X3 keepalive).
    pub sequence: u32,
    /// Time of interception, nanoseconds since the Unix epoch (0 if absent). A
    /// PS-PDU carries microseconds (microSecondTimeStamp), X2/X3 nanoseconds.
    pub timestamp_ns: u64,
    /// What the PDU reports.
    pub kind: DecodedKind<'a>,
}

/// What a decoded PDU reports.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodedKind<'a> {
    /// A whole intercepted IP packet.
    Content {
        /// The packet.
        ip_packet: &'a [u8],
        /// Relative to the target.
        direction: Direction,
    },
    /// An Ethernet frame (X2/X3 payload format "Ethernet frame").
    Frame {
        /// The frame, or only its Ethernet header (`header_only`).
        frame: &'a [u8],
        /// Length of the frame on the wire.
        wire_len: u32,
        /// True for a headers-mode report (X2).
        header_only: bool,
        /// Relative to the target.
        direction: Direction,
    },
    /// A headers-only report.
    HeaderReport {
        /// IP and transport headers: received as octets (X2), or rebuilt from
        /// the reported header fields (PS-PDU IPIRIOnly; see `etsi102232`).
        ip_headers: Cow<'a, [u8]>,
        /// Original length of the IP packet the headers belong to.
        wire_len: u32,
        /// Relative to the target.
        direction: Direction,
        /// The report as IRI JSON, when the format carries it as IRI (PS-PDU).
        report: Option<serde_json::Value>,
    },
    /// IRI (Begin/End of interception, session events), fully decoded as JSON.
    Iri(serde_json::Value),
    /// One SIP message of a call (X2 "SIP message" / HI2 IP multimedia IRI);
    /// the PDU's `cin` is the call's. A PS-PDU's SIPMessage carries addresses
    /// without ports: its `src` and `dst` have port 0.
    Sip {
        /// The message's octets.
        message: Cow<'a, [u8]>,
        /// Sender, when the PDU carries it.
        src: Option<std::net::SocketAddr>,
        /// Receiver, when the PDU carries it.
        dst: Option<std::net::SocketAddr>,
    },
    /// Media of a call (X3 "RTP packet" / HI3 IP multimedia CC); the PDU's
    /// `cin` is the call's.
    Media {
        /// The RTP packet (the UDP payload).
        rtp: Cow<'a, [u8]>,
        /// Where it came from.
        src: std::net::SocketAddr,
        /// Where it went.
        dst: std::net::SocketAddr,
        /// Relative to the target.
        direction: Direction,
    },
    /// Keep-alive.
    Keepalive,
    /// Keep-alive answer.
    KeepaliveAck,
}

/// A record that cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field is longer (or shorter) than the format allows.
    #[error("{field} has {len} octets; the format allows {min}..={max}")]
    FieldSize {
        /// Field name.
        field: &'static str,
        /// Actual length.
        len: usize,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// The packet is not IPv4 or IPv6 (by its version nibble).
    #[error("not an IPv4 or IPv6 packet")]
    NotIp,
    /// The format has no way to carry this event (an Ethernet frame in a
    /// TS 102 232 PS-PDU: its IPAccess subset has only IP CC).
    #[error("{0} cannot be carried in this format")]
    NotDeliverable(&'static str),
}

/// Bytes that are not a valid PDU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Invalid BER.
    #[error("BER: {0}")]
    Ber(#[from] BerError),
    /// Well-formed, but not what the format says may be there.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A construct this decoder does not handle.
    #[error("unsupported {0}")]
    Unsupported(&'static str),
}
