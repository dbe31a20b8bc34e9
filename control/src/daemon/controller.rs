//! The probe's provisioning logic: store (with audit) → handover route → target
//! tables on every worker → wait for every worker's epoch → state `Active`.
//! Shared by the API (as [`Provisioning`]), the window scheduler and start-up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use dataplane::handoff::SIGNALLING_KEY;
use dataplane::targets::{InterceptSpec, Mode, Slot, TableWriter, Target, Update};
use serde_json::Value;
use time::OffsetDateTime;

use crate::api::{ApiError, Provisioned, Provisioning};
use crate::audit::AuditAction;
use crate::handover::{HandoverEngine, InterceptRoute, SessionGate, SessionReport};
use crate::metrics::ProbeMetrics;
use crate::model::{
    Destination, Identity, IdentityKind, Intercept, InterceptPatch, InterceptRequest,
    InterceptState, Liid, Origin, TargetPolicy,
};
use crate::store::{StaticAssignment, StaticAssignmentRequest, Store, StoreError};

use super::slots::SlotAllocator;
use super::DaemonError;

/// Actor recorded for changes the probe makes by itself (window start/end).
pub const SYSTEM_ACTOR: &str = "system";

/// Why the tables could not take an intercept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// Every slot holds a live intercept.
    #[error("all 65536 intercept slots are in use")]
    SlotsExhausted,
}

/// The session glue, told what happens to intercepts naming subscriber
/// identities. Never called with the tables locked (it calls back into
/// [`Controller::bind`]).
pub trait IdentityBindings: Send + Sync {
    /// `i` is in the tables (new or changed): bind its subscribers' current addresses.
    fn installed(&self, i: &Intercept);
    /// Interception of `key` began at `at_ns`.
    fn started(&self, key: u32, at_ns: u64);
    /// Intercept `key` leaves the tables at `at_ns` (`was_active`: its interception ends).
    fn ended(&self, key: u32, at_ns: u64, was_active: bool);
}

/// What the tables hold for one intercept.
#[derive(Debug)]
struct Installed {
    slot: Slot,
    targets: Vec<Target>,
    /// Addresses bound to its subscribers, with how many bindings hold each.
    bound: HashMap<Target, u32>,
    /// Epoch of the last change sent for it.
    epoch: u64,
}

struct Tables {
    writer: TableWriter,
    slots: SlotAllocator,
    by_key: HashMap<u32, Installed>,
}

/// Called after a committed static assignment change with the subscriber and
/// its assignment now (`None`: removed). Set by the session glue.
pub type StaticAssignmentHook = Box<dyn Fn(&Identity, Option<&StaticAssignment>) + Send + Sync>;

/// Store + tables + handover, behind the API and the scheduler.
pub struct Controller {
    store: Store,
    tables: Mutex<Tables>,
    handover: Mutex<Option<HandoverEngine>>,
    metrics: ProbeMetrics,
    apply_timeout: Duration,
    /// Which targets a request may name (`[intercepts]`).
    policy: TargetPolicy,
    /// The session glue, if the probe tracks sessions.
    identity_bindings: Mutex<Vec<Weak<dyn IdentityBindings>>>,
    /// Told of every static assignment change (the session glue).
    static_hook: Mutex<Option<StaticAssignmentHook>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ns(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
}

/// Maps a store error to the API's error shape.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { what, name } => ApiError::conflict(
            match what {
                "destination" => "duplicate_destination",
                "xid" => "duplicate_xid",
                _ => "duplicate_liid",
            },
            format!("{what} {name:?} already exists"),
        ),
        StoreError::NotFound { what, name } => {
            ApiError::not_found(format!("{what} {name:?} not found"))
        }
        StoreError::UnknownDestination(d) => ApiError::bad_request(
            "unknown_destination",
            format!("destination {d:?} is not configured"),
        ),
        StoreError::InUse(d) => ApiError::conflict(
            "destination_in_use",
            format!("destination {d:?} is used by a scheduled or active intercept"),
        ),
        e @ StoreError::AssignmentOverlap { .. } => {
            ApiError::conflict("assignment_overlap", e.to_string())
        }
        StoreError::Invalid(v) if v.code() == "invalid_state" => {
            ApiError::conflict("invalid_state", v.to_string())
        }
        StoreError::Invalid(v) => v.into(),
        other => {
            tracing::error!(error = %other, "state store failure");
            ApiError::internal("state store failure (see probe log)")
        }
    }
}

fn liid(text: &str) -> Result<Liid, ApiError> {
    Liid::try_from(text.to_owned())
        .map_err(|_| ApiError::not_found(format!("intercept {text:?} not found")))
}

fn route(i: &Intercept) -> InterceptRoute {
    InterceptRoute {
        key: i.key,
        liid: i.liid.clone(),
        xid: i.xid,
        mode: i.mode,
        destinations: i.destinations.clone(),
        targets: i.targets.clone(),
        gated: i.identities.iter().any(|id| !id.kind().is_voice()),
        calls: i.identities.iter().any(|id| id.kind().is_voice()),
    }
}

impl Controller {
    /// A controller over `store`, sending table updates through `writer`.
    /// `apply_timeout` bounds how long a request waits for every worker;
    /// `policy` refuses catch-all targets.
    pub fn new(
        store: Store,
        writer: TableWriter,
        handover: Option<HandoverEngine>,
        metrics: ProbeMetrics,
        apply_timeout: Duration,
        policy: TargetPolicy,
    ) -> Self {
        Self {
            store,
            tables: Mutex::new(Tables {
                writer,
                slots: SlotAllocator::default(),
                by_key: HashMap::new(),
            }),
            handover: Mutex::new(handover),
            metrics,
            apply_timeout,
            policy,
            identity_bindings: Mutex::new(Vec::new()),
            static_hook: Mutex::new(None),
        }
    }

    /// Tells `glue` (too) about intercepts naming identities from now on.
    pub fn register_identity_bindings(&self, glue: Weak<dyn IdentityBindings>) {
        lock(&self.identity_bindings).push(glue);
    }

    /// Has handover judge identity intercepts' records by `gate`.
    pub fn set_session_gate(&self, gate: Arc<dyn SessionGate>) {
        self.with_handover(|h| h.set_session_gate(gate));
    }

    /// Judges the records of voice intercepts by `gate`.
    pub fn set_call_gate(&self, gate: Arc<dyn crate::handover::CallGate>) {
        self.with_handover(|h| h.set_call_gate(gate));
    }

    /// Sends the IRI of one SIP message of intercept `key`.
    pub fn sip_event(&self, key: u32, report: crate::handover::SipReport) {
        self.with_handover(|h| h.sip_event(key, report));
    }

    /// Sends a session IRI of intercept `key`.
    pub fn session_event(&self, key: u32, report: SessionReport) {
        self.with_handover(|h| h.session_event(key, report));
    }

    /// The glues (sessions, voice) to tell about `i`; none if it names no identity.
    fn identity_bindings(&self, i: &Intercept) -> Vec<Arc<dyn IdentityBindings>> {
        if i.identities.is_empty() {
            return Vec::new();
        }
        lock(&self.identity_bindings)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Adds `addresses` as targets of intercept `key` for one binding; an
    /// address held by several bindings stays until the last ends. Returns the
    /// epoch to wait for; None if `key` is not installed.
    pub fn bind(&self, key: u32, addresses: &[Target]) -> Option<u64> {
        self.rebind(key, addresses, true)
    }

    /// Takes back what [`Controller::bind`] gave for one binding.
    pub fn unbind(&self, key: u32, addresses: &[Target]) -> Option<u64> {
        self.rebind(key, addresses, false)
    }

    fn rebind(&self, key: u32, addresses: &[Target], add: bool) -> Option<u64> {
        let mut t = lock(&self.tables);
        let installed = t.by_key.get_mut(&key)?;
        let slot = installed.slot;
        let mut updates = Vec::new();
        for &target in addresses {
            // The warrant's own targets stay whatever the bindings do.
            let own = installed.targets.contains(&target);
            if add {
                let n = installed.bound.entry(target).or_insert(0);
                *n += 1;
                if *n == 1 && !own {
                    updates.push(Update::AddTarget { slot, target });
                }
            } else if let Some(n) = installed.bound.get_mut(&target) {
                *n -= 1;
                if *n == 0 {
                    installed.bound.remove(&target);
                    if !own {
                        updates.push(Update::RemoveTarget { slot, target });
                    }
                }
            }
        }
        if updates.is_empty() {
            return Some(installed.epoch);
        }
        let epoch = t.writer.send(&updates);
        if let Some(installed) = t.by_key.get_mut(&key) {
            installed.epoch = epoch;
        }
        Some(epoch)
    }

    /// The epoch every worker has applied.
    pub fn min_applied(&self) -> u64 {
        lock(&self.tables).writer.min_applied()
    }

    /// Sets what [`Controller::static_assignment_changed`] tells (replacing
    /// any earlier hook).
    pub fn set_static_assignment_hook(&self, hook: StaticAssignmentHook) {
        *lock(&self.static_hook) = Some(hook);
    }

    /// After a committed change of `subscriber`'s static assignment: re-reads
    /// it and gives it to the hook, if one is set.
    ///
    /// # Errors
    /// The store cannot read it back.
    pub fn static_assignment_changed(&self, subscriber: &Identity) -> Result<(), StoreError> {
        let now = self.store.static_assignment(subscriber)?;
        if let Some(hook) = lock(&self.static_hook).as_ref() {
            hook(subscriber, now.as_ref());
        }
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes the handover engine out for shutdown.
    pub fn take_handover(&self) -> Option<HandoverEngine> {
        lock(&self.handover).take()
    }

    fn with_handover(&self, f: impl FnOnce(&HandoverEngine)) {
        if let Some(h) = lock(&self.handover).as_ref() {
            f(h);
        }
    }

    /// Appends an audit record, counting it; failures are logged (the caller has
    /// already acted, or is refusing).
    pub fn audit(&self, actor: &str, action: AuditAction, object: &str, details: Value) {
        match self.store.audit().append(actor, action, object, details) {
            Ok(_) => self.metrics.audit_records.inc(),
            Err(e) => tracing::error!(error = %e, action = action.as_str(), "audit append failed"),
        }
    }

    /// Routes `i` in handover, then installs (or updates) it in every worker's
    /// tables; returns the epoch to wait for. Does not wait.
    ///
    /// # Errors
    /// [`TableError::SlotsExhausted`].
    pub fn install(&self, i: &Intercept) -> Result<u64, TableError> {
        let epoch = self.install_tables(i)?;
        for glue in self.identity_bindings(i) {
            glue.installed(i);
        }
        Ok(epoch)
    }

    fn install_tables(&self, i: &Intercept) -> Result<u64, TableError> {
        self.with_handover(|h| h.add_route(route(i)));
        let mut t = lock(&self.tables);
        let spec = i.spec();
        let mut updates = Vec::new();
        let mut bound = HashMap::new();
        let slot = match t.by_key.get_mut(&i.key) {
            Some(old) => {
                let slot = old.slot;
                bound = std::mem::take(&mut old.bound);
                updates.push(Update::SetIntercept { slot, spec });
                for target in old
                    .targets
                    .iter()
                    .filter(|x| !i.targets.contains(x) && !bound.contains_key(x))
                {
                    updates.push(Update::RemoveTarget {
                        slot,
                        target: *target,
                    });
                }
                for target in i
                    .targets
                    .iter()
                    .filter(|x| !old.targets.contains(x) && !bound.contains_key(x))
                {
                    updates.push(Update::AddTarget {
                        slot,
                        target: *target,
                    });
                }
                slot
            }
            None => {
                let min = t.writer.min_applied();
                let slot = t.slots.allocate(min).ok_or(TableError::SlotsExhausted)?;
                updates.push(Update::SetIntercept { slot, spec });
                updates.extend(i.targets.iter().map(|target| Update::AddTarget {
                    slot,
                    target: *target,
                }));
                slot
            }
        };
        let epoch = t.writer.send(&updates);
        t.by_key.insert(
            i.key,
            Installed {
                slot,
                targets: i.targets.clone(),
                bound,
                epoch,
            },
        );
        Ok(epoch)
    }

    /// Installs the probe's signalling intercept ([`SIGNALLING_KEY`], content,
    /// never closing) on `addrs`, the configured NAS, DHCP servers and relays,
    /// and waits until every worker applied it. Config-driven: neither stored
    /// nor listed.
    ///
    /// # Errors
    /// No slot is free; a worker did not apply it within the apply timeout.
    pub fn install_signalling(&self, addrs: &[IpAddr]) -> Result<(), DaemonError> {
        let epoch = {
            let mut t = lock(&self.tables);
            let min = t.writer.min_applied();
            let slot = t
                .slots
                .allocate(min)
                .ok_or_else(|| DaemonError::Dataplane(TableError::SlotsExhausted.to_string()))?;
            let targets: Vec<Target> = addrs
                .iter()
                .map(|a| match *a {
                    IpAddr::V4(v4) => Target::Ipv4(v4),
                    IpAddr::V6(v6) => Target::Ipv6(v6),
                })
                .collect();
            let mut updates = vec![Update::SetIntercept {
                slot,
                spec: InterceptSpec::always_open(SIGNALLING_KEY, Mode::Content),
            }];
            updates.extend(
                targets
                    .iter()
                    .map(|&target| Update::AddTarget { slot, target }),
            );
            let epoch = t.writer.send(&updates);
            t.by_key.insert(
                SIGNALLING_KEY,
                Installed {
                    slot,
                    targets,
                    bound: HashMap::new(),
                    epoch,
                },
            );
            epoch
        };
        if self.wait_applied(epoch) {
            Ok(())
        } else {
            Err(DaemonError::NotApplied(self.apply_timeout))
        }
    }

    /// Clears intercept `key` from every worker and retires its slot; returns the
    /// epoch (None if it was not installed).
    pub fn uninstall(&self, key: u32) -> Option<u64> {
        let mut t = lock(&self.tables);
        let old = t.by_key.remove(&key)?;
        let epoch = t.writer.send(&[Update::ClearIntercept { slot: old.slot }]);
        t.slots.retire(old.slot, epoch);
        Some(epoch)
    }

    /// Waits until every worker applied `epoch` (bounded by the apply timeout).
    pub fn wait_applied(&self, epoch: u64) -> bool {
        self.wait_for_tables(|t| t.writer.min_applied() >= epoch)
    }

    /// Waits until every worker applied `epoch` and the last change sent for
    /// `key` since: a binding (a session's address, a call's media) may follow
    /// the change that installed it.
    fn wait_key_applied(&self, key: u32, epoch: u64) -> bool {
        self.wait_for_tables(|t| {
            let last = t.by_key.get(&key).map_or(epoch, |i| i.epoch.max(epoch));
            t.writer.min_applied() >= last
        })
    }

    fn wait_for_tables(&self, done: impl Fn(&Tables) -> bool) -> bool {
        let deadline = std::time::Instant::now() + self.apply_timeout;
        loop {
            if done(&lock(&self.tables)) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Counts an intercept restored as Active at start-up in the active gauge.
    pub fn count_restored_active(&self) {
        self.metrics.intercepts_active.inc();
    }

    /// Whether every worker applied the last change sent for `key`.
    pub fn is_applied(&self, key: u32) -> bool {
        let t = lock(&self.tables);
        let min = t.writer.min_applied();
        t.by_key.get(&key).is_some_and(|i| i.epoch <= min)
    }

    /// Brings `i` to the state its window implies at `at`, if its tables are in
    /// effect everywhere: Scheduled→Active (audit + IRI begin), →Expired (audit,
    /// IRI end, clear from tables). Returns the intercept as stored after.
    ///
    /// # Errors
    /// Store failure.
    pub fn advance(&self, i: Intercept, at: OffsetDateTime) -> Result<Intercept, StoreError> {
        match i.due_transition(at) {
            Some(InterceptState::Active) if self.is_applied(i.key) => {
                let i = self
                    .store
                    .set_state(&i.liid, InterceptState::Active, SYSTEM_ACTOR)?;
                self.metrics.audit_records.inc();
                self.metrics.intercepts_active.inc();
                // Interception began now, with every worker's tables
                // acknowledged, not at the window's start (it may be long past).
                let (key, began) = (i.key, ns(now()));
                self.with_handover(|h| h.intercept_started(key, began));
                for glue in self.identity_bindings(&i) {
                    glue.started(key, began);
                }
                Ok(i)
            }
            Some(InterceptState::Expired) => {
                let was_active = i.state == InterceptState::Active;
                let i = self
                    .store
                    .set_state(&i.liid, InterceptState::Expired, SYSTEM_ACTOR)?;
                self.metrics.audit_records.inc();
                self.end(&i, was_active, i.valid_until_ns());
                Ok(i)
            }
            _ => Ok(i),
        }
    }

    /// IRI end (if it had started), clear from the tables, drop the route once cleared.
    fn end(&self, i: &Intercept, was_active: bool, at_ns: u64) {
        // Session-active IRI before IRI-End; the clear below drops bound addresses.
        for glue in self.identity_bindings(i) {
            glue.ended(i.key, at_ns, was_active);
        }
        if was_active {
            self.metrics.intercepts_active.dec();
            self.with_handover(|h| h.intercept_ended(i.key, at_ns));
        }
        if let Some(epoch) = self.uninstall(i.key) {
            if !self.wait_applied(epoch) {
                tracing::error!(
                    key = i.key,
                    "workers did not apply a clear in time; route kept"
                );
                return;
            }
        }
        self.with_handover(|h| h.remove_route(i.key));
    }

    /// One scheduler pass: every live intercept whose window moved is advanced.
    /// Returns the earliest future window boundary (to sleep until).
    ///
    /// # Errors
    /// Store failure.
    pub fn tick(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let at = now();
        let mut next: Option<OffsetDateTime> = None;
        for i in self.store.list()? {
            if i.state.is_terminal() {
                continue;
            }
            let i = self.advance(i, at)?;
            let boundary = match i.state {
                InterceptState::Scheduled => Some(i.valid_from),
                InterceptState::Active => Some(i.valid_until),
                _ => None,
            };
            if let Some(b) = boundary.filter(|b| *b > at) {
                next = Some(next.map_or(b, |n| n.min(b)));
            }
        }
        Ok(next)
    }

    /// After a destination was stored (with its audit record): (re)starts
    /// delivery to it with its new settings.
    fn deliver_to(&self, d: Destination) -> Result<Destination, ApiError> {
        self.metrics.audit_records.inc();
        let mut result = Ok(());
        self.with_handover(|h| result = h.upsert_destination(d.clone()));
        result.map_err(|e| {
            ApiError::internal(format!("destination stored; delivery not started: {e}"))
        })?;
        Ok(d)
    }

    fn provisioned(&self, i: Intercept, epoch: u64) -> Result<Provisioned, ApiError> {
        if !self.wait_key_applied(i.key, epoch) {
            return Err(ApiError::unavailable(
                "not_applied",
                format!(
                    "intercept {} is stored but not yet applied on every worker; it will be",
                    i.liid
                ),
            ));
        }
        let i = self.advance(i, now()).map_err(store_error)?;
        let active = i.state == InterceptState::Active;
        Ok(Provisioned {
            intercept: i,
            active,
        })
    }
}

impl Controller {
    /// Creates an intercept; with `xid` (X1 ActivateTask) it takes that XID and
    /// origin X1.
    fn create(
        &self,
        actor: &str,
        req: &InterceptRequest,
        xid: Option<uuid::Uuid>,
    ) -> Result<Provisioned, ApiError> {
        let at = now();
        let mut valid = req.validate(at, &self.policy)?;
        if let Some(xid) = xid {
            valid.xid = Some(xid);
            valid.origin = Origin::X1;
        }
        let created = self
            .store
            .create_intercept(&valid, actor, at)
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        let epoch = self.install(&created).map_err(|e| {
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "slots_exhausted",
                e.to_string(),
            )
        })?;
        self.provisioned(created, epoch)
    }
}

impl Provisioning for Controller {
    fn create_intercept(
        &self,
        actor: &str,
        req: InterceptRequest,
    ) -> Result<Provisioned, ApiError> {
        self.create(actor, &req, None)
    }

    fn activate_task(
        &self,
        actor: &str,
        req: InterceptRequest,
        xid: uuid::Uuid,
    ) -> Result<Provisioned, ApiError> {
        self.create(actor, &req, Some(xid))
    }

    fn list_intercepts(&self) -> Result<Vec<Intercept>, ApiError> {
        self.store.list().map_err(store_error)
    }

    fn get_intercept(&self, text: &str) -> Result<Intercept, ApiError> {
        self.store.get(&liid(text)?).map_err(store_error)
    }

    fn intercept_by_xid(&self, xid: uuid::Uuid) -> Result<Intercept, ApiError> {
        let liid = self
            .store
            .liid_by_xid(xid)
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("no intercept with XID {xid}")))?;
        self.store.get(&liid).map_err(store_error)
    }

    fn modify_intercept(
        &self,
        actor: &str,
        text: &str,
        patch: InterceptPatch,
    ) -> Result<Provisioned, ApiError> {
        let valid = patch.validate(&self.policy)?;
        let modified = self
            .store
            .modify(&liid(text)?, &valid, actor, now())
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        let epoch = self
            .install(&modified)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.provisioned(modified, epoch)
    }

    fn remove_intercept(&self, actor: &str, text: &str) -> Result<Provisioned, ApiError> {
        let before = self.store.get(&liid(text)?).map_err(store_error)?;
        let removed = self
            .store
            .delete(&before.liid, actor)
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        self.end(&removed, before.state == InterceptState::Active, ns(now()));
        Ok(Provisioned {
            intercept: removed,
            active: false,
        })
    }

    fn list_destinations(&self) -> Result<Vec<Destination>, ApiError> {
        self.store.list_destinations().map_err(store_error)
    }

    fn destinations_connected(&self) -> HashMap<String, bool> {
        let mut up = HashMap::new();
        self.with_handover(|h| {
            up = h
                .stats()
                .destinations
                .into_iter()
                .map(|d| (d.name, d.connected))
                .collect();
        });
        up
    }

    fn add_destination(&self, actor: &str, d: Destination) -> Result<Destination, ApiError> {
        d.validate()?;
        self.store
            .create_destination(&d, actor)
            .map_err(store_error)?;
        self.deliver_to(d)
    }

    fn modify_destination(&self, actor: &str, d: Destination) -> Result<Destination, ApiError> {
        d.validate()?;
        self.store
            .update_destination(&d, actor)
            .map_err(store_error)?;
        self.deliver_to(d)
    }

    fn remove_destination(&self, actor: &str, name: &str) -> Result<(), ApiError> {
        self.store
            .delete_destination(name, actor)
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        let mut result = Ok(());
        self.with_handover(|h| result = h.remove_destination(name));
        if let Err(e) = result {
            tracing::warn!(error = %e, "destination removed from the store but not from handover");
        }
        Ok(())
    }

    fn list_static_assignments(&self) -> Result<Vec<StaticAssignment>, ApiError> {
        self.store.static_assignments().map_err(store_error)
    }

    fn put_static_assignment(
        &self,
        actor: &str,
        subscriber_id: &str,
        req: StaticAssignmentRequest,
    ) -> Result<StaticAssignment, ApiError> {
        let a = req.validate(subscriber_id, &self.policy)?;
        self.store
            .put_static_assignment(&a, actor)
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        self.static_assignment_changed(&a.subscriber)
            .map_err(store_error)?;
        Ok(a)
    }

    fn remove_static_assignment(
        &self,
        actor: &str,
        subscriber_id: &str,
    ) -> Result<StaticAssignment, ApiError> {
        let not_found =
            || ApiError::not_found(format!("static assignment {subscriber_id:?} not found"));
        let subscriber = Identity::new("subscriber_id", IdentityKind::SubscriberId, subscriber_id)
            .map_err(|_| not_found())?;
        let removed = self
            .store
            .delete_static_assignment(&subscriber, actor)
            .map_err(store_error)?;
        self.metrics.audit_records.inc();
        self.static_assignment_changed(&subscriber)
            .map_err(store_error)?;
        Ok(removed)
    }

    fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<Value>, ApiError> {
        let records = self.store.audit().list(from, limit).map_err(|e| {
            tracing::error!(error = %e, "audit read failed");
            ApiError::internal("audit read failed (see probe log)")
        })?;
        records
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    fn audit_checkpoint(&self) -> Result<Option<crate::audit::Checkpoint>, ApiError> {
        self.store
            .audit()
            .latest_checkpoint()
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    fn audit_refusal(&self, unauthenticated: bool, actor: &str, reason: Value) {
        let action = if unauthenticated {
            AuditAction::RequestUnauthenticated
        } else {
            AuditAction::RequestRefused
        };
        self.audit(actor, action, "api", reason);
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;

    use super::*;

    fn v4(last: u8) -> Target {
        Target::Ipv4(Ipv4Addr::new(192, 0, 2, last))
    }

    /// A controller over one replica, with destination "d" stored.
    fn controller(dir: &std::path::Path) -> (Controller, Vec<dataplane::targets::TableReplica>) {
        let store = Store::open(&dir.join("p.db"), &dir.join("a.jsonl")).unwrap();
        let dest: Destination = serde_json::from_value(serde_json::json!({
            "name": "d", "address": "127.0.0.1:9", "format": "x2x3",
            "insecure_plaintext": true, "spool_dir": dir.join("spool")
        }))
        .unwrap();
        store.create_destination(&dest, "t").unwrap();
        let (writer, replicas) = dataplane::targets::replicas(1, 1024);
        let c = Controller::new(
            store,
            writer,
            None,
            ProbeMetrics::unregistered().unwrap(),
            Duration::from_secs(5),
            TargetPolicy::default(),
        );
        (c, replicas)
    }

    fn request(target: &str) -> InterceptRequest {
        InterceptRequest {
            liid: "L1".into(),
            warrant_ref: "W".into(),
            issuing_authority: "court".into(),
            valid_from: "2026-01-01T00:00:00Z".into(),
            valid_until: "2099-01-01T00:00:00Z".into(),
            mode: "content".into(),
            targets: vec![target.into()],
            destinations: vec!["d".into()],
        }
    }

    #[test]
    fn bound_addresses_are_counted_per_binding_and_spare_the_warrants_own() {
        let dir = tempfile::tempdir().unwrap();
        let (c, mut replicas) = controller(dir.path());
        let at = now();
        let valid = request("192.0.2.1")
            .validate(at, &TargetPolicy::default())
            .unwrap();
        let i = c.store.create_intercept(&valid, "t", at).unwrap();
        c.install(&i).unwrap();
        let r = &mut replicas[0];
        let count = |r: &mut dataplane::targets::TableReplica| {
            r.apply_pending(usize::MAX);
            r.target_count()
        };
        assert_eq!(count(r), 1);
        assert!(c.bind(i.key + 1, &[v4(2)]).is_none(), "unknown intercept");
        c.bind(i.key, &[v4(2), v4(3)]).unwrap();
        c.bind(i.key, &[v4(2)]).unwrap();
        assert_eq!(count(r), 3);
        // Still held by the second binding.
        c.unbind(i.key, &[v4(2), v4(3)]).unwrap();
        assert_eq!(count(r), 2);
        // A modification (reinstall) keeps the bound address.
        c.install(&i).unwrap();
        assert_eq!(count(r), 2);
        c.unbind(i.key, &[v4(2)]).unwrap();
        assert_eq!(count(r), 1);
        // The warrant's own target outlives a binding of the same address.
        c.bind(i.key, &[v4(1)]).unwrap();
        c.unbind(i.key, &[v4(1)]).unwrap();
        assert_eq!(count(r), 1);
    }

    /// Binds an address the moment an intercept is installed, as the glues
    /// do for a session or a call already in progress.
    struct BindsAtOnce(std::sync::OnceLock<Weak<Controller>>);

    impl IdentityBindings for BindsAtOnce {
        fn installed(&self, i: &Intercept) {
            if let Some(c) = self.0.get().and_then(Weak::upgrade) {
                c.bind(i.key, &[v4(9)]);
            }
        }
        fn started(&self, _key: u32, _at_ns: u64) {}
        fn ended(&self, _key: u32, _at_ns: u64, _was_active: bool) {}
    }

    #[test]
    fn a_warrant_whose_install_binds_at_once_is_active_when_provisioning_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (c, mut replicas) = controller(dir.path());
        let c = Arc::new(c);
        let glue = Arc::new(BindsAtOnce(std::sync::OnceLock::new()));
        glue.0.set(Arc::downgrade(&c)).unwrap();
        let weak: Weak<dyn IdentityBindings> = Arc::downgrade(&glue) as _;
        c.register_identity_bindings(weak);
        // A worker that takes one update at a time, slowly: the binding's
        // epoch lands well after the install's.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut r = replicas.remove(0);
        let worker = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    r.apply_pending(1);
                    std::thread::sleep(Duration::from_millis(20));
                }
                r.target_count()
            })
        };
        let p = c
            .create_intercept("t", request("username:alice@isp.example"))
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(p.active, "the bound address is in effect when it returns");
        assert_eq!(p.intercept.state, InterceptState::Active);
        assert_eq!(worker.join().unwrap(), 1, "the bound address");
    }
}
