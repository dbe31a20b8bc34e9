//! Refusals before authentication (failed TLS handshakes, connections over a
//! limit), audited in aggregate: per source and reason, the first refusal is
//! recorded at once and the rest of a window as one record with their count.
//! A flood of junk connections so costs a counter increment each, not an fsync
//! each, and one writer keeps at most one refusal record ahead of any
//! authenticated action in the audit log.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::Provisioning;
use crate::model::format_time;

/// Length of one aggregation window.
pub(crate) const REFUSAL_WINDOW: Duration = Duration::from_secs(10);

/// (source, reason) pairs tracked per window; refusals beyond share one record per reason.
const MAX_PAIRS: usize = 256;

/// Actor of every record written here.
const ACTOR: &str = "unauthenticated";

/// Where connections are counted and refusals aggregated: an IPv4 address, or
/// the /64 holding an IPv6 address (what one subscriber is usually given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Source(IpAddr);

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(
                    u128::from(v6) & !u128::from(u64::MAX),
                ))),
            },
            v4 @ IpAddr::V4(_) => Self(v4),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

/// Why a connection was refused before any request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Reason {
    /// The client presented no certificate.
    NoCertificate,
    /// The client's certificate does not chain to the client CA (or is invalid).
    UntrustedCertificate,
    /// Anything else that broke the handshake (not TLS, wrong version, EOF).
    HandshakeFailed,
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// Too many connections or handshakes, in all or from this source.
    ConnectionLimit,
}

impl Reason {
    /// Stable code, for audit details and the refusal metric's label.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::HandshakeFailed => "handshake_failed",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::ConnectionLimit => "connection_limit",
        }
    }

    /// Classifies a failed `TlsAcceptor::accept`.
    pub(super) fn of_handshake(e: &std::io::Error) -> Self {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::NoCertificatesPresented) => Self::NoCertificate,
            Some(rustls::Error::InvalidCertificate(_)) => Self::UntrustedCertificate,
            _ => Self::HandshakeFailed,
        }
    }
}

/// Refusals of one (source, reason) since its last record.
#[derive(Debug)]
struct Entry {
    count: u64,
    first: OffsetDateTime,
    last: OffsetDateTime,
    /// The first error's text since the last record.
    message: String,
    /// New this window: recorded at the writer's next wake-up, not the window's end.
    due: bool,
}

/// Which entries a flush writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Only those new this window.
    Due,
    /// Every entry with refusals; entries quiet for a whole window are dropped.
    Window,
}

/// The aggregator and its single writer.
#[derive(Debug)]
pub(crate) struct RefusalAudit {
    /// The listener named in each record.
    interface: &'static str,
    /// `None` as the source: every source beyond [`MAX_PAIRS`]; the reason's code.
    entries: Mutex<HashMap<(Option<Source>, &'static str), Entry>>,
    wake: Notify,
}

impl RefusalAudit {
    /// An aggregator for the listener `interface` (`api`, `x1`, `signalling`).
    pub(crate) fn new(interface: &'static str) -> Self {
        Self {
            interface,
            entries: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// Counts one refusal; never blocks on the audit log.
    pub(super) fn record(&self, source: Source, reason: Reason, message: impl FnOnce() -> String) {
        self.record_code(source, reason.as_str(), message);
    }

    /// Counts one refusal for the reason `code`; never blocks on the audit log.
    pub(crate) fn record_code(
        &self,
        source: Source,
        reason: &'static str,
        message: impl FnOnce() -> String,
    ) {
        let now = OffsetDateTime::now_utc();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let known = entries.contains_key(&(Some(source), reason));
        let key = if known || entries.len() < MAX_PAIRS {
            (Some(source), reason)
        } else {
            (None, reason)
        };
        let entry = entries.entry(key).or_insert_with(|| Entry {
            count: 0,
            first: now,
            last: now,
            message: String::new(),
            due: true,
        });
        if entry.count == 0 {
            entry.first = now;
            entry.message = message();
        }
        entry.count += 1;
        entry.last = now;
        let wake = entry.due;
        drop(entries);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Takes the records `flush` writes, resetting their counts.
    pub(crate) fn take(&self, flush: Flush) -> Vec<serde_json::Value> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if flush == Flush::Window {
            entries.retain(|_, e| e.count > 0);
        }
        let mut out = Vec::new();
        for ((source, reason), e) in entries.iter_mut() {
            if e.count == 0 || (flush == Flush::Due && !e.due) {
                continue;
            }
            out.push(serde_json::json!({
                "interface": self.interface,
                "peer": source.map_or_else(|| "other sources".to_owned(), |s| s.to_string()),
                "reason": reason,
                "count": e.count,
                "first": format_time(e.first),
                "last": format_time(e.last),
                "message": std::mem::take(&mut e.message),
            }));
            e.count = 0;
            e.due = false;
        }
        out
    }

    /// The writer: records new (source, reason) pairs as they come, the rest at
    /// each window's end, and everything pending once `stop` resolves.
    pub(super) async fn run(
        self: Arc<Self>,
        backend: Arc<dyn Provisioning>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut window = tokio::time::interval(REFUSAL_WINDOW);
        window.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        window.tick().await;
        tokio::pin!(stop);
        loop {
            let (flush, last) = tokio::select! {
                () = self.wake.notified() => (Flush::Due, false),
                _ = window.tick() => (Flush::Window, false),
                () = &mut stop => (Flush::Window, true),
            };
            // One blocking task per record: the audit lock is free between two,
            // so an authenticated action waits behind one refusal at most.
            for details in self.take(flush) {
                let backend = backend.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    backend.audit_refusal(true, ACTOR, details);
                })
                .await;
            }
            if last {
                return;
            }
        }
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(text: &str) -> Source {
        Source::of(text.parse().unwrap())
    }

    #[test]
    fn a_flood_is_one_record_per_source_and_reason() {
        let agg = RefusalAudit::new("api");
        for _ in 0..10_000 {
            agg.record(ip("192.0.2.1"), Reason::HandshakeFailed, || "eof".into());
        }
        agg.record(ip("192.0.2.1"), Reason::NoCertificate, || "none".into());
        let first = agg.take(Flush::Due);
        assert_eq!(first.len(), 2, "{first:?}");
        let total: u64 = first.iter().map(|r| r["count"].as_u64().unwrap()).sum();
        assert_eq!(total, 10_001);
        // Later refusals of a known pair wait for the window's end.
        for _ in 0..500 {
            agg.record(ip("192.0.2.1"), Reason::HandshakeFailed, || "eof".into());
        }
        assert!(agg.take(Flush::Due).is_empty());
        let window = agg.take(Flush::Window);
        assert_eq!(window.len(), 1, "{window:?}");
        assert_eq!(window[0]["count"], 500);
        assert_eq!(window[0]["reason"], "handshake_failed");
        assert_eq!(window[0]["peer"], "192.0.2.1");
        // A pair quiet for a whole window is forgotten: its next refusal is new.
        assert!(agg.take(Flush::Window).is_empty());
        agg.record(ip("192.0.2.1"), Reason::HandshakeFailed, || "eof".into());
        assert_eq!(agg.take(Flush::Due).len(), 1);
    }

    #[test]
    fn sources_are_bounded_and_ipv6_counts_per_64() {
        let agg = RefusalAudit::new("api");
        for i in 0..2_000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            agg.record(Source::of(a.into()), Reason::HandshakeTimeout, String::new);
        }
        let records = agg.take(Flush::Due);
        assert_eq!(records.len(), MAX_PAIRS + 1);
        let other = records
            .iter()
            .find(|r| r["peer"] == "other sources")
            .unwrap();
        assert_eq!(other["count"], 2_000 - MAX_PAIRS as u64);
        assert_eq!(ip("2001:db8:1:2::7"), ip("2001:db8:1:2:ffff::1"));
        assert_ne!(ip("2001:db8:1:2::7"), ip("2001:db8:1:3::7"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
        assert_eq!(ip("2001:db8:1:2::7").to_string(), "2001:db8:1:2::/64");
    }
}
