//! ICMP (RFC 792) and ICMPv6 (RFC 4443) share one 8-byte header layout: type, code,
//! checksum and 4 type-specific bytes (echo id/sequence, MTU, unused...). What follows
//! is message body, never header: headers mode stops here.

use super::bytes::{be16, be32, byte, set_be16, set_be32, set_byte, Field};
use super::ParseError;

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
}

/// Length of an ICMP / ICMPv6 header.
pub const HEADER_LEN: usize = field::REST.end;

/// ICMPv4 echo request type.
pub const ECHO_REQUEST_V4: u8 = 8;
/// ICMPv6 echo request type.
pub const ECHO_REQUEST_V6: u8 = 128;

view!(
    /// A view of an ICMP or ICMPv6 message.
    IcmpView
);

impl<B: AsRef<[u8]>> IcmpView<B> {
    /// Ensures the 8-byte header fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buf.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        byte(self.buf.as_ref(), field::TYPE)
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        byte(self.buf.as_ref(), field::CODE)
    }
    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    /// The 4 type-specific header bytes as one word.
    pub fn rest(&self) -> u32 {
        be32(self.buf.as_ref(), field::REST.start)
    }
}

impl<'a> IcmpView<&'a [u8]> {
    /// Message body after the header, borrowed from the frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> IcmpView<B> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: u8) {
        set_byte(self.buf.as_mut(), field::TYPE, v);
    }
    /// Sets the code.
    pub fn set_code(&mut self, v: u8) {
        set_byte(self.buf.as_mut(), field::CODE, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, v);
    }
    /// Sets the type-specific word.
    pub fn set_rest(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), field::REST.start, v);
    }
}

/// An ICMP / ICMPv6 header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpRepr {
    /// Message type.
    pub msg_type: u8,
    /// Message code.
    pub code: u8,
    /// Type-specific word (echo: id << 16 | sequence).
    pub rest: u32,
}

impl IcmpRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &IcmpView<B>) -> Self {
        Self {
            msg_type: view.msg_type(),
            code: view.code(),
            rest: view.rest(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header with a zero checksum (ICMPv6 needs the pseudo-header, so the
    /// caller fills it).
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut IcmpView<B>) {
        view.set_msg_type(self.msg_type);
        view.set_code(self.code);
        view.set_checksum(0);
        view.set_rest(self.rest);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // echo request, code 0, checksum 0xf7fd, id 1, seq 1, body 'a'
    static ECHO: [u8; 9] = [0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01, 0x61];

    const fn repr() -> IcmpRepr {
        IcmpRepr {
            msg_type: ECHO_REQUEST_V4,
            code: 0,
            rest: 0x0001_0001,
        }
    }

    #[test]
    fn deconstruct() {
        let v = IcmpView::new_checked(&ECHO[..]).unwrap();
        assert_eq!(v.msg_type(), 8);
        assert_eq!(v.code(), 0);
        assert_eq!(v.checksum(), 0xf7fd);
        assert_eq!(v.rest(), 0x0001_0001);
        assert_eq!(v.payload(), b"a");
        assert_eq!(IcmpRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 9];
        repr().emit(&mut IcmpView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[0x08, 0x00, 0, 0, 0x00, 0x01, 0x00, 0x01]);
        assert_eq!(buf[8], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            IcmpView::new_checked(&ECHO[..7]).err(),
            Some(ParseError::Truncated)
        );
    }
}
