//! X1 messages (ETSI TS 103 221-1 clause 6) as typed values: the request
//! container read strictly against the schema's structure, types, patterns and
//! enumerations (anything else is a syntax/schema error and nothing is acted
//! on), and both containers written. The client reads responses and writes
//! requests with the same code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::targets::Target;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{ErrorCode, X1Error};
use super::xml::{self, Node, Writer, XSI_NS};
use crate::model::{parse_target, Identity, IdentityKind, ValidationError};

/// Namespace of the X1 schema (TS_103_221_01.xsd).
pub const X1_NS: &str = "http://uri.etsi.org/03221/X1/2017/10";
/// Namespace of the common types (TS_103_280.xsd).
pub const COMMON_NS: &str = "http://uri.etsi.org/03280/common/2017/07";

/// The request types of the schema's `RequestMessageType` that this NE reads;
/// the others are answered "unsupported request".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ActivateTask`.
    ActivateTask,
    /// `ModifyTask`.
    ModifyTask,
    /// `DeactivateTask`.
    DeactivateTask,
    /// `DeactivateAllTasks`.
    DeactivateAllTasks,
    /// `GetTaskDetails`.
    GetTaskDetails,
    /// `CreateDestination`.
    CreateDestination,
    /// `ModifyDestination`.
    ModifyDestination,
    /// `RemoveDestination`.
    RemoveDestination,
    /// `RemoveAllDestinations`.
    RemoveAllDestinations,
    /// `GetDestinationDetails`.
    GetDestinationDetails,
    /// `GetNEStatus`.
    GetNeStatus,
    /// `GetAllDetails`.
    GetAllDetails,
    /// `GetAllTaskDetails`.
    GetAllTaskDetails,
    /// `GetAllDestinationDetails`.
    GetAllDestinationDetails,
    /// `ListAllDetails`.
    ListAllDetails,
    /// `Ping`.
    Ping,
    /// `Keepalive`.
    Keepalive,
    /// A request type of the schema this NE does not implement (its name).
    Unsupported(&'static str),
}

const KINDS: &[Kind] = &[
    Kind::ActivateTask,
    Kind::ModifyTask,
    Kind::DeactivateTask,
    Kind::DeactivateAllTasks,
    Kind::GetTaskDetails,
    Kind::CreateDestination,
    Kind::ModifyDestination,
    Kind::RemoveDestination,
    Kind::RemoveAllDestinations,
    Kind::GetDestinationDetails,
    Kind::GetNeStatus,
    Kind::GetAllDetails,
    Kind::GetAllTaskDetails,
    Kind::GetAllDestinationDetails,
    Kind::ListAllDetails,
    Kind::Ping,
    Kind::Keepalive,
];

/// Request types of the schema that an NE may decline (reports flow NE→ADMF;
/// generic objects are not used by this NE).
const UNSUPPORTED: &[&str] = &[
    "GetAllGenericObjectDetails",
    "ReportTaskIssue",
    "ReportDestinationIssue",
    "ReportNEIssue",
    "CreateObject",
    "ModifyObject",
    "GetObject",
    "DeleteObject",
    "ListObjectsOfType",
    "DeleteAllObjects",
];

impl Kind {
    /// The `RequestMessageType` value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActivateTask => "ActivateTask",
            Self::ModifyTask => "ModifyTask",
            Self::DeactivateTask => "DeactivateTask",
            Self::DeactivateAllTasks => "DeactivateAllTasks",
            Self::GetTaskDetails => "GetTaskDetails",
            Self::CreateDestination => "CreateDestination",
            Self::ModifyDestination => "ModifyDestination",
            Self::RemoveDestination => "RemoveDestination",
            Self::RemoveAllDestinations => "RemoveAllDestinations",
            Self::GetDestinationDetails => "GetDestinationDetails",
            Self::GetNeStatus => "GetNEStatus",
            Self::GetAllDetails => "GetAllDetails",
            Self::GetAllTaskDetails => "GetAllTaskDetails",
            Self::GetAllDestinationDetails => "GetAllDestinationDetails",
            Self::ListAllDetails => "ListAllDetails",
            Self::Ping => "Ping",
            Self::Keepalive => "Keepalive",
            Self::Unsupported(name) => name,
        }
    }

    /// The kind whose request `xsi:type` is `type_name` (e.g. `PingRequest`).
    fn from_request_type(type_name: &str) -> Option<Self> {
        let base = type_name.strip_suffix("Request")?;
        KINDS
            .iter()
            .copied()
            .find(|k| k.as_str() == base)
            .or_else(|| {
                UNSUPPORTED
                    .iter()
                    .find(|u| **u == base)
                    .map(|u| Self::Unsupported(u))
            })
    }
}

/// The five fields every request carries (clause 6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `admfIdentifier` (whitespace-collapsed token).
    pub admf: String,
    /// `neIdentifier`.
    pub ne: String,
    /// `messageTimestamp`.
    pub timestamp: OffsetDateTime,
    /// `version` (`v1.x.y`).
    pub version: String,
    /// `x1TransactionId`: echoed in the response.
    pub transaction: Uuid,
}

/// `DeliveryType`: what a task delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryType {
    /// IRI only (the probe's "headers").
    X2Only,
    /// Content only (the probe delivers content with its IRI: "content").
    X3Only,
    /// Both ("content").
    X2AndX3,
}

impl DeliveryType {
    /// Reads the schema's value.
    ///
    /// # Errors
    /// Anything but `X2Only`, `X3Only`, `X2andX3`.
    pub fn parse(text: &str) -> Result<Self, X1Error> {
        match text {
            "X2Only" => Ok(Self::X2Only),
            "X3Only" => Ok(Self::X3Only),
            "X2andX3" => Ok(Self::X2AndX3),
            other => Err(X1Error::schema(format!(
                "deliveryType {other:?} is not X2Only, X3Only or X2andX3"
            ))),
        }
    }

    /// The schema's value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X2Only => "X2Only",
            Self::X3Only => "X3Only",
            Self::X2AndX3 => "X2andX3",
        }
    }
}

/// One `targetIdentifier`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetIdentifier {
    /// `ipv4Address`.
    Ipv4(Ipv4Addr),
    /// `ipv6Address`.
    Ipv6(Ipv6Addr),
    /// `ipv4Cidr` / `ipv6Cidr` (the schema's IPCIDR may hold either family).
    Cidr(IpAddr, u8),
    /// `macAddress`.
    Mac([u8; 6]),
    /// `nai` (TS 103 280 NAI): a RADIUS User-Name, the probe's `username:` target.
    Nai(String),
    /// `sipUri` (TS 103 280 SIPURI, `sip:`/`sips:`): the probe's `sip:` target.
    SipUri(String),
    /// `telUri` (TS 103 280 TELURI, `tel:`): the probe's `tel:` target.
    TelUri(String),
    /// `e164Number` (TS 103 280 InternationalE164, digits without `+`): a `tel:` target.
    E164(String),
    /// `tcpPort`, `tcpPortRange`, `tcpPortList` (`tcp`) or their `udp`
    /// twins: ports the task's addresses are intercepted on (each address
    /// with each port, an endpoint target), never a target alone.
    Ports {
        /// TCP ports, else UDP ones.
        tcp: bool,
        /// Which.
        ports: Ports,
    },
    /// A valid identifier of a type the probe cannot intercept on (element name).
    Unsupported(&'static str),
}

/// Ports as one `TargetIdentifier` names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    /// `tcpPort` / `udpPort`.
    One(u16),
    /// `tcpPortRange` / `udpPortRange`: `start..=end` (none if `end < start`).
    Range(u16, u16),
    /// `tcpPortList` / `udpPortList`.
    List(Vec<u16>),
}

impl Ports {
    /// How many ports it names (duplicates counted).
    #[must_use]
    pub fn count(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Range(start, end) => (usize::from(*end) + 1).saturating_sub(usize::from(*start)),
            Self::List(l) => l.len(),
        }
    }

    /// Every port it names.
    pub fn iter(&self) -> Box<dyn Iterator<Item = u16> + '_> {
        match self {
            Self::One(p) => Box::new(std::iter::once(*p)),
            Self::Range(start, end) => Box::new(*start..=*end),
            Self::List(l) => Box::new(l.iter().copied()),
        }
    }

    /// The identifiers naming exactly `ports` (sorted, distinct): each run of
    /// two or more consecutive ports a range, the others one port or a list.
    fn of_sorted(ports: &[u16]) -> Vec<Self> {
        let mut out = Vec::new();
        let mut singles = Vec::new();
        let mut i = 0;
        while let Some(&start) = ports.get(i) {
            let mut end = start;
            i += 1;
            while ports.get(i).is_some_and(|&p| Some(p) == end.checked_add(1)) {
                end = ports[i];
                i += 1;
            }
            if end == start {
                singles.push(start);
            } else {
                out.push(Self::Range(start, end));
            }
        }
        match singles.as_slice() {
            [] => {}
            [one] => out.push(Self::One(*one)),
            _ => out.push(Self::List(singles)),
        }
        out
    }
}

impl From<&Target> for TargetIdentifier {
    fn from(t: &Target) -> Self {
        match t {
            Target::Ipv4(a) => Self::Ipv4(*a),
            Target::Ipv6(a) => Self::Ipv6(*a),
            Target::Ipv4Net(a, l) => Self::Cidr(IpAddr::V4(*a), *l),
            Target::Ipv6Net(a, l) => Self::Cidr(IpAddr::V6(*a), *l),
            Target::Mac(m) => Self::Mac(*m),
            // An endpoint: X1 names it as an address and a port, two
            // identifiers ([`TargetIdentifier::of_targets`]).
            Target::Ipv4Udp(..) | Target::Ipv6Udp(..) => Self::Unsupported("udpPort"),
            Target::Ipv4Tcp(..) | Target::Ipv6Tcp(..) => Self::Unsupported("tcpPort"),
        }
    }
}

impl TargetIdentifier {
    /// The schema's element name of this identifier.
    #[must_use]
    pub fn element(&self) -> &'static str {
        match self {
            Self::Ipv4(_) => "ipv4Address",
            Self::Ipv6(_) => "ipv6Address",
            Self::Cidr(IpAddr::V4(_), _) => "ipv4Cidr",
            Self::Cidr(IpAddr::V6(_), _) => "ipv6Cidr",
            Self::Mac(_) => "macAddress",
            Self::Nai(_) => "nai",
            Self::SipUri(_) => "sipUri",
            Self::TelUri(_) => "telUri",
            Self::E164(_) => "e164Number",
            Self::Ports { tcp: true, .. } => "tcpPort",
            Self::Ports { tcp: false, .. } => "udpPort",
            Self::Unsupported(name) => name,
        }
    }

    /// The identifiers of an intercept's `targets`: each address, prefix and
    /// MAC as itself; the endpoint targets as an ADMF names them, their
    /// addresses and their ports of each protocol (a task's endpoints are
    /// every such address with every such port). Endpoints that are not
    /// such a product (made over REST) are shown as the product.
    #[must_use]
    pub fn of_targets(targets: &[Target]) -> Vec<Self> {
        let mut out = Vec::new();
        let mut addrs: Vec<IpAddr> = Vec::new();
        let mut ports: [Vec<u16>; 2] = [Vec::new(), Vec::new()];
        for t in targets {
            match t.endpoint() {
                Some((addr, port, tcp)) => {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                    ports[usize::from(tcp)].push(port);
                }
                None => out.push(Self::from(t)),
            }
        }
        out.extend(addrs.into_iter().map(|a| match a {
            IpAddr::V4(a) => Self::Ipv4(a),
            IpAddr::V6(a) => Self::Ipv6(a),
        }));
        for (tcp, mut list) in [true, false]
            .into_iter()
            .zip([std::mem::take(&mut ports[1]), std::mem::take(&mut ports[0])])
        {
            list.sort_unstable();
            list.dedup();
            out.extend(
                Ports::of_sorted(&list)
                    .into_iter()
                    .map(|ports| Self::Ports { tcp, ports }),
            );
        }
        out
    }

    /// The identifier X1 carries for a probe identity: a username as `nai`,
    /// SIP and TEL identities as `sipUri`/`telUri`; `None` for the DHCP and
    /// other RADIUS identities, which X1 has no type for.
    #[must_use]
    pub fn of_identity(id: &Identity) -> Option<Self> {
        let value = id.value().to_owned();
        match id.kind() {
            IdentityKind::Username => Some(Self::Nai(value)),
            IdentityKind::Sip => Some(Self::SipUri(format!("sip:{value}"))),
            IdentityKind::Tel => Some(Self::TelUri(format!("tel:{value}"))),
            _ => None,
        }
    }

    /// A target as an operator writes it (`--target`): an address, prefix or
    /// MAC; `username:` (sent as `nai`); `sip:` and `tel:` (as `sipUri`/`telUri`,
    /// in canonical form); `e164:` (as `e164Number`, digits only); ports under
    /// their element's name (`udpPort:5060`, `tcpPortRange:8000-8010`,
    /// `udpPortList:5060,5080`), which the task's addresses are then
    /// intercepted on.
    ///
    /// # Errors
    /// Not a valid target, or an identity X1 has no `TargetIdentifier` for.
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        if let Some(ports) = Self::parse_ports(field, text) {
            return ports;
        }
        let identity = match Identity::parse(field, text) {
            Some(identity) => identity?,
            None => {
                return match Self::from(&parse_target(field, text)?) {
                    Self::Unsupported(name) => Err(ValidationError::field(
                        field,
                        format!(
                            "{text:?}: X1 names an endpoint as two identifiers: give the \
                             address and the port (--target ADDR --target {name}:PORT)"
                        ),
                    )),
                    t => Ok(t),
                }
            }
        };
        if text.starts_with("e164:") {
            return Ok(Self::E164(identity.value().trim_start_matches('+').into()));
        }
        Self::of_identity(&identity).ok_or_else(|| {
            let kind = identity.kind().as_str();
            ValidationError::field(field, format!("X1 has no target identifier for {kind}:"))
        })
    }

    /// `tcpPort:N`, `udpPortRange:A-B`, `tcpPortList:A,B,…` and the like,
    /// if `text` names ports at all.
    fn parse_ports(field: &str, text: &str) -> Option<Result<Self, ValidationError>> {
        let (name, value) = text.split_once(':')?;
        let (tcp, kind) = match name {
            n if n.starts_with("tcpPort") => (true, &n["tcpPort".len()..]),
            n if n.starts_with("udpPort") => (false, &n["udpPort".len()..]),
            _ => return None,
        };
        let bad = |why: &str| ValidationError::field(field, format!("{text:?}: {why}"));
        // The schema's TCPPort starts at 2; a UDP port 0 names no traffic.
        let min = if tcp { 2 } else { 1 };
        let one = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p >= min)
                .ok_or_else(|| bad(&format!("a port is {min}..=65535")))
        };
        let ports = match kind {
            "" => one(value).map(Ports::One),
            "Range" => value
                .split_once('-')
                .ok_or_else(|| bad("a range is FIRST-LAST"))
                .and_then(|(a, b)| Ok((one(a)?, one(b)?)))
                .and_then(|(a, b)| match a <= b {
                    true => Ok(Ports::Range(a, b)),
                    false => Err(bad("the range is reversed")),
                }),
            "List" => value
                .split(',')
                .map(one)
                .collect::<Result<_, _>>()
                .map(Ports::List),
            _ => return None,
        };
        Some(ports.map(|ports| Self::Ports { tcp, ports }))
    }
}

/// Every `TargetIdentifier` choice of the schema that the probe cannot match.
const UNSUPPORTED_TARGETS: &[&str] = &[
    "imsi",
    "imei",
    "emailAddress",
    "internationalizedEmailAddress",
    "h323Uri",
    "impu",
    "impi",
    "radiusAttribute",
    "gtpuTunnelId",
    "gtpcTunnelId",
    "callPartyRole",
    "nonLocalIdentifier",
    "supiimsi",
    "supinai",
    "suci",
    "peiImei",
    "peiImeiCheckDigit",
    "peiImeisv",
    "gpsiMsisdn",
    "gpsiNai",
    "eui64",
    "serviceAccessIdentifier",
    "hashedIdentifier",
    "targetIdentifierExtension",
    "vrf",
];

/// The one `mediationDetails` entry a task may carry here: its LIID and window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mediation {
    /// `LIID`.
    pub liid: String,
    /// `StartTime`.
    pub start: Option<OffsetDateTime>,
    /// `EndTime`.
    pub end: Option<OffsetDateTime>,
}

/// `TaskDetails` (clause 6.2.1.2), the parts this NE acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDetails {
    /// `xId`.
    pub xid: Uuid,
    /// `targetIdentifiers`.
    pub targets: Vec<TargetIdentifier>,
    /// `deliveryType`.
    pub delivery: DeliveryType,
    /// `listOfDIDs/dId`.
    pub dids: Vec<Uuid>,
    /// `listOfMediationDetails` (at most one entry).
    pub mediation: Option<Mediation>,
}

/// `DestinationDetails` (clause 6.3.1.2), the parts this NE acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationDetails {
    /// `dId`.
    pub did: Uuid,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// `deliveryType`.
    pub delivery: DeliveryType,
    /// `deliveryAddress`.
    pub address: DeliveryAddress,
}

/// `DeliveryAddress`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAddress {
    /// `ipAddressAndPort` with a TCP port.
    Tcp(IpAddr, u16),
    /// `uri` (how destinations that are not an IP and port are shown).
    Uri(String),
    /// Any other valid choice (element name); refused.
    Unsupported(&'static str),
}

/// A request message's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// ActivateTask.
    ActivateTask(TaskDetails),
    /// ModifyTask.
    ModifyTask(TaskDetails),
    /// DeactivateTask / GetTaskDetails.
    Xid(Uuid),
    /// CreateDestination / ModifyDestination.
    Destination(DestinationDetails),
    /// RemoveDestination / GetDestinationDetails.
    Did(Uuid),
    /// Requests without a payload.
    Empty,
}

/// One `x1RequestMessage`: its envelope, its type, and its payload or why it is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The common fields.
    pub envelope: Envelope,
    /// The request type.
    pub kind: Kind,
    /// The payload, or the error it is answered with.
    pub body: Result<Request, X1Error>,
}

/// Reads an `X1Request` container.
///
/// # Errors
/// Anything that makes the container unanswerable message by message (not
/// well-formed, wrong root, a message without a readable envelope or type):
/// answered with `X1TopLevelErrorResponse`.
pub fn parse_request(body: &[u8]) -> Result<Vec<Incoming>, X1Error> {
    let root = xml::parse(body)?;
    expect(&root, X1_NS, "X1Request")?;
    let mut out = Vec::new();
    for m in elements(&root)? {
        expect(m, X1_NS, "x1RequestMessage")?;
        let kind = match &m.xsi_type {
            Some((ns, t)) if ns == X1_NS => Kind::from_request_type(t)
                .ok_or_else(|| X1Error::schema(format!("unknown request type {t:?}")))?,
            _ => return Err(X1Error::schema("x1RequestMessage without an X1 xsi:type")),
        };
        let mut seq = Seq::new(m)?;
        let envelope = read_envelope(&mut seq)?;
        let body = read_body(kind, &mut seq).and_then(|b| seq.end().map(|()| b));
        out.push(Incoming {
            envelope,
            kind,
            body,
        });
    }
    if out.is_empty() {
        return Err(X1Error::schema("X1Request holds no x1RequestMessage"));
    }
    Ok(out)
}

fn read_envelope(seq: &mut Seq<'_>) -> Result<Envelope, X1Error> {
    Ok(Envelope {
        admf: token(seq.required("admfIdentifier")?)?,
        ne: token(seq.required("neIdentifier")?)?,
        timestamp: timestamp(seq.required("messageTimestamp")?)?,
        version: version(seq.required("version")?)?,
        transaction: uuid(seq.required("x1TransactionId")?)?,
    })
}

fn read_body(kind: Kind, seq: &mut Seq<'_>) -> Result<Request, X1Error> {
    Ok(match kind {
        Kind::ActivateTask => Request::ActivateTask(task_details(seq.required("taskDetails")?)?),
        Kind::ModifyTask => Request::ModifyTask(task_details(seq.required("taskDetails")?)?),
        Kind::DeactivateTask | Kind::GetTaskDetails => Request::Xid(uuid(seq.required("xId")?)?),
        Kind::CreateDestination | Kind::ModifyDestination => {
            Request::Destination(destination_details(seq.required("destinationDetails")?)?)
        }
        Kind::RemoveDestination | Kind::GetDestinationDetails => {
            Request::Did(uuid(seq.required("dId")?)?)
        }
        Kind::Unsupported(name) => {
            // Valid or not, it is declined; its content is never looked at.
            seq.skip_rest();
            return Err(X1Error::new(
                ErrorCode::UnsupportedRequest,
                format!("{name} is not supported by this NE"),
            ));
        }
        _ => Request::Empty,
    })
}

/// Reads `TaskDetails`; parts this NE does not act on are refused with a
/// generic task failure rather than ignored.
///
/// # Errors
/// Schema errors; unsupported parts.
pub fn task_details(node: &Node) -> Result<TaskDetails, X1Error> {
    let mut seq = Seq::new(node)?;
    let xid = uuid(seq.required("xId")?)?;
    let list = seq.required("targetIdentifiers")?;
    let mut tseq = Seq::new(list)?;
    let targets = tseq
        .many("targetIdentifier")
        .into_iter()
        .map(target_identifier)
        .collect::<Result<Vec<_>, _>>()?;
    tseq.end()?;
    if targets.is_empty() {
        return Err(X1Error::schema(
            "targetIdentifiers holds no targetIdentifier",
        ));
    }
    let delivery = DeliveryType::parse(&seq.required("deliveryType")?.simple()?)?;
    let dids = list_of_dids(seq.required("listOfDIDs")?)?;
    let mediation = match seq.optional("listOfMediationDetails") {
        Some(list) => {
            let mut mseq = Seq::new(list)?;
            let entries = mseq.many("mediationDetails");
            mseq.end()?;
            match entries.as_slice() {
                [] => None,
                [one] => Some(mediation(one)?),
                _ => return Err(unsupported_task("more than one mediationDetails")),
            }
        }
        None => None,
    };
    for name in [
        "correlationID",
        "implicitDeactivationAllowed",
        "productID",
        "listOfServiceTypes",
    ] {
        if seq.optional(name).is_some() {
            return Err(unsupported_task(name));
        }
    }
    if !seq.many("taskDetailsExtensions").is_empty()
        || seq.optional("listOfTrafficPolicyReferences").is_some()
    {
        return Err(unsupported_task("task extensions and traffic policies"));
    }
    seq.end()?;
    Ok(TaskDetails {
        xid,
        targets,
        delivery,
        dids,
        mediation,
    })
}

fn unsupported_task(what: &str) -> X1Error {
    X1Error::new(
        ErrorCode::GenericActivateTaskFailure,
        format!("{what} is not supported by this NE"),
    )
}

fn list_of_dids(node: &Node) -> Result<Vec<Uuid>, X1Error> {
    let mut seq = Seq::new(node)?;
    let dids = seq
        .many("dId")
        .into_iter()
        .map(uuid)
        .collect::<Result<Vec<_>, _>>()?;
    let sets = seq.many("dSId");
    seq.end()?;
    if let Some(set) = sets.first() {
        uuid(set)?;
        return Err(unsupported_task("destination sets (dSId)"));
    }
    Ok(dids)
}

fn mediation(node: &Node) -> Result<Mediation, X1Error> {
    let mut seq = Seq::new(node)?;
    let liid = seq.required("LIID")?.simple()?;
    // normalizedString: tabs and line breaks read as spaces, which the pattern refuses.
    let liid_ok = (1..=25).contains(&liid.len())
        && liid.bytes().all(|b| (b'!'..=b'~').contains(&b))
        || (26..=50).contains(&liid.len())
            && liid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !liid_ok {
        return Err(X1Error::schema(format!(
            "LIID {liid:?} does not match the LIID pattern"
        )));
    }
    match seq.required("deliveryType")?.simple()?.as_str() {
        "HI2Only" | "HI3Only" | "HI2andHI3" => {}
        other => {
            return Err(X1Error::schema(format!(
                "mediation deliveryType {other:?} is not HI2Only, HI3Only or HI2andHI3"
            )))
        }
    }
    let start = seq.optional("StartTime").map(timestamp).transpose()?;
    let end = seq.optional("EndTime").map(timestamp).transpose()?;
    if seq.optional("listOfDIDs").is_some()
        || !seq.many("mediationDetailsExtensions").is_empty()
        || seq.optional("serviceScopingOptions").is_some()
        || seq.optional("listOfTrafficPolicyReferences").is_some()
    {
        return Err(unsupported_task(
            "mediationDetails beyond LIID, deliveryType, StartTime and EndTime",
        ));
    }
    seq.end()?;
    Ok(Mediation { liid, start, end })
}

fn target_identifier(node: &Node) -> Result<TargetIdentifier, X1Error> {
    let [choice] = elements(node)? else {
        return Err(X1Error::schema(
            "targetIdentifier must hold exactly one identifier",
        ));
    };
    if choice.ns != X1_NS {
        return Err(X1Error::schema(format!(
            "unexpected element {}",
            choice.name
        )));
    }
    let text = || choice.simple().map(|t| collapse(&t));
    Ok(match choice.name.as_str() {
        "ipv4Address" => TargetIdentifier::Ipv4(ipv4(&text()?)?),
        "ipv6Address" => TargetIdentifier::Ipv6(ipv6(&text()?)?),
        "ipv6Cidr" => {
            let (a, l) = ipv6_cidr(&text()?)?;
            TargetIdentifier::Cidr(IpAddr::V6(a), l)
        }
        "ipv4Cidr" => {
            let [family] = elements(choice)? else {
                return Err(X1Error::schema(
                    "ipv4Cidr must hold one IPv4CIDR or IPv6CIDR",
                ));
            };
            let value = collapse(&family.simple()?);
            match (family.ns.as_str(), family.name.as_str()) {
                (COMMON_NS, "IPv4CIDR") => {
                    let (a, l) = ipv4_cidr(&value)?;
                    TargetIdentifier::Cidr(IpAddr::V4(a), l)
                }
                (COMMON_NS, "IPv6CIDR") => {
                    let (a, l) = ipv6_cidr(&value)?;
                    TargetIdentifier::Cidr(IpAddr::V6(a), l)
                }
                _ => {
                    return Err(X1Error::schema(format!(
                        "unexpected element {}",
                        family.name
                    )))
                }
            }
        }
        "macAddress" => TargetIdentifier::Mac(mac(&text()?)?),
        // xs:string: kept as written; the model refuses what a User-Name cannot be.
        "nai" => TargetIdentifier::Nai(choice.simple()?),
        // xs:anyURI: kept as written; the model refuses what is no voice identity.
        "sipUri" => TargetIdentifier::SipUri(text()?),
        "telUri" => TargetIdentifier::TelUri(text()?),
        name @ ("tcpPort" | "udpPort") => {
            let tcp = name == "tcpPort";
            TargetIdentifier::Ports {
                tcp,
                ports: Ports::One(port(choice, tcp)?),
            }
        }
        name @ ("tcpPortRange" | "udpPortRange") => {
            let tcp = name == "tcpPortRange";
            let mut seq = Seq::new(choice)?;
            let start = port(seq.required_in(COMMON_NS, "start")?, tcp)?;
            let end = port(seq.required_in(COMMON_NS, "end")?, tcp)?;
            seq.end()?;
            if end < start {
                return Err(unsupported_task(&format!(
                    "{name} {start}..{end} (ends before it starts)"
                )));
            }
            TargetIdentifier::Ports {
                tcp,
                ports: Ports::Range(start, end),
            }
        }
        name @ ("tcpPortList" | "udpPortList") => {
            let tcp = name == "tcpPortList";
            let mut seq = Seq::new(choice)?;
            let list = seq
                .many(if tcp { "tcpPort" } else { "udpPort" })
                .into_iter()
                .map(|n| port(n, tcp))
                .collect::<Result<Vec<_>, _>>()?;
            seq.end()?;
            if list.is_empty() {
                return Err(X1Error::schema(format!("{name} holds no port")));
            }
            TargetIdentifier::Ports {
                tcp,
                ports: Ports::List(list),
            }
        }
        "e164Number" => {
            let number = text()?;
            if !(1..=15).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(X1Error::schema("e164Number must be 1 to 15 digits"));
            }
            TargetIdentifier::E164(number)
        }
        other => match UNSUPPORTED_TARGETS.iter().find(|n| **n == other) {
            Some(name) => TargetIdentifier::Unsupported(name),
            None => {
                return Err(X1Error::schema(format!(
                    "unknown target identifier {other}"
                )))
            }
        },
    })
}

/// Reads `DestinationDetails`.
///
/// # Errors
/// Schema errors; extensions (refused as a generic destination failure).
pub fn destination_details(node: &Node) -> Result<DestinationDetails, X1Error> {
    let mut seq = Seq::new(node)?;
    let did = uuid(seq.required("dId")?)?;
    let friendly_name = seq.optional("friendlyName").map(Node::simple).transpose()?;
    let delivery = DeliveryType::parse(&seq.required("deliveryType")?.simple()?)?;
    let address = delivery_address(seq.required("deliveryAddress")?)?;
    if !seq.many("destinationDetailsExtensions").is_empty() {
        return Err(X1Error::new(
            ErrorCode::GenericCreateDestinationFailure,
            "destinationDetailsExtensions are not supported by this NE",
        ));
    }
    seq.end()?;
    Ok(DestinationDetails {
        did,
        friendly_name,
        delivery,
        address,
    })
}

fn delivery_address(node: &Node) -> Result<DeliveryAddress, X1Error> {
    let [choice] = elements(node)? else {
        return Err(X1Error::schema(
            "deliveryAddress must hold exactly one address",
        ));
    };
    if choice.ns != X1_NS {
        return Err(X1Error::schema(format!(
            "unexpected element {}",
            choice.name
        )));
    }
    match choice.name.as_str() {
        "ipAddressAndPort" => {
            let mut seq = Seq::new(choice)?;
            let address = seq.required_in(COMMON_NS, "address")?;
            let port = seq.required_in(COMMON_NS, "port")?;
            seq.end()?;
            let ip = match elements(address)? {
                [a] if a.ns == COMMON_NS && a.name == "IPv4Address" => {
                    IpAddr::V4(ipv4(&collapse(&a.simple()?))?)
                }
                [a] if a.ns == COMMON_NS && a.name == "IPv6Address" => {
                    IpAddr::V6(ipv6(&collapse(&a.simple()?))?)
                }
                _ => {
                    return Err(X1Error::schema(
                        "address must hold one IPv4Address or IPv6Address",
                    ))
                }
            };
            match elements(port)? {
                [p] if p.ns == COMMON_NS && p.name == "TCPPort" => {
                    Ok(DeliveryAddress::Tcp(ip, integer_in(p, 2, 65_535)?))
                }
                [p] if p.ns == COMMON_NS && p.name == "UDPPort" => {
                    integer_in(p, 0, 65_535)?;
                    Ok(DeliveryAddress::Unsupported("UDPPort"))
                }
                _ => Err(X1Error::schema("port must hold one TCPPort or UDPPort")),
            }
        }
        "uri" => Ok(DeliveryAddress::Uri(collapse(&choice.simple()?))),
        "e164Number" => Ok(DeliveryAddress::Unsupported("e164Number")),
        "emailAddress" => Ok(DeliveryAddress::Unsupported("emailAddress")),
        other => Err(X1Error::schema(format!("unknown delivery address {other}"))),
    }
}

// ---- simple types ---------------------------------------------------------

/// xs:token whitespace handling: runs collapse to one space, ends trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn token(node: &Node) -> Result<String, X1Error> {
    Ok(collapse(&node.simple()?))
}

fn uuid(node: &Node) -> Result<Uuid, X1Error> {
    let text = collapse(&node.simple()?);
    let b = text.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        });
    if !ok {
        return Err(X1Error::schema(format!(
            "{}: {text:?} is not a lower-case UUID",
            node.name
        )));
    }
    Uuid::parse_str(&text).map_err(|e| X1Error::schema(format!("{}: {e}", node.name)))
}

fn version(node: &Node) -> Result<String, X1Error> {
    // xs:string: no whitespace processing; pattern v1\.\d+\.\d+
    let text = node.simple()?;
    let ok = text
        .strip_prefix("v1.")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
    if ok {
        Ok(text)
    } else {
        Err(X1Error::schema(format!("version {text:?} is not v1.x.y")))
    }
}

/// QualifiedMicrosecondDateTime: `YYYY-MM-DDThh:mm:ss.ffffff` then `Z` or `±hh:mm`.
fn timestamp(node: &Node) -> Result<OffsetDateTime, X1Error> {
    let text = collapse(&node.simple()?);
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let zone_ok = match b.get(26..) {
        Some(b"Z") => true,
        Some([s, h1, h2, b':', m1, m2]) => {
            matches!(s, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && b.get(19) == Some(&b'.')
        && digits(20..26)
        && zone_ok;
    if !shape {
        return Err(X1Error::schema(format!(
            "{}: {text:?} is not a date-time with microseconds and a zone",
            node.name
        )));
    }
    OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| X1Error::schema(format!("{}: {text:?}: {e}", node.name)))
}

/// A `TCPPort` (2..=65535: the schema excludes 0 and 1) if `tcp`, else a
/// `UDPPort` (0..=65535).
fn port(node: &Node, tcp: bool) -> Result<u16, X1Error> {
    integer_in(node, if tcp { 2 } else { 0 }, 65_535)
}

fn integer_in(node: &Node, min: u32, max: u32) -> Result<u16, X1Error> {
    let text = collapse(&node.simple()?);
    let digits = text.strip_prefix('+').unwrap_or(&text);
    let significant = digits.trim_start_matches('0');
    let well_formed = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit());
    let value =
        (well_formed && significant.len() <= 5).then(|| significant.parse::<u32>().unwrap_or(0));
    value
        .filter(|v| (min..=max).contains(v))
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| X1Error::schema(format!("{}: {text:?} is not in {min}..={max}", node.name)))
}

/// IPv4Address pattern: four dotted decimal octets up to 255 (leading zeros allowed).
fn ipv4(text: &str) -> Result<Ipv4Addr, X1Error> {
    let bad = || X1Error::schema(format!("{text:?} is not an IPv4 address"));
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for o in &mut octets {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        *o = p.parse().map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Ipv4Addr::from(octets))
}

/// IPv6Address pattern: eight groups of four lower-case hex digits, no compression.
fn ipv6(text: &str) -> Result<Ipv6Addr, X1Error> {
    let bad = || X1Error::schema(format!("{text:?} is not a full lower-case IPv6 address"));
    let groups: Vec<&str> = text.split(':').collect();
    if groups.len() != 8
        || !groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        })
    {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A prefix length without leading zeros, in `min..=max`.
fn prefix_len(text: &str, min: u8, max: u8) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok().filter(|l| (min..=max).contains(l))
}

fn ipv4_cidr(text: &str) -> Result<(Ipv4Addr, u8), X1Error> {
    let (a, l) = text
        .split_once('/')
        .ok_or_else(|| X1Error::schema(format!("{text:?} is not an IPv4 CIDR")))?;
    let len = prefix_len(l, 0, 32)
        .ok_or_else(|| X1Error::schema(format!("{text:?}: prefix length not in 0..=32")))?;
    Ok((ipv4(a)?, len))
}

fn ipv6_cidr(text: &str) -> Result<(Ipv6Addr, u8), X1Error> {
    let (a, l) = text
        .split_once('/')
        .ok_or_else(|| X1Error::schema(format!("{text:?} is not an IPv6 CIDR")))?;
    let len = prefix_len(l, 1, 128)
        .ok_or_else(|| X1Error::schema(format!("{text:?}: prefix length not in 1..=128")))?;
    Ok((ipv6(a)?, len))
}

/// MACAddress pattern: six lower-case hex pairs separated by colons.
fn mac(text: &str) -> Result<[u8; 6], X1Error> {
    let bad = || X1Error::schema(format!("{text:?} is not a lower-case MAC address"));
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2
            || !p
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

// ---- structure ------------------------------------------------------------

fn expect(node: &Node, ns: &str, name: &str) -> Result<(), X1Error> {
    if node.ns == ns && node.name == name {
        Ok(())
    } else {
        Err(X1Error::schema(format!(
            "expected {name}, found {} in namespace {:?}",
            node.name, node.ns
        )))
    }
}

/// Child elements of an element of complex content (no text may be mixed in).
fn elements(node: &Node) -> Result<&[Node], X1Error> {
    if node.text.trim().is_empty() {
        Ok(&node.children)
    } else {
        Err(X1Error::schema(format!(
            "{} must not contain text",
            node.name
        )))
    }
}

impl Node {
    /// The text of an element of simple content.
    fn simple(&self) -> Result<String, X1Error> {
        if self.children.is_empty() {
            Ok(self.text.clone())
        } else {
            Err(X1Error::schema(format!(
                "{} must not contain elements",
                self.name
            )))
        }
    }
}

/// Reads a `xs:sequence` in order: every element must be consumed by the
/// expected name at its place.
struct Seq<'a> {
    parent: &'a str,
    items: &'a [Node],
    pos: usize,
}

impl<'a> Seq<'a> {
    fn new(node: &'a Node) -> Result<Self, X1Error> {
        Ok(Self {
            parent: &node.name,
            items: elements(node)?,
            pos: 0,
        })
    }

    fn next_is(&self, ns: &str, name: &str) -> bool {
        self.items
            .get(self.pos)
            .is_some_and(|n| n.ns == ns && n.name == name)
    }

    fn optional(&mut self, name: &str) -> Option<&'a Node> {
        self.next_is(X1_NS, name).then(|| {
            self.pos += 1;
            &self.items[self.pos - 1]
        })
    }

    fn required_in(&mut self, ns: &str, name: &str) -> Result<&'a Node, X1Error> {
        if self.next_is(ns, name) {
            self.pos += 1;
            Ok(&self.items[self.pos - 1])
        } else {
            Err(X1Error::schema(format!(
                "{}: expected {name}{}",
                self.parent,
                self.items
                    .get(self.pos)
                    .map(|n| format!(", found {}", n.name))
                    .unwrap_or_default()
            )))
        }
    }

    fn required(&mut self, name: &str) -> Result<&'a Node, X1Error> {
        self.required_in(X1_NS, name)
    }

    fn many(&mut self, name: &str) -> Vec<&'a Node> {
        let mut out = Vec::new();
        while let Some(n) = self.optional(name) {
            out.push(n);
        }
        out
    }

    fn skip_rest(&mut self) {
        self.pos = self.items.len();
    }

    fn end(&self) -> Result<(), X1Error> {
        match self.items.get(self.pos) {
            None => Ok(()),
            Some(n) => Err(X1Error::schema(format!(
                "{}: unexpected element {}",
                self.parent, n.name
            ))),
        }
    }
}

// ---- writing --------------------------------------------------------------

/// The schema version this NE writes when it cannot echo the request's.
pub const VERSION: &str = "v1.22.1";

/// `provisioningStatus` of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provisioning {
    /// Installed on every worker, inside its window.
    Complete,
    /// Stored; its window has not started (or not every worker applied it yet).
    Awaiting,
}

/// A task with its status (`TaskResponseDetails`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskResponse {
    /// The task.
    pub details: TaskDetails,
    /// Its provisioning status.
    pub status: Provisioning,
}

/// A destination with its status (`DestinationResponseDetails`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationResponse {
    /// The destination.
    pub details: DestinationDetails,
    /// Whether its delivery link is up.
    pub connected: bool,
}

/// A response message's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `oK` = AcknowledgedAndCompleted (the change is durable and applied).
    Ok,
    /// GetTaskDetails.
    Task(Box<TaskResponse>),
    /// GetDestinationDetails.
    Destination(Box<DestinationResponse>),
    /// GetNEStatus.
    NeStatus,
    /// GetAllDetails.
    AllDetails(Vec<TaskResponse>, Vec<DestinationResponse>),
    /// GetAllTaskDetails.
    AllTasks(Vec<TaskResponse>),
    /// GetAllDestinationDetails.
    AllDestinations(Vec<DestinationResponse>),
    /// ListAllDetails.
    List(Vec<Uuid>, Vec<Uuid>),
    /// ErrorResponse.
    Error(X1Error),
}

/// One `x1ResponseMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Echoed `admfIdentifier`.
    pub admf: String,
    /// Our `neIdentifier`.
    pub ne: String,
    /// Echoed `version`.
    pub version: String,
    /// Echoed `x1TransactionId`.
    pub transaction: Uuid,
    /// The request type answered.
    pub kind: Kind,
    /// The payload.
    pub response: Response,
}

const X1: &str = "x1:";
const NS_ATTRS: [(&str, &str); 3] = [
    ("xmlns:x1", X1_NS),
    ("xmlns:c", COMMON_NS),
    ("xmlns:xsi", XSI_NS),
];

/// `YYYY-MM-DDThh:mm:ss.ffffffZ` (QualifiedMicrosecondDateTime).
#[must_use]
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".into())
}

fn x1(name: &str) -> String {
    format!("{X1}{name}")
}

fn leaf(w: &mut Writer, name: &str, text: &str) {
    w.leaf(&x1(name), text);
}

fn write_envelope(w: &mut Writer, admf: &str, ne: &str, version: &str, transaction: Option<Uuid>) {
    leaf(w, "admfIdentifier", admf);
    leaf(w, "neIdentifier", ne);
    leaf(
        w,
        "messageTimestamp",
        &format_timestamp(OffsetDateTime::now_utc()),
    );
    leaf(w, "version", version);
    if let Some(t) = transaction {
        leaf(w, "x1TransactionId", &t.to_string());
    }
}

/// Writes an `X1Response` container.
#[must_use]
pub fn write_response(messages: &[Outgoing]) -> String {
    let mut w = Writer::new();
    w.open("x1:X1Response", &NS_ATTRS);
    for m in messages {
        let type_name = match m.response {
            Response::Error(_) => x1("ErrorResponse"),
            _ => format!("{X1}{}Response", m.kind.as_str()),
        };
        w.open("x1:x1ResponseMessage", &[("xsi:type", &type_name)]);
        write_envelope(&mut w, &m.admf, &m.ne, &m.version, Some(m.transaction));
        write_payload(&mut w, m.kind, &m.response);
        w.close("x1:x1ResponseMessage");
    }
    w.close("x1:X1Response");
    w.finish()
}

fn write_payload(w: &mut Writer, kind: Kind, response: &Response) {
    match response {
        Response::Ok => leaf(w, "oK", "AcknowledgedAndCompleted"),
        Response::Task(t) => write_task_response(w, t),
        Response::Destination(d) => write_destination_response(w, d),
        Response::NeStatus => write_ne_status(w),
        Response::AllDetails(tasks, dests) => {
            write_ne_status(w);
            write_task_list(w, tasks);
            write_destination_list(w, dests);
        }
        Response::AllTasks(tasks) => write_task_list(w, tasks),
        Response::AllDestinations(dests) => write_destination_list(w, dests),
        Response::List(xids, dids) => {
            w.open("x1:ListOfXIDs", &[]);
            for x in xids {
                leaf(w, "xId", &x.to_string());
            }
            w.close("x1:ListOfXIDs");
            w.open("x1:ListOfDIDs", &[]);
            for d in dids {
                leaf(w, "dId", &d.to_string());
            }
            w.close("x1:ListOfDIDs");
        }
        Response::Error(e) => {
            leaf(w, "requestMessageType", kind.as_str());
            w.open("x1:errorInformation", &[]);
            leaf(w, "errorCode", &e.code.number().to_string());
            leaf(w, "errorDescription", &e.description);
            w.close("x1:errorInformation");
        }
    }
}

fn write_ne_status(w: &mut Writer) {
    w.open("x1:neStatusDetails", &[]);
    leaf(w, "neStatus", "OK");
    leaf(w, "listOfFaults", "");
    w.close("x1:neStatusDetails");
}

fn write_task_list(w: &mut Writer, tasks: &[TaskResponse]) {
    w.open("x1:listOfTaskResponseDetails", &[]);
    for t in tasks {
        write_task_response(w, t);
    }
    w.close("x1:listOfTaskResponseDetails");
}

fn write_destination_list(w: &mut Writer, dests: &[DestinationResponse]) {
    w.open("x1:listOfDestinationResponseDetails", &[]);
    for d in dests {
        write_destination_response(w, d);
    }
    w.close("x1:listOfDestinationResponseDetails");
}

fn write_task_response(w: &mut Writer, t: &TaskResponse) {
    w.open("x1:taskResponseDetails", &[]);
    write_task_details(w, &t.details);
    w.open("x1:taskStatus", &[]);
    let status = match t.status {
        Provisioning::Complete => "complete",
        Provisioning::Awaiting => "awaitingProvisioning",
    };
    leaf(w, "provisioningStatus", status);
    leaf(w, "listOfFaults", "");
    w.close("x1:taskStatus");
    w.close("x1:taskResponseDetails");
}

fn write_destination_response(w: &mut Writer, d: &DestinationResponse) {
    w.open("x1:destinationResponseDetails", &[]);
    write_destination_details(w, &d.details);
    w.open("x1:destinationStatus", &[]);
    let status = if d.connected {
        "activeAndWorking"
    } else {
        "deliveryFault"
    };
    leaf(w, "destinationDeliveryStatus", status);
    leaf(w, "listOfFaults", "");
    w.close("x1:destinationStatus");
    w.close("x1:destinationResponseDetails");
}

/// The schema's only IPv6 form: eight groups of four lower-case hex digits.
#[must_use]
pub fn full_ipv6(a: Ipv6Addr) -> String {
    a.segments()
        .iter()
        .map(|s| format!("{s:04x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_ports(w: &mut Writer, tcp: bool, ports: &Ports) {
    let one = if tcp { "tcpPort" } else { "udpPort" };
    match ports {
        Ports::One(p) => leaf(w, one, &p.to_string()),
        Ports::Range(start, end) => {
            let name = x1(&format!("{one}Range"));
            w.open(&name, &[]);
            w.leaf("c:start", &start.to_string());
            w.leaf("c:end", &end.to_string());
            w.close(&name);
        }
        Ports::List(list) => {
            let name = x1(&format!("{one}List"));
            w.open(&name, &[]);
            for p in list {
                leaf(w, one, &p.to_string());
            }
            w.close(&name);
        }
    }
}

fn write_task_details(w: &mut Writer, t: &TaskDetails) {
    w.open("x1:taskDetails", &[]);
    leaf(w, "xId", &t.xid.to_string());
    w.open("x1:targetIdentifiers", &[]);
    for target in &t.targets {
        w.open("x1:targetIdentifier", &[]);
        match target {
            TargetIdentifier::Ipv4(a) => leaf(w, "ipv4Address", &a.to_string()),
            TargetIdentifier::Ipv6(a) => leaf(w, "ipv6Address", &full_ipv6(*a)),
            TargetIdentifier::Cidr(IpAddr::V4(a), l) => {
                w.open("x1:ipv4Cidr", &[]);
                w.leaf("c:IPv4CIDR", &format!("{a}/{l}"));
                w.close("x1:ipv4Cidr");
            }
            TargetIdentifier::Cidr(IpAddr::V6(a), l) => {
                leaf(w, "ipv6Cidr", &format!("{}/{l}", full_ipv6(*a)));
            }
            TargetIdentifier::Mac(m) => leaf(
                w,
                "macAddress",
                &m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            TargetIdentifier::Nai(user) => leaf(w, "nai", user),
            TargetIdentifier::SipUri(uri) => leaf(w, "sipUri", uri),
            TargetIdentifier::TelUri(uri) => leaf(w, "telUri", uri),
            TargetIdentifier::E164(number) => leaf(w, "e164Number", number),
            TargetIdentifier::Ports { tcp, ports } => write_ports(w, *tcp, ports),
            // Only read from requests (and refused); an element name has no value to write.
            TargetIdentifier::Unsupported(name) => leaf(w, name, ""),
        }
        w.close("x1:targetIdentifier");
    }
    w.close("x1:targetIdentifiers");
    leaf(w, "deliveryType", t.delivery.as_str());
    w.open("x1:listOfDIDs", &[]);
    for d in &t.dids {
        leaf(w, "dId", &d.to_string());
    }
    w.close("x1:listOfDIDs");
    if let Some(m) = &t.mediation {
        w.open("x1:listOfMediationDetails", &[]);
        w.open("x1:mediationDetails", &[]);
        leaf(w, "LIID", &m.liid);
        let hi = match t.delivery {
            DeliveryType::X2Only => "HI2Only",
            DeliveryType::X3Only => "HI3Only",
            DeliveryType::X2AndX3 => "HI2andHI3",
        };
        leaf(w, "deliveryType", hi);
        if let Some(s) = m.start {
            leaf(w, "StartTime", &format_timestamp(s));
        }
        if let Some(e) = m.end {
            leaf(w, "EndTime", &format_timestamp(e));
        }
        w.close("x1:mediationDetails");
        w.close("x1:listOfMediationDetails");
    }
    w.close("x1:taskDetails");
}

fn write_destination_details(w: &mut Writer, d: &DestinationDetails) {
    w.open("x1:destinationDetails", &[]);
    leaf(w, "dId", &d.did.to_string());
    if let Some(n) = &d.friendly_name {
        leaf(w, "friendlyName", n);
    }
    leaf(w, "deliveryType", d.delivery.as_str());
    w.open("x1:deliveryAddress", &[]);
    match &d.address {
        DeliveryAddress::Tcp(ip, port) => {
            w.open("x1:ipAddressAndPort", &[]);
            w.open("c:address", &[]);
            match ip {
                IpAddr::V4(a) => w.leaf("c:IPv4Address", &a.to_string()),
                IpAddr::V6(a) => w.leaf("c:IPv6Address", &full_ipv6(*a)),
            }
            w.close("c:address");
            w.open("c:port", &[]);
            w.leaf("c:TCPPort", &port.to_string());
            w.close("c:port");
            w.close("x1:ipAddressAndPort");
        }
        DeliveryAddress::Uri(u) => leaf(w, "uri", u),
        DeliveryAddress::Unsupported(name) => leaf(w, name, ""),
    }
    w.close("x1:deliveryAddress");
    w.close("x1:destinationDetails");
}

/// Writes an `X1TopLevelErrorResponse`: the answer to a request that cannot be
/// answered message by message.
#[must_use]
pub fn write_top_level_error(admf: &str, ne: &str) -> String {
    let mut w = Writer::new();
    w.open("x1:X1TopLevelErrorResponse", &NS_ATTRS);
    write_envelope(&mut w, admf, ne, VERSION, None);
    w.close("x1:X1TopLevelErrorResponse");
    w.finish()
}

/// Writes an `X1Request` container (the ADMF side: the CLI and tests).
#[must_use]
pub fn write_request(admf: &str, ne: &str, messages: &[(Uuid, Kind, Request)]) -> String {
    let mut w = Writer::new();
    w.open("x1:X1Request", &NS_ATTRS);
    for (transaction, kind, request) in messages {
        let type_name = format!("{X1}{}Request", kind.as_str());
        w.open("x1:x1RequestMessage", &[("xsi:type", &type_name)]);
        write_envelope(&mut w, admf, ne, VERSION, Some(*transaction));
        match request {
            Request::ActivateTask(t) | Request::ModifyTask(t) => write_task_details(&mut w, t),
            Request::Xid(x) => leaf(&mut w, "xId", &x.to_string()),
            Request::Destination(d) => write_destination_details(&mut w, d),
            Request::Did(d) => leaf(&mut w, "dId", &d.to_string()),
            Request::Empty => {}
        }
        w.close("x1:x1RequestMessage");
    }
    w.close("x1:X1Request");
    w.finish()
}

// ---- reading responses (the ADMF side) -----------------------------------

/// What the ADMF side reads of one response message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// `x1TransactionId`.
    pub transaction: Option<Uuid>,
    /// The `xsi:type` (e.g. `PingResponse`, `ErrorResponse`).
    pub type_name: String,
    /// `oK` value, if any.
    pub ok: Option<String>,
    /// `errorCode` and `errorDescription` of an ErrorResponse.
    pub error: Option<(u32, String)>,
    /// XIDs listed (ListAllDetails).
    pub xids: Vec<Uuid>,
    /// DIDs listed (ListAllDetails).
    pub dids: Vec<Uuid>,
    /// Tasks with their `provisioningStatus`.
    pub tasks: Vec<(TaskDetails, String)>,
    /// Destinations with their `destinationDeliveryStatus`.
    pub destinations: Vec<(DestinationDetails, String)>,
    /// `neStatus`.
    pub ne_status: Option<String>,
}

/// Reads an `X1Response` container (for the ADMF client).
///
/// # Errors
/// Not well-formed, a top-level error response, or a malformed message.
pub fn parse_response(body: &[u8]) -> Result<Vec<Answer>, X1Error> {
    let root = xml::parse(body)?;
    if root.ns == X1_NS && root.name == "X1TopLevelErrorResponse" {
        return Err(X1Error::new(
            ErrorCode::GenericError,
            "the NE answered X1TopLevelErrorResponse (the request was not readable)",
        ));
    }
    expect(&root, X1_NS, "X1Response")?;
    elements(&root)?
        .iter()
        .map(|m| {
            let mut a = Answer {
                type_name: m.xsi_type.clone().map(|(_, t)| t).unwrap_or_default(),
                ..Answer::default()
            };
            collect(m, &mut a)?;
            Ok(a)
        })
        .collect()
}

fn child<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    node.children.iter().find(|c| c.name == name)
}

fn collect(node: &Node, a: &mut Answer) -> Result<(), X1Error> {
    for c in &node.children {
        match c.name.as_str() {
            "x1TransactionId" => a.transaction = Some(uuid(c)?),
            "oK" => a.ok = Some(c.simple()?),
            "neStatus" => a.ne_status = Some(c.simple()?),
            "errorInformation" => {
                let code = child(c, "errorCode").map(Node::simple).transpose()?;
                let text = child(c, "errorDescription").map(Node::simple).transpose()?;
                let code = code.and_then(|t| t.trim().parse().ok()).unwrap_or(0);
                a.error = Some((code, text.unwrap_or_default()));
            }
            "ListOfXIDs" => a.xids = c.children.iter().map(uuid).collect::<Result<_, _>>()?,
            "ListOfDIDs" => a.dids = c.children.iter().map(uuid).collect::<Result<_, _>>()?,
            "taskResponseDetails" => {
                let details = child(c, "taskDetails").map(task_details).transpose()?;
                let status = child(c, "taskStatus")
                    .and_then(|s| child(s, "provisioningStatus"))
                    .map(Node::simple)
                    .transpose()?;
                if let Some(d) = details {
                    a.tasks.push((d, status.unwrap_or_default()));
                }
            }
            "destinationResponseDetails" => {
                let details = child(c, "destinationDetails")
                    .map(destination_details)
                    .transpose()?;
                let status = child(c, "destinationStatus")
                    .and_then(|s| child(s, "destinationDeliveryStatus"))
                    .map(Node::simple)
                    .transpose()?;
                if let Some(d) = details {
                    a.destinations.push((d, status.unwrap_or_default()));
                }
            }
            _ => collect(c, a)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn leaf_node(name: &str, text: &str) -> Node {
        Node {
            ns: X1_NS.into(),
            name: name.into(),
            text: text.into(),
            ..Node::default()
        }
    }

    #[test]
    fn cli_targets_name_ports_by_their_element() {
        let parse = |t| TargetIdentifier::parse("--target", t);
        let ports = |tcp, ports| TargetIdentifier::Ports { tcp, ports };
        assert_eq!(
            parse("udpPort:5060").unwrap(),
            ports(false, Ports::One(5060))
        );
        assert_eq!(
            parse("tcpPortRange:8000-8010").unwrap(),
            ports(true, Ports::Range(8000, 8010))
        );
        assert_eq!(
            parse("udpPortList:5060, 5080").unwrap(),
            ports(false, Ports::List(vec![5060, 5080]))
        );
        for bad in [
            "tcpPort:1",
            "udpPort:0",
            "udpPort:65536",
            "udpPortRange:10-9",
            "udpPortRange:10",
            "tcpPortList:80,",
            "udpPortSet:1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let endpoint = parse("udp:198.51.100.7:5060").unwrap_err().to_string();
        assert!(endpoint.contains("--target udpPort:PORT"), "{endpoint}");
    }

    #[test]
    fn simple_types_follow_the_schema_patterns() {
        assert_eq!(ipv4("010.0.0.255").unwrap(), Ipv4Addr::new(10, 0, 0, 255));
        for bad in ["256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.0001", "a.b.c.d"] {
            assert!(ipv4(bad).is_err(), "{bad}");
        }
        let full = "2001:0db8:0000:0000:0000:0000:0000:0007";
        assert_eq!(full_ipv6(ipv6(full).unwrap()), full);
        for bad in ["2001:db8::7", "2001:0DB8:0000:0000:0000:0000:0000:0007"] {
            assert!(ipv6(bad).is_err(), "{bad}");
        }
        assert_eq!(ipv4_cidr("10.0.0.0/8").unwrap().1, 8);
        for bad in ["10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/"] {
            assert!(ipv4_cidr(bad).is_err(), "{bad}");
        }
        assert!(ipv6_cidr(&format!("{full}/0")).is_err());
        assert_eq!(ipv6_cidr(&format!("{full}/128")).unwrap().1, 128);
        assert_eq!(mac("02:00:5e:00:53:01").unwrap(), [2, 0, 0x5e, 0, 0x53, 1]);
        assert!(mac("02-00-5e-00-53-01").is_err() && mac("02:00:5E:00:53:01").is_err());
        let ok = leaf_node("x1TransactionId", " 3741800e-971b-4aa9-85f4-466d2b1adc7f ");
        assert!(uuid(&ok).is_ok(), "xs:token whitespace collapses");
        let upper = leaf_node("xId", "3741800E-971B-4AA9-85F4-466D2B1ADC7F");
        assert!(uuid(&upper).is_err());
        for good in [
            "2017-10-06T18:46:21.247432Z",
            "2017-10-06T18:46:21.247432+02:00",
        ] {
            assert!(timestamp(&leaf_node("t", good)).is_ok(), "{good}");
        }
        for bad in [
            "2017-10-06T18:46:21Z",
            "2017-10-06T18:46:21.247432",
            "2017-13-06T18:46:21.247432Z",
        ] {
            assert!(timestamp(&leaf_node("t", bad)).is_err(), "{bad}");
        }
        assert!(version(&leaf_node("version", "v1.6.1")).is_ok());
        assert!(
            version(&leaf_node("version", " v1.6.1")).is_err(),
            "xs:string keeps spaces"
        );
        assert_eq!(
            integer_in(&leaf_node("TCPPort", "+00443"), 2, 65_535).unwrap(),
            443
        );
        assert!(integer_in(&leaf_node("TCPPort", "1"), 2, 65_535).is_err());
        assert!(integer_in(&leaf_node("TCPPort", "65536"), 2, 65_535).is_err());
    }

    #[test]
    fn written_tasks_read_back_and_order_is_enforced() {
        let task = TaskDetails {
            xid: Uuid::new_v4(),
            targets: vec![
                TargetIdentifier::Ipv4(Ipv4Addr::new(198, 51, 100, 7)),
                TargetIdentifier::Cidr(IpAddr::V6(Ipv6Addr::LOCALHOST), 64),
                TargetIdentifier::Mac([2, 0, 0, 0, 0, 1]),
                TargetIdentifier::SipUri("sip:alice@example.com".into()),
                TargetIdentifier::TelUri("tel:+15551234567".into()),
                TargetIdentifier::E164("15551234567".into()),
                TargetIdentifier::Ports {
                    tcp: true,
                    ports: Ports::One(443),
                },
                TargetIdentifier::Ports {
                    tcp: false,
                    ports: Ports::Range(0, 9),
                },
                TargetIdentifier::Ports {
                    tcp: true,
                    ports: Ports::List(vec![80, 8080]),
                },
                TargetIdentifier::Ports {
                    tcp: false,
                    ports: Ports::List(vec![53]),
                },
            ],
            delivery: DeliveryType::X2Only,
            dids: vec![Uuid::new_v4()],
            mediation: Some(Mediation {
                liid: "LIID-1".into(),
                start: None,
                end: None,
            }),
        };
        let t = Uuid::new_v4();
        let doc = write_request(
            "a",
            "n",
            &[(t, Kind::ActivateTask, Request::ActivateTask(task.clone()))],
        );
        let read = parse_request(doc.as_bytes()).unwrap();
        assert_eq!(read[0].body, Ok(Request::ActivateTask(task)));
        assert_eq!(read[0].envelope.transaction, t);
        // deliveryType before targetIdentifiers is out of sequence.
        let swapped = doc
            .replace("<x1:deliveryType>X2Only</x1:deliveryType>", "")
            .replace(
                "<x1:targetIdentifiers>",
                "<x1:deliveryType>X2Only</x1:deliveryType><x1:targetIdentifiers>",
            );
        let read = parse_request(swapped.as_bytes()).unwrap();
        assert_eq!(
            read[0].body.as_ref().unwrap_err().code,
            ErrorCode::SyntaxSchemaError
        );
        // InternationalE164 is digits only, 1 to 15.
        for bad in ["+15551234567", "1234567890123456"] {
            let e164 = doc.replace(
                ">15551234567</x1:e164Number>",
                &format!(">{bad}</x1:e164Number>"),
            );
            let read = parse_request(e164.as_bytes()).unwrap();
            assert_eq!(
                read[0].body.as_ref().unwrap_err().code,
                ErrorCode::SyntaxSchemaError,
                "{bad}"
            );
        }
        // TCPPort excludes 0 and 1, UDPPort does not; a list holds a port.
        for (from, to, code) in [
            (
                "<x1:tcpPort>443</x1:tcpPort>",
                "<x1:tcpPort>1</x1:tcpPort>",
                ErrorCode::SyntaxSchemaError,
            ),
            (
                "<x1:udpPort>53</x1:udpPort>",
                "<x1:udpPort>65536</x1:udpPort>",
                ErrorCode::SyntaxSchemaError,
            ),
            (
                "<x1:udpPortList><x1:udpPort>53</x1:udpPort></x1:udpPortList>",
                "<x1:udpPortList></x1:udpPortList>",
                ErrorCode::SyntaxSchemaError,
            ),
            (
                "<c:start>0</c:start><c:end>9</c:end>",
                "<c:end>9</c:end><c:start>0</c:start>",
                ErrorCode::SyntaxSchemaError,
            ),
            // Valid, but names no port.
            (
                "<c:start>0</c:start><c:end>9</c:end>",
                "<c:start>9</c:start><c:end>0</c:end>",
                ErrorCode::GenericActivateTaskFailure,
            ),
        ] {
            assert!(doc.contains(from), "{from}");
            let read = parse_request(doc.replace(from, to).as_bytes()).unwrap();
            assert_eq!(read[0].body.as_ref().unwrap_err().code, code, "{to}");
        }
    }

    #[test]
    fn endpoint_targets_are_named_as_addresses_and_ports() {
        let a = Ipv4Addr::new(198, 51, 100, 7);
        let b: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let mut targets = vec![Target::Mac([2, 0, 0, 0, 0, 1])];
        for addr in [IpAddr::V4(a), IpAddr::V6(b)] {
            for p in [53, 5000, 5001, 5002, 7000] {
                targets.push(crate::model::endpoint_target(addr, p, false));
            }
            targets.push(crate::model::endpoint_target(addr, 443, true));
        }
        let ports = |tcp, ports| TargetIdentifier::Ports { tcp, ports };
        assert_eq!(
            TargetIdentifier::of_targets(&targets),
            vec![
                TargetIdentifier::Mac([2, 0, 0, 0, 0, 1]),
                TargetIdentifier::Ipv4(a),
                TargetIdentifier::Ipv6(b),
                ports(true, Ports::One(443)),
                ports(false, Ports::Range(5000, 5002)),
                ports(false, Ports::List(vec![53, 7000])),
            ]
        );
        assert_eq!(
            Ports::of_sorted(&[0, 1, 65534, 65535]),
            [Ports::Range(0, 1), Ports::Range(65534, 65535)]
        );
        assert_eq!(Ports::Range(10, 12).count(), 3);
        assert_eq!(Ports::Range(0, 65535).count(), 65536);
    }
}
