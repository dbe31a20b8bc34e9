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
        "sessionEnd"
            if iri
                .get("endReason")
                .is_some_and(|r| r == "connectionTimeout") =>
        {
            AccessEvent::SessionExpired
        }
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
        Target::Mac(_)
        | Target::Ipv4Udp(..)
        | Target::Ipv6Udp(..)
        | Target::Ipv4Tcp(..)
        | Target::Ipv6Tcp(..) => None,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::handover::pdu::{decode_next, encode, Format, Identity, PduHeader};

    const EVENTS: [AccessEvent; 9] = [
        AccessEvent::AccessAttempt,
        AccessEvent::AccessAccept,
        AccessEvent::AccessReject,
        AccessEvent::SessionStart,
        AccessEvent::InterimUpdate,
        AccessEvent::SessionEnd,
        AccessEvent::SessionExpired,
        AccessEvent::StartWithSessionActive,
        AccessEvent::EndWithSessionActive,
    ];

    /// A RADIUS Accounting-Request (Start) with User-Name and Framed-IP-Address.
    fn radius() -> Vec<u8> {
        let mut m = vec![4, 7, 0, 0];
        m.extend_from_slice(&[0xab; 16]);
        m.extend_from_slice(&[1, 11]);
        m.extend_from_slice(b"alice@isp");
        m.extend_from_slice(&[40, 6, 0, 0, 0, 1, 8, 6, 100, 64, 0, 9]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    fn report(event: AccessEvent, message: Option<(Protocol, Vec<u8>)>) -> SessionReport {
        SessionReport {
            event,
            at_ns: 1_795_290_013_000_000_000,
            username: Some("alice@isp".into()),
            addresses: vec![
                Target::Ipv4(Ipv4Addr::new(100, 64, 0, 9)),
                Target::Ipv6Net(Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 0), 56),
            ],
            static_assignment: false,
            network_id: Some("02:00:00:00:00:09".into()),
            nas: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
            nas_id: Some("bng-1".into()),
            session_id: Some("S-1".into()),
            session_start_ns: Some(1_795_290_000_000_000_000),
            session_end_ns: None,
            message,
        }
    }

    fn round_trip(format: Format, r: &SessionReport) -> Value {
        let id = Identity {
            operator_id: "OP1".into(),
            network_element_id: "probe-1".into(),
            country_code: "DE".into(),
        };
        let h = PduHeader {
            liid: "LIID-42",
            xid: uuid::Uuid::from_u128(42),
            cin: 77,
            sequence: 5,
            timestamp_ns: r.at_ns,
            identity: &id,
        };
        let mut out = Vec::new();
        encode(format, &h, &Event::Session(r), &mut out).unwrap();
        let (d, used) = decode_next(format, &out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!((d.cin, d.sequence), (77, 5), "correlated like the content");
        let DecodedKind::Iri(v) = d.kind else {
            panic!("{:?}", d.kind)
        };
        v
    }

    #[test]
    fn every_access_event_round_trips_as_ipiri() {
        for (format, message) in [
            (Format::Etsi102232, Some((Protocol::Radius, radius()))),
            // X2 carries the IPIRI when there is no message.
            (Format::X2X3, None),
        ] {
            for ev in EVENTS {
                let v = round_trip(format, &report(ev, message.clone()));
                assert_eq!(access_event(&v), Some(ev), "{format:?} {v}");
                let iri_type = match ev {
                    AccessEvent::SessionStart | AccessEvent::StartWithSessionActive => "iRI-Begin",
                    AccessEvent::InterimUpdate => "iRI-Continue",
                    AccessEvent::SessionEnd
                    | AccessEvent::SessionExpired
                    | AccessEvent::EndWithSessionActive => "iRI-End",
                    _ => "iRI-Report",
                };
                assert_eq!(v["iRIType"], iri_type);
                assert_eq!(v["targetUsername"], "alice@isp");
                assert_eq!(v["iPVersion"], "iPV4andV6");
                assert_eq!(v["targetIPAddress"], "100.64.0.9");
                assert_eq!(v["targetIPAddressAssignment"], "dynamic");
                assert_eq!(v["additionalIPAddress"], "2001:db8:7::");
                assert_eq!(v["additionalIPAddressPrefixLength"], 56);
                assert_eq!(v["targetNetworkID"], "02:00:00:00:00:09");
                assert_eq!(v["pOPIPAddress"], "192.0.2.1");
                assert_eq!(v["startTime"], "20261121194000Z");
                let raw = message.as_ref().map(|(_, m)| json!(hex::encode(m)));
                assert_eq!(v.get("rawAAAData"), raw.as_ref());
            }
        }
    }

    #[test]
    fn x2_carries_the_signalling_message() {
        let r = report(
            AccessEvent::SessionStart,
            Some((Protocol::Radius, radius())),
        );
        let v = round_trip(Format::X2X3, &r);
        assert_eq!(v["type"], "radius");
        assert_eq!(v["message"], hex::encode(radius()));
        assert_eq!(
            (v["code"].clone(), v["identifier"].clone()),
            (json!(4), json!(7))
        );
        assert_eq!(v["User-Name"], "alice@isp");
        assert_eq!(v["Acct-Status-Type"], 1);
        assert_eq!(v["Framed-IP-Address"], "100.64.0.9");
        let mut dhcp = vec![0u8; 240];
        dhcp[..4].copy_from_slice(&[2, 1, 6, 0]);
        dhcp[16..20].copy_from_slice(&[100, 64, 0, 9]);
        dhcp[236..].copy_from_slice(&[99, 130, 83, 99]);
        dhcp.extend_from_slice(&[53, 1, 5, 255]);
        let r = report(
            AccessEvent::SessionStart,
            Some((Protocol::Dhcp4, dhcp.clone())),
        );
        let v = round_trip(Format::X2X3, &r);
        assert_eq!(v["type"], "dhcp");
        assert_eq!(v["message"], hex::encode(&dhcp));
        assert_eq!(v["yiaddr"], "100.64.0.9");
        assert_eq!(v["messageType"], 5);
        assert!(v.get("malformed").is_none());
    }

    #[test]
    fn prefixes_static_assignment_and_missing_username() {
        let mut r = report(AccessEvent::SessionExpired, None);
        r.username = None;
        r.static_assignment = true;
        r.addresses = vec![Target::Ipv4Net(Ipv4Addr::new(198, 51, 100, 0), 24)];
        r.network_id = Some("a-calling-station-id-longer-than-20".into());
        let v = round_trip(Format::Etsi102232, &r);
        assert_eq!(v["targetUsername"], "a-calling-station-id-longer-than-20");
        assert!(v.get("targetNetworkID").is_none(), "SIZE (1..20)");
        assert_eq!(v["targetIPAddress"], "198.51.100.0");
        assert_eq!(v["targetIPAddressPrefixLength"], 24);
        assert_eq!(v["targetIPAddressAssignment"], "static");
        assert_eq!(v["iPVersion"], "iPV4");
        assert_eq!(v["accessEventType"], "sessionEnd");
        assert_eq!(v["endReason"], "connectionTimeout");
        assert_eq!(v["endTime"], "20261121194013Z");
    }
}
