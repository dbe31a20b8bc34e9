//! The delivery engine: one drain thread turns hand-off records into PDUs (one per
//! intercept and destination, numbered per intercept and destination) and passes
//! them in chunks to the destinations' link threads. Control-plane threads only;
//! never on a worker core.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use dataplane::handoff::{HandoffConsumer, Match, Packet, PacketKind};
use dataplane::parse::IpPair;
use dataplane::targets::{Mode, Target};

use super::audit_sink::{AuditSink, LossAudit};
use super::error::HandoverError;
use super::format::RouteHeaders;
use super::gate::{CallGate, Hold, Judges, RecordView, SessionGate, Verdict};
use super::ipheader;
use super::link::{self, Dest, Endpoint, LinkTuning};
use super::metrics::{DestMetrics, Metrics};
use super::pcapdir::{self, DirSink, DirStats};
use super::pdu::{Direction, EncodeError, Event, Flow, Format, PduHeader, ProbeId};
use super::sequence::Sequences;
use super::spool::Spool;
use crate::model::{ContentScope, Destination, Liid};

/// Per-record lookups: a fast non-cryptographic hasher (keys are ours, not input).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Chunk size at which the drain thread hands PDUs to a link.
const CHUNK_BYTES: usize = 256 << 10;
/// Longest a partial chunk waits while records keep arriving.
const FLUSH_EVERY: Duration = Duration::from_millis(1);
/// Records drained per consumer per round.
const DRAIN_BURST: usize = 1024;

/// Where one intercept's records go.
#[derive(Clone, Debug)]
pub struct InterceptRoute {
    /// Intercept key carried by hand-off records (never reused).
    pub key: u32,
    /// Lawful interception identifier.
    pub liid: Liid,
    /// X2/X3 XID.
    pub xid: uuid::Uuid,
    /// What the warrant allows.
    pub mode: Mode,
    /// Destination names.
    pub destinations: Vec<String>,
    /// The warrant's identifiers (the first IP address goes into Begin/End IRI).
    pub targets: Vec<Target>,
    /// Names subscriber identities: each record is judged by the session gate.
    pub gated: bool,
    /// Names voice identities: each record is judged by the call gate (the
    /// media of the target's calls only) and carries its call's correlation number.
    pub calls: bool,
}

/// Delivery state of one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationStats {
    /// Destination name.
    pub name: String,
    /// Link up now.
    pub connected: bool,
    /// Encoded bytes written to the link (including resends and spool replay).
    pub bytes_sent: u64,
    /// PDUs encoded for it.
    pub pdus: u64,
    /// Bytes waiting in its spool.
    pub spool_bytes: u64,
    /// Reconnections after the first connection.
    pub reconnects: u64,
    /// Chunks refused by a full spool: intercept loss.
    pub lost_chunks: u64,
}

/// Engine-wide delivery state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandoverStats {
    /// Per destination, by name.
    pub destinations: Vec<DestinationStats>,
    /// Records not delivered because the frame has no IP layer.
    pub skipped_no_ip: u64,
    /// Matches for an intercept key with no route.
    pub unrouted: u64,
}

enum Command {
    AddRoute(InterceptRoute),
    Iri { key: u32, at_ns: u64, begin: bool },
    RemoveRoute(u32),
    Session(u32, Box<super::SessionReport>),
    Sip(u32, Box<super::SipReport>),
    AddDest(String, Sink, Format, Box<Sequences>),
    Scope(String, ContentScope),
    RemoveDest(String, Sender<()>),
    Gate(Arc<dyn SessionGate>),
    CallGate(Arc<dyn CallGate>),
}

struct LinkHandle {
    dest: Arc<Dest>,
    format: Format,
    thread: JoinHandle<()>,
}

/// Where a destination's chunks go.
enum Sink {
    /// A network link thread.
    Link(Arc<Dest>),
    /// Local files, written on the drain thread.
    Dir(Box<DirSink>),
}

/// A `pcap-dir` destination as the engine sees it.
struct DirHandle {
    directory: PathBuf,
    stats: Arc<DirStats>,
}

#[derive(Default)]
struct Counters {
    skipped_no_ip: AtomicU64,
    unrouted: AtomicU64,
    pdus: Mutex<HashMap<String, u64>>,
}

/// The delivery engine. See the module docs.
pub struct HandoverEngine {
    cmds: Sender<Command>,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<()>>,
    links: Mutex<HashMap<String, LinkHandle>>,
    dirs: Mutex<HashMap<String, DirHandle>>,
    identity: ProbeId,
    metrics: Metrics,
    audit: AuditSink,
    tuning: LinkTuning,
    counters: Arc<Counters>,
}

fn spool_dir(d: &Destination) -> Result<PathBuf, HandoverError> {
    d.spool_dir
        .as_ref()
        .map(|p| p.join(&d.name))
        .ok_or_else(|| HandoverError::Destination {
            name: d.name.clone(),
            reason: "no spool_dir".into(),
        })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HandoverEngine {
    /// Starts the drain thread and one link per destination.
    ///
    /// # Errors
    /// A destination is invalid, its spool cannot be opened, or metrics cannot be registered.
    pub fn start(
        identity: ProbeId,
        destinations: Vec<Destination>,
        consumers: Vec<HandoffConsumer>,
        audit: AuditSink,
        registry: &prometheus::Registry,
    ) -> Result<Self, HandoverError> {
        Self::start_tuned(
            identity,
            destinations,
            consumers,
            audit,
            registry,
            LinkTuning::default(),
        )
    }

    /// [`HandoverEngine::start`] with explicit link tunables.
    ///
    /// # Errors
    /// As [`HandoverEngine::start`].
    pub fn start_tuned(
        identity: ProbeId,
        destinations: Vec<Destination>,
        consumers: Vec<HandoffConsumer>,
        audit: AuditSink,
        registry: &prometheus::Registry,
        tuning: LinkTuning,
    ) -> Result<Self, HandoverError> {
        let metrics = Metrics::register(registry)?;
        let (tx, rx) = channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let drainer = Drainer {
            consumers,
            cmds: rx,
            routes: FastMap::default(),
            dests: FastMap::default(),
            deferred: Vec::new(),
            hold: Hold::default(),
            releasing: false,
            identity: identity.clone(),
            metrics: metrics.clone(),
            counters: Arc::clone(&counters),
            audit: audit.clone(),
        };
        let stop2 = Arc::clone(&stop);
        let drain = thread::Builder::new()
            .name("handover-drain".into())
            .spawn(move || drainer.run(&stop2))
            .map_err(HandoverError::Thread)?;
        let engine = HandoverEngine {
            cmds: tx,
            stop,
            drain: Some(drain),
            links: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            identity,
            metrics,
            audit,
            tuning,
            counters,
        };
        for d in destinations {
            engine.upsert_destination(d)?;
        }
        Ok(engine)
    }

    fn send(&self, c: Command) {
        // The drain thread only exits after `stop`, which needs `self` by value.
        let _sent = self.cmds.send(c);
    }

    /// Registers an intercept's route; call before the dataplane learns of it.
    pub fn add_route(&self, r: InterceptRoute) {
        self.send(Command::AddRoute(r));
    }

    /// Sends the Begin IRI to every destination of the intercept.
    pub fn intercept_started(&self, key: u32, at_ns: u64) {
        self.send(Command::Iri {
            key,
            at_ns,
            begin: true,
        });
    }

    /// Sends the End IRI to every destination of the intercept.
    pub fn intercept_ended(&self, key: u32, at_ns: u64) {
        self.send(Command::Iri {
            key,
            at_ns,
            begin: false,
        });
    }

    /// Sends a session IRI of the intercept `key` to every destination of it
    /// (HI2 IPIRI / X2), correlated with its content.
    ///
    /// Like End, it follows every record already handed off: those were
    /// captured before the signalling that reported the event was processed.
    pub fn session_event(&self, key: u32, report: super::SessionReport) {
        self.send(Command::Session(key, Box::new(report)));
    }

    /// Judges the records of gated routes by `gate` from now on (without one,
    /// they are never delivered).
    pub fn set_session_gate(&self, gate: Arc<dyn SessionGate>) {
        self.send(Command::Gate(gate));
    }

    /// Sends the IRI of one SIP message of a call of intercept `key` (HI2
    /// IP multimedia IRI / X2 "SIP message"), correlated with the call's media
    /// by the report's `cin`.
    ///
    /// Like [`HandoverEngine::session_event`], it follows every record already
    /// handed off.
    pub fn sip_event(&self, key: u32, report: super::SipReport) {
        self.send(Command::Sip(key, Box::new(report)));
    }

    /// Judges the records of routes with `calls` by `gate` from now on
    /// (without one, they are never delivered). They wait for the signalling
    /// watermark in the same queue as gated routes' records.
    pub fn set_call_gate(&self, gate: Arc<dyn CallGate>) {
        self.send(Command::CallGate(gate));
    }

    /// Drops a route once the dataplane cleared the intercept on every worker;
    /// records still in the rings are delivered first.
    pub fn remove_route(&self, key: u32) {
        self.send(Command::RemoveRoute(key));
    }

    fn endpoint(&self, d: &Destination, format: Format) -> Result<Endpoint, HandoverError> {
        let tls = match (&d.tls, d.insecure_plaintext) {
            (Some(t), _) => Some(link::tls_endpoint(
                &d.name,
                &t.ca,
                &t.cert,
                &t.key,
                &t.server_name,
            )?),
            (None, true) => {
                tracing::warn!(destination = %d.name, "delivering WITHOUT TLS (insecure_plaintext)");
                self.audit.insecure_plaintext(&d.name, &d.address);
                None
            }
            (None, false) => {
                return Err(HandoverError::Destination {
                    name: d.name.clone(),
                    reason: "no tls section and insecure_plaintext is not set".into(),
                })
            }
        };
        Ok(Endpoint {
            address: d.address.clone(),
            tls,
            keepalive: Duration::from_secs(u64::from(d.keepalive_secs.max(1))),
            format,
        })
    }

    /// Adds a destination or changes how its link connects (address, TLS,
    /// keepalive). Its format cannot change while it exists.
    ///
    /// # Errors
    /// Invalid destination, unloadable TLS material, or its spool cannot be opened.
    pub fn upsert_destination(&self, d: Destination) -> Result<(), HandoverError> {
        d.validate().map_err(|e| HandoverError::Destination {
            name: d.name.clone(),
            reason: e.to_string(),
        })?;
        if !d.format.is_network() {
            return self.upsert_dir(d);
        }
        let format = Format::of(&d)?;
        let endpoint = self.endpoint(&d, format)?;
        let mut links = lock(&self.links);
        if let Some(h) = links.get(&d.name) {
            if h.format != format {
                return Err(HandoverError::Destination {
                    name: d.name,
                    reason: "format cannot change; remove and re-add the destination".into(),
                });
            }
            h.dest.reconfigure(endpoint);
            self.send(Command::Scope(d.name, d.content_scope));
            return Ok(());
        }
        let dir = spool_dir(&d)?;
        let (spool, recovery) = Spool::open(&dir, d.spool_max_bytes)?;
        if recovery.chunks > 0 || recovery.truncated_bytes > 0 {
            tracing::info!(destination = %d.name, chunks = recovery.chunks,
                truncated_bytes = recovery.truncated_bytes, "spool recovered; replaying on connect");
        }
        let seqs = Sequences::load(&dir)?;
        let dest = Arc::new(Dest::new(
            d.name.clone(),
            endpoint,
            spool,
            self.tuning.clone(),
            self.identity.clone(),
            self.metrics.for_destination(&d.name),
            self.audit.clone(),
        ));
        let d2 = Arc::clone(&dest);
        let thread = thread::Builder::new()
            .name(format!("handover-link-{}", d.name))
            .spawn(move || link::run(d2))
            .map_err(HandoverError::Thread)?;
        self.send(Command::AddDest(
            d.name.clone(),
            Sink::Link(Arc::clone(&dest)),
            format,
            Box::new(seqs),
        ));
        self.send(Command::Scope(d.name.clone(), d.content_scope));
        links.insert(
            d.name,
            LinkHandle {
                dest,
                format,
                thread,
            },
        );
        Ok(())
    }

    /// Adds a `pcap-dir` destination; its directory cannot change while it exists.
    fn upsert_dir(&self, d: Destination) -> Result<(), HandoverError> {
        let err = |reason: &str| HandoverError::Destination {
            name: d.name.clone(),
            reason: reason.to_owned(),
        };
        let directory = d.directory.clone().ok_or_else(|| err("no directory"))?;
        if lock(&self.links).contains_key(&d.name) {
            return Err(err(
                "format cannot change; remove and re-add the destination",
            ));
        }
        let mut dirs = lock(&self.dirs);
        if let Some(h) = dirs.get(&d.name) {
            return if h.directory == directory {
                self.send(Command::Scope(d.name.clone(), d.content_scope));
                Ok(())
            } else {
                Err(err(
                    "directory cannot change; remove and re-add the destination",
                ))
            };
        }
        // Sequence numbers live beside the spool if there is one, else in the directory.
        let seq_dir = spool_dir(&d).unwrap_or_else(|_| directory.clone());
        std::fs::create_dir_all(&seq_dir).map_err(HandoverError::io(&seq_dir))?;
        let seqs = Sequences::load(&seq_dir)?;
        let stats = Arc::new(DirStats::default());
        let sink = DirSink::open(
            &d.name,
            &directory,
            self.tuning.pcap_dir_max_open_liids,
            self.metrics.for_destination(&d.name),
            Arc::clone(&stats),
            self.audit.clone(),
        )?;
        self.send(Command::AddDest(
            d.name.clone(),
            Sink::Dir(Box::new(sink)),
            pcapdir::FORMAT,
            Box::new(seqs),
        ));
        self.send(Command::Scope(d.name.clone(), d.content_scope));
        dirs.insert(d.name, DirHandle { directory, stats });
        Ok(())
    }

    /// Stops a destination's link; what it has not delivered stays in its spool.
    ///
    /// # Errors
    /// Unknown destination.
    pub fn remove_destination(&self, name: &str) -> Result<(), HandoverError> {
        if lock(&self.dirs).remove(name).is_some() {
            let (tx, rx) = channel::bounded(1);
            self.send(Command::RemoveDest(name.to_owned(), tx));
            let _flushed = rx.recv_timeout(Duration::from_secs(10));
            return Ok(());
        }
        let h = lock(&self.links)
            .remove(name)
            .ok_or_else(|| HandoverError::Destination {
                name: name.to_owned(),
                reason: "no such destination".into(),
            })?;
        let (tx, rx) = channel::bounded(1);
        self.send(Command::RemoveDest(name.to_owned(), tx));
        let _flushed = rx.recv_timeout(Duration::from_secs(10));
        h.dest.request_stop();
        let _joined = h.thread.join();
        Ok(())
    }

    /// Delivery state per destination.
    pub fn stats(&self) -> HandoverStats {
        let pdus = lock(&self.counters.pdus).clone();
        let mut destinations: Vec<DestinationStats> = lock(&self.links)
            .values()
            .map(|h| DestinationStats {
                name: h.dest.name.clone(),
                connected: h.dest.connected(),
                bytes_sent: h.dest.sent_bytes.load(Ordering::Relaxed),
                pdus: pdus.get(&h.dest.name).copied().unwrap_or(0),
                spool_bytes: h.dest.spool_bytes(),
                reconnects: h.dest.reconnects.load(Ordering::Relaxed),
                lost_chunks: h.dest.lost_chunks.load(Ordering::Relaxed),
            })
            .chain(lock(&self.dirs).iter().map(|(name, h)| DestinationStats {
                name: name.clone(),
                connected: true,
                bytes_sent: h.stats.written.load(Ordering::Relaxed),
                pdus: pdus.get(name).copied().unwrap_or(0),
                spool_bytes: 0,
                reconnects: 0,
                lost_chunks: h.stats.lost.load(Ordering::Relaxed),
            }))
            .collect();
        destinations.sort_by(|a, b| a.name.cmp(&b.name));
        HandoverStats {
            destinations,
            skipped_no_ip: self.counters.skipped_no_ip.load(Ordering::Relaxed),
            unrouted: self.counters.unrouted.load(Ordering::Relaxed),
        }
    }

    /// Drains the rings, flushes every link (waiting for the peer to confirm),
    /// and leaves whatever could not be delivered within `timeout` in the spools.
    pub fn shutdown(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.stop.store(true, Ordering::Release);
        if let Some(d) = self.drain.take() {
            let _joined = d.join();
        }
        let links: Vec<LinkHandle> = lock(&self.links).drain().map(|(_, h)| h).collect();
        for h in &links {
            h.dest.request_stop();
        }
        for h in links {
            while !h.thread.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if h.thread.is_finished() {
                let _joined = h.thread.join();
            } else {
                tracing::error!(destination = %h.dest.name, "link did not finish in time; it keeps spooling in the background");
            }
        }
    }
}

impl Drop for HandoverEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in lock(&self.links).values() {
            h.dest.request_stop();
        }
    }
}

struct Route {
    route: Arc<Routed>,
    target: Option<IpAddr>,
}

/// An intercept's route with its PDU header fields encoded once.
struct Routed {
    route: InterceptRoute,
    headers: RouteHeaders,
}

impl std::ops::Deref for Routed {
    type Target = InterceptRoute;
    fn deref(&self) -> &InterceptRoute {
        &self.route
    }
}

struct DestSlot {
    sink: Sink,
    /// Records its format cannot carry (frames in a PS-PDU), audited as lost.
    loss: LossAudit,
    metrics: DestMetrics,
    format: Format,
    scope: ContentScope,
    seqs: Box<Sequences>,
    batch: Vec<u8>,
    pdus: u64,
}

impl DestSlot {
    fn flush(&mut self) {
        self.loss.tick();
        if self.batch.is_empty() {
            return;
        }
        match &mut self.sink {
            Sink::Link(dest) => {
                let fresh = dest.buffer(CHUNK_BYTES + 16384);
                let chunk = std::mem::replace(&mut self.batch, fresh);
                dest.push(chunk);
            }
            Sink::Dir(dir) => {
                dir.write(&self.batch);
                self.batch.clear();
            }
        }
    }
}

/// Commands that wait until the records already in the rings are routed.
enum Deferred {
    Iri { key: u32, at_ns: u64, begin: bool },
    Session(u32, Box<super::SessionReport>),
    Sip(u32, Box<super::SipReport>),
    Remove(u32),
}

struct Drainer {
    consumers: Vec<HandoffConsumer>,
    cmds: Receiver<Command>,
    routes: FastMap<u32, Route>,
    dests: FastMap<String, DestSlot>,
    deferred: Vec<Deferred>,
    /// Identity and voice intercepts' judges and held records.
    hold: Hold,
    /// Routing a record out of `hold`.
    releasing: bool,
    identity: ProbeId,
    metrics: Metrics,
    counters: Arc<Counters>,
    audit: AuditSink,
}

fn first_ip(targets: &[Target]) -> Option<IpAddr> {
    targets.iter().find_map(|t| match *t {
        Target::Ipv4(a) => Some(IpAddr::V4(a)),
        Target::Ipv6(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

impl Drainer {
    fn run(mut self, stop: &AtomicBool) {
        let mut consumers = std::mem::take(&mut self.consumers);
        let mut last_flush = Instant::now();
        loop {
            self.absorb_commands();
            if !self.deferred.is_empty() {
                // IRI and route removal take effect after every record that was in
                // the rings when they were received: those were captured before.
                for c in &mut consumers {
                    let n = c.pending();
                    c.drain(n, |r| self.route(r));
                }
                for d in std::mem::take(&mut self.deferred) {
                    self.apply_deferred(d);
                }
            }
            let stopping = stop.load(Ordering::Acquire);
            let mut n = 0;
            for c in &mut consumers {
                n += c.drain(DRAIN_BURST, |r| self.route(r));
            }
            // Small chunks cost a TLS record and a syscall each: hand chunks over
            // when they are full (in emit), when the rings are idle, or every 1 ms.
            self.release_held();
            if n == 0 || last_flush.elapsed() >= FLUSH_EVERY {
                self.flush_all();
                last_flush = Instant::now();
            }
            if n == 0 {
                if stopping {
                    break;
                }
                match self.cmds.recv_timeout(Duration::from_micros(500)) {
                    Ok(c) => self.command(c),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        self.absorb_commands();
        for d in std::mem::take(&mut self.deferred) {
            self.apply_deferred(d);
        }
        self.release_held();
        let lost = self.hold.give_up();
        if lost > 0 {
            self.skip("held_lost", lost);
        }
        self.flush_all();
        for (name, d) in &mut self.dests {
            if let Err(e) = d.seqs.persist_exact() {
                tracing::error!(destination = %name, error = %e, "cannot persist sequence numbers");
            }
        }
    }

    fn absorb_commands(&mut self) {
        while let Ok(c) = self.cmds.try_recv() {
            self.command(c);
        }
    }

    fn apply_deferred(&mut self, d: Deferred) {
        match d {
            Deferred::Remove(key) => {
                if let Some(r) = self.routes.remove(&key) {
                    for name in &r.route.destinations {
                        if let Some(d) = self.dests.get_mut(name) {
                            d.seqs.forget(key);
                        }
                    }
                }
            }
            Deferred::Iri { key, at_ns, begin } => {
                let Some(r) = self.routes.get(&key) else {
                    tracing::warn!(key, "IRI for an intercept without a route");
                    return;
                };
                let ev = if begin {
                    Event::Begin {
                        target: r.target,
                        at_ns,
                    }
                } else {
                    Event::End {
                        target: r.target,
                        at_ns,
                    }
                };
                let route = Arc::clone(&r.route);
                self.emit(&route, at_ns, key, |_| Some(ev));
                self.flush_all();
            }
            Deferred::Session(key, report) => {
                let Some(r) = self.routes.get(&key) else {
                    tracing::warn!(key, "session IRI for an intercept without a route");
                    return;
                };
                let route = Arc::clone(&r.route);
                self.emit(&route, report.at_ns, key, |_| Some(Event::Session(&report)));
                self.flush_all();
            }
            Deferred::Sip(key, report) => {
                let Some(r) = self.routes.get(&key) else {
                    tracing::warn!(key, "SIP IRI for an intercept without a route");
                    return;
                };
                let route = Arc::clone(&r.route);
                self.emit(&route, report.at_ns, report.cin, |_| {
                    Some(Event::Sip(&report))
                });
                self.flush_all();
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::AddRoute(r) => {
                let target = first_ip(&r.targets);
                let headers = RouteHeaders::new(r.liid.as_str(), &self.identity);
                self.routes.insert(
                    r.key,
                    Route {
                        route: Arc::new(Routed { route: r, headers }),
                        target,
                    },
                );
            }
            Command::RemoveRoute(key) => self.deferred.push(Deferred::Remove(key)),
            Command::Session(key, report) => self.deferred.push(Deferred::Session(key, report)),
            Command::Sip(key, report) => self.deferred.push(Deferred::Sip(key, report)),
            // Begin precedes the intercept's first packet (the dataplane learns of
            // it later); End follows every packet already handed off.
            Command::Iri {
                key,
                at_ns,
                begin: true,
            } => self.apply_deferred(Deferred::Iri {
                key,
                at_ns,
                begin: true,
            }),
            Command::Iri { key, at_ns, begin } => {
                self.deferred.push(Deferred::Iri { key, at_ns, begin });
            }
            Command::AddDest(name, sink, format, seqs) => {
                let metrics = match &sink {
                    Sink::Link(dest) => dest.metrics.clone(),
                    Sink::Dir(_) => self.metrics.for_destination(&name),
                };
                let loss = LossAudit::new(self.audit.clone(), &name);
                self.dests.insert(
                    name,
                    DestSlot {
                        sink,
                        loss,
                        metrics,
                        format,
                        scope: ContentScope::default(),
                        seqs,
                        batch: Vec::with_capacity(CHUNK_BYTES + 16384),
                        pdus: 0,
                    },
                );
            }
            Command::Scope(name, scope) => {
                if let Some(d) = self.dests.get_mut(&name) {
                    d.scope = scope;
                }
            }
            Command::Gate(gate) => self.hold.set_session_gate(gate),
            Command::CallGate(gate) => self.hold.set_call_gate(gate),
            Command::RemoveDest(name, done) => {
                if let Some(mut d) = self.dests.remove(&name) {
                    d.flush();
                    if let Err(e) = d.seqs.persist_exact() {
                        tracing::error!(destination = %name, error = %e, "cannot persist sequence numbers");
                    }
                }
                let _sent = done.send(());
            }
        }
    }

    fn flush_all(&mut self) {
        let mut pdus = lock(&self.counters.pdus);
        for (name, d) in &mut self.dests {
            d.flush();
            match pdus.get_mut(name) {
                Some(n) => *n = d.pdus,
                None => {
                    pdus.insert(name.clone(), d.pdus);
                }
            }
        }
    }

    /// Encodes one event for every destination of `route`, correlated by
    /// `cin` (the intercept's key, or its call's): `ev` of the destination's
    /// content scope (None: nothing to deliver in that scope).
    fn emit<'e>(
        &mut self,
        route: &Routed,
        timestamp_ns: u64,
        cin: u32,
        ev: impl Fn(ContentScope) -> Option<Event<'e>>,
    ) {
        for name in &route.destinations {
            let Some(d) = self.dests.get_mut(name) else {
                self.metrics
                    .skipped
                    .with_label_values(&["unknown_destination"])
                    .inc();
                continue;
            };
            let Some(ev) = ev(d.scope) else {
                skipped_no_ip(&self.counters, &self.metrics);
                continue;
            };
            let header = PduHeader {
                liid: route.liid.as_str(),
                xid: route.xid,
                cin,
                sequence: d.seqs.peek(route.key),
                timestamp_ns,
                identity: self.identity.identity(),
            };
            let written = match (&mut d.sink, &ev) {
                // No PS-PDU form: written directly, after what was batched before it.
                (Sink::Dir(_), Event::Frame { .. }) => {
                    d.flush();
                    if let Sink::Dir(dir) = &mut d.sink {
                        dir.write_frame(&header, &ev);
                    }
                    Ok(())
                }
                _ => d
                    .format
                    .encode_routed(&route.headers, &header, &ev, &mut d.batch),
            };
            match written {
                Ok(()) => {
                    if let Err(e) = d.seqs.advance(route.key) {
                        tracing::error!(destination = %name, error = %e, "cannot reserve sequence numbers");
                    }
                    d.pdus += 1;
                    d.metrics.pdus.inc();
                }
                Err(EncodeError::NotDeliverable(what)) => {
                    self.metrics
                        .skipped
                        .with_label_values(&["not_deliverable"])
                        .inc();
                    let bytes = match ev {
                        Event::Frame { frame, .. } => frame.len() as u64,
                        _ => 0,
                    };
                    d.loss.lost(
                        &format!("{what} cannot be delivered in this destination's format"),
                        1,
                        bytes,
                    );
                }
                Err(e) => {
                    d.metrics.encode_errors.inc();
                    tracing::warn!(destination = %name, error = %e, "record not encodable; skipped");
                }
            }
            if d.batch.len() >= CHUNK_BYTES {
                d.flush();
            }
        }
    }

    fn skipped_no_ip(&self) {
        skipped_no_ip(&self.counters, &self.metrics);
    }

    /// Headers mode for a frame with no IP packet: its Ethernet header (VLAN
    /// tags included), never a byte past it.
    fn header_frame(
        &mut self,
        rec: &impl RecordView,
        route: &Routed,
        frame_at: Option<usize>,
        direction: Direction,
        cin: u32,
    ) {
        let data = rec.data();
        let header = frame_at.and_then(|at| {
            let frame = data.get(at..)?;
            Some((frame.get(..ethernet_header_len(frame)?)?, at))
        });
        let Some((frame, at)) = header else {
            self.skipped_no_ip();
            return;
        };
        let ev = Event::Frame {
            frame,
            wire_len: rec.wire_len().saturating_sub(at as u32),
            header_only: true,
            direction,
        };
        self.emit(route, rec.timestamp_ns(), cin, |_| Some(ev));
    }

    fn skip(&self, reason: &str, n: u64) {
        self.metrics.skipped.with_label_values(&[reason]).inc_by(n);
    }

    /// Routes the held records the watermark passed; gives up those over the bound.
    fn release_held(&mut self) {
        let now = Instant::now();
        loop {
            let (next, lost) = self.hold.next_due(now);
            if lost > 0 {
                self.skip("held_lost", lost);
            }
            let Some(held) = next else { return };
            self.releasing = true;
            self.route(&held);
            self.releasing = false;
        }
    }

    /// Whether a gated or calls route's match may be delivered now (see
    /// `gate`): `Some(the call's correlation number)` for a call's media,
    /// `Some(None)` for a bound subscriber's record.
    fn admit(&mut self, rec: &impl RecordView, m: Match, judges: Judges) -> Option<Option<u32>> {
        match self.hold.check(rec, m, self.releasing, judges) {
            Verdict::Bound => Some(None),
            Verdict::Call(cin) => Some(Some(cin)),
            Verdict::Held => None,
            Verdict::NotBound => {
                self.skip("not_bound", 1);
                None
            }
            Verdict::NotInCall => {
                self.skip("not_in_call", 1);
                None
            }
        }
    }

    fn route(&mut self, rec: &impl RecordView) {
        let data = rec.data();
        let packet = rec.packet();
        let target = target_packet(packet, data.len());
        // A MAC target's frame with no IP packet inside: delivered as a frame.
        let frame_at = (packet.kind == PacketKind::Ethernet)
            .then_some(usize::from(packet.at))
            .filter(|&at| at < data.len());
        for m in rec.matches() {
            let route = match self.routes.get(&m.key) {
                Some(r) => Some(Arc::clone(&r.route)),
                None => {
                    // add_route may still be in the command queue.
                    self.absorb_commands();
                    self.routes.get(&m.key).map(|r| Arc::clone(&r.route))
                }
            };
            let Some(route) = route else {
                self.counters.unrouted.fetch_add(1, Ordering::Relaxed);
                self.metrics.skipped.with_label_values(&["unrouted"]).inc();
                continue;
            };
            let judges = Judges {
                session: route.gated,
                calls: route.calls,
            };
            let call = if judges.session || judges.calls {
                match self.admit(rec, *m, judges) {
                    Some(call) => call,
                    None => continue,
                }
            } else {
                None
            };
            let cin = call.unwrap_or(route.key);
            // The record's mode is the least the warrant allows; a headers route
            // never gets content even if the record carries the frame.
            match (route.mode, m.mode) {
                // A call's media: its RTP, whatever the destination's scope.
                (Mode::Content, Mode::Content) if call.is_some() => {
                    let Some(ev) = target.as_ref().and_then(|t| media(rec, t, m.direction)) else {
                        self.skip("not_rtp", 1);
                        continue;
                    };
                    self.emit(&route, rec.timestamp_ns(), cin, |_| Some(ev));
                }
                (Mode::Content, Mode::Content) => {
                    let frame = |at: usize| {
                        Some(Event::Frame {
                            frame: data.get(at..)?,
                            wire_len: rec.wire_len().saturating_sub(at as u32),
                            header_only: false,
                            direction: m.direction,
                        })
                    };
                    let content = match (&target, frame_at) {
                        (Some(t), _) => data.get(t.start..).map(|ip_packet| Event::Content {
                            ip_packet,
                            direction: m.direction,
                        }),
                        (None, Some(at)) => frame(at),
                        (None, None) => None,
                    };
                    self.emit(&route, rec.timestamp_ns(), cin, |scope| match scope {
                        ContentScope::TargetPacket => content,
                        // The whole frame, from its first Ethernet byte.
                        ContentScope::AsCaptured => frame(0),
                    });
                }
                _ => {
                    let Some(t) = &target else {
                        self.header_frame(rec, &route, frame_at, m.direction, cin);
                        continue;
                    };
                    let end = usize::from(rec.header_len());
                    // Headers-only must never carry a byte past the headers.
                    if t.headers.end > end
                        || end > data.len()
                        || rec.mode() == Mode::Headers && data.len() > end
                    {
                        tracing::error!(
                            "headers-mode record with inconsistent header length; dropped"
                        );
                        self.metrics
                            .skipped
                            .with_label_values(&["headers_check_failed"])
                            .inc();
                        continue;
                    };
                    let ip_headers = &data[t.headers.clone()];
                    // The IP packet's own length: a frame's wire length also
                    // counts Ethernet padding and trailers.
                    let wire_len = ipheader::stated_len(ip_headers)
                        .unwrap_or_else(|| rec.wire_len().saturating_sub(t.start as u32));
                    let ev = Event::HeaderReport {
                        ip_headers,
                        l4_at: t.l4_at,
                        wire_len,
                        direction: m.direction,
                        flow: flow_of(packet),
                    };
                    self.emit(&route, rec.timestamp_ns(), cin, |_| Some(ev));
                }
            }
        }
    }
}

/// The RTP event of a call's media record: its target packet must be a whole
/// UDP datagram's first bytes (a non-first fragment has no ports, and never
/// reaches here: the call gate judged it by its port).
fn media<'r>(
    rec: &'r impl RecordView,
    t: &TargetPacket,
    direction: Direction,
) -> Option<Event<'r>> {
    let p = rec.packet();
    if p.proto != 17 {
        return None;
    }
    let (sport, dport) = p.ports?;
    let Flow { src, dst, .. } = flow_of(p)?;
    let data = rec.data().get(t.start..)?;
    // The packet as its header states it: a frame's Ethernet padding is not RTP.
    let len = ipheader::stated_len(data).map_or(data.len(), |n| (n as usize).min(data.len()));
    let ip_packet = &data[..len];
    let udp = ip_packet.get(t.l4_at..t.l4_at + 8)?;
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).max(8);
    let rtp = ip_packet.get(t.l4_at + 8..(t.l4_at + udp_len).min(len))?;
    Some(Event::Media {
        ip_packet,
        rtp,
        src: std::net::SocketAddr::new(src, sport),
        dst: std::net::SocketAddr::new(dst, dport),
        direction,
    })
}

/// Counts a record (or one destination's share of it) with no IP packet to deliver.
fn skipped_no_ip(counters: &Counters, metrics: &Metrics) {
    counters.skipped_no_ip.fetch_add(1, Ordering::Relaxed);
    metrics.skipped.with_label_values(&["no_ip_layer"]).inc();
}

/// Length of the Ethernet header at the start of `frame`, with its 802.1Q /
/// 802.1ad tags; None if the frame is shorter.
fn ethernet_header_len(frame: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let tpid = frame.get(at..at + 2)?;
        match u16::from_be_bytes([tpid[0], tpid[1]]) {
            0x8100 | 0x88a8 | 0x9100 => at += 4,
            _ => return (frame.len() >= at + 2).then_some(at + 2),
        }
    }
}

/// Where a record's target packet is, checked against its `len` bytes.
#[derive(Clone, Debug)]
struct TargetPacket {
    /// Its first byte.
    start: usize,
    /// Its headers (IP and transport).
    headers: std::ops::Range<usize>,
    /// Offset of its transport header from `start`.
    l4_at: usize,
}

fn target_packet(p: &Packet, len: usize) -> Option<TargetPacket> {
    if !matches!(p.kind, PacketKind::Ipv4 | PacketKind::Ipv6) {
        return None;
    }
    let (start, l4, end) = (usize::from(p.at), usize::from(p.l4), usize::from(p.end));
    (start < len && start < l4 && l4 <= end).then_some(TargetPacket {
        start,
        headers: start..end,
        l4_at: l4 - start,
    })
}

/// The addresses and transport of a record's target packet.
fn flow_of(p: &Packet) -> Option<Flow> {
    let (src, dst) = match p.addrs? {
        IpPair::V4 { src, dst } => (IpAddr::V4(src), IpAddr::V4(dst)),
        IpPair::V6 { src, dst } => (IpAddr::V6(src), IpAddr::V6(dst)),
    };
    let (src_port, dst_port) = p.ports.unwrap_or_default();
    Some(Flow {
        src,
        dst,
        proto: p.proto,
        src_port,
        dst_port,
    })
}
