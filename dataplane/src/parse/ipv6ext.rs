//! IPv6 extension headers (RFC 8200): the options-style ones (hop-by-hop, routing,
//! destination options: length in 8-byte units), the fragment header, and the
//! authentication header (RFC 4302: length in 4-byte units; also used after IPv4).

use super::bytes::{be16, be32, byte, set_be16, set_be32, set_byte, Field};
use super::ip::IpProtocol;
use super::ParseError;

mod field {
    use super::Field;
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    pub const OPT_DATA: Field = 2..8;
    pub const FRAG_OFF_M: Field = 2..4;
    pub const FRAG_IDENT: Field = 4..8;
    pub const AH_RESERVED: Field = 2..4;
    pub const AH_SPI: Field = 4..8;
    pub const AH_SEQ: Field = 8..12;
}

/// Shortest options-style extension header (length field 0).
pub const OPT_HEADER_LEN: usize = field::OPT_DATA.end;
/// Length of a fragment header.
pub const FRAG_HEADER_LEN: usize = field::FRAG_IDENT.end;
/// Shortest authentication header (no ICV).
pub const AH_HEADER_LEN: usize = field::AH_SEQ.end;

/// PadN option type, used to fill built options headers.
const OPT_PADN: u8 = 1;

/// Checks that a header of `hlen` bytes, at least `min`, fits in `buf`.
#[inline]
fn check(buf: &[u8], min: usize, hlen: usize) -> Result<(), ParseError> {
    if buf.len() < min {
        return Err(ParseError::Truncated);
    }
    if hlen < min {
        return Err(ParseError::BadLength);
    }
    if hlen > buf.len() {
        return Err(ParseError::Truncated);
    }
    Ok(())
}

view!(
    /// A view of a hop-by-hop, routing or destination-options header.
    Ipv6OptView
);

impl<B: AsRef<[u8]>> Ipv6OptView<B> {
    /// Ensures the whole header, as its length field says, fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        check(self.buf.as_ref(), OPT_HEADER_LEN, self.header_len())
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(byte(self.buf.as_ref(), field::NEXT_HEADER))
    }
    /// Header length in bytes: (length field + 1) × 8.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(byte(self.buf.as_ref(), field::LENGTH)) + 1) * 8
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ipv6OptView<B> {
    /// Sets the next header.
    pub fn set_next_header(&mut self, p: IpProtocol) {
        set_byte(self.buf.as_mut(), field::NEXT_HEADER, p.into());
    }
    /// Sets the header length in bytes (a multiple of 8, 8..=2048) and fills the data
    /// with one PadN option.
    pub fn set_header_len_padded(&mut self, len: usize) {
        let units = (len / 8).clamp(1, 256) - 1;
        set_byte(self.buf.as_mut(), field::LENGTH, units as u8);
        let data_len = (units + 1) * 8 - field::OPT_DATA.start;
        set_byte(self.buf.as_mut(), field::OPT_DATA.start, OPT_PADN);
        set_byte(
            self.buf.as_mut(),
            field::OPT_DATA.start + 1,
            (data_len - 2) as u8,
        );
        let end = field::OPT_DATA.start + data_len;
        if let Some(pad) = self.buf.as_mut().get_mut(field::OPT_DATA.start + 2..end) {
            pad.fill(0);
        }
    }
}

/// An options-style extension header as plain values (data = one PadN option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6OptRepr {
    /// Next header.
    pub next_header: IpProtocol,
    /// Total header length in bytes (multiple of 8).
    pub header_len: usize,
}

impl Ipv6OptRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &Ipv6OptView<B>) -> Self {
        Self {
            next_header: view.next_header(),
            header_len: view.header_len(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        self.header_len
    }
    /// Writes the header into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut Ipv6OptView<B>) {
        view.set_next_header(self.next_header);
        view.set_header_len_padded(self.header_len);
    }
}

view!(
    /// A view of an IPv6 fragment header.
    Ipv6FragView
);

impl<B: AsRef<[u8]>> Ipv6FragView<B> {
    /// Ensures the 8-byte header fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        check(self.buf.as_ref(), FRAG_HEADER_LEN, FRAG_HEADER_LEN)
    }
    /// Next header (of the reassembled packet).
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(byte(self.buf.as_ref(), field::NEXT_HEADER))
    }
    /// Fragment offset in 8-byte units; non-zero means no transport header here.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), field::FRAG_OFF_M.start) >> 3
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        be16(self.buf.as_ref(), field::FRAG_OFF_M.start) & 1 != 0
    }
    /// Identification.
    pub fn ident(&self) -> u32 {
        be32(self.buf.as_ref(), field::FRAG_IDENT.start)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragView<B> {
    /// Sets next header, offset (8-byte units, 13 bits), M flag and identification.
    pub fn set_fields(&mut self, next: IpProtocol, offset: u16, more: bool, ident: u32) {
        let buf = self.buf.as_mut();
        set_byte(buf, field::NEXT_HEADER, next.into());
        set_byte(buf, field::LENGTH, 0);
        set_be16(
            buf,
            field::FRAG_OFF_M.start,
            ((offset & 0x1fff) << 3) | u16::from(more),
        );
        set_be32(buf, field::FRAG_IDENT.start, ident);
    }
}

/// A fragment header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6FragRepr {
    /// Next header.
    pub next_header: IpProtocol,
    /// Offset in 8-byte units.
    pub frag_offset: u16,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6FragRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &Ipv6FragView<B>) -> Self {
        Self {
            next_header: view.next_header(),
            frag_offset: view.frag_offset(),
            more_frags: view.more_frags(),
            ident: view.ident(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        FRAG_HEADER_LEN
    }
    /// Writes the header into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut Ipv6FragView<B>) {
        view.set_fields(
            self.next_header,
            self.frag_offset,
            self.more_frags,
            self.ident,
        );
    }
}

view!(
    /// A view of an authentication header.
    AhView
);

impl<B: AsRef<[u8]>> AhView<B> {
    /// Ensures the header, as its length field says, is at least 12 bytes and fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] or [`ParseError::BadLength`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        check(self.buf.as_ref(), AH_HEADER_LEN, self.header_len())
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(byte(self.buf.as_ref(), field::NEXT_HEADER))
    }
    /// Header length in bytes: (length field + 2) × 4, ICV included.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(byte(self.buf.as_ref(), field::LENGTH)) + 2) * 4
    }
    /// Security parameters index.
    pub fn spi(&self) -> u32 {
        be32(self.buf.as_ref(), field::AH_SPI.start)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), field::AH_SEQ.start)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> AhView<B> {
    /// Sets every field; the ICV (after byte 12) is zeroed. A `len` that is not a
    /// multiple of 4 or below 12 breaks `check_len`.
    pub fn set_fields(&mut self, next: IpProtocol, len: usize, spi: u32, seq: u32) {
        let buf = self.buf.as_mut();
        set_byte(buf, field::NEXT_HEADER, next.into());
        set_byte(
            buf,
            field::LENGTH,
            (len / 4).saturating_sub(2).min(255) as u8,
        );
        set_be16(buf, field::AH_RESERVED.start, 0);
        set_be32(buf, field::AH_SPI.start, spi);
        set_be32(buf, field::AH_SEQ.start, seq);
        if let Some(icv) = buf.get_mut(AH_HEADER_LEN..len) {
            icv.fill(0);
        }
    }
}

/// An authentication header as plain values (zero ICV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AhRepr {
    /// Next header.
    pub next_header: IpProtocol,
    /// Security parameters index.
    pub spi: u32,
    /// Sequence number.
    pub seq: u32,
    /// ICV bytes (multiple of 4).
    pub icv_len: usize,
}

impl AhRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &AhView<B>) -> Self {
        Self {
            next_header: view.next_header(),
            spi: view.spi(),
            seq: view.seq(),
            icv_len: view.header_len().saturating_sub(AH_HEADER_LEN),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        AH_HEADER_LEN + self.icv_len
    }
    /// Writes the header into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut AhView<B>) {
        view.set_fields(self.next_header, self.buffer_len(), self.spi, self.seq);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // hop-by-hop: next UDP, length 0 (8 bytes), PadN of 4 zero bytes; then 0xee
    static HBH: [u8; 9] = [0x11, 0x00, 0x01, 0x04, 0, 0, 0, 0, 0xee];
    // fragment: next TCP, offset 185 (1480 bytes), M set, ident 0xdeadbeef
    static FRAG: [u8; 8] = [0x06, 0x00, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef];
    // AH: next TCP, length 4 (24 bytes), SPI 0x100, seq 7, 12 zero ICV bytes
    static AH: [u8; 24] = [
        0x06, 0x04, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn deconstruct_options() {
        let v = Ipv6OptView::new_checked(&HBH[..]).unwrap();
        assert_eq!(v.next_header(), IpProtocol::Udp);
        assert_eq!(v.header_len(), 8);
        assert_eq!(
            Ipv6OptRepr::parse(&v),
            Ipv6OptRepr {
                next_header: IpProtocol::Udp,
                header_len: 8
            }
        );
    }

    #[test]
    fn construct_options() {
        let mut buf = [0xa5u8; 9];
        Ipv6OptRepr {
            next_header: IpProtocol::Udp,
            header_len: 8,
        }
        .emit(&mut Ipv6OptView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &HBH[..8]);
        assert_eq!(buf[8], 0xa5);
    }

    #[test]
    fn rejects_options_past_buffer() {
        let mut b = HBH;
        b[1] = 1; // 16 bytes claimed, 9 present
        assert_eq!(
            Ipv6OptView::new_checked(&b[..]).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            Ipv6OptView::new_checked(&HBH[..7]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn deconstruct_fragment() {
        let v = Ipv6FragView::new_checked(&FRAG[..]).unwrap();
        assert_eq!(v.next_header(), IpProtocol::Tcp);
        assert_eq!(v.frag_offset(), 185);
        assert!(v.more_frags());
        assert_eq!(v.ident(), 0xdead_beef);
    }

    #[test]
    fn construct_fragment() {
        let r = Ipv6FragRepr {
            next_header: IpProtocol::Tcp,
            frag_offset: 185,
            more_frags: true,
            ident: 0xdead_beef,
        };
        let mut buf = [0xa5u8; 8];
        r.emit(&mut Ipv6FragView::new_unchecked(&mut buf[..]));
        assert_eq!(buf, FRAG);
        assert_eq!(
            Ipv6FragRepr::parse(&Ipv6FragView::new_checked(&buf[..]).unwrap()),
            r
        );
    }

    #[test]
    fn rejects_truncated_fragment() {
        assert_eq!(
            Ipv6FragView::new_checked(&FRAG[..7]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn deconstruct_ah() {
        let v = AhView::new_checked(&AH[..]).unwrap();
        assert_eq!(v.next_header(), IpProtocol::Tcp);
        assert_eq!(v.header_len(), 24);
        assert_eq!(v.spi(), 0x100);
        assert_eq!(v.seq(), 7);
    }

    #[test]
    fn construct_ah() {
        let r = AhRepr {
            next_header: IpProtocol::Tcp,
            spi: 0x100,
            seq: 7,
            icv_len: 12,
        };
        let mut buf = [0xa5u8; 25];
        r.emit(&mut AhView::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..24], &AH[..]);
        assert_eq!(buf[24], 0xa5);
        assert_eq!(AhRepr::parse(&AhView::new_checked(&buf[..]).unwrap()), r);
    }

    #[test]
    fn rejects_ah_length_below_minimum() {
        let mut b = AH;
        b[1] = 0; // 8 bytes < 12
        assert_eq!(
            AhView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_ah_past_buffer() {
        assert_eq!(
            AhView::new_checked(&AH[..20]).err(),
            Some(ParseError::Truncated)
        );
    }
}
