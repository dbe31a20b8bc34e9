//! PPPoE session-stage header (RFC 2516, EtherType 0x8864) with the PPP protocol
//! field that follows it.

use super::bytes::{be16, byte, set_be16, set_byte, Field};
use super::ParseError;

mod field {
    use super::Field;
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const PROTOCOL: Field = 6..8;
}

/// Length of the PPPoE session header plus the PPP protocol field.
pub const HEADER_LEN: usize = field::PROTOCOL.end;

/// PPPoE version 1, type 1.
const VER_TYPE_1_1: u8 = 0x11;

/// A PPP protocol number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PppProtocol {
    /// IPv4 (0x0021).
    Ipv4,
    /// IPv6 (0x0057).
    Ipv6,
    /// Anything else (LCP, IPCP, ...).
    Unknown(u16),
}

impl From<u16> for PppProtocol {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            0x0021 => Self::Ipv4,
            0x0057 => Self::Ipv6,
            other => Self::Unknown(other),
        }
    }
}

impl From<PppProtocol> for u16 {
    #[inline]
    fn from(v: PppProtocol) -> u16 {
        match v {
            PppProtocol::Ipv4 => 0x0021,
            PppProtocol::Ipv6 => 0x0057,
            PppProtocol::Unknown(other) => other,
        }
    }
}

view!(
    /// A view of a PPPoE session header and its PPP payload.
    PppoeView
);

impl<B: AsRef<[u8]>> PppoeView<B> {
    /// Ensures the header fits, the version/type is 1/1 and the length field covers the
    /// PPP protocol field and stays inside the buffer.
    ///
    /// # Errors
    /// Those of [`Self::check_header`], and [`ParseError::BadLength`] for a
    /// length past the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header()?;
        if self.end() > self.buf.as_ref().len() {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// [`Self::check_len`] but for the length's end: the header is whole and
    /// its length covers the PPP protocol field, however much of the PPP frame
    /// the buffer holds.
    ///
    /// # Errors
    /// [`ParseError::Truncated`], [`ParseError::BadVersion`], or
    /// [`ParseError::BadLength`] for a length below the protocol field's.
    #[inline]
    pub fn check_header(&self) -> Result<(), ParseError> {
        if self.buf.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if self.ver_type() != VER_TYPE_1_1 {
            return Err(ParseError::BadVersion);
        }
        if self.end() < HEADER_LEN {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// Where the PPP frame ends, as the length field states, from the start of
    /// the PPPoE header.
    #[inline]
    pub fn end(&self) -> usize {
        field::LENGTH.end + usize::from(self.length())
    }
    /// Version and type nibbles (0x11).
    pub fn ver_type(&self) -> u8 {
        byte(self.buf.as_ref(), field::VER_TYPE)
    }
    /// Code (0 in the session stage).
    pub fn code(&self) -> u8 {
        byte(self.buf.as_ref(), field::CODE)
    }
    /// Session identifier.
    pub fn session(&self) -> u16 {
        be16(self.buf.as_ref(), field::SESSION.start)
    }
    /// Length of the PPP frame (protocol field + payload).
    pub fn length(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// PPP protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> PppProtocol {
        PppProtocol::from(be16(self.buf.as_ref(), field::PROTOCOL.start))
    }
}

impl<'a> PppoeView<&'a [u8]> {
    /// The PPP payload (after the protocol field, up to the PPPoE length), borrowed
    /// from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..self.end()).unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> PppoeView<B> {
    /// Sets version/type 1/1 and code 0 (session data).
    pub fn set_session_stage(&mut self) {
        set_byte(self.buf.as_mut(), field::VER_TYPE, VER_TYPE_1_1);
        set_byte(self.buf.as_mut(), field::CODE, 0);
    }
    /// Sets the session identifier.
    pub fn set_session(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::SESSION.start, v);
    }
    /// Sets the length field; a value past the buffer breaks `check_len`.
    pub fn set_length(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::LENGTH.start, v);
    }
    /// Sets the PPP protocol.
    pub fn set_protocol(&mut self, p: PppProtocol) {
        set_be16(self.buf.as_mut(), field::PROTOCOL.start, p.into());
    }
}

/// A PPPoE session header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PppoeRepr {
    /// Session identifier.
    pub session: u16,
    /// PPP protocol of the payload.
    pub protocol: PppProtocol,
    /// Bytes of PPP payload after the protocol field.
    pub payload_len: usize,
}

impl PppoeRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &PppoeView<B>) -> Self {
        Self {
            session: view.session(),
            protocol: view.protocol(),
            payload_len: usize::from(view.length()).saturating_sub(2),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header into `view`; the length saturates at `u16::MAX`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut PppoeView<B>) {
        view.set_session_stage();
        view.set_session(self.session);
        view.set_length(u16::try_from(self.payload_len + 2).unwrap_or(u16::MAX));
        view.set_protocol(self.protocol);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // ver/type 0x11, code 0, session 0x1234, length 4, PPP IPv6, payload 60 00
    static HDR: [u8; 10] = [0x11, 0x00, 0x12, 0x34, 0x00, 0x04, 0x00, 0x57, 0x60, 0x00];

    const fn repr() -> PppoeRepr {
        PppoeRepr {
            session: 0x1234,
            protocol: PppProtocol::Ipv6,
            payload_len: 2,
        }
    }

    #[test]
    fn deconstruct() {
        let v = PppoeView::new_checked(&HDR[..]).unwrap();
        assert_eq!(v.ver_type(), 0x11);
        assert_eq!(v.code(), 0);
        assert_eq!(v.session(), 0x1234);
        assert_eq!(v.length(), 4);
        assert_eq!(v.protocol(), PppProtocol::Ipv6);
        assert_eq!(v.payload(), &[0x60, 0x00]);
        assert_eq!(PppoeRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 10];
        repr().emit(&mut PppoeView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &HDR[..8]);
        assert_eq!(&buf[8..], &[0xa5, 0xa5]);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            PppoeView::new_checked(&HDR[..7]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_length_below_minimum() {
        let mut b = HDR;
        b[5] = 1;
        assert_eq!(
            PppoeView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_length_past_buffer() {
        assert_eq!(
            PppoeView::new_checked(&HDR[..9]).err(),
            Some(ParseError::BadLength)
        );
        // The header alone is whole: a PPP frame cut short.
        assert_eq!(PppoeView::new_unchecked(&HDR[..8]).check_header(), Ok(()));
    }

    #[test]
    fn rejects_other_version() {
        let mut b = HDR;
        b[0] = 0x21;
        assert_eq!(
            PppoeView::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
    }
}
