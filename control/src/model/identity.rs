//! Subscriber identities a warrant may name instead of an address
//! (`username:alice@isp.example`, `dhcp-client-mac:02:00:5e:00:53:01`, ...):
//! the session tracker binds them to the addresses RADIUS and DHCP hand out.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

impl IdentityKind {
    /// Every kind, in the order of their text prefixes' documentation.
    pub const ALL: [IdentityKind; 9] = [
        Self::Username,
        Self::CallingStationId,
        Self::NasPortId,
        Self::DhcpClientMac,
        Self::DhcpCircuitId,
        Self::DhcpRemoteId,
        Self::DhcpClientId,
        Self::Dhcpv6Duid,
        Self::SubscriberId,
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
        }
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
        let kind = IdentityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == prefix)?;
        Some(Self::new(field, kind, value))
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
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
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
