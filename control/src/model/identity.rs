//! Subscriber identities a warrant may name instead of an address
//! (`username:alice@isp.example`, `dhcp-client-mac:02:00:5e:00:53:01`, ...):
//! the session tracker binds them to the addresses RADIUS and DHCP hand out.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// Longest identity value, in bytes (RADIUS attributes carry at most 253).
pub const MAX_IDENTITY_LEN: usize = 253;

/// What kind of subscriber identity a target names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// RADIUS User-Name (`alice` or `alice@realm`; the realm compares case-insensitively).
    Username,
    /// RADIUS Calling-Station-Id.
    CallingStationId,
    /// RADIUS NAS-Port-Id with the NAS identity: `<nas-identifier>/<nas-port-id>`.
    NasPortId,
    /// DHCPv4 client hardware address (chaddr) or DHCPv6 link-layer address.
    DhcpClientMac,
    /// DHCPv4 relay agent information (option 82) circuit id, hex.
    DhcpCircuitId,
    /// DHCPv4 relay agent information (option 82) remote id, hex.
    DhcpRemoteId,
    /// DHCPv4 client identifier (option 61), hex.
    DhcpClientId,
    /// DHCPv6 client DUID, hex.
    Dhcpv6Duid,
    /// A static customer's identifier in the probe's static assignment table.
    SubscriberId,
    /// A SIP address of record, `user@host` (from a `sip:`/`sips:` URI; one
    /// whose user is a telephone number is a [`IdentityKind::Tel`]).
    Sip,
    /// A telephone number in E.164 form, `+` and digits (`tel:` URI, E.164
    /// number, SIP URI with `user=phone`).
    Tel,
}

impl IdentityKind {
    /// Every kind, in the order of their text prefixes' documentation.
    pub const ALL: [IdentityKind; 11] = [
        Self::Username,
        Self::CallingStationId,
        Self::NasPortId,
        Self::DhcpClientMac,
        Self::DhcpCircuitId,
        Self::DhcpRemoteId,
        Self::DhcpClientId,
        Self::Dhcpv6Duid,
        Self::SubscriberId,
        Self::Sip,
        Self::Tel,
    ];

    /// The text prefix (before the first `:`) of an identity target.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::CallingStationId => "calling-station-id",
            Self::NasPortId => "nas-port-id",
            Self::DhcpClientMac => "dhcp-client-mac",
            Self::DhcpCircuitId => "dhcp-circuit-id",
            Self::DhcpRemoteId => "dhcp-remote-id",
            Self::DhcpClientId => "dhcp-client-id",
            Self::Dhcpv6Duid => "dhcpv6-duid",
            Self::SubscriberId => "subscriber-id",
            Self::Sip => "sip",
            Self::Tel => "tel",
        }
    }

    /// Whether it names a party of calls (followed by the voice tracker) rather
    /// than a subscriber of access sessions.
    #[must_use]
    pub fn is_voice(self) -> bool {
        matches!(self, Self::Sip | Self::Tel)
    }
}

/// One subscriber identity, its value in canonical form (so equal identities
/// compare and hash equal): see [`Identity::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    kind: IdentityKind,
    value: String,
}

impl Identity {
    /// An identity from its kind and a value as seen on the wire or typed by
    /// an operator, canonicalised: a username's realm lower-cased, MACs as
    /// lower-case colon-separated hex, hex identifiers lower-case without separators.
    ///
    /// # Errors
    /// [`ValidationError::Field`] naming `field`: empty, too long, control
    /// characters, not hex or not a MAC where one is required.
    pub fn new(field: &str, kind: IdentityKind, value: &str) -> Result<Self, ValidationError> {
        let bad = |why: &str| {
            ValidationError::field(field, format!("{} {value:?}: {why}", kind.as_str()))
        };
        if value.is_empty() || value.len() > MAX_IDENTITY_LEN {
            return Err(bad("must be 1 to 253 bytes"));
        }
        if value.chars().any(char::is_control) {
            return Err(bad("contains control characters"));
        }
        if value.trim() != value {
            return Err(bad("surrounded by spaces"));
        }
        let value = match kind {
            IdentityKind::Username => match value.rsplit_once('@') {
                Some((user, realm)) if !user.is_empty() && !realm.is_empty() => {
                    format!("{user}@{}", realm.to_ascii_lowercase())
                }
                Some(_) => return Err(bad("empty user or realm around '@'")),
                None => value.to_owned(),
            },
            IdentityKind::DhcpClientMac => {
                canonical_mac(value).ok_or_else(|| bad("not a MAC address"))?
            }
            IdentityKind::DhcpCircuitId
            | IdentityKind::DhcpRemoteId
            | IdentityKind::DhcpClientId
            | IdentityKind::Dhcpv6Duid => {
                canonical_hex(value).ok_or_else(|| bad("not hex octets"))?
            }
            IdentityKind::NasPortId => match value.split_once('/') {
                Some((nas, port)) if !nas.is_empty() && !port.is_empty() => value.to_owned(),
                _ => return Err(bad("must be <nas-identifier>/<nas-port-id>")),
            },
            IdentityKind::CallingStationId | IdentityKind::SubscriberId => value.to_owned(),
            IdentityKind::Sip => return sip_identity(value).map_err(bad),
            IdentityKind::Tel => canonical_tel(value).ok_or_else(|| bad(TEL_FORM))?,
        };
        Ok(Self { kind, value })
    }

    /// An identity from the raw octets of a wire field that holds binary data
    /// (circuit id, remote id, client id, DUID) or a MAC address.
    ///
    /// # Errors
    /// Empty or longer than [`MAX_IDENTITY_LEN`] octets.
    pub fn from_octets(kind: IdentityKind, octets: &[u8]) -> Result<Self, ValidationError> {
        let hex = if kind == IdentityKind::DhcpClientMac {
            octets
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        } else {
            hex::encode(octets)
        };
        Self::new(kind.as_str(), kind, &hex)
    }

    /// Parses a target `kind:value`; `None` if `text` starts with no identity kind
    /// (it may then be an address target).
    ///
    /// # Errors
    /// A known kind with an invalid value (see [`Identity::new`]).
    pub fn parse(field: &str, text: &str) -> Option<Result<Self, ValidationError>> {
        let (prefix, value) = text.split_once(':')?;
        // An E.164 number (X1's e164Number: digits only) is a tel: number.
        if prefix == "e164" {
            let number = format!("+{}", value.strip_prefix('+').unwrap_or(value));
            return Some(Self::new(field, IdentityKind::Tel, &number));
        }
        let kind = IdentityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == prefix)?;
        Some(Self::new(field, kind, value))
    }

    /// The voice identity a URI seen in SIP names (`sip:`, `sips:` or `tel:`,
    /// with or without display name, angle brackets and parameters), in the
    /// canonical form of a `sip:`/`tel:` target; `None` if it names none.
    #[must_use]
    pub fn from_sip_uri(uri: &str) -> Option<Self> {
        let uri = uri.trim();
        // name-addr: the URI is what the brackets hold; an addr-spec keeps its
        // parameters (a proxy may write `sip:+1...@gw;user=phone` without brackets).
        let uri = match uri.split_once('<') {
            Some((_, bracketed)) => bracketed.split_once('>')?.0,
            None => uri,
        };
        let (scheme, rest) = uri.split_once(':')?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "sip" | "sips" => IdentityKind::Sip,
            "tel" => IdentityKind::Tel,
            _ => return None,
        };
        Self::new("uri", kind, rest).ok()
    }

    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    /// Its canonical value.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the identity `seen` in signalling is the subscriber this target
    /// names: same kind and same canonical value. No wildcard: a `username`
    /// without realm matches only that user name without realm, one with a
    /// realm only that user at that realm (the realm in any case).
    #[must_use]
    pub fn matches(&self, seen: &Identity) -> bool {
        self == seen
    }
}

/// As its text `kind:value`.
impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From its text `kind:value`, validated and canonicalised.
impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match Identity::parse("identity", &text) {
            Some(r) => r.map_err(serde::de::Error::custom),
            None => Err(serde::de::Error::custom(format!(
                "{text:?} is not kind:value with a known identity kind"
            ))),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

const TEL_FORM: &str = "must be a global number: + and 1 to 15 digits (separators -.() allowed)";

/// A `tel:` global number (RFC 3966; parameters dropped) as `+` and its
/// digits, visual separators removed. Local numbers are refused: they name no
/// one without their context.
fn canonical_tel(text: &str) -> Option<String> {
    let number = text.split(';').next()?.strip_prefix('+')?;
    let digits: String = number
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    ((1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{digits}"))
}

/// The identity a SIP URI without its scheme names (RFC 3261 §19.1):
/// `user@host`, host lower-case, port, password, parameters and headers
/// dropped; a telephone-number user with `user=phone` is a telephone number.
fn sip_identity(text: &str) -> Result<Identity, &'static str> {
    const FORM: &str = "must be user@host";
    let (userinfo, rest) = text.split_once('@').ok_or(FORM)?;
    let rest = rest.split('?').next().unwrap_or_default();
    let mut parts = rest.split(';');
    let hostport = parts.next().unwrap_or_default();
    let phone = parts.any(|p| p.eq_ignore_ascii_case("user=phone"));
    // The user of a telephone-subscriber may carry its own ;parameters.
    let user = userinfo.split(':').next().unwrap_or_default();
    if phone {
        if let Some(value) = canonical_tel(user) {
            return Ok(Identity {
                kind: IdentityKind::Tel,
                value,
            });
        }
    }
    let host = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (inner, _) = v6.split_once(']').ok_or("unclosed [ in host")?;
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err("host is not an IPv6 reference");
            }
            format!("[{}]", inner.to_ascii_lowercase())
        }
        None => hostport
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    };
    let host_ok = host.starts_with('[')
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if user.is_empty() || host.is_empty() || !host_ok {
        return Err(FORM);
    }
    if user
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b"<>\"".contains(&b))
    {
        return Err("user contains white space, quotes or brackets");
    }
    Ok(Identity {
        kind: IdentityKind::Sip,
        value: format!("{user}@{host}"),
    })
}

fn canonical_mac(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        let lower = digits.to_ascii_lowercase();
        lower
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    })
}

fn canonical_hex(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .collect();
    (!digits.is_empty()
        && digits.len().is_multiple_of(2)
        && digits.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| digits.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Identity, ValidationError> {
        Identity::parse("t", text).unwrap()
    }

    #[test]
    fn canonical_forms() {
        for (text, canonical) in [
            ("username:alice", "username:alice"),
            ("username:Alice@ISP.Example", "username:Alice@isp.example"),
            ("username:a@b@Realm", "username:a@b@realm"),
            ("calling-station-id:02-00-5E", "calling-station-id:02-00-5E"),
            ("nas-port-id:bras1/eth 0/1", "nas-port-id:bras1/eth 0/1"),
            (
                "dhcp-client-mac:02-00-5E-00-53-01",
                "dhcp-client-mac:02:00:5e:00:53:01",
            ),
            (
                "dhcp-client-mac:0200.5e00.5301",
                "dhcp-client-mac:02:00:5e:00:53:01",
            ),
            ("dhcp-circuit-id:AB:cd", "dhcp-circuit-id:abcd"),
            ("dhcp-remote-id:01 02", "dhcp-remote-id:0102"),
            ("dhcp-client-id:01-02-00-5e", "dhcp-client-id:0102005e"),
            (
                "dhcpv6-duid:0003000102005E005301",
                "dhcpv6-duid:0003000102005e005301",
            ),
            ("subscriber-id:ACME Corp", "subscriber-id:ACME Corp"),
            ("sip:alice@Example.COM", "sip:alice@example.com"),
            (
                "sip:Alice@example.com:5061;transport=tls",
                "sip:Alice@example.com",
            ),
            ("sip:bob@[2001:DB8::1]:5060", "sip:bob@[2001:db8::1]"),
            (
                "sip:+1-555-123-4567@gw.example;user=phone",
                "tel:+15551234567",
            ),
            ("sip:+15551234567@gw.example", "sip:+15551234567@gw.example"),
            ("tel:+1-555-123-4567", "tel:+15551234567"),
            ("tel:+1 (555) 123.4567;phone-context=x", "tel:+15551234567"),
            ("e164:15551234567", "tel:+15551234567"),
            ("e164:+15551234567", "tel:+15551234567"),
        ] {
            let id = parse(text).unwrap();
            assert_eq!(id.to_string(), canonical, "{text}");
            assert_eq!(parse(canonical).unwrap(), id, "{canonical} reads back");
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), id);
        }
    }

    #[test]
    fn refusals_name_the_field_and_kind() {
        for text in [
            "username:",
            "username:@realm",
            "username:alice@",
            "username:al\nice",
            "dhcp-client-mac:02:00:5e:00:53",
            "dhcp-client-mac:zz:00:5e:00:53:01",
            "dhcp-circuit-id:abc",
            "dhcp-remote-id:xy",
            "dhcpv6-duid:",
            "nas-port-id:bras1",
            "nas-port-id:/1",
            "nas-port-id:bras1/",
            "username: alice",
            "sip:example.com",
            "sip:@example.com",
            "sip:alice@",
            "sip:alice@exa mple.com",
            "sip:alice@[2001:db8::1",
            "sip:\"alice\"@example.com",
            "tel:5551234",
            "tel:+",
            "tel:+1555123456789012",
            "tel:+1-555-CALL-NOW",
            "e164:12ab",
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code(), "invalid_field", "{text}");
            let kind = text.split(':').next().unwrap().replace("e164", "tel");
            assert!(e.to_string().starts_with("t: "), "{e}");
            assert!(e.to_string().contains(&kind), "{e}");
        }
        let long = format!("username:{}", "a".repeat(MAX_IDENTITY_LEN + 1));
        assert!(parse(&long).is_err());
        assert!(parse(&format!("username:{}", "a".repeat(MAX_IDENTITY_LEN))).is_ok());
        assert!(serde_json::from_str::<Identity>(r#""imsi:001""#).is_err());
    }

    #[test]
    fn addresses_are_not_identities() {
        for text in [
            "198.51.100.7",
            "2001:db8::1",
            "2001:db8::/32",
            "02:00:5e:00:53:01",
            "user:x",
        ] {
            assert!(Identity::parse("t", text).is_none(), "{text}");
        }
    }

    #[test]
    fn from_octets_matches_typed_forms() {
        let mac = Identity::from_octets(IdentityKind::DhcpClientMac, &[2, 0, 0x5e, 0, 0x53, 1]);
        assert_eq!(
            mac.unwrap(),
            parse("dhcp-client-mac:02-00-5E-00-53-01").unwrap()
        );
        let duid = Identity::from_octets(IdentityKind::Dhcpv6Duid, &[0, 3, 0xAB]);
        assert_eq!(duid.unwrap(), parse("dhcpv6-duid:0003AB").unwrap());
        assert!(Identity::from_octets(IdentityKind::DhcpClientId, &[]).is_err());
    }

    #[test]
    fn sip_header_uris_normalise_like_targets() {
        let alice = parse("sip:alice@example.com").unwrap();
        let tel = parse("tel:+15551234567").unwrap();
        for (uri, expected) in [
            (
                "\"Alice\" <sip:alice@Example.COM;transport=udp>;tag=x",
                Some(&alice),
            ),
            ("<sips:alice@example.com>", Some(&alice)),
            ("Alice <SIP:alice@EXAMPLE.com:5060>", Some(&alice)),
            ("sip:alice@example.com", Some(&alice)),
            (
                "<tel:+1-555-123-4567;phone-context=example.com>",
                Some(&tel),
            ),
            ("sip:+15551234567@gw.example;user=phone", Some(&tel)),
            (
                "<sip:+1.555.123.4567;npdi@gw.example;user=phone>;tag=9",
                Some(&tel),
            ),
            ("<mailto:alice@example.com>", None),
            ("<sip:alice@example.com", None),
            ("sip:example.com", None),
            ("*", None),
        ] {
            assert_eq!(Identity::from_sip_uri(uri).as_ref(), expected, "{uri}");
        }
        assert!(IdentityKind::Sip.is_voice() && IdentityKind::Tel.is_voice());
        assert!(!IdentityKind::Username.is_voice());
    }

    #[test]
    fn matching_is_exact_on_canonical_values() {
        let warrant = parse("username:alice").unwrap();
        assert!(warrant.matches(&parse("username:alice").unwrap()));
        assert!(!warrant.matches(&parse("username:alice@isp.example").unwrap()));
        assert!(!warrant.matches(&parse("username:Alice").unwrap()));
        assert!(!warrant.matches(&parse("calling-station-id:alice").unwrap()));
        let realm = parse("username:alice@isp.example").unwrap();
        assert!(realm.matches(&parse("username:alice@ISP.EXAMPLE").unwrap()));
        assert!(!realm.matches(&parse("username:alice").unwrap()));
        let mac = parse("dhcp-client-mac:02:00:5e:00:53:01").unwrap();
        assert!(mac.matches(&parse("dhcp-client-mac:0200.5E00.5301").unwrap()));
    }
}
