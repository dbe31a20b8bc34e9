//! One MPLS label stack entry: label (20 bits), traffic class, bottom-of-stack, TTL.

use super::bytes::{be32, set_be32, tail, Field};
use super::ParseError;

mod field {
    use super::Field;
    pub const ENTRY: Field = 0..4;
}

/// Length of one label stack entry.
pub const HEADER_LEN: usize = field::ENTRY.end;

/// Length of a pseudowire's control word (RFC 4385), between the bottom label
/// and an Ethernet frame; its first nibble, 0, tells it from an IP header.
pub const PW_CONTROL_WORD_LEN: usize = 4;

view!(
    /// A view of one MPLS label stack entry.
    MplsView
);

impl<B: AsRef<[u8]>> MplsView<B> {
    /// Ensures the buffer holds a whole entry.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buf.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }
    #[inline]
    fn entry(&self) -> u32 {
        be32(self.buf.as_ref(), field::ENTRY.start)
    }
    /// Label value (20 bits).
    pub fn label(&self) -> u32 {
        self.entry() >> 12
    }
    /// Traffic class (3 bits).
    pub fn tc(&self) -> u8 {
        ((self.entry() >> 9) & 7) as u8
    }
    /// Bottom of stack: the last entry before the payload.
    #[inline]
    pub fn bottom(&self) -> bool {
        self.entry() & 0x100 != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        (self.entry() & 0xff) as u8
    }
}

impl<'a> MplsView<&'a [u8]> {
    /// Bytes after this entry, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> MplsView<B> {
    /// Sets the whole entry (label truncated to 20 bits, TC to 3).
    pub fn set_entry(&mut self, label: u32, tc: u8, bottom: bool, ttl: u8) {
        let v = ((label & 0xf_ffff) << 12)
            | (u32::from(tc & 7) << 9)
            | (u32::from(bottom) << 8)
            | u32::from(ttl);
        set_be32(self.buf.as_mut(), field::ENTRY.start, v);
    }
}

/// One label stack entry as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MplsRepr {
    /// Label value.
    pub label: u32,
    /// Traffic class.
    pub tc: u8,
    /// Bottom of stack.
    pub bottom: bool,
    /// Time to live.
    pub ttl: u8,
}

impl MplsRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &MplsView<B>) -> Self {
        Self {
            label: view.label(),
            tc: view.tc(),
            bottom: view.bottom(),
            ttl: view.ttl(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the entry into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut MplsView<B>) {
        view.set_entry(self.label, self.tc, self.bottom, self.ttl);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // label 0x12345, TC 3, bottom of stack, TTL 64, then a 0x45 IPv4 first byte
    static ENTRY: [u8; 5] = [0x12, 0x34, 0x57, 0x40, 0x45];

    const fn repr() -> MplsRepr {
        MplsRepr {
            label: 0x12345,
            tc: 3,
            bottom: true,
            ttl: 64,
        }
    }

    #[test]
    fn deconstruct() {
        let v = MplsView::new_checked(&ENTRY[..]).unwrap();
        assert_eq!(v.label(), 0x12345);
        assert_eq!(v.tc(), 3);
        assert!(v.bottom());
        assert_eq!(v.ttl(), 64);
        assert_eq!(v.payload(), &[0x45]);
        assert_eq!(MplsRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 5];
        repr().emit(&mut MplsView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..4], &ENTRY[..4]);
        assert_eq!(buf[4], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            MplsView::new_checked(&ENTRY[..3]).err(),
            Some(ParseError::Truncated)
        );
    }
}
