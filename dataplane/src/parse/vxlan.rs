//! VXLAN header (RFC 7348, UDP port 4789): flags with the I bit, 24-bit VNI; an
//! Ethernet frame follows.

use super::bytes::{be32, byte, set_be32, set_byte, tail, Field};
use super::ParseError;

mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const VNI_RESERVED: Field = 4..8;
}

/// Length of a VXLAN header.
pub const HEADER_LEN: usize = field::VNI_RESERVED.end;
/// The IANA UDP port of VXLAN.
pub const UDP_PORT: u16 = 4789;
/// The "VNI valid" flag.
const FLAG_I: u8 = 0x08;

view!(
    /// A view of a VXLAN header and its inner Ethernet frame.
    VxlanView
);

impl<B: AsRef<[u8]>> VxlanView<B> {
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
    /// Whether the I flag (VNI valid) is set: without it this is not VXLAN traffic.
    #[inline]
    pub fn vni_valid(&self) -> bool {
        byte(self.buf.as_ref(), field::FLAGS) & FLAG_I != 0
    }
    /// VXLAN network identifier (24 bits).
    pub fn vni(&self) -> u32 {
        be32(self.buf.as_ref(), field::VNI_RESERVED.start) >> 8
    }
}

impl<'a> VxlanView<&'a [u8]> {
    /// The inner Ethernet frame, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> VxlanView<B> {
    /// Sets the I flag (clearing the reserved bits) and the VNI.
    pub fn set_vni(&mut self, vni: u32) {
        set_be32(self.buf.as_mut(), 0, u32::from(FLAG_I) << 24);
        set_be32(
            self.buf.as_mut(),
            field::VNI_RESERVED.start,
            (vni & 0xff_ffff) << 8,
        );
        set_byte(self.buf.as_mut(), field::FLAGS, FLAG_I);
    }
}

/// A VXLAN header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanRepr {
    /// VXLAN network identifier.
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &VxlanView<B>) -> Self {
        Self { vni: view.vni() }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut VxlanView<B>) {
        view.set_vni(self.vni);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // I flag, VNI 0x123456, then first byte of the inner frame
    static HDR: [u8; 9] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00, 0x02];

    #[test]
    fn deconstruct() {
        let v = VxlanView::new_checked(&HDR[..]).unwrap();
        assert!(v.vni_valid());
        assert_eq!(v.vni(), 0x123456);
        assert_eq!(v.payload(), &[0x02]);
        assert_eq!(VxlanRepr::parse(&v), VxlanRepr { vni: 0x123456 });
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 9];
        VxlanRepr { vni: 0x123456 }.emit(&mut VxlanView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &HDR[..8]);
        assert_eq!(buf[8], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            VxlanView::new_checked(&HDR[..7]).err(),
            Some(ParseError::Truncated)
        );
    }
}
