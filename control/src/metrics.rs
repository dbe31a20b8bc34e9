//! Prometheus exposition on its own plain-HTTP listener (`GET /metrics`).
//!
//! Workers publish plain atomics; the daemon samples them about once a second into
//! [`ProbeMetrics`] (counters are raised to the sampled absolute value, so they stay
//! monotonic). Labels are worker index, port index, error kind and route — never a
//! target identifier or an LIID.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Why the metrics could not be registered or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A metric could not be created or registered (duplicate name).
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
    /// The listener failed.
    #[error("metrics listener: {0}")]
    Io(#[from] std::io::Error),
}

/// One sample of one worker's published counters (absolute values since start).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerSample {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames that matched at least one intercept.
    pub matches: u64,
    /// Matched frames lost because the hand-off ring was full.
    pub handoff_drops: u64,
    /// Frames with a malformed or cut header, by parse-error kind (stable
    /// lowercase names); each is still classified by the layers before the fault.
    pub parse_errors: Vec<(&'static str, u64)>,
    /// Fraction of polls that returned frames, 0..=1.
    pub busy_ratio: f64,
}

/// One sample of a port's NIC counters (absolute values since start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicSample {
    /// Frames received.
    pub ipackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Frames the NIC dropped because RX queues were full.
    pub imissed: u64,
    /// Erroneous frames.
    pub ierrors: u64,
    /// Frames dropped for lack of mbufs.
    pub rx_nombuf: u64,
}

/// Every probe metric outside handover (which registers its own in the same registry).
#[derive(Clone)]
pub struct ProbeMetrics {
    registry: Registry,
    rx_packets: IntCounterVec,
    rx_bytes: IntCounterVec,
    matches: IntCounterVec,
    handoff_drops: IntCounterVec,
    parse_errors: IntCounterVec,
    busy_ratio: prometheus::GaugeVec,
    nic_ipackets: IntCounterVec,
    nic_ibytes: IntCounterVec,
    nic_imissed: IntCounterVec,
    nic_ierrors: IntCounterVec,
    nic_rx_nombuf: IntCounterVec,
    /// Intercepts currently inside their window and installed on every worker.
    pub intercepts_active: IntGauge,
    /// Request accepted → every worker applied the change, in seconds.
    pub activation_latency: Histogram,
    /// Audit records written by this process.
    pub audit_records: IntCounter,
    /// API responses by route template and status code.
    pub api_requests: IntCounterVec,
    /// API refusals (403/401/4xx) by stable error code.
    pub api_refusals: IntCounterVec,
    /// API request duration by route template.
    pub api_latency: HistogramVec,
    /// Datagrams of the signalling path, by what the path decided (`result`).
    pub signalling_packets: IntCounterVec,
    /// Signalling datagrams lost to a full signalling ring, over every worker.
    pub signalling_drops: IntCounter,
    /// 1 while signalling is being lost (a drop in the last minute).
    pub signalling_alarm: IntGauge,
    /// Signalling datagrams by outcome (`accepted` or a refusal reason).
    pub session_signals: IntCounterVec,
    /// Subscriber sessions currently tracked.
    pub sessions_active: IntGauge,
    /// Current bindings by source (radius, dhcp4, dhcp6, static).
    pub session_bindings: IntGaugeVec,
    /// Signalling received → bound addresses applied on every worker, in seconds.
    pub binding_latency: Histogram,
    /// Records of identity intercepts waiting for the signalling watermark.
    pub session_held_records: IntGauge,
    /// Calls and registrations the call tracker follows.
    pub voice_calls_active: IntGauge,
    /// SIP messages by outcome (`parsed`, `malformed`, `not_sip`).
    pub voice_sip_messages: IntCounterVec,
    /// Media endpoints of targeted calls installed as targets (per intercept).
    pub voice_media_endpoints: IntGauge,
    /// SIP message received → its media endpoints applied on every worker, in seconds.
    pub voice_media_latency: Histogram,
    /// Media endpoints installed but not yet applied by every worker.
    pub voice_media_pending: IntGauge,
    /// New calls not tracked because `max_calls` were tracked already.
    pub voice_calls_refused: IntCounter,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl ProbeMetrics {
    /// Creates and registers every metric in `registry`.
    ///
    /// # Errors
    /// [`MetricsError::Registry`] if a name is already registered.
    pub fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let r = registry;
        let busy_ratio = prometheus::GaugeVec::new(
            Opts::new(
                "calea_worker_busy_ratio",
                "Fraction of polls that returned frames",
            ),
            &["worker"],
        )?;
        r.register(Box::new(busy_ratio.clone()))?;
        let intercepts_active = IntGauge::new(
            "calea_intercepts_active",
            "Intercepts inside their warrant window and installed on every worker",
        )?;
        r.register(Box::new(intercepts_active.clone()))?;
        let activation_latency = Histogram::with_opts(
            HistogramOpts::new(
                "calea_activation_latency_seconds",
                "API request accepted to change applied on every worker",
            )
            .buckets(vec![
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
        )?;
        r.register(Box::new(activation_latency.clone()))?;
        let audit_records = IntCounter::new(
            "calea_audit_records_total",
            "Audit records appended by this process",
        )?;
        r.register(Box::new(audit_records.clone()))?;
        let api_latency = HistogramVec::new(
            HistogramOpts::new("calea_api_request_seconds", "API request duration by route"),
            &["route"],
        )?;
        r.register(Box::new(api_latency.clone()))?;
        let signalling_drops = IntCounter::new(
            "calea_signalling_drops_total",
            "Signalling datagrams lost to a full signalling ring (bindings may be wrong: alarm)",
        )?;
        r.register(Box::new(signalling_drops.clone()))?;
        let signalling_alarm = IntGauge::new(
            "calea_signalling_alarm",
            "1 while signalling datagrams are being lost (a drop in the last minute)",
        )?;
        r.register(Box::new(signalling_alarm.clone()))?;
        let sessions_active =
            IntGauge::new("calea_sessions_active", "Subscriber sessions tracked")?;
        r.register(Box::new(sessions_active.clone()))?;
        let session_bindings = IntGaugeVec::new(
            Opts::new("calea_session_bindings", "Current bindings by source"),
            &["source"],
        )?;
        r.register(Box::new(session_bindings.clone()))?;
        let binding_latency = Histogram::with_opts(
            HistogramOpts::new(
                "calea_binding_latency_seconds",
                "Signalling received to bound addresses applied on every worker",
            )
            .buckets(vec![
                0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1.0,
            ]),
        )?;
        r.register(Box::new(binding_latency.clone()))?;
        let session_held_records = IntGauge::new(
            "calea_session_held_records",
            "Records of identity intercepts waiting for the signalling watermark",
        )?;
        r.register(Box::new(session_held_records.clone()))?;
        let voice_calls_active = IntGauge::new(
            "calea_voice_calls_active",
            "Calls and registrations the call tracker follows",
        )?;
        r.register(Box::new(voice_calls_active.clone()))?;
        let voice_media_endpoints = IntGauge::new(
            "calea_voice_media_endpoints",
            "Media endpoints of targeted calls installed as targets, per intercept",
        )?;
        r.register(Box::new(voice_media_endpoints.clone()))?;
        let voice_media_latency = Histogram::with_opts(
            HistogramOpts::new(
                "calea_voice_media_install_latency_seconds",
                "SIP message received to its media endpoints applied on every worker",
            )
            .buckets(vec![
                0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1.0,
            ]),
        )?;
        r.register(Box::new(voice_media_latency.clone()))?;
        let voice_media_pending = IntGauge::new(
            "calea_voice_media_installs_pending",
            "Media endpoints installed for targeted calls that some worker has not applied yet",
        )?;
        r.register(Box::new(voice_media_pending.clone()))?;
        let voice_calls_refused = IntCounter::new(
            "calea_voice_calls_refused_total",
            "New calls not tracked because the call limit (max_calls) was reached",
        )?;
        r.register(Box::new(voice_calls_refused.clone()))?;
        Ok(Self {
            registry: registry.clone(),
            rx_packets: counter(
                r,
                "calea_worker_rx_packets_total",
                "Frames received",
                &["worker"],
            )?,
            rx_bytes: counter(
                r,
                "calea_worker_rx_bytes_total",
                "Bytes received",
                &["worker"],
            )?,
            matches: counter(
                r,
                "calea_worker_matches_total",
                "Frames matching an intercept",
                &["worker"],
            )?,
            handoff_drops: counter(
                r,
                "calea_worker_handoff_drops_total",
                "Matched frames lost to a full hand-off ring (intercept loss: alarm)",
                &["worker"],
            )?,
            parse_errors: counter(
                r,
                "calea_worker_parse_errors_total",
                "Frames with a malformed or cut header, by kind (still classified by the layers before it)",
                &["worker", "kind"],
            )?,
            busy_ratio,
            nic_ipackets: counter(
                r,
                "calea_nic_ipackets_total",
                "Frames received by the NIC",
                &["port"],
            )?,
            nic_ibytes: counter(
                r,
                "calea_nic_ibytes_total",
                "Bytes received by the NIC",
                &["port"],
            )?,
            nic_imissed: counter(
                r,
                "calea_nic_imissed_total",
                "Frames missed by the NIC",
                &["port"],
            )?,
            nic_ierrors: counter(
                r,
                "calea_nic_ierrors_total",
                "Erroneous frames at the NIC",
                &["port"],
            )?,
            nic_rx_nombuf: counter(
                r,
                "calea_nic_rx_nombuf_total",
                "Frames dropped for lack of mbufs",
                &["port"],
            )?,
            intercepts_active,
            activation_latency,
            audit_records,
            api_requests: counter(
                r,
                "calea_api_requests_total",
                "API responses by route and status",
                &["route", "status"],
            )?,
            api_refusals: counter(
                r,
                "calea_api_refusals_total",
                "API refusals by error code",
                &["code"],
            )?,
            api_latency,
            signalling_packets: counter(
                r,
                "calea_signalling_packets_total",
                "Datagrams of the signalling path by result (passed to the tracker, or why not)",
                &["result"],
            )?,
            signalling_drops,
            signalling_alarm,
            session_signals: counter(
                r,
                "calea_session_signals_total",
                "Signalling datagrams by outcome",
                &["result"],
            )?,
            sessions_active,
            session_bindings,
            binding_latency,
            session_held_records,
            voice_calls_active,
            voice_sip_messages: counter(
                r,
                "calea_voice_sip_messages_total",
                "SIP messages of the signalling path by outcome",
                &["result"],
            )?,
            voice_media_endpoints,
            voice_media_latency,
            voice_media_pending,
            voice_calls_refused,
        })
    }

    /// Metrics in a registry of their own (tools and benchmarks that export nothing).
    ///
    /// # Errors
    /// [`MetricsError::Registry`] (cannot happen on a fresh registry).
    pub fn unregistered() -> Result<Self, MetricsError> {
        Self::new(&Registry::new())
    }

    /// The registry everything is registered in (handover adds its own metrics here).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records a worker sample.
    pub fn observe_worker(&self, worker: usize, s: &WorkerSample) {
        let w = worker.to_string();
        raise(&self.rx_packets.with_label_values(&[&w]), s.rx_packets);
        raise(&self.rx_bytes.with_label_values(&[&w]), s.rx_bytes);
        raise(&self.matches.with_label_values(&[&w]), s.matches);
        raise(
            &self.handoff_drops.with_label_values(&[&w]),
            s.handoff_drops,
        );
        for (kind, n) in &s.parse_errors {
            raise(
                &self.parse_errors.with_label_values(&[w.as_str(), kind]),
                *n,
            );
        }
        self.busy_ratio.with_label_values(&[&w]).set(s.busy_ratio);
    }

    /// Records a NIC sample for port index `port`.
    pub fn observe_nic(&self, port: usize, s: &NicSample) {
        let p = port.to_string();
        raise(&self.nic_ipackets.with_label_values(&[&p]), s.ipackets);
        raise(&self.nic_ibytes.with_label_values(&[&p]), s.ibytes);
        raise(&self.nic_imissed.with_label_values(&[&p]), s.imissed);
        raise(&self.nic_ierrors.with_label_values(&[&p]), s.ierrors);
        raise(&self.nic_rx_nombuf.with_label_values(&[&p]), s.rx_nombuf);
    }

    /// The text exposition of every registered metric.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// Raises a counter to an absolute sampled value (never lowers it).
fn raise(c: &IntCounter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

/// The Prometheus text format of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buf) {
        tracing::warn!(error = %e, "metrics encoding failed");
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
///
/// # Errors
/// [`MetricsError::Io`] if the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MetricsError> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    render(&registry),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn counters_follow_samples_and_labels_carry_no_identifiers() {
        let m = ProbeMetrics::new(&Registry::new()).unwrap();
        let mut s = WorkerSample {
            rx_packets: 10,
            parse_errors: vec![("truncated", 2)],
            ..WorkerSample::default()
        };
        m.observe_worker(1, &s);
        s.rx_packets = 7; // a lower sample never lowers a counter
        m.observe_worker(1, &s);
        m.observe_nic(
            0,
            &NicSample {
                ipackets: 40,
                imissed: 3,
                ..NicSample::default()
            },
        );
        let text = m.render();
        assert!(
            text.contains("calea_worker_rx_packets_total{worker=\"1\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("calea_worker_parse_errors_total{kind=\"truncated\",worker=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("calea_nic_imissed_total{port=\"0\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("calea_nic_ipackets_total{port=\"0\"} 40"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        let m = ProbeMetrics::new(&Registry::new()).unwrap();
        m.audit_records.inc();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, m.registry().clone(), async {
            let _ = rx.await;
        }));
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("calea_audit_records_total 1"), "{body}");
        tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }
}
