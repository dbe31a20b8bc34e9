//! The control plane's top-level error: every layer's error, so `?` works
//! across modules and each can be mapped to an API status and an audit record.

use crate::audit::AuditError;
use crate::config::ConfigError;
use crate::model::ValidationError;
use crate::store::StoreError;

/// Any control-plane failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input refused.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// State database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Audit log failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Configuration file refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
