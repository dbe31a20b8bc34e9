//! 802.1Q / 802.1ad VLAN tag, as it follows its TPID: TCI (PCP, DEI, VID) and the
//! EtherType of what comes next (possibly another tag).

use super::bytes::{be16, set_be16, tail, Field};
use super::ethernet::EtherType;
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
}

/// Length of a VLAN tag after its TPID.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;

view!(
    /// A view of one VLAN tag (the 4 bytes after the TPID).
    VlanView
);

impl<B: AsRef<[u8]>> VlanView<B> {
    /// Ensures the buffer holds a whole tag.
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
    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (be16(self.buf.as_ref(), field::TCI.start) >> 13) as u8
    }
    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        be16(self.buf.as_ref(), field::TCI.start) & 0x1000 != 0
    }
    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        be16(self.buf.as_ref(), field::TCI.start) & 0x0fff
    }
    /// EtherType of what follows the tag.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(be16(self.buf.as_ref(), field::ETHERTYPE.start))
    }
}

impl<'a> VlanView<&'a [u8]> {
    /// Bytes after the tag, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> VlanView<B> {
    /// Sets PCP, DEI and VID (VID truncated to 12 bits, PCP to 3).
    pub fn set_tci(&mut self, pcp: u8, dei: bool, vid: u16) {
        let tci = (u16::from(pcp & 7) << 13) | (u16::from(dei) << 12) | (vid & 0x0fff);
        set_be16(self.buf.as_mut(), field::TCI.start, tci);
    }
    /// Sets the EtherType of what follows.
    pub fn set_ethertype(&mut self, t: EtherType) {
        set_be16(self.buf.as_mut(), field::ETHERTYPE.start, t.into());
    }
}

/// A VLAN tag as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanRepr {
    /// Priority code point.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier.
    pub vid: u16,
    /// EtherType of what follows.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &VlanView<B>) -> Self {
        Self {
            pcp: view.pcp(),
            dei: view.dei(),
            vid: view.vid(),
            ethertype: view.ethertype(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the tag into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut VlanView<B>) {
        view.set_tci(self.pcp, self.dei, self.vid);
        view.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // PCP 5, DEI 1, VID 0x123, then IPv6
    static TAG: [u8; 4] = [0xb1, 0x23, 0x86, 0xdd];

    const fn repr() -> VlanRepr {
        VlanRepr {
            pcp: 5,
            dei: true,
            vid: 0x123,
            ethertype: EtherType::Ipv6,
        }
    }

    #[test]
    fn deconstruct() {
        let v = VlanView::new_checked(&TAG[..]).unwrap();
        assert_eq!(v.pcp(), 5);
        assert!(v.dei());
        assert_eq!(v.vid(), 0x123);
        assert_eq!(v.ethertype(), EtherType::Ipv6);
        assert!(v.payload().is_empty());
        assert_eq!(VlanRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 5];
        repr().emit(&mut VlanView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..4], &TAG);
        assert_eq!(buf[4], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            VlanView::new_checked(&TAG[..3]).err(),
            Some(ParseError::Truncated)
        );
    }
}
