//! UDP header (RFC 768).

use super::bytes::{be16, set_be16, Field};
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of a UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

view!(
    /// A view of a UDP datagram.
    UdpView
);

impl<B: AsRef<[u8]>> UdpView<B> {
    /// Ensures the header fits and its length field is between 8 and the buffer.
    ///
    /// # Errors
    /// Those of [`Self::check_header`], and [`ParseError::BadLength`] for a
    /// length past the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header()?;
        if usize::from(self.len()) > self.buf.as_ref().len() {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// [`Self::check_len`] but for the length's end: the header is whole and
    /// its length covers it, however much of the datagram the buffer holds.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] below 8 bytes, [`ParseError::BadLength`] for a
    /// length below 8.
    #[inline]
    pub fn check_header(&self) -> Result<(), ParseError> {
        if self.buf.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if usize::from(self.len()) < HEADER_LEN {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SRC_PORT.start)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DST_PORT.start)
    }
    /// Length of header + payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// Checksum as stored (0: none).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
}

impl<'a> UdpView<&'a [u8]> {
    /// Payload up to the UDP length, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(HEADER_LEN..usize::from(self.len()))
            .unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> UdpView<B> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::SRC_PORT.start, v);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::DST_PORT.start, v);
    }
    /// Sets the length; outside 8..=buffer breaks `check_len`.
    pub fn set_len(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::LENGTH.start, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, v);
    }
}

/// A UDP header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload bytes after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &UdpView<B>) -> Self {
        Self {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            payload_len: usize::from(view.len()).saturating_sub(HEADER_LEN),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header with a zero checksum (the caller fills it, knowing the
    /// pseudo-header); the length saturates at 65535.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut UdpView<B>) {
        view.set_src_port(self.src_port);
        view.set_dst_port(self.dst_port);
        view.set_len(u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX));
        view.set_checksum(0);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // UDP 1234 -> 5060, length 10, checksum 0, payload de ad, trailing padding 00
    static DGRAM: [u8; 11] = [
        0x04, 0xd2, 0x13, 0xc4, 0x00, 0x0a, 0x00, 0x00, 0xde, 0xad, 0x00,
    ];

    const fn repr() -> UdpRepr {
        UdpRepr {
            src_port: 1234,
            dst_port: 5060,
            payload_len: 2,
        }
    }

    #[test]
    fn deconstruct() {
        let v = UdpView::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(v.src_port(), 1234);
        assert_eq!(v.dst_port(), 5060);
        assert_eq!(v.len(), 10);
        assert_eq!(v.checksum(), 0);
        assert_eq!(v.payload(), &[0xde, 0xad]);
        assert_eq!(UdpRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 9];
        repr().emit(&mut UdpView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &DGRAM[..8]);
        assert_eq!(buf[8], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            UdpView::new_checked(&DGRAM[..7]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_length_below_minimum() {
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(
            UdpView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_length_past_buffer() {
        assert_eq!(
            UdpView::new_checked(&DGRAM[..9]).err(),
            Some(ParseError::BadLength)
        );
        // The header alone is whole: a datagram cut short.
        assert_eq!(UdpView::new_unchecked(&DGRAM[..8]).check_header(), Ok(()));
    }
}
