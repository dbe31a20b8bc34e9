//! `pcap-dir` destinations: a destination's records written on this machine, per
//! LIID, as `DIR/liid/<encoded LIID>/content.pcap`, `headers.pcap` and
//! `iri.jsonl` ([`crate::outdir::liid_dir`]) — by the writers the collector uses
//! ([`OutDir`]), so the files are the same as a remote `calea-collector` would
//! write. Every chunk that cannot be written is counted and audited.
//!
//! The records take the same path as for a network destination: the drain thread
//! routes, numbers and encodes them (as ETSI TS 102 232 PS-PDUs, which carry the
//! LIID that names the directory), Begin/End included. Each chunk is then decoded
//! and written here, on the drain thread, and journaled. PS-PDU timestamps are
//! microseconds; header reports are rebuilt from the IPIRIOnly fields.
//!
//! Ethernet frames (a MAC target's frame without IP, `as-captured`) have no
//! PS-PDU form: the drain thread hands them here directly, after flushing what
//! it batched before them, and they go to the LIID's `content-eth.pcap` /
//! `headers-eth.pcap`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::audit_sink::{AuditSink, LossAudit};
use super::error::HandoverError;
use super::metrics::DestMetrics;
use super::pdu::{decode_next, Decoded, DecodedKind, Event, Format, PduHeader};
use crate::outdir::OutDir;

/// Wire format the records are encoded in before being written.
pub(crate) const FORMAT: Format = Format::Etsi102232;
/// The dedup stream name of local records (a collector uses the probe's CN).
const STREAM: &str = "local";

/// What a `pcap-dir` destination wrote, for [`super::HandoverEngine::stats`].
#[derive(Debug, Default)]
pub(crate) struct DirStats {
    /// Encoded bytes written.
    pub written: AtomicU64,
    /// Chunks (or their rest) that could not be written: intercept loss.
    pub lost: AtomicU64,
}

/// One `pcap-dir` destination.
pub(crate) struct DirSink {
    name: String,
    out: OutDir,
    metrics: DestMetrics,
    stats: Arc<DirStats>,
    loss: LossAudit,
}

impl DirSink {
    /// Opens (or resumes) `dir`, keeping the files of at most `max_open` LIIDs
    /// open.
    ///
    /// # Errors
    /// The directory or a LIID's files in it cannot be used.
    pub(crate) fn open(
        name: &str,
        dir: &Path,
        max_open: usize,
        metrics: DestMetrics,
        stats: Arc<DirStats>,
        audit: AuditSink,
    ) -> Result<Self, HandoverError> {
        let out = OutDir::open(dir, max_open).map_err(|(what, e)| HandoverError::Destination {
            name: name.to_owned(),
            reason: format!("{what}: {e}"),
        })?;
        metrics.connected.set(1);
        Ok(DirSink {
            name: name.to_owned(),
            out,
            metrics,
            stats,
            loss: LossAudit::new(audit, name),
        })
    }

    /// Writes one frame event (see the module docs) and journals it; any
    /// other event is ignored (those are encoded into chunks).
    pub(crate) fn write_frame(&mut self, h: &PduHeader<'_>, e: &Event<'_>) {
        let Event::Frame {
            frame,
            wire_len,
            header_only,
            direction,
        } = *e
        else {
            return;
        };
        let pdu = Decoded {
            liid_or_xid: h.liid.into(),
            cin: u64::from(h.cin),
            sequence: h.sequence,
            timestamp_ns: h.timestamp_ns,
            kind: DecodedKind::Frame {
                frame,
                wire_len,
                header_only,
                direction,
            },
        };
        let result = self
            .out
            .accept(STREAM, &pdu)
            .and_then(|()| self.out.commit());
        self.finish(frame.len(), result.err().map(|e| (e, frame.len())));
    }

    /// Writes a chunk of whole PDUs and journals it.
    pub(crate) fn write(&mut self, chunk: &[u8]) {
        let (mut pos, mut written) = (0, 0);
        let mut failed = None;
        while pos < chunk.len() {
            match decode_next(FORMAT, &chunk[pos..]) {
                Ok(Some((pdu, used))) => {
                    pos += used;
                    match self.out.accept(STREAM, &pdu) {
                        Ok(()) => written += used,
                        // The chunk's other LIIDs are still written.
                        Err(e) => failed = Some(e),
                    }
                }
                Ok(None) => {
                    failed = Some("chunk ends inside a PDU".to_owned());
                    break;
                }
                Err(e) => {
                    failed = Some(format!("decode: {e}"));
                    break;
                }
            }
        }
        if let Err(e) = self.out.commit() {
            failed = Some(e);
        }
        self.finish(written, failed.map(|why| (why, chunk.len() - written)));
    }

    /// Counts `written` bytes, and counts and audits a failure (reason, bytes lost).
    fn finish(&mut self, written: usize, failed: Option<(String, usize)>) {
        self.stats
            .written
            .fetch_add(written as u64, Ordering::Relaxed);
        self.metrics.bytes_sent.inc_by(written as u64);
        if let Some((why, lost)) = failed {
            self.stats.lost.fetch_add(1, Ordering::Relaxed);
            self.metrics.lost_chunks.inc();
            tracing::error!(destination = %self.name, reason = %why, "INTERCEPT DATA LOST: pcap-dir write failed");
            self.loss
                .lost(&format!("pcap-dir write failed: {why}"), 1, lost as u64);
        } else {
            self.loss.tick();
        }
    }
}
