//! The call tracker's rules, through its public interface: calls made and
//! received, forking, media moved by re-INVITE, hold, CANCEL, rejection,
//! timeouts, registrations, an endpoint reused by a later call, IPv6 and
//! rtcp-mux media, RTCP on its own address, a callee joining by a retargeted
//! or redirected INVITE, the call limit; and (property test) that whatever the
//! signalling, an endpoint has one call, every call's media go before it ends,
//! and a party joins a call once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use control::model::{Identity, IdentityKind};
use control::voice::tracker::CallTracker;
use control::voice::{
    CallChange, CallEnd, CallRef, Media, MediaDirection, MediaEndpoint, Method, NameAddr, Party,
    Role, Sdp, SipMessage, StartLine, VoiceConfig,
};
use proptest::prelude::*;

const S: u64 = 1_000_000_000;
const SETUP: u32 = 180;
const CALL: u32 = 3600;

fn config(max_calls: usize) -> VoiceConfig {
    VoiceConfig {
        sip_servers: vec!["192.0.2.254".parse().unwrap()],
        sip_ports: vec![5060],
        call_timeout_secs: CALL,
        setup_timeout_secs: SETUP,
        max_calls,
    }
}

/// Client and proxy addresses of the messages (the tracker goes by headers).
fn ua() -> SocketAddr {
    "192.0.2.10:5060".parse().unwrap()
}
fn proxy() -> SocketAddr {
    "192.0.2.254:5060".parse().unwrap()
}

fn ep(s: &str) -> MediaEndpoint {
    MediaEndpoint(s.parse().unwrap())
}

/// An SDP body: per stream (address, RTP port, RTCP port, direction).
fn sdp(streams: &[(&str, u16, u16, MediaDirection)]) -> Option<Sdp> {
    Some(Sdp {
        media: streams
            .iter()
            .map(|&(addr, rtp_port, rtcp_port, direction)| Media {
                kind: "audio".into(),
                addr: addr.parse::<IpAddr>().unwrap(),
                rtp_port,
                rtcp_port,
                rtcp_addr: addr.parse::<IpAddr>().unwrap(),
                direction,
            })
            .collect(),
    })
}

fn audio(addr: &str, port: u16) -> Option<Sdp> {
    sdp(&[(addr, port, port + 1, MediaDirection::SendRecv)])
}

fn na(uri: &str, tag: Option<&str>) -> NameAddr {
    NameAddr {
        uri: uri.into(),
        tag: tag.map(Into::into),
    }
}

/// One INVITE dialog's messages, as the caller (`alice`, tag `a`) and the
/// callee (`bob`) send them.
struct Dlg {
    call_id: &'static str,
    caller: &'static str,
    callee: &'static str,
}

const ALICE_BOB: Dlg = Dlg {
    call_id: "c1@192.0.2.10",
    caller: "sip:alice@example.com",
    callee: "sip:bob@example.com",
};

impl Dlg {
    fn msg(
        &self,
        start: StartLine,
        from: NameAddr,
        to: NameAddr,
        cseq: (u32, Method),
    ) -> SipMessage {
        SipMessage {
            start,
            call_id: self.call_id.into(),
            from,
            to,
            cseq,
            contacts: Vec::new(),
            asserted: Vec::new(),
            expires: None,
            sdp: None,
        }
    }

    /// The caller's INVITE to `ruri` (no To tag).
    fn invite(&self, ruri: &str, cseq: u32, body: Option<Sdp>) -> SipMessage {
        let start = StartLine::Request {
            method: Method::Invite,
            uri: ruri.into(),
        };
        let mut m = self.msg(
            start,
            na(self.caller, Some("a")),
            na(self.callee, None),
            (cseq, Method::Invite),
        );
        m.sdp = body;
        m
    }

    /// A request of the caller in dialog `to_tag` (None: early, no tag).
    fn by_caller(
        &self,
        method: Method,
        to_tag: Option<&str>,
        cseq: u32,
        body: Option<Sdp>,
    ) -> SipMessage {
        let start = StartLine::Request {
            method: method.clone(),
            uri: "sip:bob@192.0.2.20".into(),
        };
        let mut m = self.msg(
            start,
            na(self.caller, Some("a")),
            na(self.callee, to_tag),
            (cseq, method),
        );
        m.sdp = body;
        m
    }

    /// The callee's (dialog `tag`) response to the caller's request.
    fn answer(
        &self,
        status: u16,
        tag: Option<&str>,
        cseq: (u32, Method),
        body: Option<Sdp>,
    ) -> SipMessage {
        let start = StartLine::Response { status };
        let mut m = self.msg(
            start,
            na(self.caller, Some("a")),
            na(self.callee, tag),
            cseq,
        );
        m.sdp = body;
        m
    }

    /// The callee's (dialog `tag`) response to the INVITE with CSeq 1.
    fn to_invite(&self, status: u16, tag: &str, body: Option<Sdp>) -> SipMessage {
        self.answer(status, Some(tag), (1, Method::Invite), body)
    }

    /// A request of the callee (dialog `tag`).
    fn by_callee(&self, method: Method, tag: &str, cseq: u32, body: Option<Sdp>) -> SipMessage {
        let start = StartLine::Request {
            method: method.clone(),
            uri: "sip:alice@192.0.2.10".into(),
        };
        let mut m = self.msg(
            start,
            na(self.callee, Some(tag)),
            na(self.caller, Some("a")),
            (cseq, method),
        );
        m.sdp = body;
        m
    }

    /// The caller's response to the callee's (dialog `tag`) request.
    fn reply(&self, status: u16, tag: &str, cseq: (u32, Method), body: Option<Sdp>) -> SipMessage {
        let start = StartLine::Response { status };
        let mut m = self.msg(
            start,
            na(self.callee, Some(tag)),
            na(self.caller, Some("a")),
            cseq,
        );
        m.sdp = body;
        m
    }
}

/// Feeds messages one second apart from `t0` seconds on; returns what changed.
struct Run {
    t: CallTracker,
}

impl Run {
    fn new() -> Self {
        Self {
            t: CallTracker::new(&config(1000)),
        }
    }

    fn at(&mut self, secs: u64, m: &SipMessage) -> Vec<CallChange> {
        let mut out = Vec::new();
        self.t.apply(secs * S, ua(), proxy(), m, &mut out);
        out
    }

    fn expire(&mut self, secs: u64) -> Vec<CallChange> {
        let mut out = Vec::new();
        self.t.expire(secs * S, &mut out);
        out
    }
}

fn sip(v: &str) -> Identity {
    Identity::new("t", IdentityKind::Sip, v).unwrap()
}

fn party(v: &str, role: Role) -> Party {
    Party {
        identity: sip(v),
        role,
    }
}

fn started(call: u64, call_id: &str, parties: Vec<Party>, secs: u64) -> CallChange {
    CallChange::Started {
        call: CallRef(call),
        call_id: call_id.into(),
        parties,
        ts_ns: secs * S,
    }
}
fn message(call: u64, secs: u64) -> CallChange {
    CallChange::Message {
        call: CallRef(call),
        ts_ns: secs * S,
    }
}
fn answered(call: u64, secs: u64) -> CallChange {
    CallChange::Answered {
        call: CallRef(call),
        ts_ns: secs * S,
    }
}
fn added(call: u64, e: &str, secs: u64) -> CallChange {
    CallChange::MediaAdded {
        call: CallRef(call),
        endpoint: ep(e),
        ts_ns: secs * S,
    }
}
fn removed(call: u64, e: &str, secs: u64) -> CallChange {
    CallChange::MediaRemoved {
        call: CallRef(call),
        endpoint: ep(e),
        ts_ns: secs * S,
    }
}
fn ended(call: u64, reason: CallEnd, secs: u64) -> CallChange {
    CallChange::Ended {
        call: CallRef(call),
        reason,
        ts_ns: secs * S,
    }
}

fn alice_bob_parties() -> Vec<Party> {
    vec![
        party("alice@example.com", Role::Caller),
        party("bob@example.com", Role::Callee),
    ]
}

/// INVITE with offer, 100, 180, 200 with answer: the call up.
fn set_up(r: &mut Run, d: &Dlg) {
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    r.at(2, &d.to_invite(180, "b", None));
    r.at(3, &d.to_invite(200, "b", audio("192.0.2.20", 6000)));
    r.at(4, &d.by_caller(Method::Ack, Some("b"), 1, None));
}

#[test]
fn target_calling_from_invite_to_bye() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    let mut invite = d.invite(d.callee, 1, audio("192.0.2.10", 4000));
    invite.asserted = vec!["sip:+15551230001@example.com;user=phone".into()];
    assert_eq!(
        r.at(1, &invite),
        vec![
            started(
                1,
                d.call_id,
                vec![
                    party("alice@example.com", Role::Caller),
                    // A user=phone number is the caller's telephone number.
                    Party {
                        identity: Identity::new("t", IdentityKind::Tel, "+15551230001").unwrap(),
                        role: Role::Caller,
                    },
                    party("bob@example.com", Role::Callee),
                ],
                1
            ),
            added(1, "192.0.2.10:4000", 1),
            added(1, "192.0.2.10:4001", 1),
            message(1, 1),
        ]
    );
    assert_eq!(r.t.calls(), 1);
    assert_eq!(
        r.at(2, &d.answer(100, None, (1, Method::Invite), None)),
        vec![message(1, 2)]
    );
    assert_eq!(r.at(3, &d.to_invite(180, "b", None)), vec![message(1, 3)]);
    assert_eq!(
        r.at(4, &d.to_invite(200, "b", audio("192.0.2.20", 6000))),
        vec![
            answered(1, 4),
            added(1, "192.0.2.20:6000", 4),
            added(1, "192.0.2.20:6001", 4),
            message(1, 4),
        ]
    );
    assert_eq!(
        r.at(5, &d.by_caller(Method::Ack, Some("b"), 1, None)),
        vec![message(1, 5)]
    );
    assert_eq!(
        r.at(60, &d.by_caller(Method::Bye, Some("b"), 2, None)),
        vec![
            removed(1, "192.0.2.10:4000", 60),
            removed(1, "192.0.2.10:4001", 60),
            removed(1, "192.0.2.20:6000", 60),
            removed(1, "192.0.2.20:6001", 60),
            ended(1, CallEnd::Bye, 60),
            message(1, 60),
        ]
    );
    assert_eq!(r.t.calls(), 0);
    // The 200 to the BYE is still the call's message.
    assert_eq!(
        r.at(61, &d.answer(200, Some("b"), (2, Method::Bye), None)),
        vec![message(1, 61)]
    );
}

#[test]
fn target_called_and_hanging_up() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    let out = r.at(
        1,
        &d.invite("sip:bob@example.com", 1, audio("192.0.2.10", 4000)),
    );
    assert_eq!(
        out.first(),
        Some(&started(1, d.call_id, alice_bob_parties(), 1))
    );
    r.at(2, &d.to_invite(200, "b", audio("192.0.2.20", 6000)));
    // The callee's BYE (From bob with its tag, To alice).
    assert_eq!(
        r.at(30, &d.by_callee(Method::Bye, "b", 7, None)),
        vec![
            removed(1, "192.0.2.10:4000", 30),
            removed(1, "192.0.2.10:4001", 30),
            removed(1, "192.0.2.20:6000", 30),
            removed(1, "192.0.2.20:6001", 30),
            ended(1, CallEnd::Bye, 30),
            message(1, 30),
        ]
    );
    assert_eq!(
        r.at(30, &d.reply(200, "b", (7, Method::Bye), None)),
        vec![message(1, 30)]
    );
}

#[test]
fn stray_messages_of_unknown_dialogs_change_nothing() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    assert!(r
        .at(1, &d.by_caller(Method::Bye, Some("b"), 2, None))
        .is_empty());
    assert!(r
        .at(1, &d.to_invite(200, "b", audio("192.0.2.20", 6000)))
        .is_empty());
    // A re-INVITE (To tag) of a dialog never seen starts nothing.
    assert!(r
        .at(
            1,
            &d.by_callee(Method::Invite, "b", 3, audio("192.0.2.20", 6000))
        )
        .is_empty());
    set_up(&mut r, &d);
    // Same Call-ID, tags of another dialog.
    let mut other = d.by_caller(Method::Bye, Some("zz"), 2, None);
    other.from.tag = Some("yy".into());
    assert!(r.at(9, &other).is_empty());
    assert_eq!(r.t.calls(), 1);
}

#[test]
fn forked_call_keeps_the_answering_dialog_media() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    assert_eq!(
        r.at(2, &d.to_invite(183, "f1", audio("198.51.100.1", 7000))),
        vec![
            added(1, "198.51.100.1:7000", 2),
            added(1, "198.51.100.1:7001", 2),
            message(1, 2)
        ]
    );
    assert_eq!(
        r.at(3, &d.to_invite(183, "f2", audio("198.51.100.2", 8000))),
        vec![
            added(1, "198.51.100.2:8000", 3),
            added(1, "198.51.100.2:8001", 3),
            message(1, 3)
        ]
    );
    assert_eq!(
        r.at(4, &d.to_invite(200, "f2", audio("198.51.100.2", 8000))),
        vec![
            answered(1, 4),
            removed(1, "198.51.100.1:7000", 4),
            removed(1, "198.51.100.1:7001", 4),
            message(1, 4)
        ]
    );
    // A late 2xx of the other fork is the call's message, its media not followed.
    assert_eq!(
        r.at(5, &d.to_invite(200, "f1", audio("198.51.100.1", 7000))),
        vec![message(1, 5)]
    );
}

#[test]
fn re_invite_moves_only_the_changed_media_make_before_break() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    set_up(&mut r, &d);
    // The callee moves its RTP port; the video stream stays.
    let two = |port: u16| {
        sdp(&[
            ("192.0.2.20", port, port, MediaDirection::SendRecv),
            ("192.0.2.20", 9000, 9001, MediaDirection::SendRecv),
        ])
    };
    r.at(5, &d.by_callee(Method::Update, "b", 1, two(6000)));
    r.at(
        5,
        &d.reply(200, "b", (1, Method::Update), audio("192.0.2.10", 4000)),
    );
    assert_eq!(
        r.at(10, &d.by_callee(Method::Invite, "b", 2, two(6100))),
        vec![added(1, "192.0.2.20:6100", 10), message(1, 10)]
    );
    assert_eq!(
        r.at(
            11,
            &d.reply(200, "b", (2, Method::Invite), audio("192.0.2.10", 4000))
        ),
        vec![removed(1, "192.0.2.20:6000", 11), message(1, 11)]
    );
    // An offer refused (488) restores what was before.
    assert_eq!(
        r.at(
            12,
            &d.by_caller(Method::Invite, Some("b"), 3, audio("203.0.113.5", 5000))
        ),
        vec![
            added(1, "203.0.113.5:5000", 12),
            added(1, "203.0.113.5:5001", 12),
            message(1, 12)
        ]
    );
    assert_eq!(
        r.at(13, &d.answer(488, Some("b"), (3, Method::Invite), None)),
        vec![
            removed(1, "203.0.113.5:5000", 13),
            removed(1, "203.0.113.5:5001", 13),
            message(1, 13)
        ]
    );
    assert_eq!(r.t.calls(), 1);
}

#[test]
fn hold_sendonly_keeps_media_inactive_and_null_address_remove_it() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    set_up(&mut r, &d);
    // The caller's re-INVITE `cseq` and the callee's 200, with these directions.
    let offer = |cseq, dir| {
        let body = sdp(&[("192.0.2.10", 4000, 4001, dir)]);
        d.by_caller(Method::Invite, Some("b"), cseq, body)
    };
    let ok = |cseq, dir| {
        let body = sdp(&[("192.0.2.20", 6000, 6001, dir)]);
        d.answer(200, Some("b"), (cseq, Method::Invite), body)
    };
    // sendonly/recvonly: media still flow one way (and RTCP both ways).
    assert_eq!(
        r.at(10, &offer(2, MediaDirection::SendOnly)),
        vec![message(1, 10)]
    );
    assert_eq!(
        r.at(11, &ok(2, MediaDirection::RecvOnly)),
        vec![message(1, 11)]
    );
    // inactive: nothing flows; the offerer's endpoints stay until the answer.
    assert_eq!(
        r.at(20, &offer(3, MediaDirection::Inactive)),
        vec![message(1, 20)]
    );
    assert_eq!(
        r.at(21, &ok(3, MediaDirection::Inactive)),
        vec![
            removed(1, "192.0.2.10:4000", 21),
            removed(1, "192.0.2.10:4001", 21),
            removed(1, "192.0.2.20:6000", 21),
            removed(1, "192.0.2.20:6001", 21),
            message(1, 21)
        ]
    );
    // Resumed, then held the RFC 2543 way (c=0.0.0.0) by the callee.
    r.at(
        30,
        &d.by_caller(Method::Invite, Some("b"), 4, audio("192.0.2.10", 4000)),
    );
    assert_eq!(
        r.at(
            31,
            &d.answer(
                200,
                Some("b"),
                (4, Method::Invite),
                audio("192.0.2.20", 6000)
            )
        ),
        vec![
            added(1, "192.0.2.20:6000", 31),
            added(1, "192.0.2.20:6001", 31),
            message(1, 31)
        ]
    );
    r.at(
        40,
        &d.by_callee(Method::Invite, "b", 2, audio("0.0.0.0", 6000)),
    );
    assert_eq!(
        r.at(
            41,
            &d.reply(200, "b", (2, Method::Invite), audio("192.0.2.10", 4000))
        ),
        vec![
            removed(1, "192.0.2.20:6000", 41),
            removed(1, "192.0.2.20:6001", 41),
            message(1, 41)
        ]
    );
}

#[test]
fn cancel_before_answer_ends_at_the_487() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    r.at(2, &d.to_invite(180, "b", None));
    assert_eq!(
        r.at(3, &d.by_caller(Method::Cancel, None, 1, None)),
        vec![message(1, 3)]
    );
    assert_eq!(
        r.at(3, &d.answer(200, Some("b"), (1, Method::Cancel), None)),
        vec![message(1, 3)]
    );
    assert_eq!(
        r.at(4, &d.to_invite(487, "b", None)),
        vec![
            removed(1, "192.0.2.10:4000", 4),
            removed(1, "192.0.2.10:4001", 4),
            ended(1, CallEnd::Cancelled, 4),
            message(1, 4)
        ]
    );
    assert_eq!(
        r.at(4, &d.by_caller(Method::Ack, Some("b"), 1, None)),
        vec![message(1, 4)]
    );
    assert_eq!(r.t.calls(), 0);
}

/// Call 1's INVITE with an offer at 1 s; at 2 s a `status` (dialog `tag`)
/// that withdraws the offer but lets the call wait for a retry, and its ACK.
fn offer_withdrawn_for_a_retry(r: &mut Run, d: &Dlg, status: u16, tag: &str) {
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    assert_eq!(
        r.at(2, &d.to_invite(status, tag, None)),
        vec![
            removed(1, "192.0.2.10:4000", 2),
            removed(1, "192.0.2.10:4001", 2),
            message(1, 2)
        ]
    );
    r.at(2, &d.by_caller(Method::Ack, Some(tag), 1, None));
}

#[test]
fn rejected_call_ends_but_an_auth_challenge_does_not() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    offer_withdrawn_for_a_retry(&mut r, &d, 407, "p");
    assert_eq!(
        r.at(3, &d.invite(d.callee, 2, audio("192.0.2.10", 4000))),
        vec![
            added(1, "192.0.2.10:4000", 3),
            added(1, "192.0.2.10:4001", 3),
            message(1, 3)
        ]
    );
    assert_eq!(
        r.at(4, &d.answer(486, Some("b"), (2, Method::Invite), None)),
        vec![
            removed(1, "192.0.2.10:4000", 4),
            removed(1, "192.0.2.10:4001", 4),
            ended(1, CallEnd::Rejected(486), 4),
            message(1, 4)
        ]
    );
    assert_eq!(r.t.calls(), 0);
}

#[test]
fn calls_without_signalling_time_out() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    r.at(2, &d.to_invite(180, "b", None));
    assert!(r.expire(2 + u64::from(SETUP) - 1).is_empty());
    let t = 2 + u64::from(SETUP);
    assert_eq!(
        r.expire(t + 5),
        vec![
            removed(1, "192.0.2.10:4000", t),
            removed(1, "192.0.2.10:4001", t),
            ended(1, CallEnd::Timeout, t)
        ]
    );
    assert_eq!(r.t.calls(), 0);

    // An answered call lasts the call timeout from its last message.
    let d2 = Dlg {
        call_id: "c2@192.0.2.10",
        ..ALICE_BOB
    };
    set_up(&mut r, &d2);
    assert!(r.expire(4 + u64::from(SETUP) + 10).is_empty());
    r.at(100, &d2.by_caller(Method::Update, Some("b"), 2, None));
    assert!(r.expire(99 + u64::from(CALL)).is_empty());
    let out = r.expire(100 + u64::from(CALL));
    assert_eq!(
        out.last(),
        Some(&ended(2, CallEnd::Timeout, 100 + u64::from(CALL)))
    );
    assert_eq!(out.len(), 5);
}

fn register(call_id: &str, cseq: u32, expires: Option<u32>) -> SipMessage {
    SipMessage {
        start: StartLine::Request {
            method: Method::Register,
            uri: "sip:example.com".into(),
        },
        call_id: call_id.into(),
        from: na("sip:bob@example.com", Some(&format!("r{cseq}"))),
        to: na("sip:bob@example.com", None),
        cseq: (cseq, Method::Register),
        contacts: vec![na("<sip:bob@192.0.2.50:5062;transport=udp>", None)],
        asserted: Vec::new(),
        expires,
        sdp: None,
    }
}

fn registered(call_id: &str, cseq: u32, expires: Option<u32>) -> SipMessage {
    let mut m = register(call_id, cseq, None);
    m.start = StartLine::Response { status: 200 };
    m.to.tag = Some("reg".into());
    m.expires = expires;
    m
}

#[test]
fn registration_binds_contact_to_aor_until_removed_or_lapsed() {
    let mut r = Run::new();
    let bob = vec![party("bob@example.com", Role::Registrant)];
    assert_eq!(
        r.at(1, &register("reg1", 1, Some(600))),
        vec![started(1, "reg1", bob.clone(), 1), message(1, 1)]
    );
    assert_eq!(
        r.at(1, &registered("reg1", 1, Some(600))),
        vec![message(1, 1)]
    );
    // A call to the contact names bob's address of record.
    let d = Dlg {
        call_id: "c9",
        caller: "sip:carol@example.org",
        callee: "sip:+15559990000@gw.example.org",
    };
    let out = r.at(5, &d.invite("sip:bob@192.0.2.50:5062", 1, None));
    assert_eq!(
        out,
        vec![
            started(
                2,
                "c9",
                vec![
                    party("carol@example.org", Role::Caller),
                    party("+15559990000@gw.example.org", Role::Callee),
                    party("bob@192.0.2.50:5062", Role::Callee),
                    party("bob@example.com", Role::Callee),
                ],
                5
            ),
            message(2, 5)
        ]
    );
    // Refreshed (same Call-ID, new From tag), then removed with Expires 0.
    assert_eq!(
        r.at(500, &register("reg1", 2, Some(600))),
        vec![message(1, 500)]
    );
    assert_eq!(
        r.at(500, &registered("reg1", 2, Some(600))),
        vec![message(1, 500)]
    );
    // Only the unanswered call to the contact timed out, not the registration.
    assert_eq!(
        r.expire(1000),
        vec![ended(2, CallEnd::Timeout, 5 + u64::from(SETUP))]
    );
    r.at(600, &register("reg1", 3, Some(0)));
    assert_eq!(
        r.at(600, &registered("reg1", 3, None)),
        vec![ended(1, CallEnd::Unregistered, 600), message(1, 600)]
    );
    // No longer registered: the contact names nobody.
    let d3 = Dlg {
        call_id: "c10",
        ..d
    };
    let out = r.at(601, &d3.invite("sip:bob@192.0.2.50:5062", 1, None));
    let CallChange::Started { parties, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert!(!parties.contains(&party("bob@example.com", Role::Callee)));

    // A second registration lapses.
    r.at(700, &register("reg2", 1, None));
    r.at(700, &registered("reg2", 1, Some(60)));
    assert!(r.expire(759).is_empty());
    assert_eq!(r.expire(760), vec![ended(4, CallEnd::Unregistered, 760)]);
}

#[test]
fn endpoint_reused_by_a_later_call_belongs_to_it_alone() {
    let mut r = Run::new();
    let a = ALICE_BOB;
    set_up(&mut r, &a);
    // Alice's phone is reassigned to another subscriber; the BYE of call 1 was
    // never seen. Call 2 names alice's old endpoint 192.0.2.10:4000.
    let b = Dlg {
        call_id: "c2",
        caller: "sip:dave@example.com",
        callee: "sip:erin@example.com",
    };
    assert_eq!(
        r.at(50, &b.invite(b.callee, 1, audio("192.0.2.10", 4000))),
        vec![
            started(
                2,
                "c2",
                vec![
                    party("dave@example.com", Role::Caller),
                    party("erin@example.com", Role::Callee)
                ],
                50
            ),
            removed(1, "192.0.2.10:4000", 50),
            added(2, "192.0.2.10:4000", 50),
            removed(1, "192.0.2.10:4001", 50),
            added(2, "192.0.2.10:4001", 50),
            message(2, 50),
        ]
    );
    // Call 1 does not take it back on its next message (without SDP), and
    // ends with what it kept.
    assert_eq!(
        r.at(60, &a.by_caller(Method::Update, Some("b"), 2, None)),
        vec![message(1, 60)]
    );
    assert_eq!(
        r.at(61, &a.by_caller(Method::Bye, Some("b"), 3, None)),
        vec![
            removed(1, "192.0.2.20:6000", 61),
            removed(1, "192.0.2.20:6001", 61),
            ended(1, CallEnd::Bye, 61),
            message(1, 61)
        ]
    );
    // After call 2 ends cleanly, a third call adds the endpoint afresh.
    r.at(70, &b.by_caller(Method::Bye, None, 2, None));
    let c = Dlg { call_id: "c3", ..b };
    let out = r.at(80, &c.invite(c.callee, 1, audio("192.0.2.10", 4000)));
    assert_eq!(
        out[1..3],
        [
            added(3, "192.0.2.10:4000", 80),
            added(3, "192.0.2.10:4001", 80)
        ]
    );
}

#[test]
fn ipv6_media_and_rtcp_mux() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    let mux = sdp(&[("2001:db8::10", 4000, 4000, MediaDirection::SendRecv)]);
    let out = r.at(1, &d.invite(d.callee, 1, mux));
    assert_eq!(
        out[1..],
        [added(1, "[2001:db8::10]:4000", 1), message(1, 1)]
    );
    let explicit_rtcp = sdp(&[("2001:db8::20", 6000, 6555, MediaDirection::SendRecv)]);
    assert_eq!(
        r.at(2, &d.to_invite(200, "b", explicit_rtcp)),
        vec![
            answered(1, 2),
            added(1, "[2001:db8::20]:6000", 2),
            added(1, "[2001:db8::20]:6555", 2),
            message(1, 2)
        ]
    );
    assert_eq!(
        ep("[2001:db8::20]:6000").target(),
        dataplane::targets::Target::Ipv6Udp("2001:db8::20".parse().unwrap(), 6000)
    );
}

/// `audio(addr, port)` with RTCP on `rtcp` (RFC 3605 `a=rtcp:PORT IN IPx ADDR`).
fn rtcp_apart(addr: &str, port: u16, rtcp: &str) -> Option<Sdp> {
    let rtcp: SocketAddr = rtcp.parse().unwrap();
    let mut body = audio(addr, port).unwrap();
    for m in &mut body.media {
        (m.rtcp_addr, m.rtcp_port) = (rtcp.ip(), rtcp.port());
    }
    Some(body)
}

#[test]
fn rtcp_on_its_own_address_follows_the_call() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    let offer = rtcp_apart("192.0.2.10", 4000, "198.51.100.10:4401");
    assert_eq!(
        r.at(1, &d.invite(d.callee, 1, offer))[1..],
        [
            added(1, "192.0.2.10:4000", 1),
            added(1, "198.51.100.10:4401", 1),
            message(1, 1)
        ]
    );
    let answer = rtcp_apart("2001:db8::20", 6000, "[2001:db8::99]:6001");
    assert_eq!(
        r.at(2, &d.to_invite(200, "b", answer)),
        vec![
            answered(1, 2),
            added(1, "[2001:db8::20]:6000", 2),
            added(1, "[2001:db8::99]:6001", 2),
            message(1, 2)
        ]
    );
    // Moving only the RTCP address replaces that endpoint alone.
    let moved = rtcp_apart("192.0.2.10", 4000, "198.51.100.11:4401");
    r.at(3, &d.by_caller(Method::Invite, Some("b"), 2, moved));
    assert_eq!(
        r.at(4, &d.answer(200, Some("b"), (2, Method::Invite), None)),
        vec![removed(1, "198.51.100.10:4401", 4), message(1, 4)]
    );
    let bye = r.at(5, &d.by_callee(Method::Bye, "b", 1, None));
    let gone: BTreeSet<_> = bye
        .iter()
        .filter_map(|c| match c {
            CallChange::MediaRemoved { endpoint, .. } => Some(endpoint.0.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        gone,
        [
            "192.0.2.10:4000",
            "198.51.100.11:4401",
            "[2001:db8::20]:6000",
            "[2001:db8::99]:6001"
        ]
        .map(String::from)
        .into()
    );
}

#[test]
fn call_limit_refuses_new_calls_and_counts_them() {
    let mut r = Run {
        t: CallTracker::new(&config(1)),
    };
    set_up(&mut r, &ALICE_BOB);
    let d2 = Dlg {
        call_id: "c2",
        ..ALICE_BOB
    };
    assert!(r
        .at(5, &d2.invite(d2.callee, 1, audio("192.0.2.30", 4000)))
        .is_empty());
    assert_eq!(r.t.refused_calls(), 1);
    r.at(6, &ALICE_BOB.by_caller(Method::Bye, Some("b"), 2, None));
    // The ended call's entry makes room for the next.
    assert_eq!(r.at(7, &d2.invite(d2.callee, 1, None)).len(), 2);
    assert_eq!(r.t.calls(), 1);
}

#[test]
fn active_reports_calls_in_progress_naming_a_party() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    set_up(&mut r, &d);
    let other = Dlg {
        call_id: "c2",
        caller: "sip:dave@example.com",
        callee: "sip:erin@example.com",
    };
    r.at(5, &other.invite(other.callee, 1, None));
    let bob = sip("bob@example.com");
    let mut out = Vec::new();
    r.t.active(&|p: &Party| p.identity == bob, &mut out);
    assert_eq!(
        out,
        vec![
            started(1, d.call_id, alice_bob_parties(), 1),
            answered(1, 3),
            added(1, "192.0.2.10:4000", 1),
            added(1, "192.0.2.10:4001", 1),
            added(1, "192.0.2.20:6000", 3),
            added(1, "192.0.2.20:6001", 3),
        ]
    );
    r.at(9, &d.by_caller(Method::Bye, Some("b"), 2, None));
    out.clear();
    r.t.active(&|p: &Party| p.identity == bob, &mut out);
    assert!(out.is_empty());
}

fn joined(call: u64, parties: Vec<Party>, media: &[&str], secs: u64) -> CallChange {
    CallChange::Joined {
        call: CallRef(call),
        parties,
        media: media.iter().map(|e| ep(e)).collect(),
        ts_ns: secs * S,
    }
}

#[test]
fn callee_of_a_retargeted_invite_joins_from_that_invite_on() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    r.at(1, &d.invite(d.callee, 1, audio("192.0.2.10", 4000)));
    assert_eq!(r.at(2, &d.to_invite(181, "p", None)), vec![message(1, 2)]);
    // The proxy forwards the INVITE to carol: same dialog, new Request-URI.
    let forwarded = d.invite("sip:carol@example.com", 1, audio("192.0.2.10", 4000));
    let carol = party("carol@example.com", Role::Callee);
    assert_eq!(
        r.at(3, &forwarded),
        vec![
            joined(
                1,
                vec![carol.clone()],
                &["192.0.2.10:4000", "192.0.2.10:4001"],
                3
            ),
            message(1, 3)
        ]
    );
    // Its retransmission, and the first INVITE again, name no one new.
    assert_eq!(r.at(4, &forwarded), vec![message(1, 4)]);
    assert_eq!(
        r.at(4, &d.invite(d.callee, 1, audio("192.0.2.10", 4000))),
        vec![message(1, 4)]
    );
    r.at(5, &d.to_invite(200, "c", audio("192.0.2.30", 6000)));
    assert_eq!(r.t.calls(), 1);
    // A warrant on carol provisioned now: the call's media from when she joined.
    let mut out = Vec::new();
    r.t.active(&|p: &Party| p.identity == carol.identity, &mut out);
    let mut parties = alice_bob_parties();
    parties.push(carol.clone());
    assert_eq!(
        out,
        vec![
            started(1, d.call_id, parties, 1),
            answered(1, 5),
            added(1, "192.0.2.10:4000", 3),
            added(1, "192.0.2.10:4001", 3),
            added(1, "192.0.2.30:6000", 5),
            added(1, "192.0.2.30:6001", 5),
        ]
    );
    // One on bob (a party from the start) has them since they were negotiated.
    out.clear();
    r.t.active(&|p: &Party| p.identity == sip("bob@example.com"), &mut out);
    assert_eq!(out[2], added(1, "192.0.2.10:4000", 1));
}

#[test]
fn redirect_waits_for_the_retry_to_the_new_target() {
    let d = ALICE_BOB;
    let mut r = Run::new();
    offer_withdrawn_for_a_retry(&mut r, &d, 302, "r");
    // The retry: same To, Call-ID and From tag, the Contact of the 302 as Request-URI.
    let retry = d.invite("sip:carol@example.com", 2, audio("192.0.2.10", 4000));
    assert_eq!(
        r.at(3, &retry),
        vec![
            joined(1, vec![party("carol@example.com", Role::Callee)], &[], 3),
            added(1, "192.0.2.10:4000", 3),
            added(1, "192.0.2.10:4001", 3),
            message(1, 3)
        ]
    );
    let ok = d.answer(
        200,
        Some("c"),
        (2, Method::Invite),
        audio("192.0.2.30", 6000),
    );
    assert_eq!(r.at(4, &ok)[0], answered(1, 4));
    assert_eq!(r.expire(60), vec![]);
    // A redirect nobody follows ends the call with its status, 32 s on.
    let d2 = Dlg {
        call_id: "c2",
        ..ALICE_BOB
    };
    r.at(100, &d2.invite(d2.callee, 1, None));
    r.at(101, &d2.to_invite(301, "r", None));
    r.at(102, &d2.by_caller(Method::Ack, Some("r"), 1, None));
    assert_eq!(r.expire(133), vec![]);
    assert_eq!(r.expire(134), vec![ended(2, CallEnd::Rejected(301), 134)]);
    assert_eq!(r.t.calls(), 1);
}

// --- property test ---------------------------------------------------------

/// One random step: a message among few Call-IDs, tags and endpoints, or an expiry.
#[derive(Clone, Debug)]
enum Step {
    Msg {
        call: u8,
        caller_sends: bool,
        kind: u8,
        status: u16,
        tag: u8,
        cseq: u32,
        media: Option<(u8, u8, MediaDirection)>,
    },
    Expire(u16),
}

fn step() -> impl Strategy<Value = Step> {
    let dir = prop_oneof![
        Just(MediaDirection::SendRecv),
        Just(MediaDirection::SendOnly),
        Just(MediaDirection::Inactive),
    ];
    prop_oneof![
        9 => (
            0u8..4,
            any::<bool>(),
            0u8..8,
            prop::sample::select(vec![100u16, 180, 183, 200, 302, 401, 486, 487]),
            0u8..3,
            1u32..4,
            prop::option::of((0u8..3, 0u8..3, dir)),
        )
            .prop_map(|(call, caller_sends, kind, status, tag, cseq, media)| Step::Msg {
                call,
                caller_sends,
                kind,
                status,
                tag,
                cseq,
                media,
            }),
        1 => (1u16..400).prop_map(Step::Expire),
    ]
}

fn build(s: &Step) -> Option<SipMessage> {
    let Step::Msg {
        call,
        caller_sends,
        kind,
        status,
        tag,
        cseq,
        media,
    } = s
    else {
        return None;
    };
    let method = [
        Method::Invite,
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Update,
        Method::Prack,
        Method::Invite,
    ][usize::from(*kind)]
    .clone();
    let callee_tag = ["", "t1", "t2"][usize::from(*tag)];
    let callee_tag = (!callee_tag.is_empty()).then(|| callee_tag.to_string());
    let caller = na("sip:alice@example.com", Some("a"));
    let callee = NameAddr {
        uri: "sip:bob@example.com".into(),
        tag: callee_tag,
    };
    // kind 7: a response to the caller's INVITE; kind 1 with status: the callee's response.
    let (start, from, to) = match kind {
        7 => (StartLine::Response { status: *status }, caller, callee),
        // A request's status picks its Request-URI: retargeted to carol or not.
        _ if *caller_sends => (
            StartLine::Request {
                method: method.clone(),
                uri: ["sip:bob@example.com", "sip:carol@example.com"][usize::from(*status > 300)]
                    .into(),
            },
            caller,
            callee,
        ),
        _ => (
            StartLine::Request {
                method: method.clone(),
                uri: "sip:alice@example.com".into(),
            },
            callee,
            caller,
        ),
    };
    let sdp = media.map(|(a, p, dir)| Sdp {
        media: vec![Media {
            kind: "audio".into(),
            addr: IpAddr::from([192, 0, 2, 1 + a]),
            rtp_port: 4000 + u16::from(p) * 2,
            rtcp_port: 4001 + u16::from(p) * 2,
            rtcp_addr: IpAddr::from([192, 0, 2, 1 + a]),
            direction: dir,
        }],
    });
    Some(SipMessage {
        start,
        call_id: format!("c{call}"),
        from,
        to,
        cseq: (*cseq, method),
        contacts: Vec::new(),
        asserted: Vec::new(),
        expires: None,
        sdp,
    })
}

/// Checks the changes: an endpoint added only when no call holds it, removed
/// only by its holder, no media left when a call ends; a party joins a call
/// once, with the call's media then; returns the holders.
fn check(
    changes: &[CallChange],
    holders: &mut BTreeMap<MediaEndpoint, CallRef>,
    known: &mut BTreeMap<CallRef, Vec<Party>>,
) {
    for c in changes {
        match c {
            CallChange::Started { call, parties, .. } => {
                assert!(
                    known.insert(*call, parties.clone()).is_none(),
                    "started twice: {c:?}"
                )
            }
            CallChange::Joined {
                call,
                parties,
                media,
                ..
            } => {
                let named = known.get_mut(call).expect("joined before started");
                assert!(
                    !parties.is_empty() && parties.iter().all(|p| !named.contains(p)),
                    "{c:?} after {named:?}"
                );
                named.extend(parties.iter().cloned());
                let held: BTreeSet<_> = holders
                    .iter()
                    .filter(|h| h.1 == call)
                    .map(|h| h.0)
                    .collect();
                assert_eq!(media.iter().collect::<BTreeSet<_>>(), held, "{c:?}");
            }
            CallChange::MediaAdded { call, endpoint, .. } => {
                assert!(known.contains_key(call));
                let prev = holders.insert(*endpoint, *call);
                assert_eq!(prev, None, "{endpoint:?} of two calls: {c:?}");
            }
            CallChange::MediaRemoved { call, endpoint, .. } => {
                assert_eq!(holders.remove(endpoint), Some(*call), "{c:?}");
            }
            CallChange::Ended { call, .. } => {
                assert!(
                    !holders.values().any(|h| h == call),
                    "ended with media: {c:?}"
                );
            }
            CallChange::Message { call, .. } | CallChange::Answered { call, .. } => {
                assert!(known.contains_key(call), "{c:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn endpoints_have_one_call_and_all_go_when_calls_end(steps in prop::collection::vec(step(), 1..60)) {
        let mut t = CallTracker::new(&config(3));
        let mut holders = BTreeMap::new();
        let mut known = BTreeMap::new();
        let mut out = Vec::new();
        let mut now = 0u64;
        for s in &steps {
            now += S;
            out.clear();
            match build(s) {
                Some(m) => t.apply(now, ua(), proxy(), &m, &mut out),
                None => {
                    if let Step::Expire(secs) = s {
                        now += u64::from(*secs) * S;
                    }
                    t.expire(now, &mut out);
                }
            }
            check(&out, &mut holders, &mut known);
            prop_assert!(t.calls() <= 3);
        }
        out.clear();
        t.expire(u64::MAX, &mut out);
        check(&out, &mut holders, &mut known);
        prop_assert!(holders.is_empty(), "left: {holders:?}");
        prop_assert_eq!(t.calls(), 0);
    }
}
