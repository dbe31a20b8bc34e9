//! One IP layer of a headers-only report: where its IP header, IPv6 extension
//! headers and transport header are in the header octets, which layer a report
//! describes, the flow it names, and the original length the IP header states.
//!
//! Only header octets are ever looked at (the slice ends at the end of the
//! innermost transport header): nothing here can reach payload.

use std::net::IpAddr;

use dataplane::parse::{dissect, Dissection, IpPair};

use super::pdu::Flow;

/// The transport header of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4<'a> {
    /// A whole TCP header, options included.
    Tcp(&'a [u8]),
    /// The 8-octet UDP header.
    Udp(&'a [u8]),
    /// Another protocol, a non-first fragment, or a cut header.
    Other,
}

/// One IP layer: base header (IPv4 with options), IPv6 extension headers,
/// transport header, and where the layer's headers end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer<'a> {
    /// The IPv4 header with its options, or the IPv6 base header (40 octets).
    pub ip: &'a [u8],
    /// IPv4 (else IPv6).
    pub v4: bool,
    /// The transport header.
    pub l4: L4<'a>,
    /// Offset just past the last header of this layer (transport, ICMP, or IP).
    pub end: usize,
}

const ICMP_HEADER_LEN: usize = 8;
const UDP_HEADER_LEN: usize = 8;
const TCP_MIN_LEN: usize = 20;
/// Most IPv6 extension headers followed (as the dataplane parser).
const MAX_EXT: usize = 8;

/// Parses the IP layer starting at `h[0]`; `None` if it is not a whole IPv4/IPv6 header.
pub(crate) fn walk(h: &[u8]) -> Option<Layer<'_>> {
    let (v4, ip_len, mut proto, mut first_frag) = match h.first()? >> 4 {
        4 => {
            let ihl = usize::from(h.first()? & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let frag = u16::from_be_bytes([*h.get(6)?, *h.get(7)?]) & 0x1fff;
            (true, ihl, *h.get(9)?, frag == 0)
        }
        6 => (false, 40, *h.get(6)?, true),
        _ => return None,
    };
    let ip = h.get(..ip_len)?;
    let mut off = ip_len;
    for _ in 0..MAX_EXT {
        let len = match (proto, v4) {
            (0 | 43 | 60, false) => (usize::from(*h.get(off + 1)?) + 1) * 8,
            (44, false) => {
                let fo = u16::from_be_bytes([*h.get(off + 2)?, *h.get(off + 3)?]) >> 3;
                first_frag &= fo == 0;
                8
            }
            (51, _) => (usize::from(*h.get(off + 1)?) + 2) * 4,
            _ => break,
        };
        proto = *h.get(off)?;
        h.get(off..off + len)?;
        off += len;
    }
    let rest = h.get(off..).unwrap_or_default();
    let (l4, l4_len) = match proto {
        _ if !first_frag => (L4::Other, 0),
        6 => match rest.get(12).map(|b| usize::from(b >> 4) * 4) {
            Some(n) if n >= TCP_MIN_LEN && n <= rest.len() => (L4::Tcp(&rest[..n]), n),
            _ => (L4::Other, 0),
        },
        17 => match rest.get(..UDP_HEADER_LEN) {
            Some(u) => (L4::Udp(u), UDP_HEADER_LEN),
            None => (L4::Other, 0),
        },
        1 | 58 if rest.len() >= ICMP_HEADER_LEN => (L4::Other, ICMP_HEADER_LEN),
        _ => (L4::Other, 0),
    };
    Some(Layer {
        ip,
        v4,
        l4,
        end: off + l4_len,
    })
}

fn addresses(l: &Layer<'_>) -> Option<(IpAddr, IpAddr)> {
    if l.v4 {
        let s: [u8; 4] = l.ip.get(12..16)?.try_into().ok()?;
        let d: [u8; 4] = l.ip.get(16..20)?.try_into().ok()?;
        Some((s.into(), d.into()))
    } else {
        let s: [u8; 16] = l.ip.get(8..24)?.try_into().ok()?;
        let d: [u8; 16] = l.ip.get(24..40)?.try_into().ok()?;
        Some((s.into(), d.into()))
    }
}

/// Offset in `h` of the IP layer a headers-only report describes: the innermost
/// one, whose transport header (or IP header) is where `h` ends, as the
/// dataplane's `Dissection::header_len` does. Without tunnels that is 0. In a
/// tunnel it is the last offset holding an IP header with the flow's (innermost)
/// addresses whose headers end exactly at the end of `h`; 0 if none does.
pub(crate) fn report_layer(h: &[u8], flow: Option<&Flow>) -> usize {
    let fits = |o: usize| {
        h.get(o..)
            .and_then(walk)
            .filter(|l| o + l.end == h.len())
            .is_some_and(|l| flow.is_none_or(|f| addresses(&l) == Some((f.src, f.dst))))
    };
    if fits(0) {
        return 0;
    }
    (1..h.len()).rev().find(|&o| fits(o)).unwrap_or(0)
}

/// The innermost addresses and transport in a record's header octets `frame`
/// (from its Ethernet header to the end of its headers), dissected into `d`:
/// the flow a report names. None without an IP layer.
pub(crate) fn innermost_flow(frame: &[u8], d: &mut Dissection) -> Option<Flow> {
    // The octets end before the packet does, so its IP lengths point past
    // them: the walker says so, and reads every layer all the same.
    let _cut = dissect(frame, d);
    let (src, dst) = match d.ips().last()? {
        IpPair::V4 { src, dst } => (IpAddr::V4(src), IpAddr::V4(dst)),
        IpPair::V6 { src, dst } => (IpAddr::V6(src), IpAddr::V6(dst)),
    };
    let t = d.transport;
    Some(Flow {
        src,
        dst,
        proto: t.map_or(0, |t| t.proto),
        src_port: t.map_or(0, |t| t.src_port),
        dst_port: t.map_or(0, |t| t.dst_port),
    })
}

/// Length of the IP packet as its header states it (IPv4 totalLength, IPv6 40 +
/// payloadLength); `None` if `h` does not start with an IP header or states 0
/// (IPv6 jumbogram).
pub(crate) fn stated_len(h: &[u8]) -> Option<u32> {
    let n = match h.first()? >> 4 {
        4 => u32::from(u16::from_be_bytes([*h.get(2)?, *h.get(3)?])),
        6 => match u16::from_be_bytes([*h.get(4)?, *h.get(5)?]) {
            0 => return None,
            p => 40 + u32::from(p),
        },
        _ => return None,
    };
    (n > 0).then_some(n)
}

#[cfg(test)]
mod test {
    use super::*;

    fn v4_tcp(opts: usize) -> Vec<u8> {
        let mut p = vec![0u8; 20 + 20 + opts];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1400u16.to_be_bytes());
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[32] = ((20 + opts) as u8 / 4) << 4;
        p
    }

    #[test]
    fn walks_tcp_with_options() {
        let p = v4_tcp(12);
        let l = walk(&p).unwrap();
        assert_eq!((l.ip.len(), l.end), (20, 52));
        assert_eq!(l.l4, L4::Tcp(&p[20..52]));
        assert_eq!(report_layer(&p, None), 0);
        assert_eq!(stated_len(&p), Some(1400));
    }

    #[test]
    fn flow_is_the_innermost_packet_of_a_tunnel_s_header_octets() {
        use dataplane::synth::Frame;
        use std::net::Ipv4Addr;
        let (subscriber, server) = (Ipv4Addr::new(10, 1, 0, 7), Ipv4Addr::new(203, 0, 113, 9));
        let frame = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2))
            .gtpu(0x1234)
            .ipv4(subscriber, server)
            .tcp(40000, 443)
            .payload(b"payload")
            .build();
        let headers = &frame[..frame.len() - 7];
        let want = Flow {
            src: subscriber.into(),
            dst: server.into(),
            proto: 6,
            src_port: 40000,
            dst_port: 443,
        };
        let mut d = Dissection::default();
        assert_eq!(innermost_flow(headers, &mut d), Some(want));
        assert_eq!(innermost_flow(&frame, &mut d), Some(want));
        assert_eq!(innermost_flow(&frame[..14], &mut d), None);
    }

    #[test]
    fn cut_tcp_header_is_other() {
        let p = v4_tcp(12);
        let l = walk(&p[..40]).unwrap();
        assert_eq!((l.l4, l.end), (L4::Other, 20));
    }

    #[test]
    fn walks_ipv6_extension_headers_to_udp() {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&100u16.to_be_bytes());
        p[6] = 0; // hop-by-hop
        p[40] = 17; // -> UDP, length (0+1)*8
        let l = walk(&p).unwrap();
        assert_eq!((l.v4, l.ip.len(), l.end), (false, 40, 56));
        assert_eq!(l.l4, L4::Udp(&p[48..56]));
        assert_eq!(stated_len(&p), Some(140));
    }

    #[test]
    fn finds_innermost_layer_of_ip_in_ip() {
        let inner = v4_tcp(0);
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[9] = 4;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        p.extend_from_slice(&inner);
        let flow = Flow {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            proto: 6,
            src_port: 0,
            dst_port: 0,
        };
        assert_eq!(report_layer(&p, Some(&flow)), 20);
        assert_eq!(report_layer(&p, None), 20);
    }

    #[test]
    fn rejects_non_ip_and_short() {
        assert!(walk(&[0x45; 10]).is_none());
        assert!(walk(&[0x10; 40]).is_none());
        assert!(walk(&[]).is_none());
        assert_eq!(stated_len(&[0x60; 3]), None);
    }
}
