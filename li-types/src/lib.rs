//! The intercept vocabulary both planes speak: what a warrant names and allows,
//! where a worker keeps it, and what a packet matched. Kept apart from the
//! dataplane so the control plane's model, encoders and collector build and test
//! on a machine without libdpdk; `dataplane::targets` re-exports all of it.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a warrant lets the probe deliver for an intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Communication-identifying information only (pen register / trap and trace):
    /// headers up to the end of the transport header, never a payload byte.
    Headers,
    /// Identifying information plus full content.
    Content,
}

/// Direction of a matched packet relative to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The target is the packet's source.
    FromTarget,
    /// The target is the packet's destination.
    ToTarget,
    /// Both source and destination are targets of the same intercept.
    Both,
}

/// One identifier a warrant names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One IPv4 address.
    Ipv4(Ipv4Addr),
    /// One IPv6 address.
    Ipv6(Ipv6Addr),
    /// An IPv4 prefix; host bits must be zero.
    Ipv4Net(Ipv4Addr, u8),
    /// An IPv6 prefix; host bits must be zero.
    Ipv6Net(Ipv6Addr, u8),
    /// A MAC address (matches source or destination of any Ethernet layer).
    Mac([u8; 6]),
    /// A UDP endpoint on IPv4: matches a UDP datagram whose source or
    /// destination is this address and port (a call's media). The datagram is
    /// the one the frame's innermost IP layer carries, in any encapsulation
    /// (a tunnel's own UDP header, VXLAN's or GTP-U's, is not looked at). A
    /// non-first IP fragment carries no UDP header and never matches; TCP
    /// never does.
    Ipv4Udp(Ipv4Addr, u16),
    /// A UDP endpoint on IPv6 (see [`Target::Ipv4Udp`]).
    Ipv6Udp(Ipv6Addr, u16),
    /// A TCP endpoint on IPv4: matches a TCP segment whose source or
    /// destination is this address and port, in the innermost IP layer as
    /// for [`Target::Ipv4Udp`] (a non-first fragment never matches; UDP
    /// never does).
    Ipv4Tcp(Ipv4Addr, u16),
    /// A TCP endpoint on IPv6 (see [`Target::Ipv4Tcp`]).
    Ipv6Tcp(Ipv6Addr, u16),
}

impl Target {
    /// An endpoint target's address, port and whether it is TCP (else UDP);
    /// `None` for any other target.
    pub fn endpoint(self) -> Option<(IpAddr, u16, bool)> {
        match self {
            Target::Ipv4Udp(a, p) => Some((a.into(), p, false)),
            Target::Ipv6Udp(a, p) => Some((a.into(), p, false)),
            Target::Ipv4Tcp(a, p) => Some((a.into(), p, true)),
            Target::Ipv6Tcp(a, p) => Some((a.into(), p, true)),
            Target::Ipv4(_)
            | Target::Ipv6(_)
            | Target::Ipv4Net(..)
            | Target::Ipv6Net(..)
            | Target::Mac(_) => None,
        }
    }
}

/// Index of an intercept in every worker's intercept array. Chosen by the control
/// plane; a slot is reused only after its intercept was cleared on every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// What a worker needs to know about an intercept to match and tag packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterceptSpec {
    /// Control-plane key of the intercept, unique for the life of the probe's
    /// database and never reused: records carry it, so a reused slot can never
    /// attribute a packet to the wrong warrant.
    pub key: u32,
    /// Headers or content.
    pub mode: Mode,
    /// First nanosecond (Unix epoch, UTC) a packet may be delivered.
    pub valid_from_ns: u64,
    /// First nanosecond at which packets are no longer delivered (exclusive end).
    pub valid_until_ns: u64,
}

impl InterceptSpec {
    /// An intercept whose window never closes (benchmarks, tests, replays).
    pub fn always_open(key: u32, mode: Mode) -> Self {
        InterceptSpec {
            key,
            mode,
            valid_from_ns: 0,
            valid_until_ns: u64::MAX,
        }
    }
}

/// Most IP layers recorded per frame (outer + tunnelled inner ones).
pub const MAX_IP_LAYERS: usize = 4;
/// Most Ethernet layers recorded per frame (outer + ERSPAN/VXLAN inner ones).
pub const MAX_ETH_LAYERS: usize = 3;

/// The layer of a frame a match was made on, by its index among the frame's
/// layers of that kind (dataplane's `Dissection::macs`, `Dissection::ips`),
/// outermost first. Ordered so that the one to deliver of two is the greater: an IP
/// layer before an Ethernet one, an inner one before an outer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// An Ethernet header's MAC address.
    Ethernet(u8),
    /// An IP header's address.
    Ip(u8),
}

impl Layer {
    /// Every layer a dissection can hold.
    pub const ALL: [Layer; MAX_ETH_LAYERS + MAX_IP_LAYERS] = {
        let mut all = [Layer::Ip(0); MAX_ETH_LAYERS + MAX_IP_LAYERS];
        let mut i = 0;
        while i < MAX_ETH_LAYERS {
            all[i] = Layer::Ethernet(i as u8);
            i += 1;
        }
        while i < MAX_ETH_LAYERS + MAX_IP_LAYERS {
            all[i] = Layer::Ip((i - MAX_ETH_LAYERS) as u8);
            i += 1;
        }
        all
    };

    /// This layer's place in [`Layer::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Layer::Ethernet(i) => i as usize,
            Layer::Ip(i) => MAX_ETH_LAYERS + i as usize,
        }
    }
}

/// One intercept a packet matched: what the control plane needs to encode and route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    /// Intercept key (never reused), so a record is never attributed to the wrong warrant.
    pub key: u32,
    /// What the warrant allows to deliver.
    pub mode: Mode,
    /// Which side of the packet is the target.
    pub direction: Direction,
    /// The layer the target was found in (the innermost, if in several).
    pub layer: Layer,
}

#[cfg(test)]
mod test {
    use super::Layer;

    #[test]
    fn a_layer_index_is_its_place_in_all() {
        for (i, layer) in Layer::ALL.iter().enumerate() {
            assert_eq!(layer.index(), i, "{layer:?}");
        }
    }
}
