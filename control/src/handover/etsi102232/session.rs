//! Session IPIRI: what RADIUS / DHCP said about a target's session, as
//! `IRIPayload { iRIType, iRIContents iPIRI { IPIRIContents } }`.
//!
//! - iRIType: Begin for sessionStart and startOfInterceptionWithSessionActive,
//!   Continue for interimUpdate, End for sessionEnd (expired too) and
//!   endOfInterceptionWithSessionActive, Report for accessAttempt / Accept /
//!   Reject: they are not part of a session yet (TS 102 232-1 IRI-Report is for
//!   events outside a communication session).
//! - accessEventType has no `sessionExpired`: an expiry is sessionEnd with
//!   endReason connectionTimeout; a signalled end is sessionEnd with
//!   regularLogoff.
//! - targetUsername (mandatory) is the User-Name, else targetNetworkID's text,
//!   else the first address, else empty.
//! - targetIPAddress is the first address or prefix (iP-assignment dynamic or
//!   static; iPv6PrefixLength / iPv4SubnetMask for a prefix), additionalIPAddress
//!   the second; later ones are only in the signalling message (X2, rawAAAData).
//! - targetNetworkID (UTF8String SIZE (1..20)) is left out when longer.
//! - pOPIPAddress is the NAS (or DHCP server / relay). The NAS-Identifier and
//!   Acct-Session-Id have no field in IPIRIContents version15: they are in
//!   rawAAAData, the RADIUS message's octets.

use dataplane::targets::Target;

use super::iri::write_ip_address;
use super::*;
use crate::handover::pdu::{AccessEvent, SessionReport};
use crate::sessions::Protocol;

const IRI_CONTINUE: u32 = 3;
const IP_STATIC: u32 = 1;
const IP_DYNAMIC: u32 = 2;
/// EndReason regularLogoff / connectionTimeout.
const REGULAR_LOGOFF: u32 = 1;
const CONNECTION_TIMEOUT: u32 = 3;
const ACCESS_SESSION_END: u32 = 5;
/// targetNetworkID is `UTF8String (SIZE (1..20))`.
const NETWORK_ID_MAX: usize = 20;

/// (iRIType, accessEventType, endReason) of an access event.
fn codes(e: AccessEvent) -> (u32, u32, Option<u32>) {
    match e {
        AccessEvent::AccessAttempt => (IRI_REPORT, 0, None),
        AccessEvent::AccessAccept => (IRI_REPORT, 1, None),
        AccessEvent::AccessReject => (IRI_REPORT, 2, None),
        AccessEvent::SessionStart => (IRI_BEGIN, 4, None),
        AccessEvent::InterimUpdate => (IRI_CONTINUE, 6, None),
        AccessEvent::SessionEnd => (IRI_END, ACCESS_SESSION_END, Some(REGULAR_LOGOFF)),
        AccessEvent::SessionExpired => (IRI_END, ACCESS_SESSION_END, Some(CONNECTION_TIMEOUT)),
        AccessEvent::StartWithSessionActive => {
            (IRI_BEGIN, START_OF_INTERCEPTION_WITH_SESSION_ACTIVE, None)
        }
        AccessEvent::EndWithSessionActive => {
            (IRI_END, END_OF_INTERCEPTION_WITH_SESSION_ACTIVE, None)
        }
    }
}

/// The access event a decoded session IPIRI reports (the inverse of the encoding).
pub fn access_event(iri: &Value) -> Option<AccessEvent> {
    let ev = match iri.get("accessEventType")?.as_str()? {
        "accessAttempt" => AccessEvent::AccessAttempt,
        "accessAccept" => AccessEvent::AccessAccept,
        "accessReject" => AccessEvent::AccessReject,
        "sessionStart" => AccessEvent::SessionStart,
        "interimUpdate" => AccessEvent::InterimUpdate,
        "sessionEnd" if iri.get("endReason")? == "connectionTimeout" => AccessEvent::SessionExpired,
        "sessionEnd" => AccessEvent::SessionEnd,
        "startOfInterceptionWithSessionActive" => AccessEvent::StartWithSessionActive,
        "endOfInterceptionWithSessionActive" => AccessEvent::EndWithSessionActive,
        _ => return None,
    };
    Some(ev)
}

/// An IP address or prefix of the session (a MAC is not one).
fn ip_of(t: &Target) -> Option<(IpAddr, Option<u8>)> {
    match *t {
        Target::Ipv4(a) => Some((a.into(), None)),
        Target::Ipv6(a) => Some((a.into(), None)),
        Target::Ipv4Net(a, l) => Some((a.into(), Some(l))),
        Target::Ipv6Net(a, l) => Some((a.into(), Some(l))),
        Target::Mac(_) => None,
    }
}

pub(super) fn write_session_ipiri(w: &mut Writer<'_>, r: &SessionReport) {
    let (iri_type, event, end_reason) = codes(r.event);
    let raw = match &r.message {
        Some((Protocol::Radius, m)) => Some(m.as_slice()),
        _ => None,
    };
    let hint = 200 + raw.map_or(0, <[u8]>::len);
    let iri = w.open(Tag::SEQUENCE, hint + 10);
    w.enumerated(Tag::ctx(0), iri_type);
    let contents = w.open(Tag::ctx_cons(2), hint + 6);
    let ipiri = w.open(Tag::ctx_cons(2), hint + 4);
    w.relative_oid(Tag::ctx(0), &IPIRI_OBJ_ID);
    let c = w.open(Tag::ctx_cons(1), hint);
    w.enumerated(Tag::ctx(0), event);
    let mut ips = r.addresses.iter().filter_map(ip_of);
    let first = ips.next();
    let second = ips.next();
    let address_text;
    let username = match (&r.username, &r.network_id, first) {
        (Some(u), _, _) => u.as_bytes(),
        (None, Some(n), _) => n.as_bytes(),
        (None, None, Some((a, _))) => {
            address_text = a.to_string();
            address_text.as_bytes()
        }
        (None, None, None) => &[],
    };
    w.primitive(Tag::ctx(1), username);
    w.enumerated(Tag::ctx(2), 0); // internetAccessType undefined: signalling does not say
    let (v4, v6) = r
        .addresses
        .iter()
        .filter_map(ip_of)
        .fold((false, false), |(v4, v6), (a, _)| {
            (v4 || a.is_ipv4(), v6 || a.is_ipv6())
        });
    let version = match (v4, v6) {
        (true, false) => 1,
        (false, true) => 2,
        _ => 3,
    };
    w.enumerated(Tag::ctx(3), version);
    let assignment = if r.static_assignment {
        IP_STATIC
    } else {
        IP_DYNAMIC
    };
    if let Some((a, prefix)) = first {
        write_ip_address(w, Tag::ctx_cons(4), a, Some(assignment), prefix);
    }
    if let Some(n) = r.network_id.as_deref() {
        if (1..=NETWORK_ID_MAX).contains(&n.len()) {
            w.primitive(Tag::ctx(5), n.as_bytes());
        }
    }
    let starts = matches!(
        r.event,
        AccessEvent::SessionStart | AccessEvent::StartWithSessionActive
    );
    let ends = end_reason.is_some() || r.event == AccessEvent::EndWithSessionActive;
    if let Some(t) = r.session_start_ns.or(starts.then_some(r.at_ns)) {
        w.generalized_time(Tag::ctx(10), t);
    }
    if let Some(t) = r.session_end_ns.or(ends.then_some(r.at_ns)) {
        w.generalized_time(Tag::ctx(11), t);
    }
    if let Some(reason) = end_reason {
        w.enumerated(Tag::ctx(12), reason);
    }
    if let Some(m) = raw {
        w.primitive(Tag::ctx(15), m);
    }
    if let Some(nas) = r.nas {
        write_ip_address(w, Tag::ctx_cons(19), nas, None, None);
    }
    if let Some((a, prefix)) = second {
        write_ip_address(w, Tag::ctx_cons(21), a, Some(assignment), prefix);
    }
    w.close(c);
    w.close(ipiri);
    w.close(contents);
    w.close(iri);
}
