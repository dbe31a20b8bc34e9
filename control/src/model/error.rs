//! Why a value from outside (API request, config, database row) was refused.

/// A refused input value. Every variant names the offending field or value so an
/// operator can fix the request without reading logs; [`ValidationError::code`]
/// is the stable machine-readable form returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A field has a bad value (length, syntax, range).
    #[error("{field}: {message}")]
    Field {
        /// The field, dotted for nested values (e.g. `targets[3]`).
        field: String,
        /// What is wrong, including the offending value.
        message: String,
    },
    /// The warrant window is empty, inverted or already over.
    #[error("warrant window: {message}")]
    Window {
        /// What is wrong.
        message: String,
    },
    /// The same target appears twice in one list (or is added while present).
    #[error("{field}: duplicate target {target}")]
    DuplicateTarget {
        /// The list.
        field: String,
        /// The target, in canonical form.
        target: String,
    },
    /// A target that would intercept everyone or no one (see `TargetPolicy`).
    #[error("{field}: {target} refused: {reason}")]
    RefusedTarget {
        /// The list entry (e.g. `targets[0]`).
        field: String,
        /// The target, in canonical form.
        target: String,
        /// Why (which range, or the minimum prefix length).
        reason: String,
    },
    /// A target to remove is not part of the intercept.
    #[error("remove_targets: {target} is not a target of this intercept")]
    UnknownTarget {
        /// The target, in canonical form.
        target: String,
    },
    /// The change is not allowed in the intercept's current state.
    #[error("intercept is {state}: {message}")]
    State {
        /// Current state.
        state: String,
        /// What was attempted.
        message: String,
    },
}

impl ValidationError {
    /// Stable machine code for API responses and audit details.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Field { .. } => "invalid_field",
            Self::Window { .. } => "invalid_window",
            Self::DuplicateTarget { .. } => "duplicate_target",
            Self::RefusedTarget { .. } => "refused_target",
            Self::UnknownTarget { .. } => "unknown_target",
            Self::State { .. } => "invalid_state",
        }
    }

    /// Shorthand for [`ValidationError::Field`].
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}
