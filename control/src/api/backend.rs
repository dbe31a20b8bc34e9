//! What the API asks of the probe. The daemon implements it over the store, the
//! audit log, the target tables and handover; the API only authenticates,
//! authorises, parses and shapes responses. Methods block (SQLite commit, waiting
//! for every worker's epoch): the API calls them on tokio's blocking pool.

use serde::Serialize;

use super::ApiError;
use crate::model::{Destination, Intercept, InterceptPatch, InterceptRequest};
use crate::store::{StaticAssignment, StaticAssignmentRequest};

/// The outcome of a create/modify/remove.
#[derive(Clone, Debug, Serialize)]
pub struct Provisioned {
    /// The intercept as stored after the change.
    #[serde(flatten)]
    pub intercept: Intercept,
    /// True only when every worker applied the change and the intercept is inside
    /// its window now: packets are being intercepted.
    pub active: bool,
}

/// The provisioning operations behind the HTTP routes.
pub trait Provisioning: Send + Sync + 'static {
    /// Validates, stores (with its audit record), installs on every worker and
    /// waits until each applied it.
    ///
    /// # Errors
    /// Validation (400), duplicate LIID (409), unknown destination (400), not applied in time (503).
    fn create_intercept(&self, actor: &str, req: InterceptRequest)
        -> Result<Provisioned, ApiError>;
    /// As [`Provisioning::create_intercept`], for an X1 ActivateTask: the
    /// intercept takes the ADMF's `xid` and is marked as provisioned over X1.
    ///
    /// # Errors
    /// As [`Provisioning::create_intercept`], plus a used XID (409 `duplicate_xid`).
    fn activate_task(
        &self,
        actor: &str,
        req: InterceptRequest,
        xid: uuid::Uuid,
    ) -> Result<Provisioned, ApiError>;
    /// Every intercept, in key order.
    ///
    /// # Errors
    /// Store failure.
    fn list_intercepts(&self) -> Result<Vec<Intercept>, ApiError>;
    /// One intercept.
    ///
    /// # Errors
    /// Unknown LIID (404).
    fn get_intercept(&self, liid: &str) -> Result<Intercept, ApiError>;
    /// The intercept carrying X2/X3 XID `xid`, in any state.
    ///
    /// # Errors
    /// Unknown XID (404).
    fn intercept_by_xid(&self, xid: uuid::Uuid) -> Result<Intercept, ApiError>;
    /// Applies a patch (window end, targets, destinations) and waits for every worker.
    ///
    /// # Errors
    /// As [`Provisioning::create_intercept`], plus 404.
    fn modify_intercept(
        &self,
        actor: &str,
        liid: &str,
        patch: InterceptPatch,
    ) -> Result<Provisioned, ApiError>;
    /// Deactivates an intercept and waits until every worker stopped matching it.
    ///
    /// # Errors
    /// Unknown LIID (404), already terminal (409).
    fn remove_intercept(&self, actor: &str, liid: &str) -> Result<Provisioned, ApiError>;
    /// Every destination.
    ///
    /// # Errors
    /// Store failure.
    fn list_destinations(&self) -> Result<Vec<Destination>, ApiError>;
    /// Whether each destination's delivery link is up now, by name.
    fn destinations_connected(&self) -> std::collections::HashMap<String, bool>;
    /// Validates and stores a destination and starts delivering to it.
    ///
    /// # Errors
    /// Validation (400), duplicate name (409).
    fn add_destination(&self, actor: &str, d: Destination) -> Result<Destination, ApiError>;
    /// Replaces a destination's settings and moves its delivery link to them.
    ///
    /// # Errors
    /// Validation (400), unknown (404).
    fn modify_destination(&self, actor: &str, d: Destination) -> Result<Destination, ApiError>;
    /// Removes a destination no live intercept uses.
    ///
    /// # Errors
    /// Unknown (404), in use (409).
    fn remove_destination(&self, actor: &str, name: &str) -> Result<(), ApiError>;
    /// Every static assignment, by subscriber id.
    ///
    /// # Errors
    /// Store failure.
    fn list_static_assignments(&self) -> Result<Vec<StaticAssignment>, ApiError>;
    /// Sets (creates or replaces) the addresses of static customer
    /// `subscriber_id` (audited) and tells the session glue.
    ///
    /// # Errors
    /// Validation (400: bad name, address, policy; an address another
    /// subscriber holds).
    fn put_static_assignment(
        &self,
        actor: &str,
        subscriber_id: &str,
        req: StaticAssignmentRequest,
    ) -> Result<StaticAssignment, ApiError>;
    /// Removes static customer `subscriber_id`'s addresses (audited) and tells
    /// the session glue; returns what was removed.
    ///
    /// # Errors
    /// Unknown (404).
    fn remove_static_assignment(
        &self,
        actor: &str,
        subscriber_id: &str,
    ) -> Result<StaticAssignment, ApiError>;
    /// Audit records with `seq >= from`, at most `limit`, as JSON objects.
    ///
    /// # Errors
    /// Store failure.
    fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<serde_json::Value>, ApiError>;
    /// The newest signed audit checkpoint, if one was made.
    ///
    /// # Errors
    /// Store failure.
    fn audit_checkpoint(&self) -> Result<Option<crate::audit::Checkpoint>, ApiError>;
    /// Records a refused request (`request_refused`, one record each) or
    /// refused connections before authentication (`request_unauthenticated`,
    /// aggregated: `reason` carries the source, reason code and count).
    /// Must not fail the caller.
    fn audit_refusal(&self, unauthenticated: bool, actor: &str, reason: serde_json::Value);
}
