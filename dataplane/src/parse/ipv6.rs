//! IPv6 fixed header (RFC 8200). Extension headers are in [`super::ipv6ext`].

use std::net::Ipv6Addr;

use super::bytes::{array, be16, be32, byte, put, set_be16, set_be32, set_byte, Field};
use super::ip::IpProtocol;
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = field::DST.end;

view!(
    /// A view of an IPv6 packet.
    Ipv6View
);

impl<B: AsRef<[u8]>> Ipv6View<B> {
    /// Ensures version 6 and a payload length inside the buffer.
    ///
    /// # Errors
    /// Those of [`Self::check_header`], and [`ParseError::BadLength`] if the
    /// payload length points past the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header()?;
        if HEADER_LEN + usize::from(self.payload_len()) > self.buf.as_ref().len() {
            return Err(ParseError::BadLength);
        }
        Ok(())
    }
    /// [`Self::check_len`] but for the payload length's end: the fixed header
    /// is whole, however much of the packet the buffer holds.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] below 40 bytes, [`ParseError::BadVersion`].
    #[inline]
    pub fn check_header(&self) -> Result<(), ParseError> {
        if self.buf.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if self.version() != 6 {
            return Err(ParseError::BadVersion);
        }
        Ok(())
    }
    /// IP version (6).
    #[inline]
    pub fn version(&self) -> u8 {
        byte(self.buf.as_ref(), field::VER_TC_FLOW.start) >> 4
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((be32(self.buf.as_ref(), field::VER_TC_FLOW.start) >> 20) & 0xff) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.buf.as_ref(), field::VER_TC_FLOW.start) & 0xf_ffff
    }
    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// First next-header value.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(byte(self.buf.as_ref(), field::NEXT_HEADER))
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        byte(self.buf.as_ref(), field::HOP_LIMIT)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buf.as_ref(), field::SRC))
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buf.as_ref(), field::DST))
    }
}

impl<'a> Ipv6View<&'a [u8]> {
    /// The payload (extension headers onwards) up to the payload length, borrowed from
    /// the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(HEADER_LEN..HEADER_LEN + usize::from(self.payload_len()))
            .unwrap_or(&[])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ipv6View<B> {
    /// Sets version 6, traffic class and flow label.
    pub fn set_ver_tc_flow(&mut self, tc: u8, flow: u32) {
        let v = (6u32 << 28) | (u32::from(tc) << 20) | (flow & 0xf_ffff);
        set_be32(self.buf.as_mut(), field::VER_TC_FLOW.start, v);
    }
    /// Sets the payload length; past the buffer breaks `check_len`.
    pub fn set_payload_len(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), field::LENGTH.start, v);
    }
    /// Sets the first next-header value.
    pub fn set_next_header(&mut self, p: IpProtocol) {
        set_byte(self.buf.as_mut(), field::NEXT_HEADER, p.into());
    }
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        set_byte(self.buf.as_mut(), field::HOP_LIMIT, v);
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        put(self.buf.as_mut(), field::SRC.start, &a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        put(self.buf.as_mut(), field::DST.start, &a.octets());
    }
}

/// An IPv6 fixed header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// First next-header value.
    pub next_header: IpProtocol,
    /// Bytes after the fixed header.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &Ipv6View<B>) -> Self {
        Self {
            src: view.src_addr(),
            dst: view.dst_addr(),
            next_header: view.next_header(),
            payload_len: usize::from(view.payload_len()),
            hop_limit: view.hop_limit(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header into `view`; a payload length above 65535 saturates.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut Ipv6View<B>) {
        view.set_ver_tc_flow(0, 0);
        view.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        view.set_next_header(self.next_header);
        view.set_hop_limit(self.hop_limit);
        view.set_src_addr(self.src);
        view.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // version 6, TC 0, flow 0, payload length 2, next header UDP, hop limit 64,
    // 2001:db8::1 -> 2001:db8::2, payload ab cd
    static PACKET: [u8; 42] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x40, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, //
        0xab, 0xcd,
    ];

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::Udp,
            payload_len: 2,
            hop_limit: 64,
        }
    }

    #[test]
    fn deconstruct() {
        let v = Ipv6View::new_checked(&PACKET[..]).unwrap();
        assert_eq!(v.version(), 6);
        assert_eq!(v.traffic_class(), 0);
        assert_eq!(v.flow_label(), 0);
        assert_eq!(v.payload_len(), 2);
        assert_eq!(v.next_header(), IpProtocol::Udp);
        assert_eq!(v.hop_limit(), 64);
        assert_eq!(v.src_addr(), repr().src);
        assert_eq!(v.dst_addr(), repr().dst);
        assert_eq!(v.payload(), &[0xab, 0xcd]);
        assert_eq!(Ipv6Repr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 41];
        repr().emit(&mut Ipv6View::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..40], &PACKET[..40]);
        assert_eq!(buf[40], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            Ipv6View::new_checked(&PACKET[..39]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_payload_len_past_buffer() {
        assert_eq!(
            Ipv6View::new_checked(&PACKET[..41]).err(),
            Some(ParseError::BadLength)
        );
        // The header alone is whole: a packet cut short.
        assert_eq!(
            Ipv6View::new_unchecked(&PACKET[..41]).check_header(),
            Ok(())
        );
    }

    #[test]
    fn rejects_version_4() {
        let mut b = PACKET;
        b[0] = 0x45;
        assert_eq!(
            Ipv6View::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
    }
}
