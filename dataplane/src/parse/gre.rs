//! GRE header (RFC 2784 with the RFC 2890 key and sequence extensions): flags,
//! version, protocol (an EtherType), then optional checksum, key and sequence words.

use super::bytes::{be16, be32, set_be16, set_be32, tail, Field};
use super::checksum;
use super::ethernet::EtherType;
use super::ParseError;

mod field {
    use super::Field;
    pub const FLAGS_VERSION: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;
}

/// Length of the fixed GRE header (no optional words).
pub const HEADER_LEN: usize = field::PROTOCOL.end;

const FLAG_C: u16 = 0x8000;
const FLAG_R: u16 = 0x4000;
const FLAG_K: u16 = 0x2000;
const FLAG_S: u16 = 0x1000;
/// PPTP (version 1) acknowledgement-present flag.
const FLAG_A: u16 = 0x0080;
const VERSION_MASK: u16 = 0x0007;

view!(
    /// A view of a GRE header and its payload.
    GreView
);

impl<B: AsRef<[u8]>> GreView<B> {
    /// Ensures the header with the optional words its flags announce fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buf.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }
    #[inline]
    fn flags(&self) -> u16 {
        be16(self.buf.as_ref(), field::FLAGS_VERSION.start)
    }
    /// Checksum present.
    pub fn has_checksum(&self) -> bool {
        self.flags() & FLAG_C != 0
    }
    /// Source routing present (RFC 1701, deprecated): the payload cannot be located.
    #[inline]
    pub fn has_routing(&self) -> bool {
        self.flags() & FLAG_R != 0
    }
    /// Key present.
    pub fn has_key(&self) -> bool {
        self.flags() & FLAG_K != 0
    }
    /// Sequence number present.
    #[inline]
    pub fn has_seq(&self) -> bool {
        self.flags() & FLAG_S != 0
    }
    /// Version (0 GRE, 1 PPTP enhanced GRE).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.flags() & VERSION_MASK) as u8
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType::from(be16(self.buf.as_ref(), field::PROTOCOL.start))
    }
    /// Header length including the optional words (not routing entries).
    #[inline]
    pub fn header_len(&self) -> usize {
        let f = self.flags();
        let word = |set: bool| if set { 4 } else { 0 };
        HEADER_LEN
            + word(f & (FLAG_C | FLAG_R) != 0)
            + word(f & FLAG_K != 0)
            + word(f & FLAG_S != 0)
            + word(f & VERSION_MASK == 1 && f & FLAG_A != 0)
    }
    /// Offset of the key word, if present.
    fn key_at(&self) -> usize {
        HEADER_LEN
            + if self.flags() & (FLAG_C | FLAG_R) != 0 {
                4
            } else {
                0
            }
    }
    /// Key, if present.
    pub fn key(&self) -> Option<u32> {
        self.has_key()
            .then(|| be32(self.buf.as_ref(), self.key_at()))
    }
    /// Sequence number, if present.
    pub fn seq(&self) -> Option<u32> {
        let at = self.key_at() + if self.has_key() { 4 } else { 0 };
        self.has_seq().then(|| be32(self.buf.as_ref(), at))
    }
}

impl<'a> GreView<&'a [u8]> {
    /// Payload after the optional words, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, self.header_len())
    }
}

/// A GRE version-0 header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreRepr {
    /// Protocol of the payload.
    pub protocol: EtherType,
    /// Whether to carry a checksum (computed by [`GreRepr::fill_checksum`]).
    pub checksum: bool,
    /// Optional key.
    pub key: Option<u32>,
    /// Optional sequence number.
    pub seq: Option<u32>,
}

impl GreRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &GreView<B>) -> Self {
        Self {
            protocol: view.protocol(),
            checksum: view.has_checksum(),
            key: view.key(),
            seq: view.seq(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + if self.checksum { 4 } else { 0 }
            + if self.key.is_some() { 4 } else { 0 }
            + if self.seq.is_some() { 4 } else { 0 }
    }
    /// Writes the header (checksum word zero) into `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut flags = 0;
        let mut at = HEADER_LEN;
        if self.checksum {
            flags |= FLAG_C;
            set_be32(buf, at, 0);
            at += 4;
        }
        if let Some(k) = self.key {
            flags |= FLAG_K;
            set_be32(buf, at, k);
            at += 4;
        }
        if let Some(s) = self.seq {
            flags |= FLAG_S;
            set_be32(buf, at, s);
        }
        set_be16(buf, field::FLAGS_VERSION.start, flags);
        set_be16(buf, field::PROTOCOL.start, self.protocol.into());
    }
    /// Stores the checksum over `header` followed by `payload` (if present).
    pub fn fill_checksum(&self, header: &mut [u8], payload: &[u8]) {
        if self.checksum {
            let sum = checksum::finish(checksum::sum(checksum::sum(0, header), payload));
            set_be16(header, HEADER_LEN, sum);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // C, K and S set, version 0, IPv4; checksum 0xabcd, reserved 0, key 0x01020304,
    // sequence 5; then 0x45
    static HDR: [u8; 17] = [
        0xb0, 0x00, 0x08, 0x00, 0xab, 0xcd, 0, 0, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 5, 0x45,
    ];

    #[test]
    fn deconstruct() {
        let v = GreView::new_checked(&HDR[..]).unwrap();
        assert!(v.has_checksum() && v.has_key() && v.has_seq() && !v.has_routing());
        assert_eq!(v.version(), 0);
        assert_eq!(v.protocol(), EtherType::Ipv4);
        assert_eq!(v.header_len(), 16);
        assert_eq!(v.key(), Some(0x0102_0304));
        assert_eq!(v.seq(), Some(5));
        assert_eq!(v.payload(), &[0x45]);
    }

    #[test]
    fn construct() {
        let r = GreRepr {
            protocol: EtherType::Ipv4,
            checksum: true,
            key: Some(0x0102_0304),
            seq: Some(5),
        };
        let mut buf = [0xa5u8; 17];
        r.emit(&mut buf[..16]);
        assert_eq!(&buf[..4], &HDR[..4]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        assert_eq!(&buf[8..16], &HDR[8..16]);
        assert_eq!(buf[16], 0xa5);
        r.fill_checksum(&mut buf[..16], &[0x45]);
        let mut whole = buf[..16].to_vec();
        whole.push(0x45);
        assert_eq!(checksum::checksum(&whole), 0);
        assert_eq!(GreRepr::parse(&GreView::new_checked(&buf[..]).unwrap()), r);
    }

    #[test]
    fn key_only_header_is_8_bytes() {
        let b = [0x20, 0x00, 0x65, 0x58, 0, 0, 0, 9];
        let v = GreView::new_checked(&b[..]).unwrap();
        assert_eq!((v.header_len(), v.key(), v.seq()), (8, Some(9), None));
        assert_eq!(v.protocol(), EtherType::TransparentEthernet);
    }

    #[test]
    fn rejects_optional_words_past_buffer() {
        assert_eq!(
            GreView::new_checked(&HDR[..15]).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            GreView::new_checked(&HDR[..3]).err(),
            Some(ParseError::Truncated)
        );
    }
}
