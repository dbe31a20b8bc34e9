//! One MPLS label stack entry: label (20 bits), traffic class, bottom-of-stack, TTL;
//! and what follows the stack, which MPLS does not say.

use super::bytes::{be16, be32, byte, set_be32, tail, Field};
use super::checksum::checksum;
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

/// Bytes a frame may carry after its last packet: Ethernet's padding of a
/// short frame (at most 46), a switch's timestamp trailer, a kept FCS.
const MAX_TRAILER: usize = 46;

/// What follows a label stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// An IPv4 packet.
    Ipv4,
    /// An IPv6 packet.
    Ipv6,
    /// An Ethernet pseudowire's frame, `at` bytes in: after a control word
    /// ([`PW_CONTROL_WORD_LEN`]) or right away (RFC 4448 makes the word optional).
    Ethernet {
        /// Offset of the Ethernet header.
        at: usize,
    },
    /// Anything else (a pseudowire's associated channel, an unknown payload).
    Unknown,
}

/// Tells what the bytes after a bottom-of-stack entry hold. The first nibble
/// says IPv4 (4), IPv6 (6) or a control word (0), but an Ethernet pseudowire
/// without a control word starts with a destination MAC, whose first nibble
/// is anything; so a guess that the packet's own lengths (or, for IPv4, its
/// checksum) do not bear out gives way to Ethernet where the bytes look like
/// an Ethernet header, and an unknown nibble is Ethernet only then.
#[inline]
pub fn payload(rest: &[u8]) -> Payload {
    payload_of(rest, 0)
}

/// [`payload`] for bytes of which `missing` more were on the wire than are at
/// hand (a capture's snap length, the later segments of a multi-segment
/// mbuf): an IP packet's lengths are checked against the bytes on the wire,
/// so a cut IPv6 packet whose source address happens to read as an Ethernet
/// header is still taken for IPv6.
#[inline]
pub fn payload_of(rest: &[u8], missing: usize) -> Payload {
    let no_word = Payload::Ethernet { at: 0 };
    let wire = rest.len().saturating_add(missing);
    let Some(&first) = rest.first() else {
        return Payload::Unknown;
    };
    match first >> 4 {
        4 if ipv4_fits(rest, wire) || !ethernet_at(rest, 0) || ipv4_checksum_good(rest) => {
            Payload::Ipv4
        }
        6 if ipv6_fits(rest, wire) || !ethernet_at(rest, 0) => Payload::Ipv6,
        // Both readings can look right (an inner VLAN tag is as long as the
        // word). A word's first 16 bits are zero (RFC 4448), and so are its
        // last 16 but where sequencing is on (rare); a MAC's first 32 are
        // almost never zero, but its first 16 are in Cisco's OUI 00:00:0c
        // (an HSRP gateway's 00:00:0c:07:ac:xx): there, Ethernet wins.
        0 if (rest.first_chunk() == Some(&[0; 4]) && ethernet_at(rest, PW_CONTROL_WORD_LEN))
            || !ethernet_at(rest, 0) =>
        {
            Payload::Ethernet {
                at: PW_CONTROL_WORD_LEN,
            }
        }
        0 | 4 | 6 => no_word,
        _ if ethernet_at(rest, 0) => no_word,
        _ => Payload::Unknown,
    }
}

/// An IPv4 header at the start of `p` whose total length ends the `wire`
/// bytes the packet had on the wire, give or take a trailer.
#[inline]
fn ipv4_fits(p: &[u8], wire: usize) -> bool {
    let header = usize::from(byte(p, 0) & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    header >= 20 && total >= header && total <= wire && wire - total <= MAX_TRAILER
}

fn ipv4_checksum_good(p: &[u8]) -> bool {
    let header = usize::from(byte(p, 0) & 0x0f) * 4;
    header >= 20 && p.get(..header).is_some_and(|h| checksum(h) == 0)
}

/// An IPv6 header at the start of `p` whose payload length ends the `wire`
/// bytes the packet had on the wire, give or take a trailer.
#[inline]
fn ipv6_fits(p: &[u8], wire: usize) -> bool {
    let total = 40 + usize::from(be16(p, 4));
    wire >= 40 && total <= wire && wire - total <= MAX_TRAILER
}

/// An Ethernet header at `at`, and a byte after it, with an EtherType a
/// carrier's pseudowire carries and, for IP, the right version after it.
#[inline]
fn ethernet_at(p: &[u8], at: usize) -> bool {
    const IPV4: u16 = 0x0800;
    const IPV6: u16 = 0x86dd;
    // The header and the first byte after it, bounds-checked once.
    let Some(h) = p.get(at..).and_then(<[u8]>::first_chunk::<15>) else {
        return false;
    };
    let next = h[14] >> 4;
    match u16::from_be_bytes([h[12], h[13]]) {
        IPV4 => next == 4,
        IPV6 => next == 6,
        // ARP, 802.1Q, 802.1ad, pre-standard QinQ, MPLS, MPLS multicast, PPPoE session.
        0x0806 | 0x8100 | 0x88a8 | 0x9100 | 0x8847 | 0x8848 | 0x8864 => true,
        _ => false,
    }
}

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

    use crate::synth::Frame;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
    /// Bytes after the (one) bottom label of `f`.
    fn after_label(f: Frame) -> Vec<u8> {
        f.build()[14 + HEADER_LEN..].to_vec()
    }
    fn labelled() -> Frame {
        Frame::ethernet(A, A).mpls(&[16])
    }
    fn v4() -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
        ([8, 0, 64, 1].into(), [10, 0, 0, 2].into())
    }

    #[test]
    fn ip_after_the_stack_is_ip_whole_padded_or_cut() {
        let (src, dst) = v4();
        // src 8.0.64.1 reads as EtherType IPv4 and an IPv4 nibble at an Ethernet
        // header's offsets: only the checksum keeps the cut packet IPv4.
        let p = after_label(labelled().ipv4(src, dst).udp(1, 2));
        assert_eq!(payload(&p), Payload::Ipv4);
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(payload(&padded), Payload::Ipv4);
        assert_eq!(payload(&p[..24]), Payload::Ipv4);
        let p6 = after_label(
            labelled()
                .ipv6(
                    std::net::Ipv6Addr::LOCALHOST,
                    std::net::Ipv6Addr::UNSPECIFIED,
                )
                .tcp(1, 2),
        );
        assert_eq!(payload(&p6), Payload::Ipv6);
        assert_eq!(payload(&p6[..44]), Payload::Ipv6);
    }

    #[test]
    fn an_ethernet_pseudowire_is_found_with_or_without_control_word_whatever_its_mac() {
        let (src, dst) = v4();
        let macs = [0x00u8, 0x01, 0x10, 0x45, 0x4f, 0x60, 0x6c, 0xa4, 0xff]
            .map(|first| [first, 0x1b, 0x21, 1, 2, 3]);
        // A Cisco HSRP group's MAC: its first 16 bits are zero, as a control word's.
        let hsrp = [0x00, 0x00, 0x0c, 0x07, 0xac, 0x01];
        for mac in macs.into_iter().chain([hsrp]) {
            let first = mac[0];
            let inner = |f: Frame| f.inner_ethernet(A, mac);
            let cw = after_label(inner(labelled().pw_control_word()).ipv4(src, dst).udp(1, 2));
            assert_eq!(payload(&cw), Payload::Ethernet { at: 4 }, "{first:#x}");
            let bare = after_label(inner(labelled()).ipv4(src, dst).udp(1, 2));
            assert_eq!(payload(&bare), Payload::Ethernet { at: 0 }, "{first:#x}");
            let bare6 = after_label(
                inner(labelled())
                    .ipv6(std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::LOCALHOST)
                    .udp(1, 2),
            );
            assert_eq!(payload(&bare6), Payload::Ethernet { at: 0 }, "{first:#x}");
            let tagged = after_label(inner(labelled()).vlan(7).ipv4(src, dst).udp(1, 2));
            assert_eq!(payload(&tagged), Payload::Ethernet { at: 0 }, "{first:#x}");
            let cw_tagged = |seq: [u8; 2]| {
                let mut p = after_label(
                    inner(labelled().pw_control_word())
                        .vlan(7)
                        .ipv4(src, dst)
                        .udp(1, 2),
                );
                p[2..4].copy_from_slice(&seq);
                payload(&p)
            };
            // With sequencing on, as off: a MAC does not start right after it.
            for seq in [[0, 0], [0x12, 0x34]] {
                assert_eq!(cw_tagged(seq), Payload::Ethernet { at: 4 }, "{first:#x}");
            }
        }
    }

    #[test]
    fn a_cut_ip_packet_is_told_from_a_pseudowire_by_its_bytes_on_the_wire() {
        // Source 2001:db8:8100::1: bytes 12-13 of the header read as 802.1Q.
        let src = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x8100, 0, 0, 0, 0, 1);
        let p6 = after_label(
            labelled()
                .ipv6(src, std::net::Ipv6Addr::LOCALHOST)
                .udp(1, 2)
                .payload(&[0; 100]),
        );
        assert_eq!(payload(&p6), Payload::Ipv6);
        let (cut, missing) = (&p6[..48], p6.len() - 48);
        // By the bytes at hand alone, the guess is a pseudowire's Ethernet.
        assert_eq!(payload(cut), Payload::Ethernet { at: 0 });
        assert_eq!(payload_of(cut, missing), Payload::Ipv6);
        // A length the wire does not bear out is no IP packet either.
        assert_eq!(payload_of(cut, missing + 100), Payload::Ethernet { at: 0 });
        // IPv4 whose source reads as an EtherType (8.0.64.1, an IPv4 nibble
        // after): cut in its header, only its checksum said IPv4; the wire
        // length says it as well.
        let (src4, dst4) = v4();
        let p4 = after_label(labelled().ipv4(src4, dst4).udp(1, 2).payload(&[0; 60]));
        assert_eq!(payload_of(&p4[..24], p4.len() - 24), Payload::Ipv4);
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(payload(&[]), Payload::Unknown);
        // A pseudowire associated channel (first nibble 1), BFD behind it.
        let ach = [
            0x10, 0, 0x00, 0x07, 0x20, 0x40, 3, 24, 0, 0, 0, 1, 0, 0, 0, 2,
        ];
        assert_eq!(payload(&ach), Payload::Unknown);
        assert_eq!(payload(&[0xf0; 64]), Payload::Unknown);
        // Ethernet-like but an EtherType no pseudowire carries here.
        let mut lldp = vec![0xa0; 14];
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(payload(&lldp), Payload::Unknown);
        // Where both readings look right and the first 32 bits are zero (a
        // MAC 00:00:00:00:xx:xx, then a VLAN tag), the control word wins; its
        // "Ethernet header" then ends where the tag does, so the IP layer is
        // still found.
        let zero_tagged = after_label(
            labelled()
                .inner_ethernet(A, [0, 0, 0, 0, 0xac, 1])
                .vlan(7)
                .ipv4(v4().0, v4().1)
                .udp(1, 2),
        );
        assert_eq!(payload(&zero_tagged), Payload::Ethernet { at: 4 });
        // A zero nibble that looks like neither stays the control word it says it is.
        assert_eq!(payload(&[0; 8]), Payload::Ethernet { at: 4 });
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            MplsView::new_checked(&ENTRY[..3]).err(),
            Some(ParseError::Truncated)
        );
    }
}
