//! Lawful Interception Identifier.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Longest LIID accepted (ETSI TS 102 232-1 LIID is at most 25 octets).
pub const LIID_MAX_LEN: usize = 25;

/// Lawful Interception Identifier: 1–25 printable ASCII characters without
/// spaces or slashes, because the collector uses it as a directory name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Liid(String);

impl Liid {
    /// The identifier as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Liid {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() || value.len() > LIID_MAX_LEN {
            return Err(ValidationError::field(
                "liid",
                format!(
                    "must be 1 to {LIID_MAX_LEN} characters, got {}",
                    value.len()
                ),
            ));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '\\'))
        {
            return Err(ValidationError::field(
                "liid",
                format!(
                    "character {bad:?} not allowed (printable ASCII without spaces or slashes)"
                ),
            ));
        }
        if value == "." || value == ".." {
            return Err(ValidationError::field(
                "liid",
                format!("{value:?} is not allowed"),
            ));
        }
        Ok(Self(value))
    }
}

impl TryFrom<&str> for Liid {
    type Error = ValidationError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::try_from(value.to_owned())
    }
}

impl From<Liid> for String {
    fn from(value: Liid) -> Self {
        value.0
    }
}

impl fmt::Display for Liid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
