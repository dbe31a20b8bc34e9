//! What the call tracker reports: calls, their parties, their media.

use std::net::{IpAddr, SocketAddr};

use dataplane::targets::Target;

use crate::model::Identity;

/// A call (or a registration dialog) the tracker follows; unique for the life
/// of the process, never reused. Its low 32 bits are the correlation number
/// that ties the call's IRI and CC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

impl CallRef {
    /// The correlation number carried in the call's IRI and CC.
    #[must_use]
    pub fn cin(self) -> u32 {
        self.0 as u32
    }
}

/// What a party is to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Calling party (From, P-Asserted-Identity of the INVITE).
    Caller,
    /// Called party (To, Request-URI of the INVITE, and the address of
    /// record a registered contact in the Request-URI belongs to).
    Callee,
    /// The address of record of a REGISTER.
    Registrant,
}

/// One identity a call names, and in which role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Party {
    /// The identity (kind `sip` or `tel`).
    pub identity: Identity,
    /// Its role.
    pub role: Role,
}

/// Where one side of a call receives a media stream (RTP or RTCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaEndpoint(pub SocketAddr);

impl MediaEndpoint {
    /// The UDP endpoint target the dataplane matches it with.
    #[must_use]
    pub fn target(self) -> Target {
        match self.0.ip() {
            IpAddr::V4(a) => Target::Ipv4Udp(a, self.0.port()),
            IpAddr::V6(a) => Target::Ipv6Udp(a, self.0.port()),
        }
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// BYE.
    Bye,
    /// CANCEL before an answer.
    Cancelled,
    /// A final response of 300 or more to the INVITE (the status).
    Rejected(u16),
    /// No signalling within the configured timeout.
    Timeout,
    /// A registration removed (Expires 0) or lapsed.
    Unregistered,
}

/// A change the tracker reports, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallChange {
    /// The first message of a call or registration: its parties. Every later
    /// change of the call names it by `call`.
    Started {
        /// The call.
        call: CallRef,
        /// Its SIP Call-ID.
        call_id: String,
        /// Every identity it names, with role.
        parties: Vec<Party>,
        /// Receive time of the message.
        ts_ns: u64,
    },
    /// Parties a later INVITE of the call named first (a proxy's retargeted
    /// copy, the caller's retry after a redirect): the call is theirs from
    /// `ts_ns` on, before that INVITE's other changes and its `Message`.
    Joined {
        /// The call.
        call: CallRef,
        /// The parties new to the call, with role.
        parties: Vec<Party>,
        /// Where the call's media flow at that moment (reported added before).
        media: Vec<MediaEndpoint>,
        /// Receive time of the INVITE.
        ts_ns: u64,
    },
    /// A SIP message of the call (every one, the first included, after its
    /// other changes): the IRI for the call's intercepts.
    Message {
        /// The call.
        call: CallRef,
        /// Receive time.
        ts_ns: u64,
    },
    /// The call was answered (2xx to the initial INVITE).
    Answered {
        /// The call.
        call: CallRef,
        /// Receive time of the answer.
        ts_ns: u64,
    },
    /// Media of the call may flow to `endpoint` from `ts_ns` on.
    MediaAdded {
        /// The call.
        call: CallRef,
        /// Where it flows to.
        endpoint: MediaEndpoint,
        /// From when.
        ts_ns: u64,
    },
    /// Media of the call no longer flows to `endpoint` after `ts_ns`.
    MediaRemoved {
        /// The call.
        call: CallRef,
        /// Where it flowed to.
        endpoint: MediaEndpoint,
        /// Until when.
        ts_ns: u64,
    },
    /// The call ended (its media were removed first).
    Ended {
        /// The call.
        call: CallRef,
        /// How.
        reason: CallEnd,
        /// When.
        ts_ns: u64,
    },
}
