//! `calea-collector`: sample law-enforcement collection function. Receives PS-PDUs
//! or X2/X3 over mutually-authenticated TLS and writes per LIID content.pcap,
//! headers.pcap and iri.jsonl in `OUT/liid/<encoded LIID>/`; prints a per-LIID
//! summary, with each LIID's directory, on SIGINT/SIGTERM.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use control::collector::{Collector, CollectorOptions};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Sample LI collection function (ETSI TS 102 232 / TS 103 221-2 receiver)"
)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:6100.
    #[arg(long)]
    listen: SocketAddr,
    /// Output directory: one subdirectory of OUT/liid/ per LIID (or XID), named
    /// by an escaped form of it (the LIID itself is in its `liid` file).
    #[arg(long)]
    out: PathBuf,
    /// LIIDs whose files are kept open at once (4 descriptors each, and up to
    /// 17 more with voice calls); the least recently written one is closed to
    /// open another.
    #[arg(long, default_value_t = control::collector::DEFAULT_MAX_OPEN)]
    max_open_liids: usize,
    /// Server certificate (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// CA that must have signed the probe's client certificate (PEM).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Accept unauthenticated plaintext connections (tests and labs only).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Also write the final summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    control::collector::raise_open_files_limit();
    let tls = match (
        &args.cert,
        &args.key,
        &args.client_ca,
        args.insecure_plaintext,
    ) {
        (Some(c), Some(k), Some(ca), false) => {
            Some(control::tls::server_config(c, k, ca).context("loading TLS material")?)
        }
        (None, None, None, true) => {
            tracing::warn!("accepting PLAINTEXT connections without client authentication");
            None
        }
        _ => bail!("give --cert, --key and --client-ca, or --insecure-plaintext alone"),
    };
    let collector = Collector::bind(CollectorOptions {
        listen: args.listen,
        out: args.out.clone(),
        max_open_liids: args.max_open_liids,
        tls,
    })
    .context("starting collector")?;
    tracing::info!(listen = %collector.local_addr()?, out = %args.out.display(), "collector ready");
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("signal handler")?;
    }
    let summary = collector.run(&stop);
    println!("{summary}");
    if let Some(path) = &args.summary_json {
        let body = serde_json::to_vec_pretty(&summary)?;
        std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
