//! One IP layer of a headers-only report, split where the dataplane found its
//! parts (the hand-off record says where the transport header starts): its IP
//! header, its transport header, and the original length the IP header states.
//!
//! Only header octets are ever looked at (a report's octets end at the end of
//! its layer's transport header): nothing here can reach payload.

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

/// One IP layer: base header (IPv4 with options) and transport header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer<'a> {
    /// The IPv4 header with its options, or the IPv6 base header (40 octets).
    pub ip: &'a [u8],
    /// IPv4 (else IPv6).
    pub v4: bool,
    /// The transport header.
    pub l4: L4<'a>,
}

const UDP_HEADER_LEN: usize = 8;
const TCP_MIN_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// The layer whose headers are `h`, its transport header (of protocol `proto`)
/// at `l4_at`, up to the end of `h`. `None` if `h` does not start with a whole
/// IPv4/IPv6 header ending at or before `l4_at`.
pub(crate) fn layer(h: &[u8], l4_at: usize, proto: u8) -> Option<Layer<'_>> {
    let (v4, ip_len) = match h.first()? >> 4 {
        4 => (true, usize::from(h.first()? & 0x0f) * 4),
        6 => (false, IPV6_HEADER_LEN),
        _ => return None,
    };
    if ip_len < 20 || ip_len > l4_at {
        return None;
    }
    let ip = h.get(..ip_len)?;
    let rest = h.get(l4_at..)?;
    let l4 = match proto {
        6 if rest.len() >= TCP_MIN_LEN => L4::Tcp(rest),
        17 if rest.len() == UDP_HEADER_LEN => L4::Udp(rest),
        _ => L4::Other,
    };
    Some(Layer { ip, v4, l4 })
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
    fn splits_tcp_with_options() {
        let p = v4_tcp(12);
        let l = layer(&p, 20, 6).unwrap();
        assert_eq!(l.ip.len(), 20);
        assert_eq!(l.l4, L4::Tcp(&p[20..52]));
        assert_eq!(stated_len(&p), Some(1400));
    }

    #[test]
    fn cut_tcp_header_is_other() {
        let p = v4_tcp(12);
        assert_eq!(layer(&p[..30], 20, 6).unwrap().l4, L4::Other);
    }

    #[test]
    fn ipv6_extension_headers_are_before_the_transport() {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&100u16.to_be_bytes());
        let l = layer(&p, 48, 17).unwrap();
        assert_eq!((l.v4, l.ip.len()), (false, 40));
        assert_eq!(l.l4, L4::Udp(&p[48..56]));
        assert_eq!(stated_len(&p), Some(140));
    }

    #[test]
    fn rejects_non_ip_short_and_inconsistent() {
        assert!(layer(&[0x45; 10], 20, 6).is_none());
        assert!(layer(&[0x10; 40], 20, 6).is_none());
        assert!(layer(&[], 0, 0).is_none());
        // The transport cannot start inside the IP header.
        assert!(layer(&v4_tcp(0), 12, 6).is_none());
        assert_eq!(stated_len(&[0x60; 3]), None);
    }
}
