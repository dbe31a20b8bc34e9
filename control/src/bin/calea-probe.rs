//! `calea-probe`: the probe daemon (`run`) and its command-line client
//! (`intercept`, `destination`, `audit`), plus `certs` to generate a test PKI.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use control::client::ApiClient;
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "calea-probe",
    version,
    about = "Lawful-intercept probe on DPDK"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon.
    Run {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage intercepts through the API.
    Intercept {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        cmd: InterceptCmd,
    },
    /// Manage delivery destinations through the API.
    Destination {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        cmd: DestinationCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Run the whole chain on this machine (net_pcap vdev, collector, API) and summarise.
    Demo {
        /// Where certificates, capture, state and received files go.
        #[arg(long, default_value = "calea-demo")]
        out: PathBuf,
    },
    /// Check this host against a configuration (hugepages, IOMMU, NIC binding, cores,
    /// limits, clock, disk, certificates); exit status 1 when the probe cannot run.
    Doctor {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Read sysfs and procfs below this directory instead of `/` (tests).
        #[arg(long, default_value = "/", hide = true)]
        root: PathBuf,
    },
    /// Generate a test CA, a localhost server certificate and client certificates.
    Certs {
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
        /// Client certificate subject CNs.
        #[arg(long = "client", default_values_t = ["admin".to_owned()])]
        clients: Vec<String>,
    },
}

#[derive(Args)]
struct ApiArgs {
    /// API base URL.
    #[arg(long, env = "CALEA_API", global = true)]
    api: Option<String>,
    /// Client certificate (PEM).
    #[arg(long, env = "CALEA_CERT", global = true)]
    cert: Option<PathBuf>,
    /// Client key (PEM).
    #[arg(long, env = "CALEA_KEY", global = true)]
    key: Option<PathBuf>,
    /// CA of the probe's certificate (PEM).
    #[arg(long, env = "CALEA_CA", global = true)]
    ca: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum InterceptCmd {
    /// Provision an intercept from a JSON file or flags.
    Add(AddArgs),
    /// List intercepts.
    List,
    /// Show one intercept.
    Show { liid: String },
    /// Modify an intercept (JSON patch file).
    Modify {
        liid: String,
        /// Patch file (`valid_until`, `add_targets`, `remove_targets`, `destinations`).
        #[arg(long)]
        file: PathBuf,
    },
    /// Deactivate an intercept.
    Remove { liid: String },
}

#[derive(Args)]
struct AddArgs {
    /// Request file (JSON); flags are ignored when given.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Lawful interception identifier (1–25 printable characters).
    #[arg(long)]
    liid: Option<String>,
    /// Warrant reference.
    #[arg(long)]
    warrant_ref: Option<String>,
    /// Authority that issued the warrant.
    #[arg(long)]
    issuing_authority: Option<String>,
    /// Start of the warrant window (RFC 3339, e.g. 2026-11-21T00:00:00Z).
    #[arg(long)]
    valid_from: Option<String>,
    /// End of the warrant window (RFC 3339, exclusive).
    #[arg(long)]
    valid_until: Option<String>,
    /// headers | content
    #[arg(long)]
    mode: Option<String>,
    /// IPv4/IPv6 address, CIDR prefix or MAC; repeat for several targets.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Destination name; repeat for several destinations.
    #[arg(long = "destination")]
    destinations: Vec<String>,
}

#[derive(Subcommand)]
enum DestinationCmd {
    /// Add a destination (JSON file).
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    /// List destinations.
    List,
    /// Remove a destination.
    Remove { name: String },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify the hash chain of the database against its mirror (offline).
    Verify {
        #[arg(long)]
        database: PathBuf,
        #[arg(long)]
        mirror: PathBuf,
    },
    /// List audit records through the API (auditor or admin).
    List {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("calea-probe: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    match cli.cmd {
        Cmd::Run { config } => {
            control::daemon::run(&config)
                .with_context(|| format!("daemon with {}", config.display()))?;
        }
        Cmd::Intercept { api, cmd } => client_cmd(&api, |c| intercept(c, cmd, api.output))?,
        Cmd::Destination { api, cmd } => client_cmd(&api, |c| destination(c, cmd, api.output))?,
        Cmd::Audit {
            cmd: AuditCmd::Verify { database, mirror },
        } => {
            let report = control::audit::verify(&database, &mirror)
                .with_context(|| format!("verifying {}", database.display()))?;
            if let Some(bad) = &report.first_bad {
                println!(
                    "audit log INVALID: first bad record seq {}: {:?}",
                    bad.seq, bad.problem
                );
                return Ok(std::process::ExitCode::FAILURE);
            }
            println!(
                "audit log OK: {} records in database, {} in mirror",
                report.db_records, report.mirror_records
            );
        }
        Cmd::Audit {
            cmd: AuditCmd::List { api, from, limit },
        } => client_cmd(&api, |c| async move {
            print(
                &c.audit(from, limit).await?,
                api.output,
                &["seq", "time", "actor", "action", "object"],
            );
            Ok(())
        })?,
        Cmd::Demo { out } => {
            let got = control::demo::run(&out).context("demo")?;
            if got
                .iter()
                .any(|r| r.content_packets + r.header_reports == 0)
            {
                bail!(
                    "demo: an intercept received nothing (see {})",
                    out.display()
                );
            }
        }
        Cmd::Doctor {
            config,
            output,
            root,
        } => {
            let cfg = control::config::Config::from_file(&config)?;
            let report = control::doctor::check(
                &cfg,
                &control::doctor::Host::new(&root),
                time::OffsetDateTime::now_utc(),
            );
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                Output::Table => println!("{report}"),
            }
            if !report.can_run {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Cmd::Certs { out, clients } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let cns: Vec<&str> = clients.iter().map(String::as_str).collect();
            let b = control::pki::generate_bundle(&out, &cns).context("generating certificates")?;
            println!(
                "CA {}\nserver {} {}",
                b.ca.display(),
                b.server_cert.display(),
                b.server_key.display()
            );
            for (cn, cert, key) in &b.clients {
                println!("client {cn} {} {}", cert.display(), key.display());
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn client_cmd<F, Fut>(args: &ApiArgs, f: F) -> Result<()>
where
    F: FnOnce(ApiClient) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let need = |v: &Option<PathBuf>, name: &str| {
        v.clone()
            .with_context(|| format!("--{name} (or CALEA_{}) is required", name.to_uppercase()))
    };
    let api = args
        .api
        .clone()
        .context("--api (or CALEA_API) is required")?;
    let client = ApiClient::new(
        &api,
        &need(&args.ca, "ca")?,
        &need(&args.cert, "cert")?,
        &need(&args.key, "key")?,
    )
    .context("loading client TLS material")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(f(client))
}

fn read_json(path: &PathBuf) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

async fn intercept(c: ApiClient, cmd: InterceptCmd, out: Output) -> Result<()> {
    const COLUMNS: &[&str] = &[
        "liid",
        "state",
        "mode",
        "valid_from",
        "valid_until",
        "active",
    ];
    let value = match cmd {
        InterceptCmd::Add(a) => {
            let req = match &a.file {
                Some(f) => read_json(f)?,
                None => {
                    let need = |v: Option<String>, n: &str| {
                        v.with_context(|| format!("--{n} is required without --file"))
                    };
                    serde_json::json!({
                        "liid": need(a.liid, "liid")?,
                        "warrant_ref": need(a.warrant_ref, "warrant-ref")?,
                        "issuing_authority": need(a.issuing_authority, "issuing-authority")?,
                        "valid_from": need(a.valid_from, "valid-from")?,
                        "valid_until": need(a.valid_until, "valid-until")?,
                        "mode": need(a.mode, "mode")?,
                        "targets": a.targets,
                        "destinations": a.destinations,
                    })
                }
            };
            c.create_intercept(&req)
                .await
                .context("creating intercept")?
        }
        InterceptCmd::List => c.list_intercepts().await.context("listing intercepts")?,
        InterceptCmd::Show { liid } => c.get_intercept(&liid).await.context("showing intercept")?,
        InterceptCmd::Modify { liid, file } => c
            .modify_intercept(&liid, &read_json(&file)?)
            .await
            .context("modifying intercept")?,
        InterceptCmd::Remove { liid } => c
            .remove_intercept(&liid)
            .await
            .context("removing intercept")?,
    };
    print(&value, out, COLUMNS);
    Ok(())
}

async fn destination(c: ApiClient, cmd: DestinationCmd, out: Output) -> Result<()> {
    let value = match cmd {
        DestinationCmd::Add { file } => c
            .add_destination(&read_json(&file)?)
            .await
            .context("adding destination")?,
        DestinationCmd::List => c
            .list_destinations()
            .await
            .context("listing destinations")?,
        DestinationCmd::Remove { name } => {
            c.remove_destination(&name)
                .await
                .context("removing destination")?;
            if matches!(out, Output::Json) {
                println!("{{}}");
            }
            return Ok(());
        }
    };
    print(&value, out, &["name", "format", "address"]);
    Ok(())
}

/// Prints JSON as-is, or as a table of `columns` (one row per object).
fn print(value: &Value, out: Output, columns: &[&str]) {
    if matches!(out, Output::Json) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let cell = |row: &Value, col: &str| match row.get(col) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(v) => v.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).len())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for r in rows {
        line(columns.iter().map(|c| cell(r, c)).collect());
    }
}
