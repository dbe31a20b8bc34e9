//! Intercepts: the provisioning request, its validated form, patches, and the
//! stored intercept with its warrant-window state.

use std::collections::HashSet;
use std::fmt;

use dataplane::targets::{InterceptSpec, Mode, Target};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::destination::validate_destination_name;
use super::{
    parse_mode, parse_target, target_to_string, Identity, Liid, TargetPolicy, ValidationError,
};

/// Most targets one intercept may name (bounds request size and table updates).
pub const MAX_TARGETS: usize = 100_000;
/// Longest warrant reference / issuing authority.
pub const MAX_REF_LEN: usize = 128;

/// A provisioning request as received (JSON). Nothing in it is trusted until
/// [`InterceptRequest::validate`] returns a [`ValidatedRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterceptRequest {
    /// Lawful Interception Identifier (see [`Liid`]).
    pub liid: String,
    /// Reference of the warrant or court order (1–128 characters).
    pub warrant_ref: String,
    /// Court or authority that issued it (1–128 characters).
    pub issuing_authority: String,
    /// Start of the window, RFC 3339 (may lie in the past).
    pub valid_from: String,
    /// End of the window (exclusive), RFC 3339, after `valid_from` and after now.
    pub valid_until: String,
    /// "headers" or "content".
    pub mode: String,
    /// IPv4/IPv6 addresses, CIDR prefixes, MAC addresses and subscriber
    /// identities `kind:value` (1..=100 000, distinct).
    pub targets: Vec<String>,
    /// Names of configured destinations to deliver to (at least one).
    pub destinations: Vec<String>,
}

/// A request whose every field was checked; the only input the store accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedRequest {
    /// Identifier.
    pub liid: Liid,
    /// Warrant reference.
    pub warrant_ref: String,
    /// Issuing authority.
    pub issuing_authority: String,
    /// Window start (UTC).
    pub valid_from: OffsetDateTime,
    /// Window end, exclusive (UTC).
    pub valid_until: OffsetDateTime,
    /// What may be delivered.
    pub mode: Mode,
    /// Distinct address targets, in request order.
    pub targets: Vec<Target>,
    /// Distinct subscriber identities, in request order (bound to addresses by
    /// the session tracker).
    pub identities: Vec<Identity>,
    /// Distinct destination names, in request order.
    pub destinations: Vec<String>,
    /// XID to store; `None`: a fresh one is generated (X1 gives its own).
    pub xid: Option<uuid::Uuid>,
    /// The interface that provisioned it.
    pub origin: Origin,
}

/// The interface an intercept was provisioned through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The REST API (or the CLI over it).
    #[default]
    Rest,
    /// An ADMF over ETSI TS 103 221-1 X1.
    X1,
}

impl Origin {
    /// Text form ("rest", "x1"), as in JSON and the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::X1 => "x1",
        }
    }

    /// Parses [`Origin::as_str`] output.
    ///
    /// # Errors
    /// Any other text.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "rest" => Ok(Self::Rest),
            "x1" => Ok(Self::X1),
            other => Err(ValidationError::field(
                "origin",
                format!("unknown origin {other:?}"),
            )),
        }
    }
}

impl InterceptRequest {
    /// Checks every field; `now` decides whether the window is already over,
    /// `policy` which targets a warrant may name.
    ///
    /// # Errors
    /// The first invalid field, as a [`ValidationError`] naming it.
    pub fn validate(
        &self,
        now: OffsetDateTime,
        policy: &TargetPolicy,
    ) -> Result<ValidatedRequest, ValidationError> {
        let liid = Liid::try_from(self.liid.clone())?;
        let warrant_ref = validate_text("warrant_ref", &self.warrant_ref)?;
        let issuing_authority = validate_text("issuing_authority", &self.issuing_authority)?;
        let valid_from = parse_time("valid_from", &self.valid_from)?;
        let valid_until = parse_time("valid_until", &self.valid_until)?;
        check_window(valid_from, valid_until, now)?;
        let mode = parse_mode(&self.mode)?;
        let (targets, identities) = parse_targets("targets", &self.targets)?;
        check_policy(policy, "targets", &targets)?;
        check_target_count(targets.len() + identities.len())?;
        let destinations = validate_destination_list(&self.destinations)?;
        Ok(ValidatedRequest {
            liid,
            warrant_ref,
            issuing_authority,
            valid_from,
            valid_until,
            mode,
            targets,
            identities,
            destinations,
            xid: None,
            origin: Origin::Rest,
        })
    }
}

/// A change to an existing intercept as received (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterceptPatch {
    /// New end of the window (RFC 3339); must stay after `valid_from` and now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Targets to add (must not already be present).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_targets: Vec<String>,
    /// Targets to remove (must be present).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_targets: Vec<String>,
    /// Replacement list of destination names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<String>>,
}

/// A patch whose fields were checked on their own; [`Intercept::apply_patch`]
/// checks it against the intercept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidatedPatch {
    /// New window end.
    pub valid_until: Option<OffsetDateTime>,
    /// Distinct address targets to add.
    pub add_targets: Vec<Target>,
    /// Distinct address targets to remove.
    pub remove_targets: Vec<Target>,
    /// Distinct identities to add.
    pub add_identities: Vec<Identity>,
    /// Distinct identities to remove.
    pub remove_identities: Vec<Identity>,
    /// New destination list.
    pub destinations: Option<Vec<String>>,
}

impl InterceptPatch {
    /// Checks every field on its own; targets to add against `policy` (those to
    /// remove are not: an intercept stored before the policy may shed them).
    ///
    /// # Errors
    /// The first invalid field; an empty patch is refused too.
    pub fn validate(&self, policy: &TargetPolicy) -> Result<ValidatedPatch, ValidationError> {
        let valid_until = self
            .valid_until
            .as_deref()
            .map(|t| parse_time("valid_until", t))
            .transpose()?;
        let (add_targets, add_identities) = parse_targets("add_targets", &self.add_targets)?;
        check_policy(policy, "add_targets", &add_targets)?;
        let (remove_targets, remove_identities) =
            parse_targets("remove_targets", &self.remove_targets)?;
        let both = add_targets
            .iter()
            .find(|t| remove_targets.contains(t))
            .map(target_to_string)
            .or_else(|| {
                add_identities
                    .iter()
                    .find(|i| remove_identities.contains(i))
                    .map(Identity::to_string)
            });
        if let Some(target) = both {
            return Err(ValidationError::DuplicateTarget {
                field: "add_targets/remove_targets".into(),
                target,
            });
        }
        let destinations = self
            .destinations
            .as_deref()
            .map(validate_destination_list)
            .transpose()?;
        if valid_until.is_none()
            && self.add_targets.is_empty()
            && self.remove_targets.is_empty()
            && destinations.is_none()
        {
            return Err(ValidationError::field("patch", "changes nothing"));
        }
        Ok(ValidatedPatch {
            valid_until,
            add_targets,
            remove_targets,
            add_identities,
            remove_identities,
            destinations,
        })
    }
}

/// Lifecycle of an intercept. `Active` is set only once every worker applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterceptState {
    /// Provisioned; its window has not started or activation is pending.
    Scheduled,
    /// Matching on every worker.
    Active,
    /// The window ended (terminal).
    Expired,
    /// Stopped or removed before the end of its window (terminal).
    Deactivated,
}

impl InterceptState {
    /// Text form ("scheduled", ...), as in JSON and the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses [`InterceptState::as_str`] output.
    ///
    /// # Errors
    /// Any other text.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "scheduled" => Ok(Self::Scheduled),
            "active" => Ok(Self::Active),
            "expired" => Ok(Self::Expired),
            "deactivated" => Ok(Self::Deactivated),
            other => Err(ValidationError::field(
                "state",
                format!("unknown state {other:?}"),
            )),
        }
    }

    /// Whether nothing can follow this state.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Expired | Self::Deactivated)
    }

    /// Whether `self -> to` is a legal transition (terminal states are final,
    /// nothing goes back to `Scheduled`).
    #[must_use]
    pub fn can_become(self, to: Self) -> bool {
        !self.is_terminal() && to != Self::Scheduled && self != to
    }
}

impl fmt::Display for InterceptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provisioned intercept as stored and as returned by the API. In JSON its
/// address targets and identities form one `targets` list of canonical strings
/// (addresses first), as a request names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Intercept {
    /// Never-reused key carried in every record ([`InterceptSpec::key`]).
    pub key: u32,
    /// Lawful Interception Identifier.
    pub liid: Liid,
    /// X2/X3 XID (UUID v4, generated at creation).
    pub xid: uuid::Uuid,
    /// Warrant reference.
    pub warrant_ref: String,
    /// Issuing authority.
    pub issuing_authority: String,
    /// Window start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// Window end, exclusive (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    /// Headers or content.
    #[serde(with = "super::mode_serde")]
    pub mode: Mode,
    /// Address targets.
    #[serde(skip)]
    pub targets: Vec<Target>,
    /// Subscriber identities (bound to addresses by the session tracker).
    #[serde(skip)]
    pub identities: Vec<Identity>,
    /// Destination names.
    pub destinations: Vec<String>,
    /// Subject CN (or "system") that created it.
    pub created_by: String,
    /// Creation time (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Lifecycle state.
    pub state: InterceptState,
    /// The interface that provisioned it.
    #[serde(default)]
    pub origin: Origin,
}

/// Borrows an intercept for its derived serializer (`remote = "Self"`).
struct Fields<'a>(&'a Intercept);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Intercept::serialize(self.0, s)
    }
}

impl Serialize for Intercept {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            intercept: Fields<'a>,
            targets: Vec<String>,
        }
        Json {
            intercept: Fields(self),
            targets: target_texts(&self.targets, &self.identities),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Intercept {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Json {
            #[serde(flatten, with = "Intercept")]
            intercept: Intercept,
            targets: Vec<String>,
        }
        let json = Json::deserialize(d)?;
        let (targets, identities) =
            parse_targets("targets", &json.targets).map_err(serde::de::Error::custom)?;
        Ok(Intercept {
            targets,
            identities,
            ..json.intercept
        })
    }
}

/// Canonical texts of address targets then identities, as the API and the
/// store list them.
#[must_use]
pub fn target_texts(targets: &[Target], identities: &[Identity]) -> Vec<String> {
    targets
        .iter()
        .map(target_to_string)
        .chain(identities.iter().map(Identity::to_string))
        .collect()
}

impl Intercept {
    /// Checks its targets against `policy`: one stored by an older version, or
    /// under a laxer policy, may name a target that is refused now.
    ///
    /// # Errors
    /// [`ValidationError::RefusedTarget`] for the first refused target.
    pub fn check_targets(&self, policy: &TargetPolicy) -> Result<(), ValidationError> {
        check_policy(policy, "targets", &self.targets)
    }

    /// State the warrant window alone implies at `now`: `Scheduled` before
    /// `valid_from`, `Active` inside, `Expired` from `valid_until` on.
    #[must_use]
    pub fn window_state(&self, now: OffsetDateTime) -> InterceptState {
        if now < self.valid_from {
            InterceptState::Scheduled
        } else if now < self.valid_until {
            InterceptState::Active
        } else {
            InterceptState::Expired
        }
    }

    /// The transition the scheduler owes this intercept at `now`, if any
    /// (terminal states never move; a scheduled one past its window expires).
    #[must_use]
    pub fn due_transition(&self, now: OffsetDateTime) -> Option<InterceptState> {
        let want = self.window_state(now);
        self.state.can_become(want).then_some(want)
    }

    /// `valid_from` in ns since the Unix epoch (saturating), for the workers.
    #[must_use]
    pub fn valid_from_ns(&self) -> u64 {
        unix_ns(self.valid_from)
    }

    /// `valid_until` in ns since the Unix epoch (saturating), for the workers.
    #[must_use]
    pub fn valid_until_ns(&self) -> u64 {
        unix_ns(self.valid_until)
    }

    /// What the workers need to match and tag packets for this intercept.
    #[must_use]
    pub fn spec(&self) -> InterceptSpec {
        InterceptSpec {
            key: self.key,
            mode: self.mode,
            valid_from_ns: self.valid_from_ns(),
            valid_until_ns: self.valid_until_ns(),
        }
    }

    /// The intercept after `patch`, checked against its current values.
    ///
    /// # Errors
    /// Terminal state, window end not after start or now, unknown target to
    /// remove, target to add already present, target count out of range.
    pub fn apply_patch(
        &self,
        patch: &ValidatedPatch,
        now: OffsetDateTime,
    ) -> Result<Intercept, ValidationError> {
        if self.state.is_terminal() {
            return Err(ValidationError::State {
                state: self.state.to_string(),
                message: "cannot be modified".into(),
            });
        }
        let mut next = self.clone();
        if let Some(until) = patch.valid_until {
            check_window(self.valid_from, until, now)?;
            next.valid_until = until;
        }
        for t in &patch.remove_targets {
            let pos = next.targets.iter().position(|x| x == t).ok_or_else(|| {
                ValidationError::UnknownTarget {
                    target: target_to_string(t),
                }
            })?;
            next.targets.remove(pos);
        }
        let present: HashSet<Target> = next.targets.iter().copied().collect();
        if let Some(t) = patch.add_targets.iter().find(|t| present.contains(t)) {
            return Err(ValidationError::DuplicateTarget {
                field: "add_targets".into(),
                target: target_to_string(t),
            });
        }
        next.targets.extend_from_slice(&patch.add_targets);
        for i in &patch.remove_identities {
            let pos = next.identities.iter().position(|x| x == i).ok_or_else(|| {
                ValidationError::UnknownTarget {
                    target: i.to_string(),
                }
            })?;
            next.identities.remove(pos);
        }
        if let Some(i) = patch
            .add_identities
            .iter()
            .find(|i| next.identities.contains(i))
        {
            return Err(ValidationError::DuplicateTarget {
                field: "add_targets".into(),
                target: i.to_string(),
            });
        }
        next.identities.extend_from_slice(&patch.add_identities);
        check_target_count(next.targets.len() + next.identities.len())?;
        if let Some(d) = &patch.destinations {
            next.destinations.clone_from(d);
        }
        Ok(next)
    }
}

fn unix_ns(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos().max(0)).unwrap_or(u64::MAX)
}

/// Parses an RFC 3339 timestamp and normalises it to UTC.
///
/// # Errors
/// [`ValidationError::Field`] naming `field` and the value.
pub fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ValidationError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|e| {
            ValidationError::field(field, format!("{text:?} is not an RFC 3339 time: {e}"))
        })
}

/// RFC 3339 text of a UTC time with nanoseconds, as stored and audited.
#[must_use]
pub fn format_time(t: OffsetDateTime) -> String {
    // Rfc3339 formatting fails only for years outside 0..=9999, which parse_time
    // cannot produce; fall back to the unambiguous Debug form rather than panic.
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| format!("{t:?}"))
}

fn check_window(
    from: OffsetDateTime,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ValidationError> {
    if until <= from {
        return Err(ValidationError::Window {
            message: format!(
                "valid_until {} is not after valid_from {}",
                format_time(until),
                format_time(from)
            ),
        });
    }
    if until <= now {
        return Err(ValidationError::Window {
            message: format!("valid_until {} is already past", format_time(until)),
        });
    }
    Ok(())
}

fn check_target_count(n: usize) -> Result<(), ValidationError> {
    if n == 0 || n > MAX_TARGETS {
        return Err(ValidationError::field(
            "targets",
            format!("must hold 1 to {MAX_TARGETS} targets, got {n}"),
        ));
    }
    Ok(())
}

/// Splits a target list into distinct addresses and distinct identities (a
/// text with an identity kind before its first `:` is an identity).
fn parse_targets(
    field: &str,
    texts: &[String],
) -> Result<(Vec<Target>, Vec<Identity>), ValidationError> {
    if texts.len() > MAX_TARGETS {
        return Err(ValidationError::field(
            field,
            format!("at most {MAX_TARGETS} targets, got {}", texts.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(texts.len());
    let mut seen_ids = HashSet::new();
    let mut out = Vec::with_capacity(texts.len());
    let mut ids = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let duplicate = match Identity::parse(&at, text) {
            Some(id) => {
                let id = id?;
                let dup = seen_ids.contains(&id).then(|| id.to_string());
                seen_ids.insert(id.clone());
                ids.push(id);
                dup
            }
            None => {
                let t = parse_target(&at, text)?;
                out.push(t);
                (!seen.insert(t)).then(|| target_to_string(&t))
            }
        };
        if let Some(target) = duplicate {
            return Err(ValidationError::DuplicateTarget {
                field: field.into(),
                target,
            });
        }
    }
    Ok((out, ids))
}

fn check_policy(
    policy: &TargetPolicy,
    field: &str,
    targets: &[Target],
) -> Result<(), ValidationError> {
    targets
        .iter()
        .enumerate()
        .try_for_each(|(i, t)| policy.check(&format!("{field}[{i}]"), t))
}

fn validate_destination_list(names: &[String]) -> Result<Vec<String>, ValidationError> {
    if names.is_empty() {
        return Err(ValidationError::field(
            "destinations",
            "at least one destination is required",
        ));
    }
    let mut seen = HashSet::new();
    for (i, n) in names.iter().enumerate() {
        validate_destination_name(&format!("destinations[{i}]"), n)?;
        if !seen.insert(n.as_str()) {
            return Err(ValidationError::field(
                "destinations",
                format!("{n:?} listed twice"),
            ));
        }
    }
    Ok(names.to_vec())
}

/// 1–128 characters, no control characters, not blank.
fn validate_text(field: &str, text: &str) -> Result<String, ValidationError> {
    let n = text.chars().count();
    if n == 0 || n > MAX_REF_LEN || text.trim().is_empty() {
        return Err(ValidationError::field(
            field,
            format!("must be 1 to {MAX_REF_LEN} characters, not blank"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::field(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(text.to_owned())
}
