//! TCP header (RFC 9293) with options.

use super::bytes::{be16, be32, set_be16, set_be32, Field};
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const OFF_FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP flag bits (low 9 bits of the offset/flags word).
pub mod flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
}

view!(
    /// A view of a TCP segment.
    TcpView
);

impl<B: AsRef<[u8]>> TcpView<B> {
    /// Ensures the header with its options fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if the fixed header or the options do not fit,
    /// [`ParseError::BadLength`] for a data offset below 5.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let buf = self.buf.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN {
            return Err(ParseError::BadLength);
        }
        if hlen > buf.len() {
            return Err(ParseError::Truncated);
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
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), field::SEQ.start)
    }
    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        be32(self.buf.as_ref(), field::ACK.start)
    }
    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(be16(self.buf.as_ref(), field::OFF_FLAGS.start) >> 12) * 4
    }
    /// Flag bits (see [`flags`]).
    pub fn flags(&self) -> u16 {
        be16(self.buf.as_ref(), field::OFF_FLAGS.start) & 0x01ff
    }
    /// Receive window.
    pub fn window(&self) -> u16 {
        be16(self.buf.as_ref(), field::WINDOW.start)
    }
    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.buf.as_ref(), field::URGENT.start)
    }
}

impl<'a> TcpView<&'a [u8]> {
    /// Options bytes.
    pub fn options(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }
    /// Segment data after the options, borrowed from the frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> TcpView<B> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::SRC_PORT.start, v);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::DST_PORT.start, v);
    }
    /// Sets the sequence number.
    pub fn set_seq(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), field::SEQ.start, v);
    }
    /// Sets the acknowledgement number.
    pub fn set_ack(&mut self, v: u32) {
        set_be32(self.buf.as_mut(), field::ACK.start, v);
    }
    /// Sets the header length in bytes (rounded down to 4) and the flags; a length
    /// below 20 or past the buffer breaks `check_len`.
    pub fn set_header_len_and_flags(&mut self, len: usize, flags: u16) {
        let v = ((((len / 4) & 0x0f) as u16) << 12) | (flags & 0x01ff);
        set_be16(self.buf.as_mut(), field::OFF_FLAGS.start, v);
    }
    /// Sets the window.
    pub fn set_window(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::WINDOW.start, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, v);
    }
    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::URGENT.start, v);
    }
}

/// A TCP header as plain values (options emitted as NOPs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits.
    pub flags: u16,
    /// Receive window.
    pub window: u16,
    /// Bytes of options (multiple of 4, at most 40).
    pub options_len: usize,
}

impl TcpRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &TcpView<B>) -> Self {
        Self {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            seq: view.seq(),
            ack: view.ack(),
            flags: view.flags(),
            window: view.window(),
            options_len: view.header_len().saturating_sub(HEADER_LEN),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }
    /// Writes the header with NOP options and a zero checksum (the caller fills it).
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut TcpView<B>) {
        view.set_src_port(self.src_port);
        view.set_dst_port(self.dst_port);
        view.set_seq(self.seq);
        view.set_ack(self.ack);
        view.set_header_len_and_flags(self.buffer_len(), self.flags);
        view.set_window(self.window);
        view.set_checksum(0);
        view.set_urgent(0);
        if let Some(opts) = view.buf.as_mut().get_mut(HEADER_LEN..self.buffer_len()) {
            opts.fill(1);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // 80 -> 40000, seq 1, ack 2, data offset 6, SYN|ACK, window 0x1000, checksum 0,
    // urgent 0, options 4 NOPs, payload 99
    static SEGMENT: [u8; 25] = [
        0x00, 0x50, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x10, 0x00, 0, 0, 0, 0, 1, 1,
        1, 1, 0x99,
    ];

    const fn repr() -> TcpRepr {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 1,
            ack: 2,
            flags: flags::SYN | flags::ACK,
            window: 0x1000,
            options_len: 4,
        }
    }

    #[test]
    fn deconstruct() {
        let v = TcpView::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!(v.src_port(), 80);
        assert_eq!(v.dst_port(), 40000);
        assert_eq!(v.seq(), 1);
        assert_eq!(v.ack(), 2);
        assert_eq!(v.header_len(), 24);
        assert_eq!(v.flags(), flags::SYN | flags::ACK);
        assert_eq!(v.window(), 0x1000);
        assert_eq!(v.checksum(), 0);
        assert_eq!(v.urgent(), 0);
        assert_eq!(v.options(), &[1, 1, 1, 1]);
        assert_eq!(v.payload(), &[0x99]);
        assert_eq!(TcpRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 25];
        repr().emit(&mut TcpView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..24], &SEGMENT[..24]);
        assert_eq!(buf[24], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            TcpView::new_checked(&SEGMENT[..19]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_options_past_buffer() {
        assert_eq!(
            TcpView::new_checked(&SEGMENT[..23]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_data_offset_below_minimum() {
        let mut b = SEGMENT;
        b[12] = 0x40;
        assert_eq!(
            TcpView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }
}
