//! Intercept mode ("headers" | "content") as text, over the dataplane's [`Mode`].

use dataplane::targets::Mode;

use super::ValidationError;

/// The mode a warrant authorises; the dataplane type itself, so the value that was
/// validated is exactly the value the workers enforce.
pub type InterceptMode = Mode;

/// Text form used in JSON, TOML and the database.
#[must_use]
pub fn mode_to_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Headers => "headers",
        Mode::Content => "content",
    }
}

/// Parses "headers" or "content" (exactly; no case folding: a warrant's scope
/// is not guessed).
///
/// # Errors
/// [`ValidationError::Field`] on `mode` naming the value.
pub fn parse_mode(text: &str) -> Result<Mode, ValidationError> {
    match text {
        "headers" => Ok(Mode::Headers),
        "content" => Ok(Mode::Content),
        other => Err(ValidationError::field(
            "mode",
            format!("{other:?}: must be \"headers\" or \"content\""),
        )),
    }
}

/// Serde adapter for a [`Mode`] field: `#[serde(with = "mode_serde")]`.
pub mod mode_serde {
    use dataplane::targets::Mode;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes "headers" or "content".
    ///
    /// # Errors
    /// Whatever the serializer returns.
    pub fn serialize<S: Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::mode_to_str(*mode))
    }

    /// Reads "headers" or "content".
    ///
    /// # Errors
    /// Any other value.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_mode(&text).map_err(serde::de::Error::custom)
    }
}
