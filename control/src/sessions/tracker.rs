//! The session tracker: every subscriber's current bindings, from signalling,
//! with expiry; reports each change as a [`BindingChange`].
//!
//! It keeps every subscriber's bindings, targeted or not, so that a warrant
//! provisioned in the middle of a session takes effect at once. The rules:
//!
//! - **RADIUS** sessions are keyed by (NAS address, Acct-Session-Id). A Start
//!   reports [`BindingChange::Started`] with the assigned Framed-IP-Address,
//!   Framed-IPv6-Prefix, Delegated-IPv6-Prefix and Framed-IPv6-Address. An
//!   Interim-Update reports [`BindingChange::Updated`] when the addresses or
//!   identities changed, else [`BindingChange::Refreshed`] (new expiry); an
//!   Interim (or a repeated Start) for an unknown session starts it: the probe
//!   missed the Start or restarted. A Stop ends the session at the Stop's
//!   receive time ([`EndReason::Signalled`]); Accounting-On and -Off end every
//!   session of that NAS ([`EndReason::NasRestart`]), and no other, at their
//!   receive time. A NAS may hold a million sessions: they are ended at once
//!   in what the tracker shows (lookups, [`Tracker::bindings_of`],
//!   [`Tracker::settle`]) but reported [`END_PER_PASS`] at a time, by the
//!   restart's signal and then [`Tracker::end_pending`], so no single call
//!   stalls the signalling path. Signalling that meets such a session (its
//!   Stop, its reused key or address) reports its end at the restart's time first.
//!   The restarts still pending ([`Tracker::pending_restarts`]) are what the
//!   daemon persists so that [`Tracker::restore`] ends the rest after a crash. A session
//!   lapses `radius_session_timeout_secs` after its last message.
//! - **DHCPv4** leases are keyed by (server or relay, client, address), the
//!   client being its client identifier if the message has one, else its
//!   chaddr. An ACK starts a lease or renews it, until the lease time plus
//!   `dhcp_lease_grace_secs`; an ACK for an address the same client already
//!   leases is that lease, even when seen through another server or relay. A
//!   RELEASE or DECLINE ends the lease of that address only if the client that
//!   sends it is the lease's (same client identifier and chaddr, where both
//!   name one): a subscriber must not end another's lease, and such a message
//!   is ignored and counted ([`Ignored::foreign_release`]). A NAK ends the
//!   client's leases last granted or renewed through that server or relay.
//! - **DHCPv6** leases are keyed by (DUID, address or prefix). A Reply with a
//!   valid lifetime above 0 starts or renews one; a lifetime of 0, a Release or
//!   a Decline ends it (only the same DUID's, as the key says).
//! - A lease without a lifetime lapses like a RADIUS session without interim.
//! - Signalling that names no address leaves a session's addresses as they
//!   were; signalling that names an identity kind replaces the session's
//!   identities of that kind and keeps the others (a unicast DHCP renewal
//!   carries no option 82, an Interim may omit Calling-Station-Id).
//! - **Address reuse**: an address or prefix is held by one binding at a time.
//!   When a session is given one that overlaps what another still holds (its
//!   Stop or RELEASE was missed), the other's hold ends first, in `out` order:
//!   [`EndReason::Superseded`] if that was all it held, else an `Updated`
//!   without it. Prefixes overlap when either contains the other.
//! - **Static assignments** ([`Tracker::set_static`]) are bindings of protocol
//!   `Static` that never expire, removed by [`Tracker::remove_static`]. They
//!   are authoritative for their addresses: a static assignment takes an
//!   address from the dynamic binding holding it, but a dynamic binding is
//!   never given an address or prefix overlapping a static assignment (that
//!   part of the signal is refused and counted, [`Ignored::static_assigned`];
//!   a session left with nothing of what it was given is not changed).
//!
//! Costs: the bindings live in a slab; an ordered map of keys, an ordered set of
//! (identity, slot), an ordered map of held prefixes and an ordered set of
//! (expiry, slot) index them, so a signal costs a few logarithmic look-ups and
//! [`Tracker::expire`] with nothing due one.

mod holds;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Bound;

use dataplane::targets::Target;

use self::holds::{Holds, Prefix};
use super::signal::{Assigned, SignalEvent};
use super::{
    Binding, BindingChange, BindingId, EndReason, Nas, NasRestart, Protocol, SessionsConfig, Signal,
};
use crate::model::{Identity, IdentityKind};

const NS_PER_SEC: u64 = 1_000_000_000;

/// The most sessions a NAS restart's signal, or one [`Tracker::end_pending`],
/// reports ended (about 15 ms of work on one core).
pub const END_PER_PASS: usize = 4096;

/// A NAS restart whose sessions are still being reported ended.
struct Restart {
    /// The NAS and the receive time: its sessions started by then ended then.
    of: NasRestart,
    /// Key prefix of the NAS's sessions.
    prefix: String,
    /// The last key reported so far (`None`: none yet).
    cursor: Option<String>,
}

/// Signals that changed nothing although they name a session, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ignored {
    /// Stop, RELEASE, DECLINE, lifetime 0 for a session or lease not held.
    pub unknown_session: u64,
    /// RELEASE, DECLINE or Release of an address another client holds.
    pub foreign_release: u64,
    /// RADIUS accounting without NAS or Acct-Session-Id, DHCP without a
    /// client identity (chaddr, client id, DUID).
    pub incomplete: u64,
    /// Signalling that gave a dynamic session an address or prefix
    /// overlapping a static assignment (refused).
    pub static_assigned: u64,
}

/// Whether `a` and `b` share an address (one contains the other); MACs and
/// endpoints share none.
#[must_use]
pub fn overlap(a: &Target, b: &Target) -> bool {
    matches!((Prefix::of(a), Prefix::of(b)), (Some(p), Some(q)) if p.overlaps(q))
}

/// Current bindings of every subscriber seen (targeted or not).
pub struct Tracker {
    radius_timeout_ns: u64,
    lease_grace_ns: u64,
    slots: Vec<Option<Binding>>,
    free: Vec<u32>,
    len: usize,
    ids: BTreeMap<String, u32>,
    by_identity: BTreeSet<(Identity, u32)>,
    by_expiry: BTreeSet<(u64, u32)>,
    holds: Holds,
    ignored: Ignored,
    /// In signalling order.
    restarts: Vec<Restart>,
    /// Scratch buffers, kept to spare an allocation per signal.
    key: String,
    overlaps: Vec<(Prefix, u32)>,
    ending: Vec<u32>,
}

impl Tracker {
    /// An empty tracker with `cfg`'s timeouts.
    #[must_use]
    pub fn new(cfg: &SessionsConfig) -> Self {
        Self {
            radius_timeout_ns: u64::from(cfg.radius_session_timeout_secs) * NS_PER_SEC,
            lease_grace_ns: u64::from(cfg.dhcp_lease_grace_secs) * NS_PER_SEC,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            ids: BTreeMap::new(),
            by_identity: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            holds: Holds::default(),
            ignored: Ignored::default(),
            restarts: Vec::new(),
            key: String::new(),
            overlaps: Vec::new(),
            ending: Vec::new(),
        }
    }

    /// Applies one signal; appends the changes it makes to `out`, in order
    /// (an address taken over from another session ends that one first).
    pub fn apply(&mut self, signal: &Signal, out: &mut Vec<BindingChange>) {
        use SignalEvent as E;
        match (signal.protocol, signal.event) {
            (Protocol::Radius, E::AccountingStart | E::AccountingInterim) => {
                self.radius_session(signal, out);
            }
            (Protocol::Radius, E::AccountingStop) => self.radius_stop(signal, out),
            (Protocol::Radius, E::AccountingOn | E::AccountingOff) => {
                self.nas_restart(signal, out);
            }
            (Protocol::Dhcp4, E::LeaseGranted) => self.dhcp4_granted(signal, out),
            (Protocol::Dhcp4, E::LeaseReleased | E::LeaseDeclined) => {
                self.dhcp4_released(signal, out);
            }
            (Protocol::Dhcp4, E::LeaseRefused) => self.dhcp4_refused(signal, out),
            (Protocol::Dhcp6, E::LeaseGranted) => self.dhcp6_reply(signal, out),
            (Protocol::Dhcp6, E::LeaseReleased | E::LeaseDeclined) => {
                self.dhcp6_released(signal, out);
            }
            // Access-Request/Accept/Reject bind nothing (their IRI needs no tracker).
            _ => {}
        }
    }

    /// Ends every binding whose expiry is at or before `now_ns`, at its expiry
    /// time, earliest first.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<BindingChange>) {
        while let Some(&(at, slot)) = self.by_expiry.first() {
            if at > now_ns {
                break;
            }
            self.end(slot, at, EndReason::Expired, out);
        }
    }

    /// Loads bindings saved before a restart. Those a saved NAS restart
    /// (`restarts`: whose ends were still pending at a crash) ended are reported
    /// ended at its time, those expired by `now_ns` at their expiry time,
    /// earliest first; the others are kept without a report. Saved bindings
    /// that overlap are resolved as signalling would: the one updated last
    /// keeps the address.
    pub fn restore(
        &mut self,
        saved: Vec<Binding>,
        restarts: &[NasRestart],
        now_ns: u64,
        out: &mut Vec<BindingChange>,
    ) {
        let restarts: Vec<Restart> = restarts.iter().map(|&r| Restart::new(r)).collect();
        let mut gone = Vec::new();
        let mut kept = Vec::new();
        for b in saved {
            match restart_of(&restarts, &b) {
                Some(at) if at < b.expires_ns => gone.push((at, EndReason::NasRestart, b)),
                _ if b.expires_ns <= now_ns => gone.push((b.expires_ns, EndReason::Expired, b)),
                _ => kept.push(b),
            }
        }
        gone.sort_by_key(|&(at, ..)| at);
        out.extend(
            gone.into_iter()
                .map(|(at_ns, reason, binding)| BindingChange::Ended {
                    at_ns,
                    binding,
                    reason,
                }),
        );
        kept.sort_by_key(|b| b.updated_ns);
        for mut b in kept {
            b.addresses = canonical(b.addresses.iter());
            let existing = self.ids.get(&b.id.0).copied();
            let ts = b.updated_ns;
            self.place(existing, b, ts, false, out);
        }
    }

    /// Assigns `addresses` to the static customer `subscriber` from `now_ns`
    /// (an empty list removes the assignment).
    pub fn set_static(
        &mut self,
        subscriber: Identity,
        addresses: Vec<Target>,
        now_ns: u64,
        out: &mut Vec<BindingChange>,
    ) {
        let addresses = canonical(addresses.iter());
        if addresses.is_empty() {
            self.remove_static(&subscriber, now_ns, out);
            return;
        }
        let id = static_id(&subscriber);
        let existing = self.ids.get(&id).copied();
        let started_ns = existing
            .and_then(|s| self.binding(s))
            .map_or(now_ns, |b| b.started_ns);
        let new = Binding {
            id: BindingId(id),
            protocol: Protocol::Static,
            identities: vec![subscriber],
            addresses,
            nas: None,
            session_id: None,
            started_ns,
            updated_ns: now_ns,
            expires_ns: u64::MAX,
        };
        self.place(existing, new, now_ns, true, out);
    }

    /// Ends the static assignment of `subscriber`, if any ([`EndReason::Removed`]).
    pub fn remove_static(
        &mut self,
        subscriber: &Identity,
        now_ns: u64,
        out: &mut Vec<BindingChange>,
    ) {
        if let Some(&slot) = self.ids.get(&static_id(subscriber)) {
            self.end(slot, now_ns, EndReason::Removed, out);
        }
    }

    /// Current bindings naming `identity`.
    #[must_use]
    pub fn bindings_of(&self, identity: &Identity) -> Vec<&Binding> {
        let from = (identity.clone(), 0);
        let to = (identity.clone(), u32::MAX);
        self.by_identity
            .range(from..=to)
            .filter_map(|&(_, s)| self.current(s))
            .collect()
    }

    /// The binding holding `addr`: the one with the longest prefix containing
    /// it (a host address is a full-length prefix).
    #[must_use]
    pub fn binding_of_address(&self, addr: IpAddr) -> Option<&Binding> {
        self.holds.longest(addr).and_then(|s| self.current(s))
    }

    /// The current binding with key `id`.
    #[must_use]
    pub fn get(&self, id: &BindingId) -> Option<&Binding> {
        self.ids.get(&id.0).and_then(|&s| self.current(s))
    }

    /// Every current binding, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        self.slots
            .iter()
            .flatten()
            .filter(|b| self.restart_of(b).is_none())
    }

    /// Reports now the end of binding `id` if a NAS restart ended it and its
    /// report is still pending (for the bindings whose end must not wait:
    /// those of targeted subscribers).
    pub fn settle(&mut self, id: &BindingId, out: &mut Vec<BindingChange>) {
        if let Some(&slot) = self.ids.get(&id.0) {
            if let Some(at) = self.binding(slot).and_then(|b| self.restart_of(b)) {
                self.end(slot, at, EndReason::NasRestart, out);
            }
        }
    }

    /// Reports up to [`END_PER_PASS`] more sessions ended by NAS restarts, at
    /// their restart's time; `true` if some are left for a later call.
    pub fn end_pending(&mut self, out: &mut Vec<BindingChange>) -> bool {
        let mut budget = END_PER_PASS;
        while budget > 0 {
            let Some(r) = self.restarts.first() else {
                return false;
            };
            let (prefix, at_ns) = (r.prefix.clone(), r.of.at_ns);
            let from = match &r.cursor {
                Some(c) => Bound::Excluded(c.as_str()),
                None => Bound::Included(prefix.as_str()),
            };
            self.ending.clear();
            let mut scanned = 0;
            let mut last = None;
            for (k, &slot) in self
                .ids
                .range::<str, _>((from, Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                .take(budget)
            {
                scanned += 1;
                last = Some(k);
                // Sessions started after the restart are not its.
                if self.binding(slot).is_some_and(|b| b.started_ns <= at_ns) {
                    self.ending.push(slot);
                }
            }
            let cursor = last.cloned();
            // Ended after the scan (the scan borrows the index), while the
            // restart still marks them: an earlier restart's time wins.
            self.end_collected(at_ns, EndReason::NasRestart, out);
            budget -= scanned;
            if budget > 0 {
                // The scan ran out of the NAS's keys: this restart is done.
                self.restarts.remove(0);
            } else if let Some(r) = self.restarts.first_mut() {
                r.cursor = cursor;
            }
        }
        !self.restarts.is_empty()
    }

    /// The NAS restarts whose sessions are not all reported ended yet, in
    /// signalling order: what a restarted probe must still end (see
    /// [`Tracker::restore`]).
    pub fn pending_restarts(&self) -> impl Iterator<Item = NasRestart> + '_ {
        self.restarts.iter().map(|r| r.of)
    }

    /// The earliest expiry of a current binding (`None`: nothing expires).
    #[must_use]
    pub fn next_expiry_ns(&self) -> Option<u64> {
        self.by_expiry.first().map(|&(at, _)| at)
    }

    /// Signals that changed nothing, by reason, since the tracker was made.
    #[must_use]
    pub fn ignored(&self) -> Ignored {
        self.ignored
    }

    /// Number of bindings held, counting those a NAS restart ended until
    /// [`Tracker::end_pending`] reports them.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No current binding.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn binding(&self, slot: u32) -> Option<&Binding> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// The binding in `slot`, unless a NAS restart ended it.
    fn current(&self, slot: u32) -> Option<&Binding> {
        self.binding(slot).filter(|b| self.restart_of(b).is_none())
    }

    /// When a NAS restart whose report is pending ended `b`, if one did.
    fn restart_of(&self, b: &Binding) -> Option<u64> {
        restart_of(&self.restarts, b)
    }

    /// `slot`, if it holds a binding a NAS restart has not ended; if one has,
    /// reports that end first.
    fn live(&mut self, slot: Option<u32>, out: &mut Vec<BindingChange>) -> Option<u32> {
        let slot = slot?;
        match self.binding(slot).and_then(|b| self.restart_of(b)) {
            Some(at) => {
                self.end(slot, at, EndReason::NasRestart, out);
                None
            }
            None => Some(slot),
        }
    }

    fn radius_session(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let (Some(nas), Some(sid)) = (&s.nas, &s.session_id) else {
            self.ignored.incomplete += 1;
            return;
        };
        self.set_key(format_args!("radius|{}|{sid}", nas.address));
        let existing = self.live(self.ids.get(&self.key).copied(), out);
        let expires = s.ts_ns.saturating_add(self.radius_timeout_ns);
        let addresses = canonical(s.assigned.iter().map(|a| &a.target));
        let new = self.session_state(existing, s, addresses, expires);
        self.place(existing, new, s.ts_ns, true, out);
    }

    fn radius_stop(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let (Some(nas), Some(sid)) = (&s.nas, &s.session_id) else {
            self.ignored.incomplete += 1;
            return;
        };
        self.set_key(format_args!("radius|{}|{sid}", nas.address));
        match self.ids.get(&self.key).copied() {
            Some(slot) => self.end(slot, s.ts_ns, EndReason::Signalled, out),
            None => self.ignored.unknown_session += 1,
        }
    }

    fn nas_restart(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let Some(nas) = &s.nas else {
            self.ignored.incomplete += 1;
            return;
        };
        self.restarts.push(Restart::new(NasRestart {
            nas: nas.address,
            at_ns: s.ts_ns,
        }));
        self.end_pending(out);
    }

    fn dhcp4_granted(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let Some(client) = dhcp4_client(&s.identities) else {
            self.ignored.incomplete += 1;
            return;
        };
        for a in &s.assigned {
            let Some(p) = Prefix::of(&a.target) else {
                continue;
            };
            // The same client's lease of this address, whoever relayed it.
            let existing = self.holds.get(p).filter(|&slot| {
                self.binding(slot).is_some_and(|b| {
                    b.protocol == Protocol::Dhcp4
                        && b.addresses == [p.target()]
                        && same_dhcp4_client(&b.identities, &s.identities)
                })
            });
            if a.lifetime_secs == Some(0) {
                self.end_or_count(existing, s.ts_ns, out);
                continue;
            }
            let existing = existing.or_else(|| {
                self.set_key(format_args!(
                    "dhcp4|{}|{client}|{p}",
                    NasAddr(s.nas.as_ref())
                ));
                self.ids.get(&self.key).copied()
            });
            let expires = self.lease_expiry(s.ts_ns, a);
            let new = self.session_state(existing, s, vec![p.target()], expires);
            self.place(existing, new, s.ts_ns, true, out);
        }
    }

    fn dhcp4_released(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        if dhcp4_client(&s.identities).is_none() {
            self.ignored.incomplete += 1;
            return;
        }
        for p in s.assigned.iter().filter_map(|a| Prefix::of(&a.target)) {
            match self.holds.get(p) {
                Some(slot)
                    if self.binding(slot).is_some_and(|b| {
                        b.protocol == Protocol::Dhcp4
                            && same_dhcp4_client(&b.identities, &s.identities)
                    }) =>
                {
                    self.end(slot, s.ts_ns, EndReason::Signalled, out);
                }
                Some(_) => self.ignored.foreign_release += 1,
                None => self.ignored.unknown_session += 1,
            }
        }
    }

    fn dhcp4_refused(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let Some(client) = dhcp4_client(&s.identities) else {
            self.ignored.incomplete += 1;
            return;
        };
        let server = s.nas.as_ref().map(|n| n.address);
        self.ending.clear();
        let slots = &self.slots;
        self.ending.extend(
            self.by_identity
                .range((client.clone(), 0)..=(client.clone(), u32::MAX))
                .map(|&(_, slot)| slot)
                .filter(|&slot| {
                    slots
                        .get(slot as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|b| {
                            b.protocol == Protocol::Dhcp4
                                && b.nas.as_ref().map(|n| n.address) == server
                        })
                }),
        );
        self.end_collected(s.ts_ns, EndReason::Signalled, out);
    }

    fn dhcp6_reply(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let Some(duid) = s.identity(IdentityKind::Dhcpv6Duid) else {
            self.ignored.incomplete += 1;
            return;
        };
        for a in &s.assigned {
            let Some(p) = Prefix::of(&a.target) else {
                continue;
            };
            self.set_key(format_args!("dhcp6|{}|{p}", duid.value()));
            let existing = self.ids.get(&self.key).copied();
            if a.lifetime_secs == Some(0) {
                self.end_or_count(existing, s.ts_ns, out);
                continue;
            }
            let expires = self.lease_expiry(s.ts_ns, a);
            let new = self.session_state(existing, s, vec![p.target()], expires);
            self.place(existing, new, s.ts_ns, true, out);
        }
    }

    fn dhcp6_released(&mut self, s: &Signal, out: &mut Vec<BindingChange>) {
        let Some(duid) = s.identity(IdentityKind::Dhcpv6Duid) else {
            self.ignored.incomplete += 1;
            return;
        };
        for p in s.assigned.iter().filter_map(|a| Prefix::of(&a.target)) {
            self.set_key(format_args!("dhcp6|{}|{p}", duid.value()));
            match self.ids.get(&self.key).copied() {
                Some(slot) => self.end(slot, s.ts_ns, EndReason::Signalled, out),
                None if self.holds.get(p).is_some() => self.ignored.foreign_release += 1,
                None => self.ignored.unknown_session += 1,
            }
        }
    }

    fn end_or_count(&mut self, slot: Option<u32>, ts: u64, out: &mut Vec<BindingChange>) {
        match slot {
            Some(slot) => self.end(slot, ts, EndReason::Signalled, out),
            None => self.ignored.unknown_session += 1,
        }
    }

    fn lease_expiry(&self, ts: u64, a: &Assigned) -> u64 {
        let life = a
            .lifetime_secs
            .map_or(self.radius_timeout_ns, |s| u64::from(s) * NS_PER_SEC);
        ts.saturating_add(life).saturating_add(self.lease_grace_ns)
    }

    /// `self.key` := `args`.
    fn set_key(&mut self, args: std::fmt::Arguments<'_>) {
        self.key.clear();
        // Writing to a String cannot fail.
        let _ = self.key.write_fmt(args);
    }

    /// The session `existing` (or a new one keyed `self.key`) after `s`:
    /// `addresses` if any, identities replaced kind by kind.
    fn session_state(
        &self,
        existing: Option<u32>,
        s: &Signal,
        addresses: Vec<Target>,
        expires_ns: u64,
    ) -> Binding {
        match existing.and_then(|slot| self.binding(slot)) {
            Some(old) => Binding {
                id: old.id.clone(),
                protocol: old.protocol,
                identities: merged(&old.identities, &s.identities),
                addresses: if addresses.is_empty() {
                    old.addresses.clone()
                } else {
                    addresses
                },
                nas: s.nas.clone().or_else(|| old.nas.clone()),
                session_id: old.session_id.clone(),
                started_ns: old.started_ns,
                updated_ns: s.ts_ns.max(old.updated_ns),
                expires_ns,
            },
            None => Binding {
                id: BindingId(self.key.clone()),
                protocol: s.protocol,
                identities: merged(&[], &s.identities),
                addresses,
                nas: s.nas.clone(),
                session_id: s.session_id.clone(),
                started_ns: s.ts_ns,
                updated_ns: s.ts_ns,
                expires_ns,
            },
        }
    }

    /// Makes `new` current (replacing `existing`), first ending other bindings'
    /// holds on what it overlaps; reports it if `announce`.
    fn place(
        &mut self,
        existing: Option<u32>,
        mut new: Binding,
        ts: u64,
        announce: bool,
        out: &mut Vec<BindingChange>,
    ) {
        let mut overlaps = std::mem::take(&mut self.overlaps);
        if new.protocol != Protocol::Static {
            let given = new.addresses.len();
            new.addresses
                .retain(|t| !self.static_overlap(t, &mut overlaps));
            if new.addresses.len() < given {
                self.ignored.static_assigned += 1;
                if new.addresses.is_empty() {
                    self.overlaps = overlaps;
                    return;
                }
            }
        }
        overlaps.clear();
        for p in new.addresses.iter().filter_map(Prefix::of) {
            self.holds.overlapping(p, &mut overlaps);
        }
        overlaps.retain(|&(_, slot)| Some(slot) != existing);
        overlaps.sort_unstable_by_key(|&(p, slot)| (slot, p));
        overlaps.dedup();
        for group in overlaps.chunk_by(|a, b| a.1 == b.1) {
            if let Some(&(_, slot)) = group.first() {
                self.drop_holds(slot, group, ts, out);
            }
        }
        self.overlaps = overlaps;
        match existing {
            Some(slot) => self.replace(slot, new, announce, out),
            None => self.insert(new, announce, out),
        }
    }

    /// Whether `t` overlaps what a static assignment holds (`scratch`: a buffer).
    fn static_overlap(&self, t: &Target, scratch: &mut Vec<(Prefix, u32)>) -> bool {
        let Some(p) = Prefix::of(t) else {
            return false;
        };
        scratch.clear();
        self.holds.overlapping(p, scratch);
        scratch.iter().any(|&(_, slot)| {
            self.binding(slot)
                .is_some_and(|b| b.protocol == Protocol::Static)
        })
    }

    /// Ends `slot`'s hold on the prefixes of `lost` at `ts`: the whole binding
    /// if nothing else is left to it.
    fn drop_holds(
        &mut self,
        slot: u32,
        lost: &[(Prefix, u32)],
        ts: u64,
        out: &mut Vec<BindingChange>,
    ) {
        let Some(old) = self.binding(slot) else {
            return;
        };
        let keep: Vec<Target> = old
            .addresses
            .iter()
            .filter(|t| Prefix::of(t).is_some_and(|p| lost.iter().all(|&(q, _)| q != p)))
            .copied()
            .collect();
        if keep.is_empty() || self.restart_of(old).is_some() {
            // (Ended by a NAS restart: `end` reports that.)
            self.end(slot, ts, EndReason::Superseded, out);
        } else {
            let new = Binding {
                addresses: keep,
                ..old.clone()
            };
            self.replace(slot, new, true, out);
        }
    }

    fn replace(&mut self, slot: u32, new: Binding, announce: bool, out: &mut Vec<BindingChange>) {
        let Some(old) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        let moved = old.addresses != new.addresses;
        if moved {
            for p in old.addresses.iter().filter_map(Prefix::of) {
                self.holds.remove(p, slot);
            }
            for p in new.addresses.iter().filter_map(Prefix::of) {
                self.holds.insert(p, slot);
            }
        }
        let renamed = old.identities != new.identities;
        if renamed {
            for i in &old.identities {
                self.by_identity.remove(&(i.clone(), slot));
            }
            for i in &new.identities {
                self.by_identity.insert((i.clone(), slot));
            }
        }
        if old.expires_ns != new.expires_ns {
            self.by_expiry.remove(&(old.expires_ns, slot));
            if new.expires_ns != u64::MAX {
                self.by_expiry.insert((new.expires_ns, slot));
            }
        }
        if announce {
            out.push(if moved || renamed {
                BindingChange::Updated {
                    old,
                    new: new.clone(),
                }
            } else {
                BindingChange::Refreshed(new.clone())
            });
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(new);
        }
    }

    fn insert(&mut self, new: Binding, announce: bool, out: &mut Vec<BindingChange>) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                // More than 2^32 bindings cannot be held in memory anyway.
                let Ok(slot) = u32::try_from(self.slots.len()) else {
                    return;
                };
                self.slots.push(None);
                slot
            }
        };
        self.ids.insert(new.id.0.clone(), slot);
        for p in new.addresses.iter().filter_map(Prefix::of) {
            self.holds.insert(p, slot);
        }
        for i in &new.identities {
            self.by_identity.insert((i.clone(), slot));
        }
        if new.expires_ns != u64::MAX {
            self.by_expiry.insert((new.expires_ns, slot));
        }
        self.len += 1;
        if announce {
            out.push(BindingChange::Started(new.clone()));
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(new);
        }
    }

    /// Ends `slot` at `at_ns`, or at its NAS's restart if that came first.
    fn end(&mut self, slot: u32, at_ns: u64, reason: EndReason, out: &mut Vec<BindingChange>) {
        let (at_ns, reason) = match self.binding(slot).and_then(|b| self.restart_of(b)) {
            Some(restart) if restart < at_ns => (restart, EndReason::NasRestart),
            _ => (at_ns, reason),
        };
        let Some(binding) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.ids.remove(&binding.id.0);
        for p in binding.addresses.iter().filter_map(Prefix::of) {
            self.holds.remove(p, slot);
        }
        for i in &binding.identities {
            self.by_identity.remove(&(i.clone(), slot));
        }
        self.by_expiry.remove(&(binding.expires_ns, slot));
        self.free.push(slot);
        self.len = self.len.saturating_sub(1);
        out.push(BindingChange::Ended {
            at_ns: at_ns.max(binding.started_ns),
            binding,
            reason,
        });
    }

    /// Ends the bindings in `self.ending`.
    fn end_collected(&mut self, at_ns: u64, reason: EndReason, out: &mut Vec<BindingChange>) {
        let ending = std::mem::take(&mut self.ending);
        for &slot in &ending {
            self.end(slot, at_ns, reason, out);
        }
        self.ending = ending;
    }
}

impl Restart {
    fn new(of: NasRestart) -> Self {
        Self {
            prefix: format!("radius|{}|", of.nas),
            of,
            cursor: None,
        }
    }
}

/// When the first of `restarts` that ended `b` did (the earliest one at or
/// after its start: restarts are in signalling order).
fn restart_of(restarts: &[Restart], b: &Binding) -> Option<u64> {
    restarts
        .iter()
        .find(|r| b.started_ns <= r.of.at_ns && b.id.0.starts_with(r.prefix.as_str()))
        .map(|r| r.of.at_ns)
}

/// Sorted, deduplicated, host bits cleared, hosts as addresses; MACs dropped.
fn canonical<'a>(targets: impl Iterator<Item = &'a Target>) -> Vec<Target> {
    let mut ps: Vec<Prefix> = targets.filter_map(Prefix::of).collect();
    ps.sort_unstable();
    ps.dedup();
    ps.into_iter().map(Prefix::target).collect()
}

/// `old` with its identities of every kind `new` names replaced by `new`'s;
/// sorted, deduplicated.
fn merged(old: &[Identity], new: &[Identity]) -> Vec<Identity> {
    let mut all: Vec<Identity> = old
        .iter()
        .filter(|o| new.iter().all(|n| n.kind() != o.kind()))
        .chain(new)
        .cloned()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn first_of(ids: &[Identity], kind: IdentityKind) -> Option<&Identity> {
    ids.iter().find(|i| i.kind() == kind)
}

/// What a DHCPv4 lease is keyed by: the client identifier, else chaddr.
fn dhcp4_client(ids: &[Identity]) -> Option<&Identity> {
    first_of(ids, IdentityKind::DhcpClientId).or_else(|| first_of(ids, IdentityKind::DhcpClientMac))
}

/// Both name the same DHCPv4 client: at least one of client identifier and
/// chaddr in common, and no disagreement.
fn same_dhcp4_client(a: &[Identity], b: &[Identity]) -> bool {
    let mut common = false;
    for kind in [IdentityKind::DhcpClientId, IdentityKind::DhcpClientMac] {
        if let (Some(x), Some(y)) = (first_of(a, kind), first_of(b, kind)) {
            if x != y {
                return false;
            }
            common = true;
        }
    }
    common
}

fn static_id(subscriber: &Identity) -> String {
    format!("static|{subscriber}")
}

/// The server or relay part of a DHCPv4 key.
struct NasAddr<'a>(Option<&'a Nas>);

impl std::fmt::Display for NasAddr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{}", n.address),
            None => f.write_str("-"),
        }
    }
}
