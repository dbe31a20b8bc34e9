//! X1 error codes (ETSI TS 103 221-1, table "Error codes") and the error an
//! `ErrorResponse` carries.

/// The error codes this NE answers with. The numbers are the standard's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Anything not covered by a more specific code (the probe's log has details).
    GenericError,
    /// Not well-formed, not valid against the schema, or outside the NE's limits.
    SyntaxSchemaError,
    /// The client certificate is not one of an ADMF this NE serves.
    AdmfIdentifierDoesNotMatchCertificate,
    /// `neIdentifier` is not this NE.
    UnexpectedNeIdentifier,
    /// A valid request type this NE does not implement.
    UnsupportedRequest,
    /// ActivateTask with an XID that exists (or existed: XIDs are never reused).
    XidAlreadyExists,
    /// No live task with this XID.
    XidDoesNotExist,
    /// CreateDestination with a DID that exists.
    DidAlreadyExists,
    /// No destination with this DID.
    DidDoesNotExist,
    /// ActivateTask failed for another reason (described).
    GenericActivateTaskFailure,
    /// ModifyTask failed for another reason (described).
    GenericModifyTaskFailure,
    /// A target identifier type the probe cannot intercept on.
    UnsupportedTargetIdentifierType,
    /// DeactivateTask failed for another reason.
    GenericDeactivateTaskFailure,
    /// DeactivateAllTasks failed for another reason.
    GenericDeactivateAllTasksFailure,
    /// CreateDestination failed for another reason.
    GenericCreateDestinationFailure,
    /// ModifyDestination failed for another reason.
    GenericModifyDestinationFailure,
    /// A delivery address other than an IP address and TCP port.
    UnsupportedDeliveryAddressType,
    /// RemoveDestination failed for another reason.
    GenericRemoveDestinationFailure,
    /// The destination is used by a live task.
    DestinationInUse,
    /// RemoveAllDestinations failed for another reason.
    GenericRemoveAllDestinationsFailure,
    /// Some destinations are used by live tasks.
    DestinationsInUse,
}

impl ErrorCode {
    /// The number carried in `errorCode`.
    #[must_use]
    pub fn number(self) -> u32 {
        match self {
            Self::GenericError => 1000,
            Self::SyntaxSchemaError => 1010,
            Self::AdmfIdentifierDoesNotMatchCertificate => 1030,
            Self::UnexpectedNeIdentifier => 1060,
            Self::UnsupportedRequest => 1080,
            Self::XidAlreadyExists => 2010,
            Self::XidDoesNotExist => 2020,
            Self::DidAlreadyExists => 2030,
            Self::DidDoesNotExist => 2040,
            Self::GenericActivateTaskFailure => 3000,
            Self::GenericModifyTaskFailure => 3001,
            Self::UnsupportedTargetIdentifierType => 3010,
            Self::GenericDeactivateTaskFailure => 4000,
            Self::GenericDeactivateAllTasksFailure => 5000,
            Self::GenericCreateDestinationFailure => 6000,
            Self::GenericModifyDestinationFailure => 6001,
            Self::UnsupportedDeliveryAddressType => 6020,
            Self::GenericRemoveDestinationFailure => 7000,
            Self::DestinationInUse => 7010,
            Self::GenericRemoveAllDestinationsFailure => 8000,
            Self::DestinationsInUse => 8010,
        }
    }
}

/// A refused X1 request message: answered as an `ErrorResponse`, audited.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("X1 error {}: {description}", code.number())]
pub struct X1Error {
    /// The code.
    pub code: ErrorCode,
    /// `errorDescription` (never a target identifier of another task).
    pub description: String,
}

impl X1Error {
    /// An error with `code`.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// [`ErrorCode::SyntaxSchemaError`].
    pub fn schema(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::SyntaxSchemaError, description)
    }
}
