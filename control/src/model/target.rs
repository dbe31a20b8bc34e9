//! Target identifiers as text ("198.51.100.7", "2001:db8::/48", "02:00:5e:00:53:01")
//! and the dataplane's [`Target`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::targets::Target;

use super::ValidationError;

/// Parses one target; `field` names it in the error (e.g. `targets[2]`).
///
/// # Errors
/// [`ValidationError::Field`] naming the value: not an IP, CIDR or MAC; prefix out
/// of range; host bits set; leading/trailing spaces.
pub fn parse_target(field: &str, text: &str) -> Result<Target, ValidationError> {
    let bad = |why: &str| ValidationError::field(field, format!("{text:?}: {why}"));
    if text.trim() != text || text.is_empty() {
        return Err(bad("empty or surrounded by spaces"));
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
    }
}

/// Serde adapter: a list of targets as a list of canonical strings.
pub mod target_strings {
    use dataplane::targets::Target;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes canonical strings.
    ///
    /// # Errors
    /// Whatever the serializer returns.
    pub fn serialize<S: Serializer>(targets: &[Target], s: S) -> Result<S::Ok, S::Error> {
        targets
            .iter()
            .map(super::target_to_string)
            .collect::<Vec<_>>()
            .serialize(s)
    }

    /// Reads and validates strings.
    ///
    /// # Errors
    /// A serde error carrying the validation message.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Target>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| super::parse_target(&format!("targets[{i}]"), t))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}
