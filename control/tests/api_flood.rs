//! The real `calea-probe run` under a connection flood from loopback: junk TCP
//! connections, half-open TLS handshakes, idle TLS sessions and slowloris
//! headers, from other loopback addresses than the provisioner's. A legitimate
//! create still answers within a second, the daemon's memory and threads stay
//! bounded, the stalled connections are closed by the server's timeouts, and the
//! audit log holds a few aggregated refusal records (not one per connection)
//! in a chain that still verifies.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use control::api::{
    BLOCKING_THREADS, HANDSHAKE_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS_PER_SOURCE,
};
use daemon_harness::{free_port, Probe, Setup};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

/// How long junk connections keep coming (the other kinds end by the server's timeouts).
const FLOOD: Duration = Duration::from_secs(12);
/// Junk connections per task, and tasks.
const JUNK_PER_TASK: u64 = 1_500;
const JUNK_TASKS: u64 = 4;
/// Held sessions of each kind (idle TLS, slowloris).
const HELD: usize = 8;
/// Slack on every server-side timeout the test observes.
const SLACK: Duration = Duration::from_secs(3);

/// A flooding source: loopback, but not the provisioner's 127.0.0.1.
fn source(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A TLS session as `cn` (a valid client certificate) from `from`.
async fn tls_from(setup: &Setup, from: IpAddr, to: SocketAddr) -> TlsStream<TcpStream> {
    let (cert, key) = setup.certs.client("viewer").unwrap();
    let config = control::tls::client_config(&setup.certs.ca, cert, key).unwrap();
    let name = control::tls::server_name("127.0.0.1").unwrap();
    let tcp = connect_from(from, to).await.unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap()
}

/// How long until the server closes `stream` (EOF or error), if within `limit`.
/// `nudge`, if any, is written every second meanwhile (a slowloris header).
async fn closed_within<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    limit: Duration,
    nudge: Option<&[u8]>,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let mut pace = tokio::time::interval(Duration::from_secs(1));
    let closed = async {
        loop {
            tokio::select! {
                r = stream.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
                _ = pace.tick(), if nudge.is_some() => {
                    if stream.write_all(nudge.unwrap_or_default()).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(limit, closed)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// (VmRSS in kB, threads) of process `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("Threads:"))
}

/// Sum of `calea_api_refusals_total` over every reason.
async fn refusals_counted(metrics_url: &str) -> u64 {
    let Ok(resp) = reqwest::get(metrics_url).await else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("calea_api_refusals_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn request(liid: &str) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-FLOOD",
        "issuing_authority": "District Court",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "mode": "headers",
        "targets": ["198.51.100.9"],
        "destinations": ["lab"],
    })
}

/// Creates `liid` through the real client on a fresh connection; returns how long it took.
async fn timed_create(setup: &Setup, liid: &str) -> Duration {
    let started = Instant::now();
    let created = setup
        .client("prov")
        .create_intercept(&request(liid))
        .await
        .unwrap();
    assert_eq!(created["active"], json!(true), "{created}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_holds_under_a_connection_flood() {
    let setup = Setup::new();
    dataplane::synth::write_pcap(setup.path("in.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lab", free_port());
    let probe = Probe::start(&setup.write_config("in.pcap", &dest));
    let api: SocketAddr = setup
        .api_url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    timed_create(&setup, "LIID-WARM").await;
    let (base_rss, base_threads) = usage(probe.pid());

    let flood_end = Instant::now() + FLOOD;
    // Junk: connect, send something that is not TLS, hang up.
    let junk: Vec<_> = (0..JUNK_TASKS)
        .map(|_| {
            tokio::spawn(async move {
                let mut made = 0;
                while made < JUNK_PER_TASK && Instant::now() < flood_end {
                    if let Ok(mut s) = connect_from(source(2), api).await {
                        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
                        made += 1;
                    }
                }
                made
            })
        })
        .collect();
    // Half-open: a TLS record header, then nothing; more than one source may hold.
    let half_open: Vec<_> = (0..MAX_CONNECTIONS_PER_SOURCE + 8)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = connect_from(source(3), api).await.unwrap();
                s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
                closed_within(s, HANDSHAKE_TIMEOUT + SLACK, None).await
            })
        })
        .collect();
    // Idle sessions and slowloris headers, after a complete handshake.
    let mut held = Vec::new();
    for (from, nudge) in [(source(4), None), (source(5), Some(&b"X-Slow: 1\r\n"[..]))] {
        for _ in 0..HELD {
            let mut s = tls_from(&setup, from, api).await;
            if nudge.is_some() {
                s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .await
                    .unwrap();
            }
            held.push(tokio::spawn(closed_within(
                s,
                HEADER_TIMEOUT + SLACK,
                nudge,
            )));
        }
    }
    let pid = probe.pid();
    let sampler = tokio::spawn(async move {
        let mut peak = (0, 0);
        while Instant::now() < flood_end + SLACK {
            let (rss, threads) = usage(pid);
            peak = (peak.0.max(rss), peak.1.max(threads));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });

    // The provisioner, during the flood.
    let mut creates = Vec::new();
    let mut n = 0;
    while Instant::now() + Duration::from_secs(2) < flood_end {
        n += 1;
        creates.push(timed_create(&setup, &format!("LIID-F{n}")).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let mut junk_made = 0;
    for t in junk {
        junk_made += t.await.unwrap();
    }
    let mut quick = 0;
    for t in half_open {
        let closed = t.await.unwrap();
        let after = closed.expect("a half-open handshake was never closed");
        quick += usize::from(after < Duration::from_secs(1));
    }
    for t in held {
        assert!(
            t.await.unwrap().is_some(),
            "an idle or slowloris session outlived the header timeout"
        );
    }
    let (peak_rss, peak_threads) = sampler.await.unwrap();
    // Every connection the daemon accepted is counted before it stops.
    let metrics = setup.metrics_url();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut counted = refusals_counted(&metrics).await;
    while counted < junk_made && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        counted = refusals_counted(&metrics).await;
    }

    eprintln!(
        "junk {junk_made}, creates {creates:?}, rss {base_rss} -> {peak_rss} kB, \
         threads {base_threads} -> {peak_threads}, refusals counted {counted}"
    );
    assert!(junk_made >= 3_000, "only {junk_made} junk connections made");
    assert!(creates.len() >= 3, "{creates:?}");
    for took in &creates {
        assert!(*took < Duration::from_secs(1), "a create took {took:?}");
    }
    assert!(
        quick >= 8,
        "connections over the per-source limit must be closed at once"
    );
    assert!(
        peak_threads <= base_threads + BLOCKING_THREADS as u64,
        "threads {base_threads} -> {peak_threads}"
    );
    assert!(
        peak_rss <= base_rss + 24 * 1024,
        "VmRSS {base_rss} -> {peak_rss} kB"
    );
    assert!(counted >= junk_made, "refusals counted: {counted}");

    let mirror = setup.path("audit.jsonl");
    probe.stop();
    let records: Vec<Value> = std::fs::read_to_string(&mirror)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refusals: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "request_unauthenticated")
        .collect();
    let audited: u64 = refusals
        .iter()
        .map(|r| r["details"]["count"].as_u64().unwrap())
        .sum();
    eprintln!("{} refusal records for {audited} refusals", refusals.len());
    assert!(
        !refusals.is_empty() && refusals.len() <= 40,
        "{} refusal records",
        refusals.len()
    );
    assert!(audited >= junk_made, "{audited} refusals audited");
    let creates_audited = records
        .iter()
        .filter(|r| r["action"] == "intercept_create")
        .count();
    assert_eq!(creates_audited, creates.len() + 1);
    setup.assert_audit_verifies();
}
