//! Parsing SIP messages and their SDP bodies as the mirror carries them.

mod sdp;
mod sip;

use super::sip::SipMessage;

/// Longest SIP message read (a UDP datagram's most, and what a TCP stream may buffer).
pub const MAX_MESSAGE: usize = 65_535;

/// Why bytes are not a SIP message the tracker can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipError {
    /// Not SIP at all, or a start line that is not a request or status line.
    #[error("not a SIP message")]
    NotSip,
    /// A header the tracker needs is missing or invalid (Call-ID, From, To, CSeq).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// An SDP body that cannot be read.
    #[error("bad SDP: {0}")]
    Sdp(&'static str),
    /// Longer than [`MAX_MESSAGE`].
    #[error("message too long")]
    TooLong,
}

/// Parses one whole SIP message (one UDP datagram, or one message framed
/// out of a TCP stream). Never panics on any bytes.
///
/// # Errors
/// See [`SipError`].
pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(SipError::TooLong);
    }
    let head = sip::parse(bytes)?;
    let mut message = head.message;
    message.sdp = sdp::of_body(head.content_type.as_deref(), head.body)?;
    Ok(message)
}
