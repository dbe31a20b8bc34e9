//! The control plane's data model: warrants, intercepts (LIID), targets and
//! destinations, with strict validation of everything that comes from outside.

mod destination;
mod error;
mod identity;
mod intercept;
mod liid;
mod mode;
mod target;

pub use destination::{
    validate_destination_name, ContentScope, DestTls, Destination, DestinationFormat,
    MAX_DESTINATION_NAME,
};
pub use error::ValidationError;
pub use identity::{Identity, IdentityKind, MAX_IDENTITY_LEN};
pub use intercept::{
    format_time, parse_time, target_texts, Intercept, InterceptPatch, InterceptRequest,
    InterceptState, Origin, ValidatedPatch, ValidatedRequest, MAX_REF_LEN, MAX_TARGETS,
};
pub use liid::{Liid, LIID_MAX_LEN};
pub use mode::{mode_serde, mode_to_str, parse_mode, InterceptMode};
pub use target::{endpoint_target, parse_target, target_to_string, TargetPolicy};

#[cfg(test)]
mod tests;
