//! The call tracker: registrations and dialogs by Call-ID and tags, and the
//! media each call negotiated, from SIP messages in receive order.
//!
//! Rules (RFC 3261, 3264):
//! - An INVITE without To tag starts a call; its messages are those with its
//!   Call-ID and its From tag as From or To tag. A REGISTER starts a
//!   registration (by Call-ID; role `Registrant`), its 2xx binds the Contacts
//!   listed to the address of record for Expires seconds (header of the 2xx,
//!   else of the REGISTER, else 3600); Expires 0 or no Contact ends it
//!   (`Unregistered`), so does its lapse.
//! - Each side's SDP gives where it receives: per stream the RTP port and
//!   (unless `a=rtcp-mux`) the RTCP port; port 0, `a=inactive` and
//!   `c=0.0.0.0` receive nothing, `sendonly` keeps its endpoints (RTCP still
//!   reaches them, and the peer's `recvonly` side still gets RTP).
//! - Media are added when the SDP naming them is seen: the offerer's at the
//!   offer (early media, and RTP the answerer sends before the mirror shows
//!   the answer), the answerer's at the answer, each fork's early answer on
//!   its own. An offer in a request (re-INVITE, UPDATE) keeps the side's
//!   previous endpoints until the request's final response, so media in
//!   flight during the change are not lost; a failed offer restores them.
//!   The 2xx to the INVITE picks its dialog; the other forks' media go.
//! - Only the endpoints whose address or port changed are removed and added.
//!   An endpoint another call names is taken from the call holding it
//!   (`MediaRemoved` for that one first): an endpoint has one call at a time.
//! - A 401/407 to the INVITE or REGISTER waits for the authenticated retry
//!   (same Call-ID, next CSeq). A 3xx to the INVITE is a redirect: the call
//!   waits for the caller's retry to a new target (same Call-ID and From tag,
//!   next CSeq) until 32 s pass without a message of it, then ends
//!   `Rejected` with the 3xx. Any other final status of 300 or more ends the
//!   call (`Rejected`, `Cancelled` for the 487 after a CANCEL). A challenged
//!   or redirected offer is withdrawn like any failed one.
//! - An ended call's entry stays 32 s: messages of its dialog in that time
//!   (200 to the BYE, ACK of a final response, a retry on the same Call-ID
//!   and From tag) are reported as its messages and change nothing.
//! - Parties: those the first INVITE names (`Started`), and those a later
//!   INVITE of the call names first (`Joined`): a proxy's retargeted or
//!   forwarded copy (same Call-ID, From tag and CSeq, no To tag, a new
//!   Request-URI or To), or the caller's retry after a 3xx. The call keeps
//!   its reference (one correlation number), and a party is never removed:
//!   whoever was called first stays a party. A joined party's share of the
//!   call starts with the INVITE that named it: that INVITE and every later
//!   message, the media the call receives on at that moment from then on,
//!   and any negotiated later. Nothing of the call before (earlier messages,
//!   media before) is reported as theirs, unless they were a party already,
//!   in any role; [`CallTracker::active`] reports media from then on too.

mod entry;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use entry::{Entry, Kind, Phase, SdpMethod};

use super::call::{CallChange, CallEnd, CallRef, MediaEndpoint, Party, Role};
use super::config::VoiceConfig;
use super::sip::{Method, SipMessage, StartLine};
use crate::model::Identity;

const NS: u64 = 1_000_000_000;
/// How long an ended call's closing messages still count as the call's (64·T1).
const LINGER_NS: u64 = 32 * NS;
/// Registration lifetime when neither the 2xx nor the REGISTER says (RFC 3261 §10.2.1.1).
const DEFAULT_EXPIRES: u32 = 3600;
/// Most dialogs one Call-ID may hold (each looked up in turn).
const MAX_PER_CALL_ID: usize = 8;

/// Every call and registration the mirror shows, targeted or not (a warrant
/// provisioned mid-call takes effect at once).
pub struct CallTracker {
    setup_ns: u64,
    call_ns: u64,
    max_calls: usize,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_call_id: HashMap<Arc<str>, u32>,
    /// The call each followed endpoint belongs to.
    owners: HashMap<MediaEndpoint, u32>,
    /// Registered contact (see [`contact_key`]) -> its registration.
    contacts: HashMap<Arc<str>, u32>,
    /// Live entries by deadline.
    deadlines: BTreeSet<(u64, u32)>,
    /// Ended entries in the order they go.
    lingering: VecDeque<(u64, u32, CallRef)>,
    live: usize,
    next_ref: u64,
    refused: u64,
}

impl CallTracker {
    /// An empty tracker with `cfg`'s timeouts and call limit.
    #[must_use]
    pub fn new(cfg: &VoiceConfig) -> Self {
        Self {
            setup_ns: u64::from(cfg.setup_timeout_secs) * NS,
            call_ns: u64::from(cfg.call_timeout_secs) * NS,
            max_calls: cfg.max_calls,
            slots: Vec::new(),
            free: Vec::new(),
            by_call_id: HashMap::new(),
            owners: HashMap::new(),
            contacts: HashMap::new(),
            deadlines: BTreeSet::new(),
            lingering: VecDeque::new(),
            live: 0,
            next_ref: 1,
            refused: 0,
        }
    }

    /// Applies one message received at `ts_ns` from `src` to `dst`; appends
    /// what changed to `out`.
    pub fn apply(
        &mut self,
        ts_ns: u64,
        _src: SocketAddr,
        _dst: SocketAddr,
        msg: &SipMessage,
        out: &mut Vec<CallChange>,
    ) {
        let (slot, fresh) = match self.find(msg) {
            Some(s) => (s, false),
            None => match self.start(ts_ns, msg, out) {
                Some(s) => (s, true),
                None => return,
            },
        };
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let (id, kind, phase) = (e.id, e.kind, e.phase);
        if phase != Phase::Ended {
            match kind {
                Kind::Call => self.on_call(slot, fresh, ts_ns, msg, out),
                Kind::Registration => self.on_register(slot, ts_ns, msg, out),
            }
        }
        out.push(CallChange::Message { call: id, ts_ns });
    }

    /// Ends calls and registrations whose timeout passed by `now_ns`.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<CallChange>) {
        while let Some(&(deadline, slot)) = self.deadlines.first() {
            if deadline > now_ns {
                break;
            }
            self.deadlines.remove(&(deadline, slot));
            let reason = match self
                .entry_mut(slot)
                .map(|e| (e.kind, e.phase, e.redirected))
            {
                Some((Kind::Registration, Phase::Up, _)) => CallEnd::Unregistered,
                Some((_, _, Some(status))) => CallEnd::Rejected(status),
                _ => CallEnd::Timeout,
            };
            self.end(slot, deadline, reason, out);
        }
        while self.lingering.front().is_some_and(|l| l.0 <= now_ns) {
            self.drop_lingering();
        }
    }

    /// The calls in progress and their parties and media (for a warrant
    /// provisioned while they are up): appends a `Started` (and `Answered`
    /// if it was) and a `MediaAdded` per current endpoint of each call
    /// naming one of `parties`, the endpoint's time no earlier than the
    /// first of them was a party.
    pub fn active(&self, parties: &dyn Fn(&Party) -> bool, out: &mut Vec<CallChange>) {
        let live = self.slots.iter().flatten();
        for e in live.filter(|e| e.phase != Phase::Ended) {
            let since = match e.parties.iter().any(parties) {
                true => Some(e.started_ns),
                false => e.joined.iter().filter(|j| parties(&j.0)).map(|j| j.1).min(),
            };
            let Some(since) = since else {
                continue;
            };
            out.push(CallChange::Started {
                call: e.id,
                call_id: e.call_id.to_string(),
                parties: e.all_parties().cloned().collect(),
                ts_ns: e.started_ns,
            });
            if e.kind == Kind::Call && e.phase == Phase::Up {
                out.push(CallChange::Answered {
                    call: e.id,
                    ts_ns: e.answered_ns,
                });
            }
            out.extend(
                e.media
                    .iter()
                    .map(|&(endpoint, ts_ns)| CallChange::MediaAdded {
                        call: e.id,
                        endpoint,
                        ts_ns: ts_ns.max(since),
                    }),
            );
        }
    }

    /// Calls tracked now.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.live
    }

    /// New calls and registrations not tracked because `max_calls` were.
    #[must_use]
    pub fn refused_calls(&self) -> u64 {
        self.refused
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The entry `msg` belongs to, by Call-ID and tags.
    fn find(&self, msg: &SipMessage) -> Option<u32> {
        let register = msg.cseq.1 == Method::Register;
        let (from, to) = (msg.from.tag.as_deref(), msg.to.tag.as_deref());
        let mut at = self.by_call_id.get(msg.call_id.as_str()).copied();
        while let Some(slot) = at {
            let e = self.slots.get(slot as usize)?.as_ref()?;
            if (e.kind == Kind::Registration) == register && e.owns(from, to) {
                return Some(slot);
            }
            at = e.next;
        }
        None
    }

    /// A new call (INVITE without To tag) or registration; `Started`.
    fn start(&mut self, ts_ns: u64, msg: &SipMessage, out: &mut Vec<CallChange>) -> Option<u32> {
        let StartLine::Request { method, uri } = &msg.start else {
            return None;
        };
        let (kind, parties) = match method {
            Method::Invite if msg.to.tag.is_none() => (Kind::Call, self.call_parties(uri, msg)),
            Method::Register => {
                let aor = Identity::from_sip_uri(&msg.to.uri)?;
                let registrant = Party {
                    identity: aor,
                    role: Role::Registrant,
                };
                (Kind::Registration, vec![registrant])
            }
            _ => return None,
        };
        let head = self.by_call_id.get_key_value(msg.call_id.as_str());
        let chain = head.map(|(k, &s)| (k.clone(), s));
        if !self.admit(chain.as_ref().map(|c| c.1)) {
            return None;
        }
        let id = CallRef(self.next_ref);
        self.next_ref += 1;
        let call_id = chain
            .as_ref()
            .map_or_else(|| Arc::from(msg.call_id.as_str()), |c| c.0.clone());
        let mut e = Entry::new(id, kind, call_id.clone(), ts_ns);
        e.caller_tag = msg.from.tag.as_deref().map(Into::into);
        e.cseq = msg.cseq.0;
        e.parties = parties;
        e.next = chain.map(|c| c.1);
        out.push(CallChange::Started {
            call: id,
            call_id: msg.call_id.clone(),
            parties: e.parties.clone(),
            ts_ns,
        });
        let slot = match self.free.pop() {
            Some(s) => s,
            None => u32::try_from(self.slots.len()).ok()?,
        };
        match self.slots.get_mut(slot as usize) {
            Some(place) => *place = Some(e),
            None => self.slots.push(Some(e)),
        }
        self.by_call_id.insert(call_id, slot);
        self.live += 1;
        Some(slot)
    }

    /// Whether a new entry fits (under `max_calls` live, at most
    /// [`MAX_PER_CALL_ID`] on the Call-ID chain starting at `head`); makes
    /// room by letting the oldest ended entries go.
    fn admit(&mut self, head: Option<u32>) -> bool {
        let mut same_id = 0;
        let mut at = head;
        while let Some(e) = at
            .and_then(|s| self.slots.get(s as usize))
            .and_then(Option::as_ref)
        {
            same_id += 1;
            at = e.next;
        }
        if self.live >= self.max_calls || same_id >= MAX_PER_CALL_ID {
            self.refused += 1;
            return false;
        }
        while self.slots.len() - self.free.len() >= self.max_calls && !self.lingering.is_empty() {
            self.drop_lingering();
        }
        true
    }

    /// Caller: From and P-Asserted-Identity; Callee: To, Request-URI and the
    /// address of record a registered contact in the Request-URI belongs to.
    fn call_parties(&self, uri: &str, msg: &SipMessage) -> Vec<Party> {
        let callers =
            std::iter::once(msg.from.uri.as_str()).chain(msg.asserted.iter().map(String::as_str));
        let callees = [msg.to.uri.as_str(), uri];
        let mut parties: Vec<Party> = Vec::new();
        let mut add = |identity: Identity, role: Role| {
            let p = Party { identity, role };
            if !parties.contains(&p) {
                parties.push(p);
            }
        };
        for u in callers {
            if let Some(id) = Identity::from_sip_uri(u) {
                add(id, Role::Caller);
            }
        }
        for u in callees {
            if let Some(id) = Identity::from_sip_uri(u) {
                add(id, Role::Callee);
            }
        }
        let aor = self
            .contacts
            .get(contact_key(uri).as_str())
            .and_then(|&s| self.slots.get(s as usize)?.as_ref()?.parties.first());
        if let Some(aor) = aor {
            add(aor.identity.clone(), Role::Callee);
        }
        parties
    }

    fn on_call(
        &mut self,
        slot: u32,
        fresh: bool,
        ts_ns: u64,
        msg: &SipMessage,
        out: &mut Vec<CallChange>,
    ) {
        // Who a later copy or retry of the INVITE names (the first one's
        // parties are the call's already).
        let named = match &msg.start {
            StartLine::Request {
                method: Method::Invite,
                uri,
            } if !fresh && msg.to.tag.is_none() => self.call_parties(uri, msg),
            _ => Vec::new(),
        };
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let mine = e.caller_tag.as_deref();
        let by_caller_tag = msg.from.tag.as_deref() == mine;
        // The callee dialog: the tag that is not the caller's.
        let dialog = if by_caller_tag {
            &msg.to.tag
        } else {
            &msg.from.tag
        };
        let dialog = dialog.as_deref();
        let mut ended = None;
        match &msg.start {
            StartLine::Request { method, .. } => {
                let side = if by_caller_tag {
                    Some(&mut e.caller)
                } else {
                    e.dialog(dialog)
                };
                if let (Some(side), Some(sdp), Some(m)) = (side, &msg.sdp, SdpMethod::of(method)) {
                    side.offer(msg.cseq.0, m, sdp);
                }
                match method {
                    // A copy of the INVITE retargeted by a proxy, or the retry
                    // after a 401/407 challenge or a 3xx redirect.
                    Method::Invite if by_caller_tag && msg.to.tag.is_none() => {
                        if msg.cseq.0 > e.cseq {
                            e.cseq = msg.cseq.0;
                            e.redirected = None;
                        }
                        let new: Vec<Party> = named.into_iter().filter(|p| !e.names(p)).collect();
                        if !new.is_empty() {
                            e.joined.extend(new.iter().map(|p| (p.clone(), ts_ns)));
                            out.push(CallChange::Joined {
                                call: e.id,
                                parties: new,
                                media: e.media.iter().map(|m| m.0).collect(),
                                ts_ns,
                            });
                        }
                    }
                    Method::Cancel if e.phase == Phase::Setup => e.cancelled = true,
                    Method::Bye => ended = Some(CallEnd::Bye),
                    _ => {}
                }
            }
            StartLine::Response { status } => {
                let status = *status;
                let method = SdpMethod::of(&msg.cseq.1);
                if let Some(m) = method.filter(|_| status >= 200) {
                    let requester = if by_caller_tag {
                        Some(&mut e.caller)
                    } else {
                        e.dialog(dialog)
                    };
                    if let Some(side) = requester {
                        side.settle(msg.cseq.0, m, status < 300);
                    }
                }
                if let (Some(sdp), Some(_), true) = (&msg.sdp, method, status < 300) {
                    let responder = if by_caller_tag {
                        e.dialog(dialog)
                    } else {
                        Some(&mut e.caller)
                    };
                    if let Some(side) = responder {
                        side.answer(sdp);
                    }
                }
                let initial = msg.cseq.1 == Method::Invite && msg.cseq.0 == e.cseq && by_caller_tag;
                if initial && e.phase == Phase::Setup {
                    match status {
                        200..=299 => {
                            e.phase = Phase::Up;
                            e.answered_ns = ts_ns;
                            e.cancelled = false;
                            e.pick(dialog);
                            out.push(CallChange::Answered { call: e.id, ts_ns });
                        }
                        401 | 407 => {}
                        487 if e.cancelled => ended = Some(CallEnd::Cancelled),
                        300..=399 if !e.cancelled => e.redirected = Some(status),
                        300.. => ended = Some(CallEnd::Rejected(status)),
                        _ => {}
                    }
                }
            }
        }
        self.sync(slot, ts_ns, out);
        match ended {
            Some(reason) => self.end(slot, ts_ns, reason, out),
            None => self.refresh(slot, ts_ns),
        }
    }

    fn on_register(&mut self, slot: u32, ts_ns: u64, msg: &SipMessage, out: &mut Vec<CallChange>) {
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let status = match &msg.start {
            StartLine::Request { .. } => {
                e.req_expires = msg.expires;
                e.cseq = msg.cseq.0;
                if e.phase == Phase::Setup {
                    self.refresh(slot, ts_ns);
                }
                return;
            }
            StartLine::Response { status } => *status,
        };
        match status {
            200..=299 => {
                let expires = msg.expires.or(e.req_expires).unwrap_or(DEFAULT_EXPIRES);
                if expires == 0 || msg.contacts.is_empty() {
                    self.end(slot, ts_ns, CallEnd::Unregistered, out);
                    return;
                }
                e.phase = Phase::Up;
                let bound: Vec<Arc<str>> = msg
                    .contacts
                    .iter()
                    .map(|c| contact_key(&c.uri).into())
                    .collect();
                let old = std::mem::replace(&mut e.contacts, bound.clone());
                self.unbind(slot, &old);
                for c in bound {
                    self.contacts.insert(c, slot);
                }
                self.set_deadline(slot, ts_ns.saturating_add(u64::from(expires) * NS));
            }
            401 | 407 => {}
            300.. if e.phase == Phase::Setup => {
                self.end(slot, ts_ns, CallEnd::Rejected(status), out);
            }
            _ => {}
        }
    }

    /// Reports the difference between the media the call's sides name and
    /// those reported: removals first, then additions (taking each endpoint
    /// from the call that held it).
    fn sync(&mut self, slot: u32, ts_ns: u64, out: &mut Vec<CallChange>) {
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let call = e.id;
        let wanted = e.wanted();
        let mut gone = Vec::new();
        e.media.retain(|&(ep, _)| {
            let keep = wanted.contains(&ep);
            if !keep {
                gone.push(ep);
            }
            keep
        });
        let new: Vec<MediaEndpoint> = wanted
            .into_iter()
            .filter(|ep| !e.media.iter().any(|(m, _)| m == ep))
            .collect();
        for endpoint in gone {
            self.owners.remove(&endpoint);
            out.push(CallChange::MediaRemoved {
                call,
                endpoint,
                ts_ns,
            });
        }
        for endpoint in new {
            if let Some(holder) = self.owners.insert(endpoint, slot) {
                if let Some(h) = self.entry_mut(holder) {
                    h.forget(endpoint);
                    let call = h.id;
                    out.push(CallChange::MediaRemoved {
                        call,
                        endpoint,
                        ts_ns,
                    });
                }
            }
            if let Some(e) = self.entry_mut(slot) {
                e.media.push((endpoint, ts_ns));
            }
            out.push(CallChange::MediaAdded {
                call,
                endpoint,
                ts_ns,
            });
        }
    }

    /// Media removed, `Ended`; the entry lingers for the closing messages.
    fn end(&mut self, slot: u32, ts_ns: u64, reason: CallEnd, out: &mut Vec<CallChange>) {
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let (call, deadline) = (e.id, e.deadline_ns);
        e.caller.clear();
        e.dialogs.clear();
        let contacts = std::mem::take(&mut e.contacts);
        self.sync(slot, ts_ns, out);
        self.unbind(slot, &contacts);
        self.deadlines.remove(&(deadline, slot));
        if let Some(e) = self.entry_mut(slot) {
            e.phase = Phase::Ended;
            e.shrink();
        }
        self.live = self.live.saturating_sub(1);
        self.lingering
            .push_back((ts_ns.saturating_add(LINGER_NS), slot, call));
        out.push(CallChange::Ended {
            call,
            reason,
            ts_ns,
        });
    }

    /// Frees the oldest ended entry.
    fn drop_lingering(&mut self) {
        let Some((_, slot, call)) = self.lingering.pop_front() else {
            return;
        };
        let place = self.slots.get_mut(slot as usize);
        let Some(e) = place.and_then(|p| p.take_if(|e| e.id == call)) else {
            return;
        };
        // Unlink it from its Call-ID chain.
        let key = e.call_id.clone();
        if self.by_call_id.get(&key) == Some(&slot) {
            match e.next {
                Some(n) => self.by_call_id.insert(key, n),
                None => self.by_call_id.remove(&key),
            };
        } else {
            let mut at = self.by_call_id.get(&key).copied();
            while let Some(p) = at.and_then(|s| self.entry_mut(s)) {
                if p.next == Some(slot) {
                    p.next = e.next;
                    break;
                }
                at = p.next;
            }
        }
        self.free.push(slot);
    }

    fn unbind(&mut self, slot: u32, contacts: &[Arc<str>]) {
        for c in contacts {
            if self.contacts.get(c) == Some(&slot) {
                self.contacts.remove(c);
            }
        }
    }

    /// Signalling seen: the timeout starts again (a registration's only at
    /// its 2xx; a redirected call's is the wait for its retry).
    fn refresh(&mut self, slot: u32, ts_ns: u64) {
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let timeout = match (e.kind, e.phase) {
            (_, Phase::Ended) | (Kind::Registration, Phase::Up) => return,
            (_, Phase::Setup) if e.redirected.is_some() => LINGER_NS,
            (_, Phase::Setup) => self.setup_ns,
            (Kind::Call, Phase::Up) => self.call_ns,
        };
        self.set_deadline(slot, ts_ns.saturating_add(timeout));
    }

    fn set_deadline(&mut self, slot: u32, deadline: u64) {
        let Some(e) = self.entry_mut(slot) else {
            return;
        };
        let old = std::mem::replace(&mut e.deadline_ns, deadline);
        self.deadlines.remove(&(old, slot));
        self.deadlines.insert((deadline, slot));
    }
}

/// A contact or Request-URI as compared: without `<>`, parameters and
/// headers, lower case.
fn contact_key(uri: &str) -> String {
    let uri = uri.trim().trim_start_matches('<');
    uri.split([';', '?', '>'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}
