//! Ethernet II header: destination MAC, source MAC, EtherType.

use super::bytes::{array, be16, put, set_be16, tail, Field};
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
}

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;

/// An EtherType (also GRE's protocol field, which uses the same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (0x0800).
    Ipv4,
    /// ARP (0x0806).
    Arp,
    /// 802.1Q customer VLAN tag (0x8100).
    Vlan,
    /// 802.1ad service VLAN tag, QinQ outer (0x88a8).
    Qinq,
    /// Pre-standard QinQ outer tag (0x9100).
    QinqLegacy,
    /// IPv6 (0x86dd).
    Ipv6,
    /// MPLS unicast (0x8847).
    Mpls,
    /// MPLS multicast (0x8848).
    MplsMulticast,
    /// PPPoE session stage (0x8864).
    PppoeSession,
    /// Transparent Ethernet bridging, in GRE (0x6558).
    TransparentEthernet,
    /// ERSPAN type II, in GRE (0x88be).
    ErspanII,
    /// ERSPAN type III, in GRE (0x22eb).
    ErspanIII,
    /// Any other value (LLDP, 802.3 lengths, ...).
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            0x0800 => Self::Ipv4,
            0x0806 => Self::Arp,
            0x8100 => Self::Vlan,
            0x88a8 => Self::Qinq,
            0x9100 => Self::QinqLegacy,
            0x86dd => Self::Ipv6,
            0x8847 => Self::Mpls,
            0x8848 => Self::MplsMulticast,
            0x8864 => Self::PppoeSession,
            0x6558 => Self::TransparentEthernet,
            0x88be => Self::ErspanII,
            0x22eb => Self::ErspanIII,
            other => Self::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Qinq => 0x88a8,
            EtherType::QinqLegacy => 0x9100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Mpls => 0x8847,
            EtherType::MplsMulticast => 0x8848,
            EtherType::PppoeSession => 0x8864,
            EtherType::TransparentEthernet => 0x6558,
            EtherType::ErspanII => 0x88be,
            EtherType::ErspanIII => 0x22eb,
            EtherType::Unknown(other) => other,
        }
    }
}

view!(
    /// A view of an Ethernet II header and what follows it.
    EthernetView
);

impl<B: AsRef<[u8]>> EthernetView<B> {
    /// Ensures the buffer holds a whole header.
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

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> [u8; 6] {
        array(self.buf.as_ref(), field::DST)
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> [u8; 6] {
        array(self.buf.as_ref(), field::SRC)
    }

    /// EtherType of the payload.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(be16(self.buf.as_ref(), field::ETHERTYPE.start))
    }
}

impl<'a> EthernetView<&'a [u8]> {
    /// Bytes after the header, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, HEADER_LEN)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> EthernetView<B> {
    /// Sets the destination MAC.
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        put(self.buf.as_mut(), field::DST.start, &mac);
    }
    /// Sets the source MAC.
    pub fn set_src(&mut self, mac: [u8; 6]) {
        put(self.buf.as_mut(), field::SRC.start, &mac);
    }
    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, t: EtherType) {
        set_be16(self.buf.as_mut(), field::ETHERTYPE.start, t.into());
    }
}

/// An Ethernet II header as plain values, for building frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src: [u8; 6],
    /// Destination MAC.
    pub dst: [u8; 6],
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &EthernetView<B>) -> Self {
        Self {
            src: view.src(),
            dst: view.dst(),
            ethertype: view.ethertype(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header into `view`.
    pub fn emit<B: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut EthernetView<B>) {
        view.set_dst(self.dst);
        view.set_src(self.src);
        view.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // dst 02:00:00:00:00:02, src 02:00:00:00:00:01, IPv4, payload aa bb
    static FRAME: [u8; 16] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0xaa,
        0xbb,
    ];

    const fn repr() -> EthernetRepr {
        EthernetRepr {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
            ethertype: EtherType::Ipv4,
        }
    }

    #[test]
    fn deconstruct() {
        let v = EthernetView::new_checked(&FRAME[..]).unwrap();
        assert_eq!(v.dst(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(v.src(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(v.ethertype(), EtherType::Ipv4);
        assert_eq!(v.payload(), &[0xaa, 0xbb]);
        assert_eq!(EthernetRepr::parse(&v), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 16];
        let mut v = EthernetView::new_unchecked(&mut buf[..]);
        repr().emit(&mut v);
        assert_eq!(&buf[..HEADER_LEN], &FRAME[..HEADER_LEN]);
        assert_eq!(&buf[HEADER_LEN..], &[0xa5, 0xa5]);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            EthernetView::new_checked(&FRAME[..13]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn ethertype_round_trips() {
        for v in [
            0x0800u16, 0x0806, 0x8100, 0x88a8, 0x9100, 0x86dd, 0x8847, 0x8848, 0x8864, 0x6558,
            0x88be, 0x22eb, 0x1234,
        ] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
    }
}
