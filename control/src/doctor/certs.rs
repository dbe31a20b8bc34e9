//! Certificates and keys: readable, parseable, and not expiring within 30 days
//! (an expired certificate stops the API or a delivery link).

use std::path::Path;

use time::{Duration, OffsetDateTime};
use x509_parser::pem::Pem;

use super::Finding;
use crate::config::Config;

/// Warn this long before a certificate expires.
const NOTICE: Duration = Duration::days(30);

/// Files named in the configuration: (config key, path).
type Files<'a> = Vec<(String, &'a Path)>;

/// The certificate files and the key files.
fn files(config: &Config) -> (Files<'_>, Files<'_>) {
    let api = &config.api;
    let mut certs = vec![
        ("api.cert".to_owned(), api.cert.as_path()),
        ("api.client_ca".to_owned(), api.client_ca.as_path()),
    ];
    let mut keys = vec![("api.key".to_owned(), api.key.as_path())];
    for d in &config.destinations {
        if let Some(t) = &d.tls {
            let key = |f: &str| format!("destinations.{}.tls.{f}", d.name);
            certs.push((key("ca"), t.ca.as_path()));
            certs.push((key("cert"), t.cert.as_path()));
            keys.push((key("key"), t.key.as_path()));
        }
    }
    (certs, keys)
}

/// The earliest `not_after` and latest `not_before` of the certificates in a PEM file.
fn validity(data: &[u8]) -> Result<(i64, i64), String> {
    let mut window: Option<(i64, i64)> = None;
    for pem in Pem::iter_from_buffer(data) {
        let pem = pem.map_err(|e| format!("not PEM: {e}"))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let cert = pem.parse_x509().map_err(|e| format!("not X.509: {e}"))?;
        let v = cert.validity();
        let (from, until) = (v.not_before.timestamp(), v.not_after.timestamp());
        window = Some(window.map_or((from, until), |(f, u)| (f.max(from), u.min(until))));
    }
    window.ok_or_else(|| "no certificate in the file".to_owned())
}

fn date(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .map_or_else(|_| ts.to_string(), |t| t.date().to_string())
}

/// Every certificate readable and valid for 30 days more; every key readable.
pub(super) fn expiry(config: &Config, now: OffsetDateTime) -> Vec<Finding> {
    const CHECK: &str = "cert";
    let (certs, keys) = files(config);
    let mut out = Vec::new();
    for (key, path) in certs {
        let at = format!("{key} ({})", path.display());
        let window = std::fs::read(path)
            .map_err(|e| format!("unreadable: {e}"))
            .and_then(|d| validity(&d));
        let now_ts = now.unix_timestamp();
        out.push(match window {
            Err(why) => Finding::fatal(
                CHECK,
                format!("{at}: {why}"),
                "point the key at a readable PEM certificate",
            ),
            Ok((from, _)) if from > now_ts => Finding::fatal(
                CHECK,
                format!("{at}: not valid before {}", date(from)),
                "check the host's clock, or issue a certificate valid now",
            ),
            Ok((_, until)) if until <= now_ts => Finding::fatal(
                CHECK,
                format!("{at}: expired on {}", date(until)),
                "renew the certificate",
            ),
            Ok((_, until)) if until <= (now + NOTICE).unix_timestamp() => Finding::warn(
                CHECK,
                format!("{at}: expires on {}, within 30 days", date(until)),
                "renew the certificate before it expires",
            ),
            Ok((_, until)) => Finding::ok(CHECK, format!("{at}: valid until {}", date(until))),
        });
    }
    for (key, path) in keys {
        out.push(match std::fs::File::open(path) {
            Ok(_) => Finding::ok("key", format!("{key} ({}) readable", path.display())),
            Err(e) => Finding::fatal(
                "key",
                format!("{key} ({}): unreadable: {e}", path.display()),
                "make the key readable by the probe's user (mode 0600, owned by it)",
            ),
        });
    }
    out
}
