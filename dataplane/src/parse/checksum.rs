//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers. Used to
//! build headers and to verify them in tests. The packet path verifies none,
//! except an IPv4 header's to tell it from an Ethernet pseudowire's frame when
//! its lengths do not settle it ([`super::mpls::payload`]).

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` as big-endian 16-bit words (odd tail padded with 0),
/// added to `acc`. Not yet folded.
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let &[a, b] = c {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([a, b])));
        }
    }
    if let &[a] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([a, 0])));
    }
    acc
}

/// Folds a sum to 16 bits and complements it: the value to store in a checksum field.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // Truncation is exact after folding.
    !(acc as u16)
}

/// Checksum of `data` alone (IPv4 header, ICMPv4, GRE).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// Unfolded sum of the IPv4 pseudo-header for upper-layer protocol `proto`.
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u32) -> u32 {
    let acc = sum(sum(0, &src.octets()), &dst.octets());
    acc.wrapping_add(u32::from(proto))
        .wrapping_add(len >> 16)
        .wrapping_add(len & 0xffff)
}

/// Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1).
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: u32) -> u32 {
    let acc = sum(sum(0, &src.octets()), &dst.octets());
    acc.wrapping_add(u32::from(proto))
        .wrapping_add(len >> 16)
        .wrapping_add(len & 0xffff)
}

#[cfg(test)]
mod test {
    use super::*;

    // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    static RFC1071: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    #[test]
    fn matches_rfc1071_example() {
        assert_eq!(checksum(&RFC1071), !0xddf2);
    }

    #[test]
    fn data_with_its_checksum_sums_to_zero() {
        let mut data = RFC1071.to_vec();
        data.extend_from_slice(&checksum(&RFC1071).to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            checksum(&[0x12, 0x34, 0x56]),
            checksum(&[0x12, 0x34, 0x56, 0x00])
        );
    }
}
