//! The session glue: authenticated signalling → tracker → durable bindings →
//! the bound addresses of targeted subscribers in the tables, and session IRI.
//!
//! Locks: the glue's state, then the controller's tables (through
//! [`Controller::bind`]); the controller calls [`IdentityBindings`] with no
//! lock held, so the order never inverts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use dataplane::targets::Target;

use super::controller::{Controller, IdentityBindings, SYSTEM_ACTOR};
use super::glue::{lock, names, Spans, Unacked};
use super::signalling::{SignalSink, Watermark};
use super::DaemonError;
use crate::api::refusals::{Flush, RefusalAudit, Source, REFUSAL_WINDOW};
use crate::audit::AuditAction;
use crate::handover::{AccessEvent, SessionGate, SessionReport};
use crate::metrics::ProbeMetrics;
use crate::model::{Identity, IdentityKind, Intercept, InterceptState};
use crate::sessions::tracker::Tracker;
use crate::sessions::wire::Verifier;
use crate::sessions::{
    Binding, BindingChange, BindingId, EndReason, NasRestart, Protocol, Refusal, SessionsConfig,
    Signal, SignalEvent, SignalPacket,
};
use crate::store::{StaticAssignment, Store};
use crate::time::now_ns;

/// How long an ended binding's interval is kept after the watermark passed its
/// end: records that waited in a ring that long are still judged right.
const ENDED_RETENTION_NS: u64 = 60_000_000_000;

/// How often idle passes prune ended intervals and flush the refusal audit.
const HOUSEKEEPING: std::time::Duration = std::time::Duration::from_millis(100);

fn contains(target: &Target, addr: IpAddr) -> bool {
    match (*target, addr) {
        (Target::Ipv4(t), IpAddr::V4(a)) => t == a,
        (Target::Ipv6(t), IpAddr::V6(a)) => t == a,
        (Target::Ipv4Net(net, len), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(net) & mask
        }
        (Target::Ipv6Net(net, len), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The items of `items` that `other` does not hold, in order.
fn not_in<T: Copy + PartialEq>(items: &[T], other: &[T]) -> Vec<T> {
    items
        .iter()
        .filter(|i| !other.contains(i))
        .copied()
        .collect()
}

fn source_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Radius => "radius",
        Protocol::Dhcp4 => "dhcp4",
        Protocol::Dhcp6 => "dhcp6",
        Protocol::Static => "static",
    }
}

/// What handover's drain asks: which address was bound to which intercept when.
struct Exactness {
    watermark: Watermark,
    intervals: Spans<BindingId>,
    lost: AtomicU64,
    held: prometheus::IntGauge,
}

impl Exactness {
    fn open(&self, key: u32, b: &Binding, targets: &[Target], from_ns: u64) {
        self.intervals.open(key, &b.id, targets, from_ns);
    }

    /// Ends the open intervals of binding `id` (only those of `targets`, if given).
    fn close(&self, key: u32, id: &BindingId, targets: Option<&[Target]>, until_ns: u64) {
        self.intervals.close(key, id, targets, until_ns);
    }

    fn prune(&self, watermark_ns: u64) {
        self.intervals
            .prune(watermark_ns.saturating_sub(ENDED_RETENTION_NS));
    }
}

impl SessionGate for Exactness {
    fn watermark(&self) -> u64 {
        self.watermark.get()
    }

    fn bound(&self, key: u32, addr: IpAddr, ts_ns: u64) -> bool {
        self.intervals
            .find(key, ts_ns, |_, t| contains(t, addr).then_some(()))
            .is_some()
    }

    fn lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    fn holding(&self, n: usize) {
        self.held.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// An intercept naming identities, and the bindings applied to it.
struct Targeted {
    identities: Vec<Identity>,
    active: bool,
    applied: HashMap<BindingId, Binding>,
}

struct State {
    tracker: Tracker,
    intercepts: HashMap<u32, Targeted>,
    /// Bindings not yet applied everywhere.
    pending: Unacked,
    /// Binding changes not yet written to the store: written once per pass,
    /// in one transaction (`Some`: save, `None`: remove).
    unsaved: HashMap<BindingId, Option<Binding>>,
    /// The NAS restarts with ends pending as last written to the store.
    saved_restarts: Vec<NasRestart>,
    last_window: Instant,
    last_housekeeping: Instant,
}

struct Shared {
    verifier: Verifier,
    controller: Arc<Controller>,
    store: Store,
    metrics: ProbeMetrics,
    exact: Arc<Exactness>,
    refusals: RefusalAudit,
    state: Mutex<State>,
}

/// The [`SignalSink`] of a probe with `[sessions]`.
pub struct SessionGlue {
    shared: Arc<Shared>,
}

fn report(event: AccessEvent, at_ns: u64, b: &Binding, signal: Option<&Signal>) -> SessionReport {
    let value = |kind| {
        b.identities
            .iter()
            .find(|i| i.kind() == kind)
            .map(|i| i.value().to_owned())
    };
    let ends = matches!(
        event,
        AccessEvent::SessionEnd | AccessEvent::SessionExpired | AccessEvent::EndWithSessionActive
    );
    SessionReport {
        event,
        at_ns,
        username: value(IdentityKind::Username),
        addresses: b.addresses.clone(),
        static_assignment: b.protocol == Protocol::Static,
        network_id: value(IdentityKind::CallingStationId)
            .or_else(|| value(IdentityKind::DhcpClientMac)),
        nas: b.nas.as_ref().map(|n| n.address),
        nas_id: b.nas.as_ref().and_then(|n| n.identifier.clone()),
        session_id: b.session_id.clone(),
        session_start_ns: Some(b.started_ns),
        session_end_ns: ends.then_some(at_ns),
        message: signal.map(|s| (s.protocol, s.message.clone())),
    }
}

impl Shared {
    /// Binds `targets` of `b` to `key` from `from_ns`; `signal_ns`: the
    /// receive time to measure the binding latency from.
    fn bind(
        &self,
        pending: &mut Unacked,
        key: u32,
        (b, targets): (&Binding, &[Target]),
        from_ns: u64,
        signal_ns: Option<u64>,
    ) {
        self.exact.open(key, b, targets, from_ns);
        if let Some(epoch) = self.controller.bind(key, targets) {
            if let Some(ts) = signal_ns {
                pending.push(epoch, ts);
            }
        }
    }

    fn unbind(&self, key: u32, b: &Binding, until_ns: u64) {
        self.exact.close(key, &b.id, None, until_ns);
        let _epoch = self.controller.unbind(key, &b.addresses);
    }

    fn iri(&self, t: &Targeted, key: u32, report: SessionReport) {
        if t.active {
            self.controller.session_event(key, report);
        }
    }

    /// Persists and applies tracker changes; `signal`: what caused them.
    fn apply(&self, st: &mut State, changes: &[BindingChange], signal: Option<&Signal>) {
        let State {
            intercepts,
            pending,
            unsaved,
            ..
        } = st;
        let signal_ns = |b: &Binding| Some(signal.map_or(b.started_ns, |s| s.ts_ns));
        for change in changes {
            match change {
                BindingChange::Started(b)
                | BindingChange::Updated { new: b, .. }
                | BindingChange::Refreshed(b) => {
                    if let BindingChange::Updated { old, .. } = change {
                        if old.id != b.id {
                            unsaved.insert(old.id.clone(), None);
                        }
                    }
                    unsaved.insert(b.id.clone(), Some(b.clone()))
                }
                BindingChange::Ended { binding, .. } => unsaved.insert(binding.id.clone(), None),
            };
            match change {
                BindingChange::Started(b) => {
                    self.metrics
                        .session_bindings
                        .with_label_values(&[source_label(b.protocol)])
                        .inc();
                    for (&key, t) in intercepts.iter_mut() {
                        if !names(&t.identities, &b.identities) {
                            continue;
                        }
                        let whole = (b, b.addresses.as_slice());
                        self.bind(pending, key, whole, b.started_ns, signal_ns(b));
                        t.applied.insert(b.id.clone(), b.clone());
                        let r = report(AccessEvent::SessionStart, b.started_ns, b, signal);
                        self.iri(t, key, r);
                    }
                }
                BindingChange::Refreshed(b) => {
                    for (&key, t) in intercepts.iter_mut() {
                        if let Some(applied) = t.applied.get_mut(&b.id) {
                            *applied = b.clone();
                            let r = report(AccessEvent::InterimUpdate, b.updated_ns, b, signal);
                            self.iri(t, key, r);
                        }
                    }
                }
                BindingChange::Updated { old, new } => {
                    let gone = not_in(&old.addresses, &new.addresses);
                    let came = not_in(&new.addresses, &old.addresses);
                    for (&key, t) in intercepts.iter_mut() {
                        let had = t.applied.contains_key(&old.id);
                        if !had && !names(&t.identities, &new.identities) {
                            continue;
                        }
                        if had && !names(&t.identities, &new.identities) {
                            // The session no longer names the subscriber.
                            self.exact.close(key, &old.id, None, new.updated_ns);
                            let _epoch = self.controller.unbind(key, &old.addresses);
                            t.applied.remove(&old.id);
                            let r = report(AccessEvent::SessionEnd, new.updated_ns, old, signal);
                            self.iri(t, key, r);
                            continue;
                        }
                        let (gone, came) = if had {
                            (gone.as_slice(), came.as_slice())
                        } else {
                            (&[][..], new.addresses.as_slice())
                        };
                        self.exact.close(key, &old.id, Some(gone), new.updated_ns);
                        let _epoch = self.controller.unbind(key, gone);
                        self.bind(pending, key, (new, came), new.updated_ns, signal_ns(new));
                        t.applied.remove(&old.id);
                        t.applied.insert(new.id.clone(), new.clone());
                        let event = if had {
                            AccessEvent::InterimUpdate
                        } else {
                            AccessEvent::SessionStart
                        };
                        self.iri(t, key, report(event, new.updated_ns, new, signal));
                    }
                }
                BindingChange::Ended {
                    binding,
                    at_ns,
                    reason,
                } => {
                    self.metrics
                        .session_bindings
                        .with_label_values(&[source_label(binding.protocol)])
                        .dec();
                    let event = end_event(*reason);
                    for (&key, t) in intercepts.iter_mut() {
                        let Some(held) = t.applied.remove(&binding.id) else {
                            continue;
                        };
                        self.unbind(key, &held, *at_ns);
                        self.iri(t, key, report(event, *at_ns, &held, signal));
                    }
                }
            }
        }
    }

    /// Access events of a targeted subscriber (no binding changes).
    fn access_iri(&self, st: &State, signal: &Signal) {
        let event = match signal.event {
            SignalEvent::AccessRequest => AccessEvent::AccessAttempt,
            SignalEvent::AccessAccept => AccessEvent::AccessAccept,
            SignalEvent::AccessReject => AccessEvent::AccessReject,
            _ => return,
        };
        let seen = Binding {
            id: BindingId(String::new()),
            protocol: signal.protocol,
            identities: signal.identities.clone(),
            addresses: signal.assigned.iter().map(|a| a.target).collect(),
            nas: signal.nas.clone(),
            session_id: signal.session_id.clone(),
            started_ns: signal.ts_ns,
            updated_ns: signal.ts_ns,
            expires_ns: signal.ts_ns,
        };
        for (&key, t) in &st.intercepts {
            if names(&t.identities, &signal.identities) {
                let mut r = report(event, signal.ts_ns, &seen, Some(signal));
                r.session_start_ns = None;
                self.iri(t, key, r);
            }
        }
    }

    fn signal(&self, p: &SignalPacket<'_>) {
        let signal = match self.verifier.parse(p) {
            Ok(s) => s,
            Err(refusal) => {
                self.refused(p.src, refusal);
                return;
            }
        };
        self.metrics
            .session_signals
            .with_label_values(&["accepted"])
            .inc();
        self.signalled(&signal);
    }

    /// An authenticated signal.
    fn signalled(&self, signal: &Signal) {
        let mut st = lock(&self.state);
        self.access_iri(&st, signal);
        let mut changes = Vec::new();
        st.tracker.apply(signal, &mut changes);
        if matches!(
            signal.event,
            SignalEvent::AccountingOn | SignalEvent::AccountingOff
        ) {
            // Targeted sessions leave the tables and the gate now; the
            // tracker reports the NAS's other sessions in chunks, in later passes.
            let State {
                tracker,
                intercepts,
                ..
            } = &mut *st;
            for id in intercepts.values().flat_map(|t| t.applied.keys()) {
                tracker.settle(id, &mut changes);
            }
            self.apply(&mut st, &changes, Some(signal));
            // Durable now, with the restart itself: a crash before the pass's
            // end must not bring back the NAS's sessions as live.
            self.save(&mut st);
        } else {
            self.apply(&mut st, &changes, Some(signal));
        }
        self.observe(&mut st);
    }

    fn refused(&self, src: IpAddr, refusal: Refusal) {
        self.metrics
            .session_signals
            .with_label_values(&[refusal.label()])
            .inc();
        // Forged or misdirected accounting may be an attack: audited, in aggregate.
        if matches!(refusal, Refusal::BadAuthenticator | Refusal::UnknownSender) {
            self.refusals
                .record_code(Source::of(src), refusal.label(), || refusal.to_string());
        }
    }

    /// Bindings every worker has applied: their latency.
    fn observe(&self, st: &mut State) {
        st.pending
            .observe(&self.controller, &self.metrics.binding_latency);
        self.metrics
            .sessions_active
            .set(i64::try_from(st.tracker.len()).unwrap_or(i64::MAX));
    }

    fn idle(&self, watermark_ns: u64) {
        let mut st = lock(&self.state);
        let mut changes = Vec::new();
        st.tracker.end_pending(&mut changes);
        // A capture replay's watermark jumps to the end of time when it ends.
        st.tracker.expire(watermark_ns.min(now_ns()), &mut changes);
        self.apply(&mut st, &changes, None);
        self.save(&mut st);
        self.observe(&mut st);
        self.metrics
            .sessions_active
            .set(i64::try_from(st.tracker.len()).unwrap_or(i64::MAX));
        if st.last_housekeeping.elapsed() < HOUSEKEEPING {
            return;
        }
        st.last_housekeeping = Instant::now();
        let window = st.last_window.elapsed() >= REFUSAL_WINDOW;
        if window {
            st.last_window = Instant::now();
        }
        drop(st);
        self.exact.prune(watermark_ns);
        self.write_audit(if window { Flush::Window } else { Flush::Due });
    }

    /// Writes the pass's binding changes in one transaction, with the NAS
    /// restarts whose ends are pending: a restart is stored with its first
    /// pass's ends and deleted with its last's.
    fn save(&self, st: &mut State) {
        let restarts: Vec<NasRestart> = st.tracker.pending_restarts().collect();
        let begun = not_in(&restarts, &st.saved_restarts);
        let done = not_in(&st.saved_restarts, &restarts);
        if st.unsaved.is_empty() && begun.is_empty() && done.is_empty() {
            return;
        }
        let mut puts = Vec::new();
        let mut removes = Vec::new();
        for (id, b) in st.unsaved.drain() {
            match b {
                Some(b) => puts.push(b),
                None => removes.push(id),
            }
        }
        match self.store.write_sessions(&puts, &removes, &begun, &done) {
            Ok(()) => st.saved_restarts = restarts,
            Err(e) => {
                tracing::error!(error = %e, "cannot save bindings; they are lost on restart");
            }
        }
    }

    /// A static assignment changed (or was removed: `None`) through the API.
    fn static_changed(&self, subscriber: &Identity, now: Option<&StaticAssignment>) {
        let mut st = lock(&self.state);
        let mut changes = Vec::new();
        let addresses = now.map(|a| a.addresses.clone()).unwrap_or_default();
        st.tracker
            .set_static(subscriber.clone(), addresses, now_ns(), &mut changes);
        self.apply(&mut st, &changes, None);
        self.save(&mut st);
    }

    fn write_audit(&self, flush: Flush) {
        for details in self.refusals.take(flush) {
            self.controller.audit(
                "unauthenticated",
                AuditAction::RequestUnauthenticated,
                "signalling",
                details,
            );
        }
        let lost = self.exact.lost.swap(0, Ordering::Relaxed);
        if lost > 0 {
            // Records the watermark did not pass within the hold bound: never
            // delivered unjudged, so intercept loss.
            self.controller.audit(
                SYSTEM_ACTOR,
                AuditAction::DeliveryDataLost,
                "sessions",
                serde_json::json!({ "reason": "signalling watermark late", "records": lost }),
            );
        }
    }

    /// Brings intercept `i`'s applied bindings to what the tracker holds now.
    fn sync(&self, st: &mut State, i: &Intercept) {
        let now = now_ns();
        let mut current: HashMap<BindingId, Binding> = HashMap::new();
        for id in &i.identities {
            for b in st.tracker.bindings_of(id) {
                current.insert(b.id.clone(), b.clone());
            }
        }
        let mut t = st.intercepts.remove(&i.key).unwrap_or(Targeted {
            identities: Vec::new(),
            active: false,
            applied: HashMap::new(),
        });
        t.identities.clone_from(&i.identities);
        t.active = i.state == InterceptState::Active;
        let gone: Vec<Binding> = t
            .applied
            .values()
            .filter(|b| !current.contains_key(&b.id))
            .cloned()
            .collect();
        for b in gone {
            self.unbind(i.key, &b, now);
            t.applied.remove(&b.id);
        }
        for (id, b) in current {
            if let std::collections::hash_map::Entry::Vacant(slot) = t.applied.entry(id) {
                // Bound since the session started: a record of it is judged by
                // the tracker's knowledge, not by when the warrant arrived.
                let whole = (&b, b.addresses.as_slice());
                self.bind(&mut st.pending, i.key, whole, b.started_ns, None);
                slot.insert(b);
            }
        }
        st.intercepts.insert(i.key, t);
    }
}

impl Shared {
    /// Reports the sessions in progress of `t` as interception of it begins
    /// (or resumes, after a restart) at `at_ns`.
    fn in_progress(&self, key: u32, t: &Targeted, at_ns: u64) {
        for b in t.applied.values() {
            let r = report(AccessEvent::StartWithSessionActive, at_ns, b, None);
            self.iri(t, key, r);
        }
    }

    /// After a restart: what the LEAs of active intercepts were last told is
    /// what the tracker held at the stop. Reports the ends of the sessions in
    /// `restored` (those that ended while the probe was down) and the sessions
    /// still in progress, with their NAS, id and start time; never a second
    /// sessionStart.
    fn resumed(&self, st: &State, restored: &[BindingChange], at_ns: u64) {
        for (&key, t) in &st.intercepts {
            for change in restored {
                if let BindingChange::Ended {
                    binding,
                    at_ns,
                    reason,
                } = change
                {
                    if names(&t.identities, &binding.identities) {
                        self.iri(t, key, report(end_event(*reason), *at_ns, binding, None));
                    }
                }
            }
            self.in_progress(key, t, at_ns);
        }
    }
}

fn end_event(reason: EndReason) -> AccessEvent {
    match reason {
        EndReason::Signalled | EndReason::Superseded | EndReason::Removed => {
            AccessEvent::SessionEnd
        }
        EndReason::Expired | EndReason::NasRestart => AccessEvent::SessionExpired,
    }
}

impl IdentityBindings for Shared {
    fn installed(&self, i: &Intercept) {
        let mut st = lock(&self.state);
        self.sync(&mut st, i);
    }

    fn started(&self, key: u32, at_ns: u64) {
        let st = &mut *lock(&self.state);
        let Some(t) = st.intercepts.get_mut(&key) else {
            return;
        };
        t.active = true;
        self.in_progress(key, t, at_ns);
    }

    fn ended(&self, key: u32, at_ns: u64, was_active: bool) {
        let Some(t) = lock(&self.state).intercepts.remove(&key) else {
            return;
        };
        for b in t.applied.values() {
            // The tables' clear drops the addresses; records before it are still judged.
            self.exact.close(key, &b.id, None, at_ns);
            if was_active {
                let r = report(AccessEvent::EndWithSessionActive, at_ns, b, None);
                self.controller.session_event(key, r);
            }
        }
    }
}

impl SessionGlue {
    /// Restores the saved bindings (ending those that expired while the probe
    /// was down) and installs the bound addresses of every targeted subscriber;
    /// call after the stored intercepts are loaded and before the dataplane is armed.
    ///
    /// # Errors
    /// A NAS secret cannot be loaded; the store fails.
    pub fn new(
        cfg: &SessionsConfig,
        controller: Arc<Controller>,
        store: Store,
        metrics: ProbeMetrics,
        watermark: Watermark,
    ) -> Result<Self, DaemonError> {
        let verifier = Verifier::from_config(cfg)?;
        let exact = Arc::new(Exactness {
            watermark,
            intervals: Spans::default(),
            lost: AtomicU64::new(0),
            held: metrics.session_held_records.clone(),
        });
        let saved = store.bindings()?;
        for b in &saved {
            metrics
                .session_bindings
                .with_label_values(&[source_label(b.protocol)])
                .inc();
        }
        let mut tracker = Tracker::new(cfg);
        let mut restored = Vec::new();
        let now = now_ns();
        // Restarts a crash interrupted: ended here, and deleted with their ends by `save`.
        let saved_restarts = store.nas_restarts()?;
        tracker.restore(saved, &saved_restarts, now, &mut restored);
        let mut changes = restored.clone();
        // The static table as it is now, also for changes made while the probe was down.
        let statics = store.static_assignments()?;
        let stale: Vec<Identity> = tracker
            .iter()
            .filter(|b| b.protocol == Protocol::Static)
            .filter_map(|b| b.identities.first())
            .filter(|id| !statics.iter().any(|s| &s.subscriber == *id))
            .cloned()
            .collect();
        for id in &stale {
            tracker.remove_static(id, now, &mut changes);
        }
        for s in statics {
            tracker.set_static(s.subscriber, s.addresses, now, &mut changes);
        }
        let shared = Arc::new(Shared {
            verifier,
            controller: Arc::clone(&controller),
            store: store.clone(),
            metrics,
            exact: Arc::clone(&exact),
            refusals: RefusalAudit::new("signalling"),
            state: Mutex::new(State {
                tracker,
                intercepts: HashMap::new(),
                pending: Unacked::default(),
                unsaved: HashMap::new(),
                saved_restarts,
                last_window: Instant::now(),
                last_housekeeping: Instant::now(),
            }),
        });
        {
            let mut st = lock(&shared.state);
            shared.apply(&mut st, &changes, None);
            shared.save(&mut st);
            for i in store.list()? {
                if !i.state.is_terminal() && !i.identities.is_empty() {
                    shared.sync(&mut st, &i);
                }
            }
            shared.resumed(&st, &restored, now);
        }
        controller.set_session_gate(exact);
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        controller.register_identity_bindings(weak.clone());
        controller.set_static_assignment_hook(Box::new(move |subscriber, now| {
            if let Some(glue) = weak.upgrade() {
                glue.static_changed(subscriber, now);
            }
        }));
        Ok(Self { shared })
    }
}

impl Drop for SessionGlue {
    /// A stop in the middle of a NAS restart's passes: the rest of its
    /// sessions are ended and removed from the store now, not restored as
    /// live at the next start.
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        let mut changes = Vec::new();
        while st.tracker.end_pending(&mut changes) {}
        self.shared.apply(&mut st, &changes, None);
        self.shared.save(&mut st);
    }
}

impl SignalSink for SessionGlue {
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

    fn binding(id: &str, addresses: Vec<Target>) -> Binding {
        Binding {
            id: BindingId(id.into()),
            protocol: Protocol::Radius,
            identities: vec![Identity::new("t", IdentityKind::Username, "t@isp").unwrap()],
            addresses,
            nas: None,
            session_id: Some("s1".into()),
            started_ns: 1_000,
            updated_ns: 1_000,
            expires_ns: u64::MAX,
        }
    }

    fn exactness() -> Exactness {
        Exactness {
            watermark: Watermark::default(),
            intervals: Spans::default(),
            lost: AtomicU64::new(0),
            held: prometheus::IntGauge::new("h", "h").unwrap(),
        }
    }

    #[test]
    fn an_address_is_bound_only_inside_its_interval_and_for_its_intercept() {
        let e = exactness();
        let a: IpAddr = "192.0.2.9".parse().unwrap();
        let b = binding("r1", vec![Target::Ipv4("192.0.2.9".parse().unwrap())]);
        e.open(7, &b, &b.addresses, 1_000);
        assert!(!e.bound(7, a, 999), "before the Start");
        assert!(e.bound(7, a, 1_000));
        assert!(e.bound(7, a, u64::MAX - 1), "open until the Stop");
        assert!(!e.bound(8, a, 1_500), "another intercept");
        assert!(!e.bound(7, "192.0.2.10".parse().unwrap(), 1_500));
        e.close(7, &b.id, None, 2_000);
        assert!(e.bound(7, a, 1_999));
        assert!(!e.bound(7, a, 2_000), "the Stop's own time and after");
        // Rebound later by a new session of the same subscriber: two intervals.
        let again = binding("r2", b.addresses.clone());
        e.open(7, &again, &again.addresses, 3_000);
        assert!(!e.bound(7, a, 2_500));
        assert!(e.bound(7, a, 3_000));
        // A closed interval is kept until the watermark is well past it.
        e.prune(2_000 + ENDED_RETENTION_NS);
        assert!(e.bound(7, a, 1_500));
        e.prune(2_001 + ENDED_RETENTION_NS);
        assert!(!e.bound(7, a, 1_500));
        assert!(e.bound(7, a, 3_000));
    }

    #[test]
    fn prefixes_cover_their_addresses_and_partial_closes_keep_the_rest() {
        let e = exactness();
        let pd = Target::Ipv6Net("2001:db8:100::".parse().unwrap(), 56);
        let na = Target::Ipv6("2001:db8::5".parse().unwrap());
        let b = binding("d6", vec![pd, na]);
        e.open(1, &b, &b.addresses, 10);
        assert!(e.bound(1, "2001:db8:100:ff::1".parse().unwrap(), 11));
        assert!(!e.bound(1, "2001:db8:101::1".parse().unwrap(), 11));
        e.close(1, &b.id, Some(&[na]), 20);
        assert!(!e.bound(1, "2001:db8::5".parse().unwrap(), 21));
        assert!(e.bound(1, "2001:db8:100::1".parse().unwrap(), 21));
        assert!(contains(
            &Target::Ipv4Net("10.0.0.0".parse().unwrap(), 8),
            "10.9.9.9".parse().unwrap()
        ));
        assert!(!contains(
            &Target::Ipv4Net("10.0.0.0".parse().unwrap(), 8),
            "11.0.0.1".parse().unwrap()
        ));
        assert!(contains(
            &Target::Ipv4Net("0.0.0.0".parse().unwrap(), 0),
            "11.0.0.1".parse().unwrap()
        ));
    }

    /// A probe's store (in `dir`), controller and metrics, as at its start.
    fn parts(dir: &std::path::Path) -> (Store, Arc<Controller>, ProbeMetrics) {
        let store = Store::open(&dir.join("p.db"), &dir.join("a.jsonl")).unwrap();
        let metrics = ProbeMetrics::unregistered().unwrap();
        let (writer, _replicas) = dataplane::targets::replicas(1, 1024);
        let controller = Arc::new(Controller::new(
            store.clone(),
            writer,
            None,
            metrics.clone(),
            std::time::Duration::from_secs(1),
            crate::model::TargetPolicy::default(),
        ));
        (store, controller, metrics)
    }

    /// The glue of a probe with no NAS configured (signals are given to
    /// [`Shared::signalled`] as the verifier would), intercept 7 on `t@isp`.
    fn glue(dir: &std::path::Path) -> Shared {
        let (store, controller, metrics) = parts(dir);
        let cfg: SessionsConfig = toml::from_str("").unwrap();
        let t = Targeted {
            identities: vec![Identity::new("t", IdentityKind::Username, "t@isp").unwrap()],
            active: true,
            applied: HashMap::new(),
        };
        Shared {
            verifier: Verifier::from_config(&cfg).unwrap(),
            controller,
            store,
            metrics,
            exact: Arc::new(exactness()),
            refusals: RefusalAudit::new("signalling"),
            state: Mutex::new(State {
                tracker: Tracker::new(&cfg),
                intercepts: HashMap::from([(7, t)]),
                pending: Unacked::default(),
                unsaved: HashMap::new(),
                saved_restarts: Vec::new(),
                last_window: Instant::now(),
                last_housekeeping: Instant::now(),
            }),
        }
    }

    fn accounting(
        ts_ns: u64,
        event: SignalEvent,
        sid: Option<&str>,
        user: &str,
        addr: Option<Target>,
    ) -> Signal {
        Signal {
            ts_ns,
            protocol: Protocol::Radius,
            event,
            session_id: sid.map(str::to_owned),
            identities: vec![Identity::new("t", IdentityKind::Username, user).unwrap()],
            assigned: addr
                .into_iter()
                .map(|target| crate::sessions::signal::Assigned {
                    target,
                    lifetime_secs: None,
                })
                .collect(),
            nas: Some(crate::sessions::Nas {
                address: "192.0.2.10".parse().unwrap(),
                identifier: None,
            }),
            message: Vec::new(),
        }
    }

    /// Three passes' worth of sessions of untargeted subscribers at the NAS,
    /// started from `base_ns` on.
    fn load(g: &Shared, base_ns: u64) {
        let n = u32::try_from(crate::sessions::tracker::END_PER_PASS * 3).unwrap();
        for i in 0..n {
            let a = Target::Ipv4(std::net::Ipv4Addr::from(0x6440_0000 + i));
            let sid = format!("s{i:06}");
            let who = format!("u{i}");
            g.signalled(&accounting(
                base_ns + 1_000 + u64::from(i),
                SignalEvent::AccountingStart,
                Some(&sid),
                &who,
                Some(a),
            ));
        }
    }

    /// The NAS's Accounting-On, after [`load`] from `base_ns`; its time.
    fn nas_restart(g: &Shared, base_ns: u64) -> u64 {
        let on_ns = base_ns + 1_000_000;
        g.signalled(&accounting(
            on_ns,
            SignalEvent::AccountingOn,
            None,
            "nas",
            None,
        ));
        on_ns
    }

    #[test]
    fn a_nas_restart_closes_targeted_sessions_at_once_and_the_rest_in_passes() {
        use crate::sessions::tracker::END_PER_PASS;
        let dir = tempfile::tempdir().unwrap();
        let g = glue(dir.path());
        load(&g, 0);
        // T's session sorts after all the others: the On's own pass does not reach it.
        let t_addr: IpAddr = "198.51.100.7".parse().unwrap();
        let t = Target::Ipv4("198.51.100.7".parse().unwrap());
        g.signalled(&accounting(
            900_000,
            SignalEvent::AccountingStart,
            Some("zzz"),
            "t@isp",
            Some(t),
        ));
        assert!(g.exact.bound(7, t_addr, 900_001));
        let on_ns = nas_restart(&g, 0);
        assert!(
            g.exact.bound(7, t_addr, on_ns - 1),
            "T's packets before the On"
        );
        assert!(
            !g.exact.bound(7, t_addr, on_ns),
            "none from the On on, at once"
        );
        let mut left = lock(&g.state).tracker.len();
        assert!(
            left > END_PER_PASS,
            "the other sessions' ends are pending: {left}"
        );
        // Then each signalling pass ends a bounded chunk.
        for _ in 0..4 {
            g.idle(on_ns);
            let now = lock(&g.state).tracker.len();
            assert!(left - now <= END_PER_PASS, "{left} -> {now}");
            left = now;
        }
        assert_eq!(left, 0);
        assert!(
            g.store.bindings().unwrap().is_empty(),
            "and removed from the store"
        );
    }

    #[test]
    fn a_stop_in_the_middle_of_a_nas_restart_leaves_none_of_its_sessions_stored() {
        let dir = tempfile::tempdir().unwrap();
        let g = glue(dir.path());
        load(&g, 0);
        g.idle(1);
        let on_ns = nas_restart(&g, 0);
        g.idle(on_ns);
        let store = g.store.clone();
        assert!(!store.bindings().unwrap().is_empty(), "ends still pending");
        drop(SessionGlue {
            shared: Arc::new(g),
        });
        assert_eq!(store.bindings().unwrap().len(), 0, "not restored as live");
    }

    #[test]
    fn a_crash_in_the_middle_of_a_nas_restart_restores_none_of_its_sessions_as_live() {
        let cfg: SessionsConfig = toml::from_str("").unwrap();
        let nas = "192.0.2.10".parse().unwrap();
        // A crash right after the On, and one after its next pass.
        for passes in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let g = glue(dir.path());
            // Sessions of now: not expired when the probe comes back.
            let base = now_ns();
            load(&g, base);
            g.idle(base);
            let on_ns = nas_restart(&g, base);
            for _ in 0..passes {
                g.idle(on_ns);
            }
            let pending: Vec<BindingId> = g
                .store
                .bindings()
                .unwrap()
                .into_iter()
                .map(|b| b.id)
                .collect();
            assert!(!pending.is_empty(), "ends still pending at the crash");
            // The crash: the glue goes without its stop (`SessionGlue`'s drop).
            drop(g);

            let (store, controller, metrics) = parts(dir.path());
            let restarts = store.nas_restarts().unwrap();
            assert_eq!(restarts, [NasRestart { nas, at_ns: on_ns }]);
            let mut tracker = Tracker::new(&cfg);
            let mut ended = Vec::new();
            tracker.restore(store.bindings().unwrap(), &restarts, now_ns(), &mut ended);
            assert!(tracker.is_empty(), "{} restored as live", tracker.len());
            // Each pending one ended once, at the On's time.
            let ids: Vec<BindingId> = ended
                .iter()
                .filter_map(|c| match c {
                    BindingChange::Ended {
                        binding,
                        at_ns,
                        reason: EndReason::NasRestart,
                    } if *at_ns == on_ns => Some(binding.id.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(ids.len(), ended.len(), "{passes}: {:?}", ended.first());
            assert_eq!(ids, pending);
            // The restarted glue does the same, and deletes the restart with its ends.
            let glue = SessionGlue::new(
                &cfg,
                controller,
                store.clone(),
                metrics,
                Watermark::default(),
            )
            .unwrap();
            assert!(lock(&glue.shared.state).tracker.is_empty());
            assert!(store.bindings().unwrap().is_empty());
            assert!(store.nas_restarts().unwrap().is_empty());
        }
    }

    #[test]
    fn reports_carry_the_session_and_end_time_only_on_end_events() {
        let mut b = binding("r1", vec![Target::Ipv4("192.0.2.9".parse().unwrap())]);
        b.identities
            .push(Identity::new("t", IdentityKind::CallingStationId, "02-00-5e").unwrap());
        let start = report(AccessEvent::SessionStart, 1_000, &b, None);
        assert_eq!(start.username.as_deref(), Some("t@isp"));
        assert_eq!(start.network_id.as_deref(), Some("02-00-5e"));
        assert_eq!(start.session_id.as_deref(), Some("s1"));
        assert_eq!(
            (start.session_start_ns, start.session_end_ns),
            (Some(1_000), None)
        );
        let end = report(AccessEvent::SessionExpired, 9_000, &b, None);
        assert_eq!(end.session_end_ns, Some(9_000));
        assert!(names(
            &b.identities,
            &[Identity::new("t", IdentityKind::Username, "t@ISP").unwrap()]
        ));
        assert!(!names(
            &b.identities,
            &[Identity::new("t", IdentityKind::Username, "u@isp").unwrap()]
        ));
    }
}
