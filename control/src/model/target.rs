//! Target identifiers as text ("198.51.100.7", "2001:db8::/48", "02:00:5e:00:53:01",
//! "udp:198.51.100.7:5004", "udp:[2001:db8::7]:5004", "tcp:198.51.100.7:443",
//! "tcp:[2001:db8::7]:443") and the dataplane's [`Target`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::targets::Target;
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Which syntactically valid targets a warrant may name: none that would
/// intercept everyone (a short prefix, a multicast or broadcast group) or no one
/// (the unspecified or loopback address, which no subscriber sends from). Also
/// the `[intercepts]` table of `probe.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetPolicy {
    /// Shortest IPv4 prefix a target may have (1–32).
    pub min_prefix_v4: u8,
    /// Shortest IPv6 prefix a target may have (1–128).
    pub min_prefix_v6: u8,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        Self {
            min_prefix_v4: 8,
            min_prefix_v6: 32,
        }
    }
}

impl TargetPolicy {
    /// Checks the minimums themselves; `Err((key, message))` as the config reports it.
    ///
    /// # Errors
    /// A minimum of 0 (every address) or beyond the address length.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=32).contains(&self.min_prefix_v4) {
            return Err((
                "intercepts.min_prefix_v4",
                format!("{} not in 1..=32", self.min_prefix_v4),
            ));
        }
        if !(1..=128).contains(&self.min_prefix_v6) {
            return Err((
                "intercepts.min_prefix_v6",
                format!("{} not in 1..=128", self.min_prefix_v6),
            ));
        }
        Ok(())
    }

    /// Refuses a target that would intercept everyone or no one; `field` names it.
    ///
    /// # Errors
    /// [`ValidationError::RefusedTarget`] with the reason.
    pub fn check(&self, field: &str, target: &Target) -> Result<(), ValidationError> {
        let reason = match *target {
            Target::Ipv4(a) => ip_class(a.into()).map(|c| refused(c, "address")),
            Target::Ipv6(a) => ip_class(a.into()).map(|c| refused(c, "address")),
            Target::Ipv4Net(_, len) if len < self.min_prefix_v4 => Some(format!(
                "prefix /{len} is shorter than the minimum /{} ([intercepts] min_prefix_v4)",
                self.min_prefix_v4
            )),
            Target::Ipv6Net(_, len) if len < self.min_prefix_v6 => Some(format!(
                "prefix /{len} is shorter than the minimum /{} ([intercepts] min_prefix_v6)",
                self.min_prefix_v6
            )),
            Target::Ipv4Net(a, len) => {
                let last =
                    Ipv4Addr::from(u32::from(a) | u32::MAX.checked_shr(len.into()).unwrap_or(0));
                prefix_class(a.into(), last.into())
            }
            Target::Ipv6Net(a, len) => {
                let last =
                    Ipv6Addr::from(u128::from(a) | u128::MAX.checked_shr(len.into()).unwrap_or(0));
                prefix_class(a.into(), last.into())
            }
            Target::Mac(m) => mac_class(m).map(|c| refused(c, "MAC address")),
            // Port 0 is no endpoint a datagram or segment is sent to or from.
            Target::Ipv4Udp(_, 0) | Target::Ipv6Udp(_, 0) => {
                Some("UDP port 0 (matches no one)".to_owned())
            }
            Target::Ipv4Tcp(_, 0) | Target::Ipv6Tcp(_, 0) => {
                Some("TCP port 0 (matches no one)".to_owned())
            }
            Target::Ipv4Udp(a, _) | Target::Ipv4Tcp(a, _) => {
                ip_class(a.into()).map(|c| refused(c, "address"))
            }
            Target::Ipv6Udp(a, _) | Target::Ipv6Tcp(a, _) => {
                ip_class(a.into()).map(|c| refused(c, "address"))
            }
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(ValidationError::RefusedTarget {
                field: field.to_owned(),
                target: target_to_string(target),
                reason,
            }),
        }
    }
}

/// A refused kind of address and what a target of it would intercept.
type Class = (&'static str, &'static str);

fn refused((kind, effect): Class, what: &str) -> String {
    format!("{kind} {what} ({effect})")
}

fn ip_class(a: IpAddr) -> Option<Class> {
    if a.is_unspecified() {
        Some(("unspecified", "matches no one"))
    } else if a.is_loopback() {
        Some(("loopback", "matches no one on the wire"))
    } else if a.is_multicast() {
        Some(("multicast", "matches every member of a group"))
    } else if matches!(a, IpAddr::V4(v4) if v4.is_broadcast()) {
        Some(("broadcast", "matches everyone"))
    } else {
        None
    }
}

/// A prefix is refused when all of it, `first` to `last`, lies in one refused range.
fn prefix_class(first: IpAddr, last: IpAddr) -> Option<String> {
    ip_class(first)
        .filter(|c| ip_class(last) == Some(*c))
        .map(|c| refused(c, "prefix"))
}

fn mac_class(m: [u8; 6]) -> Option<Class> {
    if m == [0; 6] {
        Some(("all-zero", "matches no one"))
    } else if m == [0xff; 6] {
        Some(("broadcast", "matches everyone"))
    } else if m[0] & 1 == 1 {
        Some(("multicast", "matches every member of a group"))
    } else {
        None
    }
}

/// Text before a UDP endpoint target (`udp:ADDR:PORT`, an IPv6 address in brackets).
const UDP_SCHEME: &str = "udp:";
/// Text before a TCP endpoint target (`tcp:ADDR:PORT`, as [`UDP_SCHEME`]).
const TCP_SCHEME: &str = "tcp:";

/// Parses one target; `field` names it in the error (e.g. `targets[2]`).
///
/// # Errors
/// [`ValidationError::Field`] naming the value: not an IP, CIDR, MAC or UDP/TCP
/// endpoint; prefix out of range; host bits set; port not a number;
/// leading/trailing spaces.
pub fn parse_target(field: &str, text: &str) -> Result<Target, ValidationError> {
    let bad = |why: &str| ValidationError::field(field, format!("{text:?}: {why}"));
    if text.trim() != text || text.is_empty() {
        return Err(bad("empty or surrounded by spaces"));
    }
    if let Some(endpoint) = text.strip_prefix(UDP_SCHEME) {
        return parse_endpoint(endpoint, false).ok_or_else(|| {
            bad("not a UDP endpoint (udp:198.51.100.7:5004 or udp:[2001:db8::7]:5004)")
        });
    }
    if let Some(endpoint) = text.strip_prefix(TCP_SCHEME) {
        return parse_endpoint(endpoint, true).ok_or_else(|| {
            bad("not a TCP endpoint (tcp:198.51.100.7:443 or tcp:[2001:db8::7]:443)")
        });
    }
    if let Some((addr, len)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP prefix"))?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
            return Err(bad("prefix length is not a number"));
        }
        let len: u8 = len
            .parse()
            .map_err(|_| bad("prefix length is not a number"))?;
        return match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return Err(bad("IPv4 prefix length must be 0..=32"));
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                if u32::from(a) & !mask != 0 {
                    return Err(bad("host bits set after the prefix"));
                }
                Ok(Target::Ipv4Net(a, len))
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return Err(bad("IPv6 prefix length must be 0..=128"));
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                if u128::from(a) & !mask != 0 {
                    return Err(bad("host bits set after the prefix"));
                }
                Ok(Target::Ipv6Net(a, len))
            }
        };
    }
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Ok(Target::Ipv4(a));
    }
    if let Ok(a) = text.parse::<Ipv6Addr>() {
        return Ok(Target::Ipv6(a));
    }
    parse_mac(text)
        .map(Target::Mac)
        .ok_or_else(|| bad("not an IPv4/IPv6 address, CIDR prefix or MAC address"))
}

/// `198.51.100.7:5004` or `[2001:db8::7]:5004`: an address and a decimal port
/// (no sign, at most 5 digits; 0 parses, the policy refuses it); a TCP
/// endpoint if `tcp`, else a UDP one.
fn parse_endpoint(text: &str, tcp: bool) -> Option<Target> {
    let (addr, port) = text.rsplit_once(':')?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let addr = match addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse().ok()?),
        None => IpAddr::V4(addr.parse().ok()?),
    };
    Some(endpoint_target(addr, port, tcp))
}

/// The endpoint target of `addr` and `port`: TCP if `tcp`, else UDP.
#[must_use]
pub fn endpoint_target(addr: IpAddr, port: u16, tcp: bool) -> Target {
    match (addr, tcp) {
        (IpAddr::V4(a), false) => Target::Ipv4Udp(a, port),
        (IpAddr::V6(a), false) => Target::Ipv6Udp(a, port),
        (IpAddr::V4(a), true) => Target::Ipv4Tcp(a, port),
        (IpAddr::V6(a), true) => Target::Ipv6Tcp(a, port),
    }
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, hex digits in either case.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Canonical text of a target: what [`parse_target`] reads back to the same value,
/// and what the store and the API use (lower-case MAC with colons, compressed IPv6).
#[must_use]
pub fn target_to_string(target: &Target) -> String {
    match target {
        Target::Ipv4(a) => a.to_string(),
        Target::Ipv6(a) => a.to_string(),
        Target::Ipv4Net(a, l) => format!("{a}/{l}"),
        Target::Ipv6Net(a, l) => format!("{a}/{l}"),
        Target::Mac(m) => format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ),
        Target::Ipv4Udp(a, p) => format!("{UDP_SCHEME}{a}:{p}"),
        Target::Ipv6Udp(a, p) => format!("{UDP_SCHEME}[{a}]:{p}"),
        Target::Ipv4Tcp(a, p) => format!("{TCP_SCHEME}{a}:{p}"),
        Target::Ipv6Tcp(a, p) => format!("{TCP_SCHEME}[{a}]:{p}"),
    }
}
