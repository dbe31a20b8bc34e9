//! IPv4 header (RFC 791) with options; fragments; checksum.

use std::net::Ipv4Addr;

use super::bytes::{array, be16, byte, put, set_be16, set_byte, Field};
use super::checksum;
use super::ip::IpProtocol;
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST.end;
/// Longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;
/// The more-fragments flag and the fragment offset: either set in a fragment.
pub(crate) const FRAG_MASK: u16 = FLAG_MF | OFFSET_MASK;
/// Version 4 and IHL 5: the first byte of a header without options.
pub(crate) const VER_IHL_NO_OPTIONS: u8 = 0x45;
/// The NOP option byte, used to pad built headers.
const OPT_NOP: u8 = 1;

view!(
    /// A view of an IPv4 packet.
    Ipv4View
);

impl<B: AsRef<[u8]>> Ipv4View<B> {
    /// Ensures version 4, IHL ≥ 5, header length ≤ total length ≤ buffer.
    ///
    /// # Errors
    /// Those of [`Self::check_header`], and [`ParseError::BadLength`] for a total
    /// length past the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header()?;
        if usize::from(self.total_len()) > self.buf.as_ref().len() {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// [`Self::check_len`] but for the total length's end: the header, options
    /// included, is whole, however much of the packet the buffer holds (a
    /// capture or a mirror's copy cut short).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] below 20 bytes, [`ParseError::BadVersion`],
    /// [`ParseError::BadLength`] for IHL < 5, a total length below the header
    /// length, or options past the buffer.
    #[inline]
    pub fn check_header(&self) -> Result<(), ParseError> {
        let buf = self.buf.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if self.version() != 4 {
            return Err(ParseError::BadVersion);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN || usize::from(self.total_len()) < hlen || hlen > buf.len() {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// IP version (4).
    #[inline]
    pub fn version(&self) -> u8 {
        byte(self.buf.as_ref(), field::VER_IHL) >> 4
    }
    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.buf.as_ref(), field::VER_IHL) & 0x0f) * 4
    }
    /// DSCP (6 bits).
    pub fn dscp(&self) -> u8 {
        byte(self.buf.as_ref(), field::DSCP_ECN) >> 2
    }
    /// ECN (2 bits).
    pub fn ecn(&self) -> u8 {
        byte(self.buf.as_ref(), field::DSCP_ECN) & 3
    }
    /// Total length: header + payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), field::IDENT.start)
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        be16(self.buf.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }
    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buf.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units; non-zero means no transport header here.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buf.as_ref(), field::FLG_OFF.start) & OFFSET_MASK
    }
    /// Whether the header has no options and the packet is no fragment (the
    /// fast path's IPv4): one test of the first byte, one of the flags word.
    #[inline]
    pub fn is_plain(&self) -> bool {
        let buf = self.buf.as_ref();
        byte(buf, field::VER_IHL) == VER_IHL_NO_OPTIONS
            && be16(buf, field::FLG_OFF.start) & FRAG_MASK == 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        byte(self.buf.as_ref(), field::TTL)
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(byte(self.buf.as_ref(), field::PROTOCOL))
    }
    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), field::SRC))
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buf.as_ref(), field::DST))
    }
    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        let hdr = self.buf.as_ref().get(..self.header_len()).unwrap_or(&[]);
        checksum::checksum(hdr) == 0
    }
}

impl<'a> Ipv4View<&'a [u8]> {
    /// Options bytes (between the fixed header and the payload).
    pub fn options(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }
    /// The payload up to the total length (Ethernet padding excluded), borrowed from
    /// the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ipv4View<B> {
    /// Sets version 4 and the header length in bytes (rounded down to 4; a value
    /// below 20 or past the buffer breaks `check_len`).
    pub fn set_version_and_header_len(&mut self, len: usize) {
        let ihl = ((len / 4) & 0x0f) as u8;
        set_byte(self.buf.as_mut(), field::VER_IHL, 0x40 | ihl);
    }
    /// Sets DSCP and ECN.
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        set_byte(self.buf.as_mut(), field::DSCP_ECN, (dscp << 2) | (ecn & 3));
    }
    /// Sets the total length; past the buffer breaks `check_len`.
    pub fn set_total_len(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::LENGTH.start, v);
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::IDENT.start, v);
    }
    /// Sets DF, MF and the fragment offset (8-byte units, truncated to 13 bits).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (if dont_frag { FLAG_DF } else { 0 })
            | (if more_frags { FLAG_MF } else { 0 })
            | (offset & OFFSET_MASK);
        set_be16(self.buf.as_mut(), field::FLG_OFF.start, v);
    }
    /// Sets the TTL.
    pub fn set_ttl(&mut self, v: u8) {
        set_byte(self.buf.as_mut(), field::TTL, v);
    }
    /// Sets the protocol.
    pub fn set_protocol(&mut self, p: IpProtocol) {
        set_byte(self.buf.as_mut(), field::PROTOCOL, p.into());
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        put(self.buf.as_mut(), field::SRC.start, &a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        put(self.buf.as_mut(), field::DST.start, &a.octets());
    }
    /// Fills the options area with NOPs.
    pub fn fill_options_nop(&mut self) {
        let hlen = self.header_len();
        if let Some(opts) = self.buf.as_mut().get_mut(HEADER_LEN..hlen) {
            opts.fill(OPT_NOP);
        }
    }
    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, 0);
        let hlen = self.header_len();
        let sum = checksum::checksum(self.buf.as_ref().get(..hlen).unwrap_or(&[]));
        set_be16(self.buf.as_mut(), field::CHECKSUM.start, sum);
    }
}

/// An IPv4 header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload bytes after the header.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// Bytes of options (a multiple of 4, at most 40); emitted as NOPs.
    pub options_len: usize,
}

impl Ipv4Repr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &Ipv4View<B>) -> Self {
        Self {
            src: view.src_addr(),
            dst: view.dst_addr(),
            protocol: view.protocol(),
            payload_len: usize::from(view.total_len()).saturating_sub(view.header_len()),
            ttl: view.ttl(),
            ident: view.ident(),
            dont_frag: view.dont_frag(),
            more_frags: view.more_frags(),
            frag_offset: view.frag_offset(),
            options_len: view.header_len().saturating_sub(HEADER_LEN),
        }
    }
    /// Bytes [`emit`](Self::emit) writes (header with options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }
    /// Writes the header with NOP options and checksum into `view`; a total length
    /// above 65535 saturates.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut Ipv4View<B>) {
        let hlen = self.buffer_len();
        view.set_version_and_header_len(hlen);
        view.set_dscp_ecn(0, 0);
        view.set_total_len(u16::try_from(hlen + self.payload_len).unwrap_or(u16::MAX));
        view.set_ident(self.ident);
        view.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        view.set_ttl(self.ttl);
        view.set_protocol(self.protocol);
        view.set_src_addr(self.src);
        view.set_dst_addr(self.dst);
        view.fill_options_nop();
        view.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // IHL 6 (one word of NOP options), total length 26, ident 0x1234, MF, offset 3,
    // TTL 64, UDP, checksum 0x79ef, 10.0.0.1 -> 192.168.1.2, payload 01 02, padding ee
    static PACKET: [u8; 27] = [
        0x46, 0x00, 0x00, 0x1a, 0x12, 0x34, 0x20, 0x03, 0x40, 0x11, 0x79, 0xef, 0x0a, 0x00, 0x00,
        0x01, 0xc0, 0xa8, 0x01, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0xee,
    ];

    const fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(192, 168, 1, 2),
            protocol: IpProtocol::Udp,
            payload_len: 2,
            ttl: 64,
            ident: 0x1234,
            dont_frag: false,
            more_frags: true,
            frag_offset: 3,
            options_len: 4,
        }
    }

    #[test]
    fn deconstruct() {
        let v = Ipv4View::new_checked(&PACKET[..]).unwrap();
        assert_eq!(v.version(), 4);
        assert_eq!(v.header_len(), 24);
        assert_eq!(v.dscp(), 0);
        assert_eq!(v.ecn(), 0);
        assert_eq!(v.total_len(), 26);
        assert_eq!(v.ident(), 0x1234);
        assert!(!v.dont_frag());
        assert!(v.more_frags());
        assert_eq!(v.frag_offset(), 3);
        assert_eq!(v.ttl(), 64);
        assert_eq!(v.protocol(), IpProtocol::Udp);
        assert_eq!(v.checksum(), 0x79ef);
        assert!(v.verify_checksum());
        assert_eq!(v.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(v.dst_addr(), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(v.options(), &[1, 1, 1, 1]);
        assert_eq!(v.payload(), &[0x01, 0x02]);
        assert_eq!(Ipv4Repr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 25];
        repr().emit(&mut Ipv4View::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..24], &PACKET[..24]);
        assert_eq!(buf[24], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            Ipv4View::new_checked(&PACKET[..19]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_header_len_below_minimum() {
        let mut b = PACKET;
        b[0] = 0x44;
        assert_eq!(
            Ipv4View::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_total_len_past_buffer() {
        assert_eq!(
            Ipv4View::new_checked(&PACKET[..25]).err(),
            Some(ParseError::BadLength)
        );
        // The header alone is whole: a packet cut short.
        assert_eq!(
            Ipv4View::new_unchecked(&PACKET[..25]).check_header(),
            Ok(())
        );
        assert_eq!(
            Ipv4View::new_unchecked(&PACKET[..23]).check_header(),
            Err(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_total_len_below_header_len() {
        let mut b = PACKET;
        b[3] = 22;
        assert_eq!(
            Ipv4View::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_version_6() {
        let mut b = PACKET;
        b[0] = 0x66;
        assert_eq!(
            Ipv4View::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
    }
}
