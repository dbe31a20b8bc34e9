//! Exactness of identity intercepts in the drain: a record is delivered only if
//! its target-side address was bound to the intercept's subscriber at the
//! record's timestamp (session gate), or its target-side address and UDP port
//! carried the media of one of the intercept's calls then (call gate; the
//! record then carries the call's correlation number). Records newer than the
//! signalling watermark wait here (bounded, one queue for both gates) until
//! every signalling message received before them was applied.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::handoff::{Match, Packet, Record};
use dataplane::parse::IpPair;
use dataplane::targets::{Direction, Mode};

/// Most records held at once; beyond, the oldest is given up (counted as loss).
pub const HOLD_MAX_RECORDS: usize = 65_536;
/// Longest a record waits for the watermark (a signalling thread held up by a
/// store write or a login storm); beyond, it is given up (counted as loss).
pub const HOLD_MAX_WAIT: Duration = Duration::from_millis(500);

/// What the drain asks about identity intercepts (implemented by the session glue).
pub trait SessionGate: Send + Sync {
    /// Receive time up to which every signalling message was applied.
    fn watermark(&self) -> u64;
    /// Whether `addr` was bound to intercept `key`'s subscriber at `ts_ns`.
    fn bound(&self, key: u32, addr: IpAddr, ts_ns: u64) -> bool;
    /// `n` held records could not be judged within the hold bound: not delivered.
    fn lost(&self, n: u64);
    /// Records held now.
    fn holding(&self, n: usize);
}

/// What the drain asks about voice intercepts (implemented by the voice glue).
/// Records wait for the same watermark as the session gate's.
pub trait CallGate: Send + Sync {
    /// Receive time up to which every signalling message was applied: the
    /// signalling path's watermark, as [`SessionGate::watermark`] (a probe
    /// without subscriber sessions has no session gate to tell it).
    fn watermark(&self) -> u64;
    /// The correlation number of the call of intercept `key` whose media
    /// flowed to `addr`:`port` at `ts_ns`, if one did.
    fn media_call(&self, key: u32, addr: IpAddr, port: u16, ts_ns: u64) -> Option<u32>;
}

/// The fields of a record the drain routes by: a ring record, or a held copy.
pub(super) trait RecordView {
    fn matches(&self) -> &[Match];
    fn mode(&self) -> Mode;
    fn timestamp_ns(&self) -> u64;
    fn wire_len(&self) -> u32;
    fn header_len(&self) -> u16;
    fn l3_offset(&self) -> Option<u16>;
    fn packet(&self) -> &Packet;
    fn data(&self) -> &[u8];
}

impl RecordView for Record {
    fn matches(&self) -> &[Match] {
        Record::matches(self)
    }
    fn mode(&self) -> Mode {
        Record::mode(self)
    }
    fn timestamp_ns(&self) -> u64 {
        Record::timestamp_ns(self)
    }
    fn wire_len(&self) -> u32 {
        Record::wire_len(self)
    }
    fn header_len(&self) -> u16 {
        Record::header_len(self)
    }
    fn l3_offset(&self) -> Option<u16> {
        Record::l3_offset(self)
    }
    fn packet(&self) -> &Packet {
        Record::packet(self)
    }
    fn data(&self) -> &[u8] {
        Record::data(self)
    }
}

/// A record copied out of its ring for one identity intercept's match.
pub(super) struct Held {
    matched: [Match; 1],
    mode: Mode,
    timestamp_ns: u64,
    wire_len: u32,
    header_len: u16,
    l3_offset: Option<u16>,
    packet: Packet,
    data: Vec<u8>,
    since: Instant,
}

impl Held {
    fn of(rec: &impl RecordView, m: Match) -> Self {
        Self {
            matched: [m],
            mode: rec.mode(),
            timestamp_ns: rec.timestamp_ns(),
            wire_len: rec.wire_len(),
            header_len: rec.header_len(),
            l3_offset: rec.l3_offset(),
            packet: *rec.packet(),
            data: rec.data().to_vec(),
            since: Instant::now(),
        }
    }
}

impl RecordView for Held {
    fn matches(&self) -> &[Match] {
        &self.matched
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }
    fn wire_len(&self) -> u32 {
        self.wire_len
    }
    fn header_len(&self) -> u16 {
        self.header_len
    }
    fn l3_offset(&self) -> Option<u16> {
        self.l3_offset
    }
    fn packet(&self) -> &Packet {
        &self.packet
    }
    fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Which gates judge a route's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Judges {
    /// The session gate (the route names subscriber identities).
    pub session: bool,
    /// The call gate (the route names voice identities).
    pub calls: bool,
}

/// What to do with one match of an identity intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Bound to the subscriber at its timestamp: deliver.
    Bound,
    /// Media of the call with this correlation number at its timestamp:
    /// deliver, correlated with the call.
    Call(u32),
    /// Newer than the watermark: copied into the hold queue.
    Held,
    /// Not bound at its timestamp (or no target-side IP address): never delivered.
    NotBound,
    /// Not the media of any of the intercept's calls at its timestamp (or no
    /// target-side address and port): never delivered.
    NotInCall,
}

/// The gates and their hold queue, on the drain thread.
#[derive(Default)]
pub(super) struct Hold {
    session: Option<Arc<dyn SessionGate>>,
    calls: Option<Arc<dyn CallGate>>,
    queue: VecDeque<Held>,
}

/// The target side's address(es) of a match, each with its port if the
/// packet has a whole TCP/UDP header.
fn target_side(p: &Packet, direction: Direction) -> [Option<(IpAddr, Option<u16>)>; 2] {
    let (src, dst) = match p.addrs {
        Some(IpPair::V4 { src, dst }) => (IpAddr::V4(src), IpAddr::V4(dst)),
        Some(IpPair::V6 { src, dst }) => (IpAddr::V6(src), IpAddr::V6(dst)),
        None => return [None, None],
    };
    let src = Some((src, p.ports.map(|(s, _)| s)));
    let dst = Some((dst, p.ports.map(|(_, d)| d)));
    match direction {
        Direction::FromTarget => [src, None],
        Direction::ToTarget => [dst, None],
        Direction::Both => [src, dst],
    }
}

impl Hold {
    /// Judges identity intercepts' records by `gate` from now on.
    pub(super) fn set_session_gate(&mut self, gate: Arc<dyn SessionGate>) {
        self.session = Some(gate);
    }

    /// Judges voice intercepts' records by `gate` from now on.
    pub(super) fn set_call_gate(&mut self, gate: Arc<dyn CallGate>) {
        self.calls = Some(gate);
    }

    /// The signalling watermark: the least the gates know of (both read the
    /// same one in the daemon); 0 without a gate.
    fn watermark(&self) -> u64 {
        let session = self.session.as_ref().map(|g| g.watermark());
        let calls = self.calls.as_ref().map(|g| g.watermark());
        match (session, calls) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0),
        }
    }

    fn holding(&self) {
        if let Some(g) = &self.session {
            g.holding(self.queue.len());
        }
    }

    fn lost(&self, n: u64) {
        if let Some(g) = &self.session {
            g.lost(n);
        }
    }

    /// Judges `m` of `rec` by the gates of `judges` now, or holds a copy.
    /// `releasing`: `rec` comes out of the queue, whose front the watermark
    /// passed. A route with both kinds of identities takes a record its
    /// calls' (with the call's correlation number) or its subscriber's.
    pub(super) fn check(
        &mut self,
        rec: &impl RecordView,
        m: Match,
        releasing: bool,
        judges: Judges,
    ) -> Verdict {
        let refused = if judges.calls {
            Verdict::NotInCall
        } else {
            Verdict::NotBound
        };
        let session = self.session.as_ref().filter(|_| judges.session);
        let calls = self.calls.as_ref().filter(|_| judges.calls);
        if session.is_none() && calls.is_none() {
            return refused;
        }
        let ts = rec.timestamp_ns();
        // Behind a held record, a later one waits too: per intercept order holds.
        if !releasing && (ts > self.watermark() || !self.queue.is_empty()) {
            self.queue.push_back(Held::of(rec, m));
            self.holding();
            return Verdict::Held;
        }
        let sides = target_side(rec.packet(), m.direction);
        let call = calls.and_then(|g| {
            sides
                .iter()
                .flatten()
                .find_map(|&(a, port)| port.and_then(|port| g.media_call(m.key, a, port, ts)))
        });
        if let Some(cin) = call {
            return Verdict::Call(cin);
        }
        let bound =
            session.is_some_and(|g| sides.iter().flatten().any(|&(a, _)| g.bound(m.key, a, ts)));
        if bound {
            Verdict::Bound
        } else {
            refused
        }
    }

    /// The next held record the watermark passed; records over the hold bound
    /// are given up first (returned in the count, never delivered).
    pub(super) fn next_due(&mut self, now: Instant) -> (Option<Held>, u64) {
        let mut lost = 0;
        while self.queue.len() > HOLD_MAX_RECORDS
            || self.queue.front().is_some_and(|h| {
                now.duration_since(h.since) > HOLD_MAX_WAIT && h.timestamp_ns > self.watermark()
            })
        {
            self.queue.pop_front();
            lost += 1;
        }
        if lost > 0 {
            self.lost(lost);
        }
        let due = self
            .queue
            .front()
            .is_some_and(|h| h.timestamp_ns <= self.watermark());
        let next = if due { self.queue.pop_front() } else { None };
        self.holding();
        (next, lost)
    }

    /// Gives up every held record (shutdown), counted as loss.
    pub(super) fn give_up(&mut self) -> u64 {
        let n = self.queue.len() as u64;
        self.queue.clear();
        if n > 0 {
            self.lost(n);
        }
        self.holding();
        n
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use dataplane::handoff::{Layer, PacketKind};

    use super::*;

    /// Address 192.0.2.1 bound to key 1 from t=100 to t=200.
    #[derive(Default)]
    struct Bindings {
        watermark: AtomicU64,
        lost: AtomicU64,
    }

    impl SessionGate for Bindings {
        fn watermark(&self) -> u64 {
            self.watermark.load(Ordering::Relaxed)
        }
        fn bound(&self, key: u32, addr: IpAddr, ts_ns: u64) -> bool {
            key == 1
                && addr == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
                && (100..200).contains(&ts_ns)
        }
        fn lost(&self, n: u64) {
            self.lost.fetch_add(n, Ordering::Relaxed);
        }
        fn holding(&self, _: usize) {}
    }

    /// Key 1's call with correlation number 7 had its media at 192.0.2.1:4000
    /// from t=100 to t=200; the watermark is the signalling path's.
    #[derive(Default)]
    struct Calls {
        watermark: AtomicU64,
    }

    impl CallGate for Calls {
        fn watermark(&self) -> u64 {
            self.watermark.load(Ordering::Relaxed)
        }
        fn media_call(&self, key: u32, addr: IpAddr, port: u16, ts_ns: u64) -> Option<u32> {
            (key == 1
                && addr == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
                && port == 4000
                && (100..200).contains(&ts_ns))
            .then_some(7)
        }
    }

    const SESSION: Judges = Judges {
        session: true,
        calls: false,
    };
    const CALLS: Judges = Judges {
        session: false,
        calls: true,
    };

    fn with_session(gate: Arc<Bindings>) -> Hold {
        let mut hold = Hold::default();
        hold.set_session_gate(gate);
        hold
    }

    fn held(ts: u64, direction: Direction) -> (Held, Match) {
        let m = Match {
            key: 1,
            mode: Mode::Content,
            direction,
            layer: Layer::Ip(0),
        };
        let packet = Packet {
            kind: PacketKind::Ipv4,
            addrs: Some(IpPair::V4 {
                src: Ipv4Addr::new(192, 0, 2, 1),
                dst: Ipv4Addr::new(198, 51, 100, 1),
            }),
            proto: 17,
            ports: Some((4000, 5000)),
            ..Packet::default()
        };
        let h = Held {
            matched: [m],
            mode: Mode::Content,
            timestamp_ns: ts,
            wire_len: 0,
            header_len: 0,
            l3_offset: None,
            packet,
            data: Vec::new(),
            since: Instant::now(),
        };
        (h, m)
    }

    #[test]
    fn records_wait_for_the_watermark_then_only_bound_ones_pass() {
        let gate = Arc::new(Bindings::default());
        gate.watermark.store(150, Ordering::Relaxed);
        let mut hold = with_session(gate.clone());
        let (r, m) = held(120, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, SESSION), Verdict::Bound);
        let (r, m) = held(120, Direction::ToTarget);
        assert_eq!(
            hold.check(&r, m, false, SESSION),
            Verdict::NotBound,
            "target side is dst"
        );
        let (r, m) = held(90, Direction::Both);
        assert_eq!(
            hold.check(&r, m, false, SESSION),
            Verdict::NotBound,
            "before the binding"
        );
        // Newer than the watermark: held, and what follows waits behind it.
        let (late, m) = held(250, Direction::FromTarget);
        assert_eq!(hold.check(&late, m, false, SESSION), Verdict::Held);
        let (r, m) = held(140, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, SESSION), Verdict::Held);
        assert!(hold.next_due(Instant::now()).0.is_none());
        gate.watermark.store(300, Ordering::Relaxed);
        let (first, lost) = hold.next_due(Instant::now());
        let first = first.unwrap();
        assert_eq!((first.timestamp_ns, lost), (250, 0));
        assert_eq!(
            hold.check(&first, first.matched[0], true, SESSION),
            Verdict::NotBound,
            "after the Stop"
        );
        let second = hold.next_due(Instant::now()).0.unwrap();
        assert_eq!(
            hold.check(&second, second.matched[0], true, SESSION),
            Verdict::Bound
        );
        assert!(hold.next_due(Instant::now()).0.is_none());
    }

    #[test]
    fn a_watermark_that_stalls_is_loss_not_delivery() {
        let gate = Arc::new(Bindings::default());
        let mut hold = with_session(gate.clone());
        let (r, m) = held(150, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, SESSION), Verdict::Held);
        let (next, lost) = hold.next_due(Instant::now() + HOLD_MAX_WAIT * 2);
        assert!(next.is_none());
        assert_eq!(lost, 1);
        assert_eq!(gate.lost.load(Ordering::Relaxed), 1);
        for _ in 0..3 {
            hold.check(&r, m, false, SESSION);
        }
        assert_eq!(hold.give_up(), 3);
        assert_eq!(gate.lost.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn call_media_waits_for_the_watermark_and_carries_the_calls_cin() {
        let gate = Arc::new(Calls::default());
        gate.watermark.store(150, Ordering::Relaxed);
        let mut hold = Hold::default();
        let (r, m) = held(120, Direction::FromTarget);
        assert_eq!(
            hold.check(&r, m, false, CALLS),
            Verdict::NotInCall,
            "no call gate: never delivered"
        );
        hold.set_call_gate(gate.clone());
        assert_eq!(hold.check(&r, m, false, CALLS), Verdict::Call(7));
        let (r, m) = held(120, Direction::ToTarget);
        assert_eq!(
            hold.check(&r, m, false, CALLS),
            Verdict::NotInCall,
            "target side is dst:5000"
        );
        let (mut r, m) = held(120, Direction::FromTarget);
        r.packet.ports = None;
        assert_eq!(
            hold.check(&r, m, false, CALLS),
            Verdict::NotInCall,
            "the address alone is not the call's endpoint"
        );
        // Newer than the watermark (the call gate's, without a session gate).
        let (late, m) = held(190, Direction::Both);
        assert_eq!(hold.check(&late, m, false, CALLS), Verdict::Held);
        let (after, m) = held(250, Direction::FromTarget);
        assert_eq!(hold.check(&after, m, false, CALLS), Verdict::Held);
        assert!(hold.next_due(Instant::now()).0.is_none());
        gate.watermark.store(300, Ordering::Relaxed);
        let first = hold.next_due(Instant::now()).0.unwrap();
        assert_eq!(
            hold.check(&first, first.matched[0], true, CALLS),
            Verdict::Call(7)
        );
        let second = hold.next_due(Instant::now()).0.unwrap();
        assert_eq!(
            hold.check(&second, second.matched[0], true, CALLS),
            Verdict::NotInCall,
            "after the call: another call may reuse the port"
        );
    }

    #[test]
    fn both_gates_share_one_queue_and_the_lower_watermark() {
        let session = Arc::new(Bindings::default());
        let calls = Arc::new(Calls::default());
        session.watermark.store(300, Ordering::Relaxed);
        calls.watermark.store(130, Ordering::Relaxed);
        let mut hold = with_session(session.clone());
        hold.set_call_gate(calls.clone());
        let both = Judges {
            session: true,
            calls: true,
        };
        let (r, m) = held(120, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, both), Verdict::Call(7));
        let (r, m) = held(140, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, SESSION), Verdict::Held);
        // A calls route's record waits behind the session route's.
        let (r, m) = held(125, Direction::FromTarget);
        assert_eq!(hold.check(&r, m, false, CALLS), Verdict::Held);
        calls.watermark.store(300, Ordering::Relaxed);
        let first = hold.next_due(Instant::now()).0.unwrap();
        assert_eq!(
            hold.check(&first, first.matched[0], true, SESSION),
            Verdict::Bound
        );
        let second = hold.next_due(Instant::now()).0.unwrap();
        assert_eq!(
            hold.check(&second, second.matched[0], true, CALLS),
            Verdict::Call(7)
        );
        let (mut r, m) = held(150, Direction::FromTarget);
        r.packet.ports = Some((4001, 5000));
        assert_eq!(
            hold.check(&r, m, false, both),
            Verdict::Bound,
            "not the call's port, but the subscriber's address"
        );
    }
}
