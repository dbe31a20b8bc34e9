//! X1 requests onto the probe's one provisioning service ([`Provisioning`], the
//! controller the REST API uses): a task is an intercept whose XID is the
//! task's, a destination is a destination named by its DID. Store, table
//! updates, the "applied on every worker" acknowledgement, the audit chain and
//! the warrant window are therefore the REST API's. Every refused message is
//! audited with the ADMF's certificate identity as actor.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use dataplane::targets::{Mode, Target};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{ErrorCode, X1Error};
use super::message::{
    parse_request, write_response, write_top_level_error, DeliveryAddress, DeliveryType,
    DestinationDetails, DestinationResponse, Incoming, Kind, Mediation, Outgoing, Ports,
    Provisioning as Status, Request, Response, TargetIdentifier, TaskDetails, TaskResponse,
};
use crate::api::{ApiError, Peer, Provisioning};
use crate::config::{X1Config, X1Delivery};
use crate::model::{
    endpoint_target, format_time, mode_to_str, target_texts, target_to_string, DestTls,
    Destination, DestinationFormat, Identity, IdentityKind, Intercept, InterceptPatch,
    InterceptRequest, InterceptState,
};

/// Window end of a task whose ADMF gave none: it runs until deactivated.
const OPEN_END: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);
/// Keepalive interval of links to X1 destinations (the model's default).
const KEEPALIVE_SECS: u32 = 30;
/// Spool size of an X1 destination (the model's default).
const SPOOL_MAX_BYTES: u64 = 1 << 30;

/// The X1 NE: answers request containers from the ADMF.
pub struct X1Service {
    backend: Arc<dyn Provisioning>,
    admfs: HashSet<String>,
    ne: String,
    delivery: Option<X1Delivery>,
}

/// Answer to one HTTP request.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (200 for every `X1Response`, error responses included).
    pub status: u16,
    /// The XML document.
    pub body: String,
}

impl X1Service {
    /// The NE over `backend`; `ne` is the `neIdentifier` it answers to.
    pub fn new(backend: Arc<dyn Provisioning>, config: &X1Config, ne: String) -> Self {
        Self {
            backend,
            admfs: config.admf_identities.iter().cloned().collect(),
            ne,
            delivery: config.delivery.clone(),
        }
    }

    /// Answers one POSTed body from `peer`. Blocks (store, workers): call it on
    /// the blocking pool.
    pub fn handle(&self, peer: &Peer, body: &[u8]) -> Reply {
        let incoming = match parse_request(body) {
            Ok(m) => m,
            Err(e) => return self.top_level(peer, &e),
        };
        let authorised = self.admfs.contains(&peer.cn);
        let any_invalid = incoming.iter().any(|m| m.body.is_err());
        let mut out = Vec::with_capacity(incoming.len());
        for m in incoming {
            let result = if !authorised {
                Err(X1Error::new(
                    ErrorCode::AdmfIdentifierDoesNotMatchCertificate,
                    format!("certificate {:?} is not an ADMF of this NE", peer.cn),
                ))
            } else {
                match &m.body {
                    Err(e) => Err(e.clone()),
                    // Nothing in a request is acted on unless all of it is valid.
                    Ok(_) if any_invalid => Err(X1Error::new(
                        ErrorCode::GenericError,
                        "not actioned: another message of this request is invalid",
                    )),
                    Ok(_) if m.envelope.ne != self.ne => Err(X1Error::new(
                        ErrorCode::UnexpectedNeIdentifier,
                        format!("this NE is {:?}, not {:?}", self.ne, m.envelope.ne),
                    )),
                    Ok(req) => self.dispatch(&peer.cn, m.kind, req),
                }
            };
            let response = result.unwrap_or_else(|e| {
                self.audit_refusal(peer, Some(&m), &e);
                Response::Error(e)
            });
            out.push(Outgoing {
                admf: m.envelope.admf.clone(),
                ne: self.ne.clone(),
                version: m.envelope.version.clone(),
                transaction: m.envelope.transaction,
                kind: m.kind,
                response,
            });
        }
        Reply {
            status: 200,
            body: write_response(&out),
        }
    }

    /// Answers (and audits) a request that cannot be answered message by message.
    pub fn top_level(&self, peer: &Peer, e: &X1Error) -> Reply {
        self.audit_refusal(peer, None, e);
        Reply {
            status: 400,
            body: write_top_level_error(&peer.cn, &self.ne),
        }
    }

    fn audit_refusal(&self, peer: &Peer, m: Option<&Incoming>, e: &X1Error) {
        tracing::info!(code = e.code.number(), "X1 request refused");
        let mut details = serde_json::json!({
            "interface": "x1",
            "peer": peer.addr,
            "error_code": e.code.number(),
            "error": e.description,
        });
        if let (Some(m), Some(obj)) = (m, details.as_object_mut()) {
            obj.insert("admf_identifier".into(), m.envelope.admf.clone().into());
            obj.insert("request".into(), m.kind.as_str().into());
            obj.insert(
                "x1_transaction_id".into(),
                m.envelope.transaction.to_string().into(),
            );
        }
        self.backend.audit_refusal(false, &peer.cn, details);
    }

    fn dispatch(&self, actor: &str, kind: Kind, req: &Request) -> Result<Response, X1Error> {
        match (kind, req) {
            (Kind::ActivateTask, Request::ActivateTask(t)) => {
                let r = self.intercept_request(actor, kind, t)?;
                self.backend
                    .activate_task(actor, r, t.xid)
                    .map_err(|e| api_error(kind, e))?;
                Ok(Response::Ok)
            }
            (Kind::ModifyTask, Request::ModifyTask(t)) => self.modify(actor, t),
            (Kind::DeactivateTask, Request::Xid(xid)) => {
                let i = self.live(*xid)?;
                self.backend
                    .remove_intercept(actor, i.liid.as_str())
                    .map_err(|e| api_error(kind, e))?;
                Ok(Response::Ok)
            }
            (Kind::GetTaskDetails, Request::Xid(xid)) => {
                Ok(Response::Task(Box::new(task_response(&self.live(*xid)?))))
            }
            (Kind::DeactivateAllTasks, _) => self.deactivate_all(actor),
            (Kind::CreateDestination, Request::Destination(d)) => {
                let dest = self.destination(kind, d)?;
                self.backend
                    .add_destination(actor, dest)
                    .map_err(|e| api_error(kind, e))?;
                Ok(Response::Ok)
            }
            (Kind::ModifyDestination, Request::Destination(d)) => {
                let dest = self.destination(kind, d)?;
                self.backend
                    .modify_destination(actor, dest)
                    .map_err(|e| api_error(kind, e))?;
                Ok(Response::Ok)
            }
            (Kind::RemoveDestination, Request::Did(did)) => {
                self.backend
                    .remove_destination(actor, &did.to_string())
                    .map_err(|e| api_error(kind, e))?;
                Ok(Response::Ok)
            }
            (Kind::GetDestinationDetails, Request::Did(did)) => self
                .destinations(kind)?
                .into_iter()
                .find(|d| d.details.did == *did)
                .map(|d| Response::Destination(Box::new(d)))
                .ok_or_else(|| unknown_did(*did)),
            (Kind::RemoveAllDestinations, _) => self.remove_all_destinations(actor),
            (Kind::GetNeStatus, _) => Ok(Response::NeStatus),
            (Kind::GetAllDetails, _) => Ok(Response::AllDetails(
                self.tasks(kind)?.iter().map(task_response).collect(),
                self.destinations(kind)?,
            )),
            (Kind::GetAllTaskDetails, _) => Ok(Response::AllTasks(
                self.tasks(kind)?.iter().map(task_response).collect(),
            )),
            (Kind::GetAllDestinationDetails, _) => {
                Ok(Response::AllDestinations(self.destinations(kind)?))
            }
            (Kind::ListAllDetails, _) => Ok(Response::List(
                self.tasks(kind)?.iter().map(|i| i.xid).collect(),
                self.destinations(kind)?
                    .iter()
                    .map(|d| d.details.did)
                    .collect(),
            )),
            (Kind::Ping | Kind::Keepalive, _) => Ok(Response::Ok),
            _ => Err(X1Error::new(
                ErrorCode::GenericError,
                "request type and content do not match",
            )),
        }
    }

    /// The intercept request an X1 task stands for (for a `kind` request).
    /// The model validates it (targets, window, destinations) exactly as a
    /// REST request.
    fn intercept_request(
        &self,
        actor: &str,
        kind: Kind,
        t: &TaskDetails,
    ) -> Result<InterceptRequest, X1Error> {
        let unsupported: Vec<&str> = t
            .targets
            .iter()
            .filter_map(|x| match x {
                TargetIdentifier::Unsupported(name) => Some(*name),
                _ => None,
            })
            .collect();
        if !unsupported.is_empty() {
            return Err(X1Error::new(
                ErrorCode::UnsupportedTargetIdentifierType,
                format!(
                    "target identifier types this NE cannot intercept on: {}",
                    unsupported.join(", ")
                ),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let m = t.mediation.as_ref();
        Ok(InterceptRequest {
            liid: m.map_or_else(|| derived_liid(t.xid), |m| m.liid.clone()),
            warrant_ref: format!("X1 task {}", t.xid),
            issuing_authority: format!("ADMF {actor}"),
            valid_from: format_time(m.and_then(|m| m.start).unwrap_or(now)),
            valid_until: format_time(m.and_then(|m| m.end).unwrap_or(OPEN_END)),
            mode: mode_to_str(mode(t.delivery)).to_owned(),
            targets: task_targets(kind, &t.targets)?,
            destinations: t.dids.iter().map(Uuid::to_string).collect(),
        })
    }

    /// ModifyTask replaces the task's details: the difference becomes a patch.
    fn modify(&self, actor: &str, t: &TaskDetails) -> Result<Response, X1Error> {
        let current = self.live(t.xid)?;
        let wanted = self.intercept_request(actor, Kind::ModifyTask, t)?;
        let refuse = |what: &str| {
            Err(X1Error::new(
                ErrorCode::GenericModifyTaskFailure,
                format!("{what} cannot change; deactivate the task and activate a new one"),
            ))
        };
        if mode(t.delivery) != current.mode {
            return refuse("deliveryType");
        }
        if let Some(m) = &t.mediation {
            if m.liid != current.liid.as_str() {
                return refuse("LIID");
            }
            if m.start.is_some_and(|s| s != current.valid_from) {
                return refuse("StartTime");
            }
        }
        // Identities X1 cannot name (all but usernames) are left as they are.
        let usernames: Vec<Identity> = current
            .identities
            .iter()
            .filter(|id| id.kind() == IdentityKind::Username)
            .cloned()
            .collect();
        let old = target_texts(&current.targets, &usernames);
        let old_set: HashSet<&String> = old.iter().collect();
        let new_set: HashSet<&String> = wanted.targets.iter().collect();
        let until = t.mediation.as_ref().and_then(|m| m.end).unwrap_or(OPEN_END);
        let patch = InterceptPatch {
            valid_until: (until != current.valid_until).then(|| format_time(until)),
            add_targets: wanted
                .targets
                .iter()
                .filter(|x| !old_set.contains(x))
                .cloned()
                .collect(),
            remove_targets: old
                .iter()
                .filter(|x| !new_set.contains(x))
                .cloned()
                .collect(),
            destinations: (wanted.destinations != current.destinations)
                .then(|| wanted.destinations.clone()),
        };
        if patch != InterceptPatch::default() {
            self.backend
                .modify_intercept(actor, current.liid.as_str(), patch)
                .map_err(|e| api_error(Kind::ModifyTask, e))?;
        }
        Ok(Response::Ok)
    }

    fn deactivate_all(&self, actor: &str) -> Result<Response, X1Error> {
        let kind = Kind::DeactivateAllTasks;
        let failed: Vec<String> = self
            .tasks(kind)?
            .iter()
            .filter_map(|i| {
                self.backend
                    .remove_intercept(actor, i.liid.as_str())
                    .err()
                    .map(|e| format!("{}: {}", i.xid, e.message))
            })
            .collect();
        if failed.is_empty() {
            Ok(Response::Ok)
        } else {
            Err(X1Error::new(
                ErrorCode::GenericDeactivateAllTasksFailure,
                failed.join("; "),
            ))
        }
    }

    fn remove_all_destinations(&self, actor: &str) -> Result<Response, X1Error> {
        let kind = Kind::RemoveAllDestinations;
        let dids: Vec<Uuid> = self
            .destinations(kind)?
            .iter()
            .map(|d| d.details.did)
            .collect();
        let used: HashSet<String> = self
            .tasks(kind)?
            .into_iter()
            .flat_map(|i| i.destinations)
            .collect();
        let in_use: Vec<String> = dids
            .iter()
            .map(Uuid::to_string)
            .filter(|d| used.contains(d))
            .collect();
        if !in_use.is_empty() {
            return Err(X1Error::new(
                ErrorCode::DestinationsInUse,
                format!("used by live tasks: {}", in_use.join(", ")),
            ));
        }
        for did in dids {
            self.backend
                .remove_destination(actor, &did.to_string())
                .map_err(|e| api_error(kind, e))?;
        }
        Ok(Response::Ok)
    }

    /// The live (scheduled or active) intercept with this XID.
    fn live(&self, xid: Uuid) -> Result<Intercept, X1Error> {
        match self.backend.intercept_by_xid(xid) {
            Ok(i) if !i.state.is_terminal() => Ok(i),
            Ok(i) => Err(X1Error::new(
                ErrorCode::XidDoesNotExist,
                format!("task {xid} has ended ({})", i.state),
            )),
            Err(e) if e.code == "not_found" => Err(X1Error::new(
                ErrorCode::XidDoesNotExist,
                format!("no task {xid}"),
            )),
            Err(e) => Err(api_error(Kind::GetTaskDetails, e)),
        }
    }

    /// Every live intercept: the NE's tasks, whichever interface created them.
    fn tasks(&self, kind: Kind) -> Result<Vec<Intercept>, X1Error> {
        let all = self
            .backend
            .list_intercepts()
            .map_err(|e| api_error(kind, e))?;
        Ok(all.into_iter().filter(|i| !i.state.is_terminal()).collect())
    }

    /// Every destination an ADMF can name: those whose name is a DID.
    fn destinations(&self, kind: Kind) -> Result<Vec<DestinationResponse>, X1Error> {
        let connected: HashMap<String, bool> = self.backend.destinations_connected();
        let all = self
            .backend
            .list_destinations()
            .map_err(|e| api_error(kind, e))?;
        Ok(all
            .iter()
            .filter_map(|d| {
                Some(DestinationResponse {
                    details: destination_details(d)?,
                    connected: connected.get(&d.name).copied().unwrap_or(false),
                })
            })
            .collect())
    }

    /// The X2/X3-over-TLS destination a `DestinationDetails` stands for.
    fn destination(&self, kind: Kind, d: &DestinationDetails) -> Result<Destination, X1Error> {
        let (ip, port) = match &d.address {
            DeliveryAddress::Tcp(ip, port) => (*ip, *port),
            DeliveryAddress::Uri(_) => return Err(unsupported_address("uri")),
            DeliveryAddress::Unsupported(name) => return Err(unsupported_address(name)),
        };
        let delivery = self.delivery.as_ref().ok_or_else(|| {
            X1Error::new(
                generic(kind),
                "this NE has no [x1.delivery]: destinations cannot be created over X1",
            )
        })?;
        let name = d.did.to_string();
        Ok(Destination {
            address: SocketAddr::new(ip, port).to_string(),
            format: DestinationFormat::X2x3,
            tls: Some(DestTls {
                ca: delivery.ca.clone(),
                cert: delivery.cert.clone(),
                key: delivery.key.clone(),
                server_name: delivery
                    .server_name
                    .clone()
                    .unwrap_or_else(|| ip.to_string()),
            }),
            insecure_plaintext: false,
            keepalive_secs: KEEPALIVE_SECS,
            spool_dir: Some(delivery.spool_dir.join(&name)),
            spool_max_bytes: SPOOL_MAX_BYTES,
            directory: None,
            // X2/X3 carries the target's packet, as the ADMF's task asks.
            content_scope: crate::model::ContentScope::TargetPacket,
            name,
        })
    }
}

fn unsupported_address(what: &str) -> X1Error {
    X1Error::new(
        ErrorCode::UnsupportedDeliveryAddressType,
        format!("{what}: this NE delivers X2/X3 over TLS to an IP address and TCP port"),
    )
}

fn unknown_did(did: Uuid) -> X1Error {
    X1Error::new(ErrorCode::DidDoesNotExist, format!("no destination {did}"))
}

/// The request type's "generic failure" code.
fn generic(kind: Kind) -> ErrorCode {
    match kind {
        Kind::ActivateTask => ErrorCode::GenericActivateTaskFailure,
        Kind::ModifyTask => ErrorCode::GenericModifyTaskFailure,
        Kind::DeactivateTask => ErrorCode::GenericDeactivateTaskFailure,
        Kind::DeactivateAllTasks => ErrorCode::GenericDeactivateAllTasksFailure,
        Kind::CreateDestination => ErrorCode::GenericCreateDestinationFailure,
        Kind::ModifyDestination => ErrorCode::GenericModifyDestinationFailure,
        Kind::RemoveDestination => ErrorCode::GenericRemoveDestinationFailure,
        Kind::RemoveAllDestinations => ErrorCode::GenericRemoveAllDestinationsFailure,
        _ => ErrorCode::GenericError,
    }
}

/// The X1 error for a refusal of the provisioning service.
fn api_error(kind: Kind, e: ApiError) -> X1Error {
    let destination = matches!(
        kind,
        Kind::CreateDestination | Kind::ModifyDestination | Kind::RemoveDestination
    );
    let code = match e.code {
        "duplicate_xid" => ErrorCode::XidAlreadyExists,
        "duplicate_destination" => ErrorCode::DidAlreadyExists,
        "unknown_destination" => ErrorCode::DidDoesNotExist,
        "destination_in_use" => ErrorCode::DestinationInUse,
        "not_found" if destination => ErrorCode::DidDoesNotExist,
        "not_found" => ErrorCode::XidDoesNotExist,
        _ => generic(kind),
    };
    X1Error::new(code, e.message)
}

/// X2 only is the probe's "headers"; anything with X3 is "content" (which
/// carries its IRI too).
fn mode(d: DeliveryType) -> Mode {
    match d {
        DeliveryType::X2Only => Mode::Headers,
        DeliveryType::X3Only | DeliveryType::X2AndX3 => Mode::Content,
    }
}

/// Most endpoint targets (addresses × ports) one task may stand for: a
/// port range is at most a few hundred ports on a handful of addresses in
/// practice, and every endpoint is a table entry on every worker.
pub const MAX_TASK_ENDPOINTS: usize = 4096;

/// The model's targets of a task's `targets`. Ports combine with the task's
/// addresses: each address with each port of each protocol becomes an
/// endpoint target (`tcp:`/`udp:`), and those addresses are intercepted only
/// on those ports, as the ADMF asked, not as whole addresses. An endpoint
/// target is an exact address and port, so a port without an address, or
/// next to a prefix, MAC or identity (none of which can be narrowed to a
/// port), is refused as an unsupported target identifier; more than
/// [`MAX_TASK_ENDPOINTS`] endpoints as the request's generic failure.
fn task_targets(kind: Kind, targets: &[TargetIdentifier]) -> Result<Vec<String>, X1Error> {
    let ports: Vec<(bool, &Ports)> = targets
        .iter()
        .filter_map(|x| match x {
            TargetIdentifier::Ports { tcp, ports } => Some((*tcp, ports)),
            _ => None,
        })
        .collect();
    if ports.is_empty() {
        return Ok(targets.iter().filter_map(model_target).collect());
    }
    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for x in targets {
        let addr = match x {
            TargetIdentifier::Ipv4(a) => IpAddr::V4(*a),
            TargetIdentifier::Ipv6(a) => IpAddr::V6(*a),
            TargetIdentifier::Ports { .. } => continue,
            other => {
                others.push(other.element());
                continue;
            }
        };
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() || !others.is_empty() {
        let with = if others.is_empty() {
            "no ipv4Address or ipv6Address".to_owned()
        } else {
            others.join(", ")
        };
        return Err(X1Error::new(
            ErrorCode::UnsupportedTargetIdentifierType,
            format!(
                "a port is intercepted only on the task's ipv4Address/ipv6Address targets \
                 (an endpoint is an exact address and port), not with {with}"
            ),
        ));
    }
    let per_address: usize = ports.iter().map(|(_, p)| p.count()).sum();
    let total = per_address.saturating_mul(addrs.len());
    if total > MAX_TASK_ENDPOINTS {
        return Err(X1Error::new(
            generic(kind),
            format!(
                "{} addresses × {per_address} ports are {total} endpoints, \
                 more than the {MAX_TASK_ENDPOINTS} a task may have",
                addrs.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(total);
    for &addr in &addrs {
        for &(tcp, p) in &ports {
            out.extend(
                p.iter()
                    .map(|port| target_to_string(&endpoint_target(addr, port, tcp))),
            );
        }
    }
    // A port named twice is one endpoint.
    let mut seen = HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    Ok(out)
}

/// The model's text of a target (`username:` for an NAI, `sip:`/`tel:` for
/// voice identities).
fn model_target(t: &TargetIdentifier) -> Option<String> {
    let address = match t {
        TargetIdentifier::Ipv4(a) => Target::Ipv4(*a),
        TargetIdentifier::Ipv6(a) => Target::Ipv6(*a),
        TargetIdentifier::Cidr(IpAddr::V4(a), l) => Target::Ipv4Net(*a, *l),
        TargetIdentifier::Cidr(IpAddr::V6(a), l) => Target::Ipv6Net(*a, *l),
        TargetIdentifier::Mac(m) => Target::Mac(*m),
        // Canonical when valid (so ModifyTask compares like with like); else
        // as written, for the model to refuse with its reason.
        TargetIdentifier::Nai(user) => {
            return Some(
                Identity::new("nai", IdentityKind::Username, user)
                    .map_or_else(|_| format!("username:{user}"), |id| id.to_string()),
            )
        }
        TargetIdentifier::SipUri(uri) | TargetIdentifier::TelUri(uri) => {
            return Some(
                Identity::from_sip_uri(uri).map_or_else(|| uri.clone(), |id| id.to_string()),
            )
        }
        TargetIdentifier::E164(number) => {
            let text = format!("e164:{number}");
            return Some(match Identity::parse("e164Number", &text) {
                Some(Ok(id)) => id.to_string(),
                _ => text,
            });
        }
        TargetIdentifier::Unsupported(_) | TargetIdentifier::Ports { .. } => return None,
    };
    Some(target_to_string(&address))
}

/// A task without mediation details gets an LIID derived from its XID: the
/// XID's 16 bytes in URL-safe base64 (22 characters) behind `X1-`, within the
/// 25 characters an LIID may have and never equal for two XIDs.
fn derived_liid(xid: Uuid) -> String {
    format!(
        "X1-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xid.as_bytes())
    )
}

/// A DID is a destination name that is a lower-case UUID.
fn did_of(name: &str) -> Option<Uuid> {
    Uuid::parse_str(name).ok().filter(|u| u.to_string() == name)
}

fn task_response(i: &Intercept) -> TaskResponse {
    TaskResponse {
        details: TaskDetails {
            xid: i.xid,
            // X1 has no type for the DHCP and other RADIUS identities: only
            // usernames (as NAI) and voice identities are shown.
            targets: TargetIdentifier::of_targets(&i.targets)
                .into_iter()
                .chain(
                    i.identities
                        .iter()
                        .filter_map(TargetIdentifier::of_identity),
                )
                .collect(),
            delivery: match i.mode {
                Mode::Headers => DeliveryType::X2Only,
                Mode::Content => DeliveryType::X2AndX3,
            },
            dids: i.destinations.iter().filter_map(|d| did_of(d)).collect(),
            mediation: Some(Mediation {
                liid: i.liid.to_string(),
                start: Some(i.valid_from),
                end: (i.valid_until != OPEN_END).then_some(i.valid_until),
            }),
        },
        status: if i.state == InterceptState::Active {
            Status::Complete
        } else {
            Status::Awaiting
        },
    }
}

fn destination_details(d: &Destination) -> Option<DestinationDetails> {
    let did = did_of(&d.name)?;
    let address = match d.address.parse::<SocketAddr>() {
        Ok(a) => DeliveryAddress::Tcp(a.ip(), a.port()),
        Err(_) => DeliveryAddress::Uri(match &d.directory {
            Some(dir) => format!("file://{}", dir.display()),
            None => format!("tcp://{}", d.address),
        }),
    };
    Some(DestinationDetails {
        did,
        friendly_name: None,
        delivery: DeliveryType::X2AndX3,
        address,
    })
}
