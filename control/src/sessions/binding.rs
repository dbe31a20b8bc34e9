//! A binding: which addresses a subscriber's session holds, since when, until when.

use std::net::IpAddr;

use dataplane::targets::Target;
use serde::{Deserialize, Serialize};

use super::signal::Protocol;
use crate::model::Identity;

/// The NAS (or DHCP server / relay) a session was signalled by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nas {
    /// Its address (the sender of the signalling).
    pub address: IpAddr,
    /// NAS-Identifier, or the configured name of the server / relay.
    pub identifier: Option<String>,
}

/// Stable key of a binding: the protocol and what identifies the session in it
/// (RADIUS: NAS address + Acct-Session-Id; DHCPv4: client MAC or client id +
/// address; DHCPv6: DUID + IAID + address or prefix; static: subscriber id +
/// address). Stored; never shown in a log line above debug.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BindingId(pub String);

/// One subscriber session's hold on addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Key.
    pub id: BindingId,
    /// Where it was learned.
    pub protocol: Protocol,
    /// Every identity of the subscriber the signalling named.
    pub identities: Vec<Identity>,
    /// Addresses and prefixes held (`Ipv4`, `Ipv6`, `Ipv4Net`, `Ipv6Net`).
    pub addresses: Vec<Target>,
    /// NAS, DHCP server or relay.
    pub nas: Option<Nas>,
    /// Acct-Session-Id, if RADIUS.
    pub session_id: Option<String>,
    /// When the session started (ns since the Unix epoch, receive time of its
    /// first signalling message).
    pub started_ns: u64,
    /// Receive time of its last signalling message.
    pub updated_ns: u64,
    /// When it lapses without further signalling (`u64::MAX`: never, e.g. static).
    pub expires_ns: u64,
}

/// An Accounting-On or -Off of a NAS: every session of that NAS started by
/// `at_ns` ended then. Persisted while its ends are still being reported, so
/// a crash in the middle does not bring those sessions back as live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NasRestart {
    /// The NAS's address (the sender of the Accounting-On/Off).
    pub nas: IpAddr,
    /// Its receive time, ns since the Unix epoch.
    pub at_ns: u64,
}

/// Why a binding ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Accounting Stop, DHCP RELEASE / DECLINE / NAK, a lifetime of 0.
    Signalled,
    /// The NAS sent Accounting-On or Accounting-Off.
    NasRestart,
    /// No interim update or renewal before it expired.
    Expired,
    /// The address was bound to another subscriber.
    Superseded,
    /// Removed by an operator (static assignment deleted).
    Removed,
}

/// A change of the tracker's bindings, in signalling order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingChange {
    /// A new session holds `binding.addresses` from `binding.started_ns`.
    Started(Binding),
    /// A session's addresses, identities or expiry changed (interim update,
    /// renewal); `old` is what it was.
    Updated {
        /// Before.
        old: Binding,
        /// After.
        new: Binding,
    },
    /// Further signalling for a session that changed neither its addresses nor
    /// its identities (RADIUS Interim-Update, DHCP renewal): the session with
    /// its new `updated_ns` and `expires_ns` (to persist, and for interimUpdate IRI).
    Refreshed(Binding),
    /// A session ended at `at_ns` (receive time of the message that ended it,
    /// or its expiry time).
    Ended {
        /// What it held.
        binding: Binding,
        /// When.
        at_ns: u64,
        /// Why.
        reason: EndReason,
    },
}
