//! One delivery link per destination: a thread that connects (TLS 1.3 with a client
//! certificate and pinned CA, or plaintext when explicitly allowed), replays what
//! is owed in order — resend window, send queue, spool — then streams live chunks,
//! sends keepalives when idle and reconnects with jittered exponential backoff.
//!
//! The producer side ([`Dest::push`]) never blocks on the network: while the link
//! is down or its queue is over the high-water mark, chunks go to the spool, and
//! they keep going there until the link has replayed the spool completely.
//!
//! The decisions (reconnect, report, keepalive, resend) are taken by the I/O-free
//! [`machine`]; this module does the I/O and the locking around it.

mod error;
mod machine;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::audit_sink::{AuditSink, LossAudit};
use super::error::HandoverError;
use super::metrics::DestMetrics;
use super::pdu::{Event, Format, PduHeader, ProbeId};
use super::spool::{read_segment, Spool};
use error::LinkError;
use machine::{Idle, LinkCore, LinkState, ResendWindow};

/// Tunables of a link (defaults suit a 10 Gbps probe).
#[derive(Clone, Debug)]
pub struct LinkTuning {
    /// Bytes of most recently written data kept for resending after a break.
    pub resend_window_bytes: usize,
    /// Queue size above which new chunks go to the spool instead.
    pub queue_high_water_bytes: usize,
    /// A write blocked this long declares the peer dead.
    pub write_timeout: Duration,
    /// TCP connect + TLS handshake limit.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// LIIDs of a `pcap-dir` destination whose files are kept open at once.
    pub pcap_dir_max_open_liids: usize,
}

impl Default for LinkTuning {
    fn default() -> Self {
        LinkTuning {
            resend_window_bytes: 64 << 20,
            // ≈ 200 ms at 10 Gbps: rides out scheduling stalls of the link or
            // the peer without falling back to the (slower) disk spool.
            queue_high_water_bytes: 256 << 20,
            write_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            pcap_dir_max_open_liids: crate::outdir::DEFAULT_MAX_OPEN,
        }
    }
}

/// How to reach a destination.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port`.
    pub address: String,
    /// TLS client configuration and server name; `None` = insecure plaintext.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// Keepalive period when idle.
    pub keepalive: Duration,
    /// Wire format (for keepalives).
    pub format: Format,
}

struct Pipe {
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    /// Everything new goes to the spool until the link has replayed it all.
    spooling: bool,
    connected: bool,
    spool: Spool,
    /// Spool alarm already raised: 0 none, 1 at 80 %, 2 full.
    alarm: u8,
}

/// One destination: its queue and spool (shared with the producer) and link state.
pub struct Dest {
    pub(crate) name: String,
    endpoint: Mutex<Endpoint>,
    pipe: Mutex<Pipe>,
    wake: Condvar,
    stop: AtomicBool,
    reconfigured: AtomicBool,
    tuning: LinkTuning,
    identity: ProbeId,
    pub(crate) metrics: DestMetrics,
    audit: AuditSink,
    loss: LossAudit,
    /// Bytes written to the link (TLS plaintext).
    pub(crate) sent_bytes: AtomicU64,
    /// Chunks lost: refused by a full or failing spool, or not spooled at shutdown.
    pub(crate) lost_chunks: AtomicU64,
    /// Successful connections after the first.
    pub(crate) reconnects: AtomicU64,
    /// Chunk buffers evicted from the resend window, reused by the producer
    /// (fresh large buffers cost page faults and zeroing on every chunk).
    pool: Mutex<Vec<Vec<u8>>>,
}

/// Most spare chunk buffers kept per destination.
const POOL_MAX: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Dest {
    /// A destination whose spool is already open.
    pub(crate) fn new(
        name: String,
        endpoint: Endpoint,
        spool: Spool,
        tuning: LinkTuning,
        identity: ProbeId,
        metrics: DestMetrics,
        audit: AuditSink,
    ) -> Self {
        metrics.spool_bytes.set(spool.bytes() as i64);
        Dest {
            loss: LossAudit::new(audit.clone(), &name),
            name,
            endpoint: Mutex::new(endpoint),
            pipe: Mutex::new(Pipe {
                queue: VecDeque::new(),
                queued_bytes: 0,
                spooling: !spool.is_empty(),
                connected: false,
                spool,
                alarm: 0,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            reconfigured: AtomicBool::new(false),
            tuning,
            identity,
            metrics,
            audit,
            sent_bytes: AtomicU64::new(0),
            lost_chunks: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// An empty chunk buffer with at least `capacity` bytes, recycled if possible.
    pub(crate) fn buffer(&self, capacity: usize) -> Vec<u8> {
        match lock(&self.pool).pop() {
            Some(mut b) => {
                b.clear();
                b.reserve(capacity);
                b
            }
            None => Vec::with_capacity(capacity),
        }
    }

    fn recycle(&self, b: Vec<u8>) {
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_MAX {
            pool.push(b);
        }
    }

    /// Hands over one chunk of whole encoded PDUs, in sequence order. Never waits
    /// for the network: a down or backed-up link sends it to the spool.
    pub(crate) fn push(&self, chunk: Vec<u8>) {
        self.loss.tick();
        let mut pipe = lock(&self.pipe);
        let over = pipe.queued_bytes + chunk.len() > self.tuning.queue_high_water_bytes;
        if pipe.connected && !pipe.spooling && !over {
            pipe.queued_bytes += chunk.len();
            pipe.queue.push_back(chunk);
            drop(pipe);
            self.wake.notify_one();
            return;
        }
        pipe.spooling = true;
        let stored = pipe.spool.append(&chunk);
        let bytes = pipe.spool.bytes();
        let max = pipe.spool.max_bytes();
        self.metrics.spool_bytes.set(bytes as i64);
        match stored {
            Ok(true) => {
                if pipe.alarm == 0 && bytes * 5 >= max * 4 {
                    pipe.alarm = 1;
                    self.metrics.spool_alarm.set(1);
                    tracing::warn!(destination = %self.name, bytes, max, "spool above 80 %");
                    self.audit
                        .spool_alarm(&self.name, "above_80_percent", bytes, max);
                }
            }
            Ok(false) => self.lose(&mut pipe, chunk.len(), "spool full"),
            Err(e) => {
                tracing::error!(destination = %self.name, error = %e, "spool write failed");
                self.lose(&mut pipe, chunk.len(), "spool write failed");
            }
        }
    }

    fn lose(&self, pipe: &mut Pipe, chunk: usize, why: &str) {
        let (bytes, max) = (pipe.spool.bytes(), pipe.spool.max_bytes());
        self.lost_chunks.fetch_add(1, Ordering::Relaxed);
        self.metrics.lost_chunks.inc();
        tracing::error!(destination = %self.name, bytes, max, "INTERCEPT DATA LOST: {why}");
        self.loss.lost(why, 1, chunk as u64);
        if pipe.alarm < 2 {
            pipe.alarm = 2;
            self.metrics.spool_alarm.set(2);
            self.audit
                .spool_alarm(&self.name, "full_records_lost", bytes, max);
        }
    }

    /// New endpoint settings; the link reconnects with them.
    pub(crate) fn reconfigure(&self, endpoint: Endpoint) {
        *lock(&self.endpoint) = endpoint;
        self.reconfigured.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// True while a session is up.
    pub(crate) fn connected(&self) -> bool {
        lock(&self.pipe).connected
    }

    /// Spool bytes on disk.
    pub(crate) fn spool_bytes(&self) -> u64 {
        lock(&self.pipe).spool.bytes()
    }

    /// Asks the link thread to finish: deliver what it can, spool the rest, exit.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps up to `d`, waking early on stop or reconfiguration; syncs the spool.
    fn pause(&self, d: Duration) {
        self.loss.tick();
        let mut pipe = lock(&self.pipe);
        if let Err(e) = pipe.spool.sync() {
            tracing::error!(destination = %self.name, error = %e, "spool sync failed");
        }
        if !self.stopping() && !self.reconfigured.load(Ordering::Acquire) {
            let _unused = self.wake.wait_timeout(pipe, d);
        }
    }
}

/// What the session needs to send next.
enum Work {
    Chunks(VecDeque<Vec<u8>>),
    Segment(u64, std::path::PathBuf),
    Idle,
    Done,
}

/// The link thread: runs until [`Dest::request_stop`], then leaves everything
/// undelivered in the spool, oldest first.
pub(crate) fn run(dest: Arc<Dest>) {
    let mut window = ResendWindow::new(dest.tuning.resend_window_bytes);
    let mut core = LinkCore::new(dest.tuning.backoff_min, dest.tuning.backoff_max);
    while core.state() != LinkState::Stopped {
        if dest.stopping() && !has_work(&dest) && window.is_empty() {
            break;
        }
        dest.reconfigured.store(false, Ordering::Release);
        let endpoint = lock(&dest.endpoint).clone();
        match Session::connect(&endpoint, &dest.tuning) {
            Err(reason) => {
                let retry = core.connect_failed(&reason, jitter());
                if retry.report {
                    tracing::warn!(destination = %dest.name, %reason, "delivery connect failed");
                    dest.audit
                        .disconnect(&dest.name, &format!("connect failed: {reason}"));
                }
                if dest.stopping() {
                    break;
                }
                dest.pause(retry.after);
            }
            Ok(mut session) => {
                if core.connected(Instant::now(), endpoint.keepalive) {
                    dest.reconnects.fetch_add(1, Ordering::Relaxed);
                    dest.metrics.reconnects.inc();
                }
                tracing::info!(destination = %dest.name, "delivery link up");
                dest.audit
                    .connect(&dest.name, &endpoint.address, endpoint.tls.is_some());
                lock(&dest.pipe).connected = true;
                dest.metrics.connected.set(1);
                let served = session.serve(&dest, &endpoint, &mut core, &mut window);
                lock(&dest.pipe).connected = false;
                dest.metrics.connected.set(0);
                let confirmed = session.close(served.is_ok(), dest.tuning.write_timeout);
                let reason = match &served {
                    Ok(()) => "shutdown".to_owned(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(destination = %dest.name, %reason, "delivery link down");
                dest.audit.disconnect(&dest.name, &reason);
                if served.is_ok() && confirmed {
                    window.clear();
                }
                core.session_ended(served.err().as_ref());
            }
        }
    }
    spool_leftovers(&dest, &mut window);
}

fn has_work(dest: &Dest) -> bool {
    let pipe = lock(&dest.pipe);
    !pipe.queue.is_empty() || !pipe.spool.is_empty()
}

/// At exit: resend window and queue are older than the spool; put them first.
fn spool_leftovers(dest: &Dest, window: &mut ResendWindow) {
    let mut pipe = lock(&dest.pipe);
    let queue = std::mem::take(&mut pipe.queue);
    pipe.queued_bytes = 0;
    let older = || window.held().chain(queue.iter()).map(Vec::as_slice);
    if let Err(e) = pipe.spool.prepend(older()) {
        tracing::error!(destination = %dest.name, error = %e, "INTERCEPT DATA LOST: cannot spool at shutdown");
        let (chunks, bytes) = older().fold((0, 0), |(n, b), c| (n + 1, b + c.len() as u64));
        dest.lost_chunks.fetch_add(chunks, Ordering::Relaxed);
        dest.metrics.lost_chunks.inc_by(chunks);
        dest.loss.lost("cannot spool at shutdown", chunks, bytes);
    }
    if let Err(e) = pipe.spool.sync() {
        tracing::error!(destination = %dest.name, error = %e, "spool sync failed at shutdown");
    }
    dest.metrics.spool_bytes.set(pipe.spool.bytes() as i64);
    window.clear();
}

/// A fraction in `[0, 1)` from the clock, for [`LinkCore::connect_failed`].
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}

/// Bytes arriving from the peer, read on a helper thread so that the link
/// thread can block in writes.
struct Inbound {
    data: Mutex<(Vec<u8>, Option<LinkError>)>,
    /// Set by the reader when something arrived or the socket closed.
    ready: AtomicBool,
}

/// One connected session.
struct Session {
    sock: TcpStream,
    tls: Option<ClientConnection>,
    inbound: Arc<Inbound>,
    reader: Option<thread::JoinHandle<()>>,
    ka_buf: Vec<u8>,
}

impl Session {
    fn connect(ep: &Endpoint, tuning: &LinkTuning) -> Result<Self, LinkError> {
        let addr = ep
            .address
            .to_socket_addrs()
            .map_err(|source| LinkError::Resolve {
                address: ep.address.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| LinkError::NoAddress(ep.address.clone()))?;
        let mut sock = TcpStream::connect_timeout(&addr, tuning.connect_timeout)
            .map_err(LinkError::Connect)?;
        let setup = |s: &TcpStream| {
            s.set_nodelay(true)?;
            s.set_write_timeout(Some(tuning.write_timeout))?;
            s.set_read_timeout(Some(tuning.connect_timeout))
        };
        setup(&sock).map_err(LinkError::Socket)?;
        let tls = match &ep.tls {
            None => None,
            Some((cfg, name)) => {
                let mut conn = ClientConnection::new(Arc::clone(cfg), name.clone())
                    .map_err(LinkError::TlsSetup)?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut sock).map_err(LinkError::Handshake)?;
                }
                confirm_accepted(&mut conn, &mut sock)?;
                // Let a whole chunk be encrypted before one vectored write.
                conn.set_buffer_limit(Some(1 << 20));
                Some(conn)
            }
        };
        sock.set_read_timeout(None).map_err(LinkError::Socket)?;
        let inbound = Arc::new(Inbound {
            data: Mutex::new((Vec::new(), None)),
            ready: AtomicBool::new(false),
        });
        let mut rsock = sock.try_clone().map_err(LinkError::Socket)?;
        let inb = Arc::clone(&inbound);
        let reader = thread::Builder::new()
            .name("handover-rx".into())
            .spawn(move || {
                let mut buf = vec![0u8; 16 << 10];
                loop {
                    let (n, end) = match rsock.read(&mut buf) {
                        Ok(0) => (0, Some(LinkError::PeerClosed)),
                        Ok(n) => (n, None),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => (0, Some(LinkError::Read(e))),
                    };
                    let done = end.is_some();
                    {
                        let mut d = lock(&inb.data);
                        d.0.extend_from_slice(&buf[..n]);
                        if d.1.is_none() {
                            d.1 = end;
                        }
                    }
                    inb.ready.store(true, Ordering::Release);
                    if done {
                        return;
                    }
                }
            })
            .map_err(LinkError::Thread)?;
        Ok(Session {
            sock,
            tls,
            inbound,
            reader: Some(reader),
            ka_buf: Vec::new(),
        })
    }

    /// Processes what the peer sent (keepalive answers, alerts); errors end the session.
    fn check_inbound(&mut self, core: &mut LinkCore) -> Result<(), LinkError> {
        if !self.inbound.ready.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        core.heard(Instant::now());
        let (bytes, end) = {
            let mut d = lock(&self.inbound.data);
            (std::mem::take(&mut d.0), d.1.take())
        };
        if let Some(conn) = self.tls.as_mut() {
            let mut rd = &bytes[..];
            while !rd.is_empty() {
                conn.read_tls(&mut rd).map_err(LinkError::TlsRead)?;
                let state = conn.process_new_packets().map_err(LinkError::Tls)?;
                let mut sink = vec![0u8; state.plaintext_bytes_to_read()];
                // Keepalive answers and anything else the peer says are only drained.
                let _unused = conn.reader().read(&mut sink);
                if state.peer_has_closed() {
                    return Err(LinkError::TlsClosed);
                }
            }
        }
        match end {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), LinkError> {
        match self.tls.as_mut() {
            None => self.sock.write_all(data).map_err(LinkError::Write),
            Some(conn) => {
                // rustls buffers a bounded amount of plaintext: feed, encrypt, send, repeat.
                let mut rest = data;
                while !rest.is_empty() {
                    let n = conn.writer().write(rest).map_err(LinkError::TlsWrite)?;
                    rest = &rest[n..];
                    while conn.wants_write() {
                        conn.write_tls(&mut self.sock).map_err(LinkError::Write)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Sends chunks in order. On failure the failed chunk and every later one
    /// become the window's `unsent` backlog, delivered first on reconnect.
    fn send_all(
        &mut self,
        dest: &Dest,
        chunks: impl IntoIterator<Item = Vec<u8>>,
        window: &mut ResendWindow,
    ) -> Result<(), LinkError> {
        let mut chunks = chunks.into_iter();
        while let Some(chunk) = chunks.next() {
            if let Err(e) = self.write(&chunk) {
                window.unsent(chunk, chunks);
                return Err(e);
            }
            dest.sent_bytes
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            dest.metrics.bytes_sent.inc_by(chunk.len() as u64);
            window.written(chunk, |old| dest.recycle(old));
        }
        Ok(())
    }

    fn keepalive(&mut self, dest: &Dest, format: Format) -> Result<(), LinkError> {
        let header = PduHeader {
            liid: "keepalive",
            xid: uuid::Uuid::nil(),
            cin: 0,
            sequence: 0,
            timestamp_ns: crate::time::now_ns(),
            identity: dest.identity.identity(),
        };
        let mut out = std::mem::take(&mut self.ka_buf);
        out.clear();
        let res = match format
            .encoder()
            .encode(&header, &Event::Keepalive, &mut out)
        {
            Ok(()) => {
                dest.sent_bytes
                    .fetch_add(out.len() as u64, Ordering::Relaxed);
                dest.metrics.bytes_sent.inc_by(out.len() as u64);
                self.write(&out)
            }
            Err(e) => {
                tracing::warn!(destination = %dest.name, error = %e, "keepalive encode failed");
                Ok(())
            }
        };
        self.ka_buf = out;
        res
    }

    /// Replays the resend window, the queue and the spool, then streams live
    /// chunks until stopped (Ok) or the link breaks (Err with the reason).
    fn serve(
        &mut self,
        dest: &Dest,
        ep: &Endpoint,
        core: &mut LinkCore,
        window: &mut ResendWindow,
    ) -> Result<(), LinkError> {
        let owed = window.owed();
        self.send_all(dest, owed, window)?;
        core.wrote(Instant::now());
        let mut last_sync = Instant::now();
        loop {
            self.check_inbound(core)?;
            if dest.reconfigured.load(Ordering::Acquire) {
                return Err(LinkError::Reconfigured);
            }
            let work = {
                let mut pipe = lock(&dest.pipe);
                if !pipe.queue.is_empty() {
                    pipe.queued_bytes = 0;
                    Work::Chunks(std::mem::take(&mut pipe.queue))
                } else if pipe.spooling {
                    match pipe.spool.oldest().map_err(LinkError::Spool)? {
                        Some(seg) => Work::Segment(seg.id, seg.path),
                        None => {
                            pipe.spooling = false;
                            continue;
                        }
                    }
                } else if dest.stopping() {
                    Work::Done
                } else {
                    if last_sync.elapsed() > Duration::from_millis(100) {
                        let _synced = pipe.spool.sync();
                        last_sync = Instant::now();
                    }
                    let (_pipe, _timeout) = dest
                        .wake
                        .wait_timeout(pipe, Duration::from_millis(50))
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    Work::Idle
                }
            };
            match work {
                Work::Done => return Ok(()),
                Work::Idle => {
                    if core.idle(Instant::now())? == Idle::SendKeepalive {
                        self.keepalive(dest, ep.format)?;
                        core.keepalive_sent(Instant::now());
                    }
                }
                Work::Chunks(chunks) => {
                    self.send_all(dest, chunks, window)?;
                    core.wrote(Instant::now());
                }
                Work::Segment(id, path) => {
                    let (chunks, _) = read_segment(&path).map_err(LinkError::Spool)?;
                    // A failure leaves the segment in the spool: replayed whole
                    // on reconnect (the collector drops the duplicates).
                    for chunk in chunks {
                        self.send_all(dest, [chunk], window)
                            .inspect_err(|_| window.forget_unsent())?;
                        self.check_inbound(core)?;
                    }
                    let mut pipe = lock(&dest.pipe);
                    pipe.spool.remove(id).map_err(LinkError::Spool)?;
                    dest.metrics.spool_bytes.set(pipe.spool.bytes() as i64);
                    if pipe.alarm > 0 && pipe.spool.bytes() * 5 < pipe.spool.max_bytes() * 4 {
                        pipe.alarm = 0;
                        dest.metrics.spool_alarm.set(0);
                    }
                    core.wrote(Instant::now());
                }
            }
        }
    }

    /// Ends the session. On a clean stop, sends close_notify and waits (bounded)
    /// for the peer to close, so that everything written was read by it.
    fn close(mut self, clean: bool, wait: Duration) -> bool {
        let mut confirmed = false;
        if clean {
            if let Some(conn) = self.tls.as_mut() {
                conn.send_close_notify();
                while conn.wants_write() {
                    if conn.write_tls(&mut self.sock).is_err() {
                        break;
                    }
                }
            }
            let _ignored = self.sock.shutdown(Shutdown::Write);
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline && !confirmed {
                confirmed = lock(&self.inbound.data).1.is_some();
                thread::sleep(Duration::from_millis(5));
            }
        }
        let _ignored = self.sock.shutdown(Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _joined = r.join();
        }
        confirmed
    }
}

/// In TLS 1.3 the client finishes its handshake before the server has checked
/// the client certificate. Wait briefly for the server's verdict: an alert or
/// close means refused; its first post-handshake record (session tickets) or
/// silence means accepted.
fn confirm_accepted(conn: &mut ClientConnection, sock: &mut TcpStream) -> Result<(), LinkError> {
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(LinkError::Socket)?;
    match conn.read_tls(sock) {
        Ok(0) => Err(LinkError::CertificateRefused),
        Ok(_) => match conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => Err(LinkError::HandshakeRefused(e)),
        },
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(LinkError::Handshake(e)),
    }
}

/// Builds an [`Endpoint`] from TLS material paths or plaintext.
///
/// # Errors
/// TLS material cannot be loaded or the server name is invalid.
pub(crate) fn tls_endpoint(
    name: &str,
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
    server_name: &str,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), HandoverError> {
    let wrap = |source| HandoverError::Tls {
        name: name.to_owned(),
        source,
    };
    let cfg = crate::tls::client_config(ca, cert, key).map_err(wrap)?;
    let sn = crate::tls::server_name(server_name).map_err(wrap)?;
    Ok((cfg, sn))
}
