//! The voice glue: the signalling path's SIP messages through the call
//! tracker into the tables (each targeted call's media endpoints, for the
//! call's lifetime) and into handover (each SIP message of a targeted call
//! as IRI; its media as CC with the call's correlation number).
//!
//! Locks: the glue's state, then the controller's tables (through
//! [`Controller::bind`]); the controller calls [`IdentityBindings`] with no
//! lock held, so the order never inverts.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dataplane::targets::Mode;

use super::controller::{Controller, IdentityBindings};
use super::glue::{lock, names, Spans, Unacked};
use super::signalling::{SignalSink, Watermark};
use super::DaemonError;
use crate::handover::{CallGate, SipReport, HOLD_MAX_WAIT};
use crate::metrics::ProbeMetrics;
use crate::model::{Identity, Intercept, InterceptState};
use crate::sessions::SignalPacket;
use crate::time::now_ns;
use crate::voice::tracker::CallTracker;
use crate::voice::wire::{self, SipError};
use crate::voice::VoiceConfig;
use crate::voice::{CallChange, CallRef, MediaEndpoint, Party};

/// How often idle passes expire calls and prune ended media spans.
const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// How long an ended call's closing messages (the 200 to its BYE,
/// retransmissions) are still reported: 64·T1, the longest a SIP transaction
/// lasts (RFC 3261 Timer J), as long as the tracker keeps the call.
const LINGER_NS: u64 = 32_000_000_000;

/// How long past the watermark an ended media span is kept: handover asks
/// about a record at most [`HOLD_MAX_WAIT`] after the watermark passed it;
/// twice that leaves room for a drain a little behind.
fn ended_retention_ns() -> u64 {
    u64::try_from(HOLD_MAX_WAIT.as_nanos() * 2).unwrap_or(u64::MAX)
}

/// Handover's call gate: which call's media flowed to which endpoint of
/// which intercept, when.
#[derive(Default)]
struct CallSpans {
    spans: Spans<CallRef>,
    /// The signalling path's: records newer wait in handover.
    watermark: Watermark,
}

impl CallGate for CallSpans {
    fn watermark(&self) -> u64 {
        self.watermark.get()
    }

    fn media_call(&self, key: u32, addr: IpAddr, port: u16, ts_ns: u64) -> Option<u32> {
        let target = MediaEndpoint(SocketAddr::new(addr, port)).target();
        self.spans
            .find(key, ts_ns, |call, t| (*t == target).then(|| call.cin()))
    }
}

/// An intercept naming voice identities.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Voiced {
    identities: Vec<Identity>,
    /// Content mode: its calls' media are installed (headers: signalling only).
    content: bool,
    /// Inside its window: its calls' SIP is reported.
    active: bool,
}

impl Voiced {
    fn of(i: &Intercept) -> Self {
        Self {
            identities: i
                .identities
                .iter()
                .filter(|id| id.kind().is_voice())
                .cloned()
                .collect(),
            content: i.mode == Mode::Content,
            active: i.state == InterceptState::Active,
        }
    }

    fn names(&self, party: &Party) -> bool {
        names(&self.identities, std::slice::from_ref(&party.identity))
    }
}

/// A targeted call: the intercepts naming one of its parties, its media now.
#[derive(Debug, Default, PartialEq, Eq)]
struct Call {
    keys: Vec<u32>,
    media: Vec<MediaEndpoint>,
    /// When it ended (kept [`LINGER_NS`] for its closing messages).
    ended_ns: Option<u64>,
}

struct State {
    tracker: CallTracker,
    intercepts: HashMap<u32, Voiced>,
    /// Only calls some intercept targets; the tracker follows every call.
    calls: HashMap<CallRef, Call>,
    /// Media endpoints not yet applied everywhere.
    unacked: Unacked,
    last_housekeeping: Instant,
}

struct Shared {
    controller: Arc<Controller>,
    metrics: ProbeMetrics,
    gate: Arc<CallSpans>,
    state: Mutex<State>,
}

/// The [`SignalSink`] of a probe with `[voice]`.
pub struct VoiceGlue {
    shared: Arc<Shared>,
}

fn report(p: &SignalPacket<'_>, call: CallRef, at_ns: u64) -> SipReport {
    SipReport {
        at_ns,
        cin: call.cin(),
        src: SocketAddr::new(p.src, p.src_port),
        dst: SocketAddr::new(p.dst, p.dst_port),
        transport: p.transport,
        message: p.payload.to_vec(),
    }
}

impl Shared {
    /// Installs `endpoint` of `call` for `key` from `from_ns`; `signal_ns`:
    /// the receive time to measure the install latency from.
    fn media_on(
        &self,
        unacked: &mut Unacked,
        (key, call): (u32, CallRef),
        endpoint: MediaEndpoint,
        from_ns: u64,
        signal_ns: Option<u64>,
    ) {
        let target = [endpoint.target()];
        self.gate.spans.open(key, &call, &target, from_ns);
        if let Some(epoch) = self.controller.bind(key, &target) {
            self.metrics.voice_media_endpoints.inc();
            if let Some(ts) = signal_ns {
                unacked.push(epoch, ts);
            }
        }
    }

    fn media_off(&self, (key, call): (u32, CallRef), endpoint: MediaEndpoint, until_ns: u64) {
        let target = [endpoint.target()];
        self.gate.spans.close(key, &call, Some(&target), until_ns);
        if self.controller.unbind(key, &target).is_some() {
            self.metrics.voice_media_endpoints.dec();
        }
    }

    /// Applies tracker changes; `packet`: the message that caused them.
    fn apply(&self, st: &mut State, changes: &[CallChange], packet: Option<&SignalPacket<'_>>) {
        let State {
            intercepts,
            calls,
            unacked,
            ..
        } = st;
        let content = |key: &u32| intercepts.get(key).is_some_and(|v| v.content);
        for change in changes {
            match change {
                CallChange::Started { call, parties, .. } => {
                    let keys: Vec<u32> = intercepts
                        .iter()
                        .filter(|(_, v)| parties.iter().any(|p| v.names(p)))
                        .map(|(&key, _)| key)
                        .collect();
                    if !keys.is_empty() && !calls.contains_key(call) {
                        calls.insert(
                            *call,
                            Call {
                                keys,
                                ..Call::default()
                            },
                        );
                    }
                }
                CallChange::Joined {
                    call,
                    parties,
                    media,
                    ts_ns,
                } => {
                    // Intercepts naming only a joined party: the call from now on.
                    let had = calls
                        .get(call)
                        .map(|c| c.keys.as_slice())
                        .unwrap_or_default();
                    let keys: Vec<u32> = intercepts
                        .iter()
                        .filter(|(k, v)| !had.contains(k) && parties.iter().any(|p| v.names(p)))
                        .map(|(&key, _)| key)
                        .collect();
                    if keys.is_empty() {
                        continue;
                    }
                    let c = calls.entry(*call).or_insert_with(|| Call {
                        media: media.clone(),
                        ..Call::default()
                    });
                    for key in keys {
                        c.keys.push(key);
                        if content(&key) {
                            for &endpoint in &c.media {
                                let signal_ns = packet.map(|p| p.ts_ns);
                                self.media_on(unacked, (key, *call), endpoint, *ts_ns, signal_ns);
                            }
                        }
                    }
                }
                &(CallChange::MediaAdded {
                    call,
                    endpoint,
                    ts_ns,
                }
                | CallChange::MediaRemoved {
                    call,
                    endpoint,
                    ts_ns,
                }) => {
                    let Some(c) = calls.get_mut(&call).filter(|c| c.ended_ns.is_none()) else {
                        continue;
                    };
                    let added = matches!(change, CallChange::MediaAdded { .. });
                    match (added, c.media.iter().position(|e| *e == endpoint)) {
                        (true, None) => {
                            c.media.push(endpoint);
                            for &key in c.keys.iter().filter(|k| content(k)) {
                                let signal_ns = packet.map(|p| p.ts_ns);
                                self.media_on(unacked, (key, call), endpoint, ts_ns, signal_ns);
                            }
                        }
                        (false, Some(pos)) => {
                            c.media.swap_remove(pos);
                            for &key in c.keys.iter().filter(|k| content(k)) {
                                self.media_off((key, call), endpoint, ts_ns);
                            }
                        }
                        // Already so.
                        _ => {}
                    }
                }
                &CallChange::Message { call, ts_ns } => {
                    let (Some(c), Some(p)) = (calls.get(&call), packet) else {
                        continue;
                    };
                    for &key in &c.keys {
                        if intercepts.get(&key).is_some_and(|v| v.active) {
                            self.controller.sip_event(key, report(p, call, ts_ns));
                        }
                    }
                }
                CallChange::Answered { .. } => {}
                &CallChange::Ended { call, ts_ns, .. } => {
                    let Some(c) = calls.get_mut(&call) else {
                        continue;
                    };
                    // The tracker removes the media first; whatever it kept goes now.
                    for endpoint in std::mem::take(&mut c.media) {
                        for &key in c.keys.iter().filter(|k| content(k)) {
                            self.media_off((key, call), endpoint, ts_ns);
                        }
                    }
                    c.ended_ns = Some(ts_ns);
                }
            }
        }
    }

    fn count(&self, result: &str) {
        self.metrics
            .voice_sip_messages
            .with_label_values(&[result])
            .inc();
    }

    fn signal(&self, p: &SignalPacket<'_>) {
        let msg = match wire::parse(p.payload) {
            Ok(msg) => msg,
            Err(SipError::NotSip) => return self.count("not_sip"),
            Err(_) => return self.count("malformed"),
        };
        let mut st = lock(&self.state);
        let mut changes = Vec::new();
        let (src, dst) = (
            SocketAddr::new(p.src, p.src_port),
            SocketAddr::new(p.dst, p.dst_port),
        );
        st.tracker.apply(p.ts_ns, src, dst, &msg, &mut changes);
        self.apply(&mut st, &changes, Some(p));
        self.observe(&mut st);
        // Counted once applied: a message counted has its media installed
        // (or pending, in `voice_media_pending`).
        self.count("parsed");
    }

    /// Media endpoints every worker has applied: their latency.
    fn observe(&self, st: &mut State) {
        st.unacked
            .observe(&self.controller, &self.metrics.voice_media_latency);
        self.metrics
            .voice_media_pending
            .set(i64::try_from(st.unacked.len()).unwrap_or(i64::MAX));
        self.metrics
            .voice_calls_active
            .set(i64::try_from(st.tracker.calls()).unwrap_or(i64::MAX));
        let refused = &self.metrics.voice_calls_refused;
        refused.inc_by(st.tracker.refused_calls().saturating_sub(refused.get()));
    }

    fn idle(&self, watermark_ns: u64) {
        let mut st = lock(&self.state);
        self.observe(&mut st);
        if st.last_housekeeping.elapsed() < HOUSEKEEPING {
            return;
        }
        st.last_housekeeping = Instant::now();
        let mut changes = Vec::new();
        // A capture replay's watermark jumps to the end of time when it ends.
        let now = watermark_ns.min(now_ns());
        st.tracker.expire(now, &mut changes);
        self.apply(&mut st, &changes, None);
        st.calls
            .retain(|_, c| c.ended_ns.is_none_or(|t| t.saturating_add(LINGER_NS) > now));
        drop(st);
        self.gate
            .spans
            .prune(watermark_ns.saturating_sub(ended_retention_ns()));
    }

    /// Brings intercept `i`'s calls to what the tracker holds now (a warrant
    /// provisioned mid-call takes effect at once; a changed one follows).
    fn sync(&self, st: &mut State, i: &Intercept) {
        let key = i.key;
        let v = Voiced::of(i);
        if v.identities.is_empty() {
            return self.forget(st, key, now_ns());
        }
        let mut found = Vec::new();
        st.tracker.active(&|p| v.names(p), &mut found);
        // The calls naming it now, with their media and since when.
        let mut wanted: HashMap<CallRef, Vec<(MediaEndpoint, u64)>> = HashMap::new();
        for change in &found {
            match *change {
                CallChange::Started { call, .. } => {
                    wanted.entry(call).or_default();
                }
                CallChange::MediaAdded {
                    call,
                    endpoint,
                    ts_ns,
                } => wanted.entry(call).or_default().push((endpoint, ts_ns)),
                _ => {}
            }
        }
        let now = now_ns();
        let had_media = st.intercepts.get(&key).is_some_and(|old| old.content);
        let State { calls, unacked, .. } = st;
        for (&call, c) in calls.iter_mut() {
            if !c.keys.contains(&key) {
                continue;
            }
            let stays = wanted.contains_key(&call);
            if had_media && !(stays && v.content) {
                for &endpoint in &c.media {
                    self.media_off((key, call), endpoint, now);
                }
            }
            if !stays {
                c.keys.retain(|&k| k != key);
            }
        }
        calls.retain(|_, c| !c.keys.is_empty());
        for (call, media) in wanted {
            let c = calls.entry(call).or_insert_with(|| Call {
                media: media.iter().map(|&(e, _)| e).collect(),
                ..Call::default()
            });
            let joined = !c.keys.contains(&key);
            if joined {
                c.keys.push(key);
            }
            if v.content && (joined || !had_media) {
                // Held since the tracker saw it negotiated, not since the warrant arrived.
                for &(endpoint, from_ns) in &media {
                    self.media_on(unacked, (key, call), endpoint, from_ns, None);
                }
            }
        }
        st.intercepts.insert(key, v);
    }

    /// Intercept `key` no longer names voice identities or left the tables at
    /// `at_ns`: its calls' media are unbound (their spans kept for records before).
    fn forget(&self, st: &mut State, key: u32, at_ns: u64) {
        let Some(v) = st.intercepts.remove(&key) else {
            return;
        };
        for (&call, c) in &mut st.calls {
            let Some(pos) = c.keys.iter().position(|&k| k == key) else {
                continue;
            };
            c.keys.swap_remove(pos);
            if v.content {
                for &endpoint in &c.media {
                    self.media_off((key, call), endpoint, at_ns);
                }
            }
        }
        st.calls.retain(|_, c| !c.keys.is_empty());
    }
}

impl IdentityBindings for Shared {
    fn installed(&self, i: &Intercept) {
        let mut st = lock(&self.state);
        self.sync(&mut st, i);
    }

    fn started(&self, key: u32, _at_ns: u64) {
        if let Some(v) = lock(&self.state).intercepts.get_mut(&key) {
            v.active = true;
        }
    }

    fn ended(&self, key: u32, at_ns: u64, _was_active: bool) {
        let mut st = lock(&self.state);
        self.forget(&mut st, key, at_ns);
    }
}

impl VoiceGlue {
    /// A glue over `controller`, registered with it for intercepts naming
    /// voice identities and as handover's call gate; call after the stored
    /// intercepts are loaded and before the dataplane is armed; handover
    /// holds voice records for `watermark` (the signalling path's).
    ///
    /// # Errors
    /// The store cannot list the intercepts.
    pub fn new(
        cfg: &VoiceConfig,
        controller: Arc<Controller>,
        metrics: ProbeMetrics,
        watermark: Watermark,
    ) -> Result<Self, DaemonError> {
        let gate = Arc::new(CallSpans {
            spans: Spans::default(),
            watermark,
        });
        let shared = Arc::new(Shared {
            controller: Arc::clone(&controller),
            metrics,
            gate: Arc::clone(&gate),
            state: Mutex::new(State {
                tracker: CallTracker::new(cfg),
                intercepts: HashMap::new(),
                calls: HashMap::new(),
                unacked: Unacked::default(),
                last_housekeeping: Instant::now(),
            }),
        });
        {
            let mut st = lock(&shared.state);
            for i in controller.store().list()? {
                if !i.state.is_terminal() && i.identities.iter().any(|id| id.kind().is_voice()) {
                    shared.sync(&mut st, &i);
                }
            }
        }
        controller.set_call_gate(gate);
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        controller.register_identity_bindings(weak);
        Ok(Self { shared })
    }
}

impl SignalSink for VoiceGlue {
    fn signal(&mut self, packet: &SignalPacket<'_>) {
        self.shared.signal(packet);
    }

    fn idle(&mut self, watermark_ns: u64) {
        self.shared.idle(watermark_ns);
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::voice::Role;

    fn endpoint(text: &str) -> MediaEndpoint {
        MediaEndpoint(text.parse().unwrap())
    }

    #[test]
    fn media_is_the_call_of_its_interval_never_a_later_reuser() {
        let gate = CallSpans::default();
        let e = endpoint("198.51.100.20:40000");
        let (addr, port) = (e.0.ip(), e.0.port());
        // The target's call, then another subscriber's on the same address and port.
        let ours = CallRef((7 << 32) | 0x1234);
        let later = CallRef(0x9999);
        gate.spans.open(1, &ours, &[e.target()], 1_000);
        assert_eq!(gate.media_call(1, addr, port, 999), None, "before the SDP");
        assert_eq!(gate.media_call(1, addr, port, 1_000), Some(0x1234));
        assert_eq!(gate.media_call(1, addr, port, 1_001), Some(ours.cin()));
        assert_eq!(
            gate.media_call(2, addr, port, 1_500),
            None,
            "another intercept"
        );
        assert_eq!(
            gate.media_call(1, addr, port + 1, 1_500),
            None,
            "the RTCP port"
        );
        let v6 = "2001:db8::20".parse().unwrap();
        assert_eq!(gate.media_call(1, v6, port, 1_500), None);
        gate.spans.close(1, &ours, Some(&[e.target()]), 2_000);
        assert_eq!(gate.media_call(1, addr, port, 1_999), Some(0x1234));
        assert_eq!(
            gate.media_call(1, addr, port, 2_000),
            None,
            "the BYE and after"
        );
        // Only an intercept that targets the reuser gets its media, with its CIN.
        gate.spans.open(2, &later, &[e.target()], 3_000);
        assert_eq!(gate.media_call(1, addr, port, 3_500), None);
        assert_eq!(gate.media_call(2, addr, port, 3_500), Some(0x9999));
        // A closed interval answers until the watermark is well past its end.
        gate.spans.prune(2_000);
        assert_eq!(gate.media_call(1, addr, port, 1_500), Some(0x1234));
        gate.spans.prune(2_001);
        assert_eq!(gate.media_call(1, addr, port, 1_500), None);
        assert_eq!(gate.media_call(2, addr, port, 3_500), Some(0x9999));
        assert!(ended_retention_ns() > u64::try_from(HOLD_MAX_WAIT.as_nanos()).unwrap());
    }

    #[test]
    fn a_reinvite_moving_the_media_closes_only_the_old_endpoint() {
        let gate = CallSpans::default();
        let call = CallRef(42);
        let (old, new) = (
            endpoint("[2001:db8::5]:5004"),
            endpoint("[2001:db8::5]:6004"),
        );
        gate.spans.open(3, &call, &[old.target(), new.target()], 10);
        gate.spans.close(3, &call, Some(&[old.target()]), 20);
        let ip = old.0.ip();
        assert_eq!(gate.media_call(3, ip, 5004, 25), None);
        assert_eq!(gate.media_call(3, ip, 6004, 25), Some(42));
        assert_eq!(gate.media_call(3, ip, 5004, 15), Some(42));
    }

    fn intercept(mode: Mode, state: InterceptState, targets: &[&str]) -> Intercept {
        let req = crate::model::InterceptRequest {
            liid: "L1".into(),
            warrant_ref: "W".into(),
            issuing_authority: "court".into(),
            valid_from: "2026-01-01T00:00:00Z".into(),
            valid_until: "2099-01-01T00:00:00Z".into(),
            mode: if mode == Mode::Content {
                "content"
            } else {
                "headers"
            }
            .into(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            destinations: vec!["d".into()],
        };
        let at = crate::model::parse_time("now", "2026-06-01T00:00:00Z").unwrap();
        let valid = req
            .validate(at, &crate::model::TargetPolicy::default())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(&dir.path().join("p.db"), &dir.path().join("a.jsonl"))
                .unwrap();
        let dest: crate::model::Destination = serde_json::from_value(serde_json::json!({
            "name": "d", "address": "127.0.0.1:9", "format": "x2x3",
            "insecure_plaintext": true, "spool_dir": dir.path().join("spool")
        }))
        .unwrap();
        store.create_destination(&dest, "t").unwrap();
        let mut i = store.create_intercept(&valid, "t", at).unwrap();
        i.state = state;
        i
    }

    fn party(identity: &str, role: Role) -> Party {
        Party {
            identity: Identity::from_sip_uri(identity).unwrap(),
            role,
        }
    }

    #[test]
    fn an_intercept_names_the_parties_of_its_voice_identities_only() {
        let i = intercept(
            Mode::Headers,
            InterceptState::Scheduled,
            &[
                "sip:alice@example.com",
                "tel:+15551230000",
                "username:alice@isp",
            ],
        );
        let v = Voiced::of(&i);
        assert_eq!(v.identities.len(), 2, "the username is the session glue's");
        assert!(!v.content && !v.active);
        assert!(v.names(&party("sip:alice@example.com", Role::Caller)));
        assert!(v.names(&party("<tel:+15551230000>;tag=x", Role::Callee)));
        assert!(!v.names(&party("sip:bob@example.com", Role::Caller)));
        assert!(!v.names(&party("tel:+15551230001", Role::Registrant)));
        let i = intercept(
            Mode::Content,
            InterceptState::Active,
            &["sip:alice@example.com"],
        );
        let v = Voiced::of(&i);
        assert!(v.content && v.active);
        let none = intercept(
            Mode::Content,
            InterceptState::Active,
            &["username:alice@isp"],
        );
        assert!(Voiced::of(&none).identities.is_empty());
    }
}
