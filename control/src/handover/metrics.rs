//! Prometheus metrics of the delivery engine. Labels carry only the destination
//! NAME — never an LIID or a target.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::error::HandoverError;

/// Metric families, registered once per engine.
#[derive(Clone)]
pub(crate) struct Metrics {
    connected: IntGaugeVec,
    bytes_sent: IntCounterVec,
    pdus: IntCounterVec,
    spool_bytes: IntGaugeVec,
    spool_alarm: IntGaugeVec,
    reconnects: IntCounterVec,
    lost_chunks: IntCounterVec,
    encode_errors: IntCounterVec,
    /// Records skipped: no IP layer, unknown intercept key, or failed the
    /// headers-only check. Unlabelled.
    pub(crate) skipped: IntCounterVec,
}

/// One destination's metric handles.
#[derive(Clone)]
pub(crate) struct DestMetrics {
    pub(crate) connected: IntGauge,
    pub(crate) bytes_sent: IntCounter,
    pub(crate) pdus: IntCounter,
    pub(crate) spool_bytes: IntGauge,
    pub(crate) spool_alarm: IntGauge,
    pub(crate) reconnects: IntCounter,
    pub(crate) lost_chunks: IntCounter,
    pub(crate) encode_errors: IntCounter,
}

impl Metrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, HandoverError> {
        let d = &["destination"];
        let gauge = |n: &str, h: &str| IntGaugeVec::new(Opts::new(n, h), d);
        let counter = |n: &str, h: &str| IntCounterVec::new(Opts::new(n, h), d);
        let m = Metrics {
            connected: gauge(
                "calea_handover_connected",
                "1 while the delivery link is up",
            )?,
            bytes_sent: counter(
                "calea_handover_bytes_sent_total",
                "Encoded bytes written to the link",
            )?,
            pdus: counter(
                "calea_handover_pdus_total",
                "PDUs encoded for the destination",
            )?,
            spool_bytes: gauge(
                "calea_handover_spool_bytes",
                "Bytes waiting in the on-disk spool",
            )?,
            spool_alarm: gauge(
                "calea_handover_spool_alarm",
                "0 ok, 1 spool above 80 %, 2 spool full (loss)",
            )?,
            reconnects: counter("calea_handover_reconnects_total", "Link re-establishments")?,
            lost_chunks: counter(
                "calea_handover_lost_chunks_total",
                "Chunks of PDUs refused by a full spool (intercept loss)",
            )?,
            encode_errors: counter(
                "calea_handover_encode_errors_total",
                "Records that could not be encoded",
            )?,
            skipped: IntCounterVec::new(
                Opts::new(
                    "calea_handover_skipped_records_total",
                    "Records not delivered, by reason",
                ),
                &["reason"],
            )?,
        };
        registry.register(Box::new(m.connected.clone()))?;
        registry.register(Box::new(m.bytes_sent.clone()))?;
        registry.register(Box::new(m.pdus.clone()))?;
        registry.register(Box::new(m.spool_bytes.clone()))?;
        registry.register(Box::new(m.spool_alarm.clone()))?;
        registry.register(Box::new(m.reconnects.clone()))?;
        registry.register(Box::new(m.lost_chunks.clone()))?;
        registry.register(Box::new(m.encode_errors.clone()))?;
        registry.register(Box::new(m.skipped.clone()))?;
        Ok(m)
    }

    pub(crate) fn for_destination(&self, name: &str) -> DestMetrics {
        let l = &[name];
        DestMetrics {
            connected: self.connected.with_label_values(l),
            bytes_sent: self.bytes_sent.with_label_values(l),
            pdus: self.pdus.with_label_values(l),
            spool_bytes: self.spool_bytes.with_label_values(l),
            spool_alarm: self.spool_alarm.with_label_values(l),
            reconnects: self.reconnects.with_label_values(l),
            lost_chunks: self.lost_chunks.with_label_values(l),
            encode_errors: self.encode_errors.with_label_values(l),
        }
    }
}
