//! The probe daemon (`calea-probe run`): state, tables, dataplane workers,
//! handover, the provisioning API, the window scheduler and metrics, wired
//! together in the order the legal core needs — every stored intercept is in
//! effect on every worker before the first packet is processed.

mod controller;
mod dataplane;
mod glue;
pub mod reassembly;
pub mod sessions;
pub mod signalling;
mod slots;
pub mod voice;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use controller::{Controller, TableError, SYSTEM_ACTOR};

use crate::audit::AuditAction;
use crate::config::Config;
use crate::handover::{AuditSink, HandoverEngine, Identity, LinkTuning, ProbeId};
use crate::metrics::ProbeMetrics;
use crate::model::{InterceptState, TargetPolicy};
use crate::store::{StateLock, Store};

/// Capacity of each worker's table-update ring (bulk loads flow through it in chunks).
const UPDATE_RING: usize = 65_536;
/// How long an API request waits for every worker to apply a change.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the main thread looks at the stop flag (NIC counters: every 10th look).
const STOP_POLL: Duration = Duration::from_millis(100);
/// Longest sleep of the window scheduler between passes.
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_millis(250);

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The configuration is invalid (the message names the key).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The state database cannot be used (never replaced by an empty one).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// API TLS material is unusable.
    #[error("[api] TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// Handover could not start.
    #[error(transparent)]
    Handover(#[from] crate::handover::HandoverError),
    /// Metrics registration failed.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// DPDK or the pcap source failed.
    #[error("dataplane: {0}")]
    Dataplane(String),
    /// `[sessions]` cannot be used (a NAS secret).
    #[error("[sessions]: {0}")]
    Sessions(#[from] crate::sessions::wire::VerifierError),
    /// A listener could not be bound, or the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored intercepts could not be installed on every worker.
    #[error("initial intercepts not applied on every worker within {0:?}")]
    NotApplied(Duration),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Runs the daemon until SIGINT/SIGTERM. Prints the final counters on stdout.
///
/// # Errors
/// Bad configuration, unusable database, TLS material, listeners or dataplane.
pub fn run(config_path: &Path) -> Result<(), DaemonError> {
    // First: a SIGTERM or SIGINT from here on, however early, stops the probe
    // cleanly (rings drained, spools written, probe_stop audited).
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(io("signal handler"))?;
    }
    let config = Config::from_file(config_path)?;
    // One daemon per state: nothing below writes before this lock is held, and
    // nothing is written until everything that can be checked has been.
    let _state = StateLock::acquire(&config.state.database, &config.state.audit_mirror)?;
    let ready = preflight(&config)?;
    let mut dp = dataplane::Dataplane::prepare(&config.dataplane)?;
    let store = Store::open(&config.state.database, &config.state.audit_mirror)?;
    let registry = prometheus::Registry::new();
    let metrics = ProbeMetrics::new(&registry)?;
    let audit = store.audit().clone();
    // Checkpoints of the audit chain, and its full verification in the background.
    let anchor = crate::audit::Anchor::start(&config.audit, &config.probe.name, &audit, &registry)
        .map_err(|e| DaemonError::Store(e.into()))?;
    audit
        .append(
            SYSTEM_ACTOR,
            AuditAction::ProbeStart,
            &config.probe.name,
            serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "pid": std::process::id() }),
        )
        .map_err(|e| DaemonError::Store(e.into()))?;
    store.sync_destinations(&config.destinations, SYSTEM_ACTOR)?;
    expire_passed(&store)?;
    deactivate_refused(&store, &config.intercepts)?;

    let (writer, replicas) = ::dataplane::targets::replicas(dp.workers(), UPDATE_RING);
    let (producers, consumers) = dp.handoff_channels();
    // Received time up to which the session and voice glues know all signalling.
    let watermark = signalling::Watermark::default();
    let signalling_on = config.sessions.is_some() || config.voice.is_some();
    let (producers, signalling_inputs) = if signalling_on {
        dp.signalling_channels(producers)
    } else {
        (producers, Vec::new())
    };
    let sink_log = audit.clone();
    let sink = AuditSink::new(move |action, object, details| {
        if let Err(e) = sink_log.append(SYSTEM_ACTOR, action, object, details) {
            tracing::error!(error = %e, "handover audit append failed");
        }
    });
    let identity = ProbeId::new(Identity {
        operator_id: config.probe.operator_id.clone(),
        network_element_id: config.probe.name.clone(),
        country_code: config.probe.country_code.clone(),
    })
    .map_err(crate::handover::HandoverError::from)?;
    let handover = HandoverEngine::start_tuned(
        identity,
        store.list_destinations()?,
        consumers,
        sink.clone(),
        &registry,
        LinkTuning {
            pcap_dir_max_open_liids: config.handover.pcap_dir_max_open_liids,
            ..LinkTuning::default()
        },
    )?;
    let controller = Arc::new(Controller::new(
        store.clone(),
        writer,
        Some(handover),
        metrics.clone(),
        APPLY_TIMEOUT,
        config.intercepts,
    ));
    dp.spawn(replicas, producers)?;
    load_intercepts(&controller)?;
    let signalling = if signalling_on {
        // The NAS, DHCP servers and relays, and the SIP servers.
        let mut addrs: Vec<std::net::IpAddr> = config
            .sessions
            .iter()
            .flat_map(|c| c.signalling_addresses())
            .chain(config.voice.iter().flat_map(|v| v.sip_servers.clone()))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        controller.install_signalling(&addrs)?;
        let mut path =
            signalling::SignallingPath::new(signalling_inputs, watermark.clone(), &metrics, sink);
        if let Some(cfg) = &config.sessions {
            let glue = sessions::SessionGlue::new(
                cfg,
                controller.clone(),
                store.clone(),
                metrics.clone(),
                watermark.clone(),
            )?;
            path = path.sessions(cfg, Box::new(glue));
        }
        if let Some(cfg) = &config.voice {
            let glue =
                voice::VoiceGlue::new(cfg, controller.clone(), metrics.clone(), watermark.clone())?;
            path = path.voice(cfg, Box::new(glue));
        }
        Some(path.spawn().map_err(io("signalling thread"))?)
    } else {
        None
    };
    dp.arm();
    tracing::info!(workers = dp.workers(), "dataplane armed");

    let control_threads = control_cores(&config.dataplane.cores);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(control_threads.len().max(1))
        .max_blocking_threads(crate::api::BLOCKING_THREADS)
        .on_thread_start(move || pin_control_thread(&control_threads))
        .enable_all()
        .build()
        .map_err(io("tokio runtime"))?;
    let served = runtime.block_on(serve(
        &config,
        ready,
        controller.clone(),
        metrics.clone(),
        &dp,
        &stop,
    ));
    let counters = dp.stop();
    println!("{counters}");
    if let Some(s) = signalling {
        s.stop();
    }
    if let Some(h) = controller.take_handover() {
        h.shutdown(Duration::from_secs(10));
    }
    controller.audit(
        SYSTEM_ACTOR,
        AuditAction::ProbeStop,
        &config.probe.name,
        serde_json::json!({ "counters": counters.to_string() }),
    );
    anchor.stop();
    served
}

/// Expires (audited) every live intercept whose window ended while the probe was down.
fn expire_passed(store: &Store) -> Result<(), DaemonError> {
    let now = time::OffsetDateTime::now_utc();
    for i in store.list()? {
        if i.due_transition(now) == Some(InterceptState::Expired) {
            store.set_state(&i.liid, InterceptState::Expired, SYSTEM_ACTOR)?;
        }
    }
    Ok(())
}

/// What start-up checked before writing anything: the API's (and X1's) TLS
/// and listeners, bound.
struct Ready {
    tls: Arc<rustls::ServerConfig>,
    api: std::net::TcpListener,
    metrics: std::net::TcpListener,
    x1: Option<(Arc<rustls::ServerConfig>, std::net::TcpListener)>,
}

/// Checks everything that can fail without the state: the API's TLS material,
/// the listen addresses (bound here, so a second probe fails before it
/// writes), every configured destination's TLS material; creates the spool
/// directories (mode 0700).
fn preflight(config: &Config) -> Result<Ready, DaemonError> {
    let tls = crate::tls::server_config(&config.api.cert, &config.api.key, &config.api.client_ca)?;
    let bind = |what: &str, addr: std::net::SocketAddr| {
        let l = std::net::TcpListener::bind(addr).map_err(io(format!("{what} listen {addr}")))?;
        // tokio takes these over in `serve`.
        l.set_nonblocking(true)
            .map_err(io(format!("{what} listen {addr}")))?;
        Ok::<_, DaemonError>(l)
    };
    let api = bind("[api]", config.api.listen)?;
    let metrics = bind("[metrics]", config.metrics.listen)?;
    let x1 = match &config.x1 {
        Some(x1) => {
            let (cert, key, ca) = x1.tls_paths(&config.api);
            Some((
                crate::tls::server_config(cert, key, ca)?,
                bind("[x1]", x1.listen)?,
            ))
        }
        None => None,
    };
    for d in &config.destinations {
        if let Some(t) = &d.tls {
            crate::tls::client_config(&t.ca, &t.cert, &t.key)
                .and_then(|_| crate::tls::server_name(&t.server_name))
                .map_err(|source| crate::handover::HandoverError::Tls {
                    name: d.name.clone(),
                    source,
                })?;
        }
    }
    // Only once every check passed.
    for dir in config
        .destinations
        .iter()
        .filter_map(|d| d.spool_dir.as_ref())
    {
        crate::store::create_private_dir(dir)?;
    }
    Ok(Ready {
        tls,
        api,
        metrics,
        x1,
    })
}

/// Deactivates (audited, with the reason) every live intercept naming a target
/// the policy refuses: one stored by an older version that accepted catch-all
/// targets must not be installed again. The other intercepts start as usual.
fn deactivate_refused(store: &Store, policy: &TargetPolicy) -> Result<(), DaemonError> {
    for i in store.list()? {
        if i.state.is_terminal() {
            continue;
        }
        if let Err(refused) = i.check_targets(policy) {
            store.deactivate_refused(&i.liid, SYSTEM_ACTOR, &refused.to_string())?;
            tracing::error!(
                key = i.key,
                "stored intercept names a refused target: deactivated, not installed \
                 (reason in the audit log)"
            );
        }
    }
    Ok(())
}

/// Installs every live intercept (future windows too: workers check windows per
/// packet) and waits until every worker applied them, then flips those inside
/// their window to Active.
fn load_intercepts(controller: &Controller) -> Result<(), DaemonError> {
    let mut last = 0;
    let live: Vec<_> = controller
        .store()
        .list()?
        .into_iter()
        .filter(|i| !i.state.is_terminal())
        .collect();
    for i in &live {
        last = controller
            .install(i)
            .map_err(|e| DaemonError::Dataplane(e.to_string()))?;
    }
    if !controller.wait_applied(last) {
        return Err(DaemonError::NotApplied(APPLY_TIMEOUT));
    }
    let now = time::OffsetDateTime::now_utc();
    for i in live {
        let was_active = i.state == InterceptState::Active;
        let i = controller.advance(i, now)?;
        if was_active && i.state == InterceptState::Active {
            controller.count_restored_active();
        }
    }
    Ok(())
}

/// API, metrics and scheduler until `stop` is set (SIGTERM, SIGINT).
async fn serve(
    config: &Config,
    ready: Ready,
    controller: Arc<Controller>,
    metrics: ProbeMetrics,
    dp: &dataplane::Dataplane,
    stop: &AtomicBool,
) -> Result<(), DaemonError> {
    let Ready {
        tls,
        api: api_listener,
        metrics: metrics_listener,
        x1: x1_ready,
    } = ready;
    let api_listener =
        tokio::net::TcpListener::from_std(api_listener).map_err(io("[api] listener"))?;
    let metrics_listener =
        tokio::net::TcpListener::from_std(metrics_listener).map_err(io("[metrics] listener"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // Announced before the API's line below, which tells tests the probe is up.
    let x1 = match (&config.x1, x1_ready) {
        (Some(x1), Some((x1_tls, listener))) => Some(tokio::spawn(serve_x1(
            config,
            x1,
            x1_tls,
            listener,
            controller.clone(),
            metrics.clone(),
            stopped(stop_rx.clone()),
        )?)),
        _ => None,
    };
    // Tests and scripts bind port 0: tell them where we are.
    println!(
        "listening api={} metrics={}",
        api_listener.local_addr().map_err(io("api address"))?,
        metrics_listener
            .local_addr()
            .map_err(io("metrics address"))?
    );
    let state = Arc::new(crate::api::ApiState {
        backend: controller.clone(),
        identities: config
            .api
            .identities
            .iter()
            .map(|i| (i.subject_cn.clone(), i.role))
            .collect(),
        metrics: Some(metrics.clone()),
    });
    let api = tokio::spawn(crate::api::serve(
        api_listener,
        tls,
        state,
        stopped(stop_rx.clone()),
    ));
    let exporter = tokio::spawn(crate::metrics::serve(
        metrics_listener,
        metrics.registry().clone(),
        stopped(stop_rx.clone()),
    ));
    let sched = controller.clone();
    let mut sched_stop = stop_rx.clone();
    let scheduler = tokio::spawn(async move {
        loop {
            let c = sched.clone();
            let next = tokio::task::spawn_blocking(move || c.tick()).await;
            let sleep = match next {
                Ok(Ok(Some(at))) => {
                    let wait = at - time::OffsetDateTime::now_utc();
                    Duration::try_from(wait)
                        .unwrap_or(Duration::ZERO)
                        .min(SCHEDULER_MAX_SLEEP)
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "scheduler pass failed");
                    SCHEDULER_MAX_SLEEP
                }
                _ => SCHEDULER_MAX_SLEEP,
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                _ = sched_stop.wait_for(|s| *s) => return,
            }
        }
    });
    let sampler = dp.sampler(metrics.clone());
    let mut sample_stop = stop_rx;
    let sampling = tokio::spawn(async move {
        loop {
            sampler.sample();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = sample_stop.wait_for(|s| *s) => return,
            }
        }
    });
    // NIC counters need the ports, which stay on this thread: sample them here
    // while waiting for the signal that stops the probe.
    let mut looks = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if looks.is_multiple_of(10) {
            dp.observe_nics(&metrics);
        }
        looks = looks.wrapping_add(1);
        tokio::time::sleep(STOP_POLL).await;
    }
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = tokio::join!(scheduler, sampling);
    if let Ok(Err(e)) = api.await {
        tracing::warn!(error = %e, "API server ended with an error");
    }
    if let Ok(Err(e)) = exporter.await {
        tracing::warn!(error = %e, "metrics server ended with an error");
    }
    if let Some(h) = x1 {
        if let Ok(Err(e)) = h.await {
            tracing::warn!(error = %e, "X1 server ended with an error");
        }
    }
    Ok(())
}

/// The X1 server on its listener (bound in [`preflight`]); prints `listening x1=ADDR`.
fn serve_x1(
    config: &Config,
    x1: &crate::config::X1Config,
    tls: Arc<rustls::ServerConfig>,
    listener: std::net::TcpListener,
    controller: Arc<Controller>,
    metrics: ProbeMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<impl std::future::Future<Output = std::io::Result<()>>, DaemonError> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(io("[x1] listener"))?;
    println!(
        "listening x1={}",
        listener.local_addr().map_err(io("x1 address"))?
    );
    let ne = x1
        .ne_identifier
        .clone()
        .unwrap_or_else(|| config.probe.name.clone());
    let backend: Arc<dyn crate::api::Provisioning> = controller;
    let service = Arc::new(crate::x1::X1Service::new(backend.clone(), x1, ne));
    Ok(crate::x1::serve(
        listener,
        tls,
        service,
        backend,
        Some(metrics),
        shutdown,
    ))
}

/// Cores not used by workers (empty if workers use them all: then no pinning).
fn control_cores(worker_cores: &[usize]) -> Vec<core_affinity::CoreId> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !worker_cores.contains(&c.id))
        .collect()
}

fn pin_control_thread(cores: &[core_affinity::CoreId]) {
    if cores.is_empty() {
        return;
    }
    // Spread threads over the control cores; any of them is fine.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % cores.len();
    core_affinity::set_for_current(cores[i]);
}
