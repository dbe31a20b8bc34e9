//! `calea-probe`: the probe daemon (`run`) and its command-line client
//! (`intercept`, `destination`, `audit`), an X1 ADMF client (`x1`), plus, with
//! the `demo` feature only, `demo` and `certs` to generate a test PKI.
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
    /// Manage static customers' addresses (targets `subscriber-id:<name>`) through the API.
    StaticAssignment {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        cmd: StaticCmd,
    },
    /// Drive an X1 network element (ETSI TS 103 221-1) as an ADMF: this probe or any other.
    X1 {
        #[command(flatten)]
        args: X1Args,
        #[command(subcommand)]
        cmd: X1Cmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Run the whole chain on this machine (net_pcap vdev, collector, API) and summarise.
    #[cfg(feature = "demo")]
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
    #[cfg(feature = "demo")]
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
    #[command(flatten)]
    tls: TlsArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

/// The client's TLS material (API and X1 clients alike).
#[derive(Args)]
struct TlsArgs {
    /// Client certificate (PEM).
    #[arg(long, env = "CALEA_CERT", global = true)]
    cert: Option<PathBuf>,
    /// Client key (PEM).
    #[arg(long, env = "CALEA_KEY", global = true)]
    key: Option<PathBuf>,
    /// CA of the server's certificate (PEM).
    #[arg(long, env = "CALEA_CA", global = true)]
    ca: Option<PathBuf>,
}

impl TlsArgs {
    /// (CA, certificate, key), each required.
    fn paths(&self) -> Result<(PathBuf, PathBuf, PathBuf)> {
        let need = |v: &Option<PathBuf>, name: &str| {
            v.clone()
                .with_context(|| format!("--{name} (or CALEA_{}) is required", name.to_uppercase()))
        };
        Ok((
            need(&self.ca, "ca")?,
            need(&self.cert, "cert")?,
            need(&self.key, "key")?,
        ))
    }
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
    /// IPv4/IPv6 address, CIDR prefix, MAC, or subscriber or voice identity `kind:value`
    /// (`username:alice@isp.example`, `dhcp-client-mac:...`, `sip:alice@example.com`,
    /// `tel:+15551234567`); repeat for several targets.
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
enum StaticCmd {
    /// List static assignments.
    List,
    /// Set or replace a subscriber's addresses.
    Set {
        /// The subscriber id (`subscriber-id:<this>` names it in a warrant).
        subscriber_id: String,
        /// IPv4/IPv6 address or CIDR prefix; repeat for several.
        #[arg(long = "address", required = true)]
        addresses: Vec<String>,
    },
    /// Remove a subscriber's addresses.
    Remove { subscriber_id: String },
}

#[derive(Args)]
struct X1Args {
    /// Base URL of the NE's X1 interface (`https://host:port`).
    #[arg(long, env = "CALEA_X1", global = true)]
    url: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// `admfIdentifier` written in every message.
    #[arg(long, default_value = "admf", global = true)]
    admf_id: String,
    /// `neIdentifier` of the NE (a probe's `[x1] ne_identifier` or `[probe] name`).
    #[arg(long, env = "CALEA_X1_NE", global = true)]
    ne_id: Option<String>,
}

#[derive(Subcommand)]
enum X1Cmd {
    /// ActivateTask.
    Activate(TaskArgs),
    /// ModifyTask: the task's new details, in full.
    Modify(TaskArgs),
    /// DeactivateTask.
    Deactivate { xid: uuid::Uuid },
    /// GetTaskDetails.
    Show { xid: uuid::Uuid },
    /// ListAllDetails: every XID and DID.
    List,
    /// GetNEStatus.
    Status,
    /// Ping.
    Ping,
    /// CreateDestination: X2/X3 to an IP address and TCP port.
    CreateDestination {
        did: uuid::Uuid,
        address: std::net::SocketAddr,
    },
    /// RemoveDestination.
    RemoveDestination { did: uuid::Uuid },
}

#[derive(Args)]
struct TaskArgs {
    /// The task's XID (a lower-case UUID; X2/X3 carry it).
    #[arg(long)]
    xid: uuid::Uuid,
    /// IPv4/IPv6 address, CIDR prefix or MAC; `sip:`/`tel:` URI, `e164:`
    /// number or `username:` (NAI); ports the addresses are intercepted on
    /// (`udpPort:5060`, `tcpPortRange:8000-8010`, `udpPortList:5060,5080`);
    /// repeat for several targets.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// X2Only, X3Only or X2andX3.
    #[arg(long, default_value = "X2andX3")]
    delivery: String,
    /// Destination DID; repeat for several.
    #[arg(long = "did")]
    dids: Vec<uuid::Uuid>,
    /// LIID (sent as mediationDetails); absent: the NE derives one from the XID.
    #[arg(long)]
    liid: Option<String>,
    /// End of the warrant window (RFC 3339); needs --liid. Absent: until deactivated.
    #[arg(long)]
    end: Option<String>,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify the hash chain of the database against its mirror (offline) and,
    /// with --checkpoint, that nothing up to a signed checkpoint was removed.
    Verify {
        #[arg(long)]
        database: PathBuf,
        #[arg(long)]
        mirror: PathBuf,
        /// A checkpoint as a sink received it (JSON; of JSON lines, the last).
        #[arg(long, requires = "checkpoint_key")]
        checkpoint: Option<PathBuf>,
        /// Public key (PEM) the checkpoint must be signed with (or the private key).
        #[arg(long, requires = "checkpoint")]
        checkpoint_key: Option<PathBuf>,
    },
    /// Show the newest signed checkpoint through the API (auditor or admin).
    Checkpoint {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Generate an Ed25519 key pair for signing checkpoints (PEM).
    Keygen {
        /// Private key file (PKCS#8, created mode 0600): `[audit] checkpoint_key`.
        #[arg(long)]
        key: PathBuf,
        /// Public key file: give it to whoever verifies checkpoints.
        #[arg(long)]
        public: PathBuf,
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
            eprintln!("calea-probe: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: most of this crate's
/// errors already carry their cause's text in their own message.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !line.contains(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    line
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    match cli.cmd {
        Cmd::Run { config } => {
            control::collector::raise_open_files_limit();
            control::daemon::run(&config)
                .with_context(|| format!("daemon with {}", config.display()))?;
        }
        Cmd::Intercept { api, cmd } => client_cmd(&api, |c| intercept(c, cmd, api.output))?,
        Cmd::Destination { api, cmd } => client_cmd(&api, |c| destination(c, cmd, api.output))?,
        Cmd::StaticAssignment { api, cmd } => {
            client_cmd(&api, |c| static_assignment(c, cmd, api.output))?;
        }
        Cmd::Audit {
            cmd:
                AuditCmd::Verify {
                    database,
                    mirror,
                    checkpoint,
                    checkpoint_key,
                },
        } => {
            let report = match (checkpoint, checkpoint_key) {
                (Some(cp), Some(key)) => {
                    let key = control::audit::PublicKey::from_file(&key)?;
                    let cp = read_checkpoint(&cp)?;
                    println!(
                        "checkpoint of probe {:?}: seq {}, made {}",
                        cp.probe, cp.seq, cp.time
                    );
                    match control::audit::verify_checkpoint(&database, &mirror, &cp, &key) {
                        Err(e @ control::audit::AuditError::BadCheckpoint(_)) => {
                            println!("{e}");
                            return Ok(std::process::ExitCode::FAILURE);
                        }
                        other => other,
                    }
                }
                _ => control::audit::verify(&database, &mirror),
            }
            .with_context(|| format!("verifying {}", database.display()))?;
            println!("{report}");
            if !report.is_ok() {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Cmd::Audit {
            cmd: AuditCmd::Checkpoint { api },
        } => client_cmd(&api, |c| async move {
            let cp = c
                .audit_checkpoint()
                .await
                .context("reading the checkpoint")?;
            println!("{}", serde_json::to_string_pretty(&cp).unwrap_or_default());
            Ok(())
        })?,
        Cmd::Audit {
            cmd: AuditCmd::Keygen { key, public },
        } => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let (private_pem, public_pem) = control::audit::checkpoint::generate_key_pem()?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .and_then(|mut f| f.write_all(private_pem.as_bytes()))
                .with_context(|| format!("writing {}", key.display()))?;
            std::fs::write(&public, public_pem)
                .with_context(|| format!("writing {}", public.display()))?;
            println!(
                "private key {}\npublic key {}",
                key.display(),
                public.display()
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
        Cmd::X1 { args, cmd } => return x1(&args, cmd),
        #[cfg(feature = "demo")]
        Cmd::Demo { out } => {
            let got = control::demo::run(&out).context("demo")?;
            if got
                .iter()
                .any(|r| r.content_packets + r.header_reports + r.sip_messages == 0)
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
        #[cfg(feature = "demo")]
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
    let api = args
        .api
        .clone()
        .context("--api (or CALEA_API) is required")?;
    let (ca, cert, key) = args.tls.paths()?;
    let client = ApiClient::new(&api, &ca, &cert, &key).context("loading client TLS material")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(f(client))
}

/// A checkpoint file: one JSON object, or JSON lines (a file sink's) of which the last counts.
fn read_checkpoint(path: &PathBuf) -> Result<control::audit::Checkpoint> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .or_else(|e| {
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            last.map_or(Err(e), serde_json::from_str)
        })
        .with_context(|| format!("{} is not an audit checkpoint", path.display()))
}

fn x1(args: &X1Args, cmd: X1Cmd) -> Result<std::process::ExitCode> {
    use control::x1::message::{
        DeliveryAddress, DeliveryType, DestinationDetails, Kind, Mediation, Request,
        TargetIdentifier, TaskDetails,
    };
    let (ca, cert, key) = args.tls.paths()?;
    let client = control::x1::client::X1Client::new(
        args.url
            .as_deref()
            .context("--url (or CALEA_X1) is required")?,
        &ca,
        &cert,
        &key,
        &args.admf_id,
        args.ne_id
            .as_deref()
            .context("--ne-id (or CALEA_X1_NE) is required")?,
    )
    .context("loading client TLS material")?;
    let task = |t: TaskArgs| -> Result<TaskDetails> {
        let targets = t
            .targets
            .iter()
            .map(|x| TargetIdentifier::parse("--target", x))
            .collect::<Result<_, _>>()?;
        let end = t
            .end
            .as_deref()
            .map(|e| control::model::parse_time("--end", e))
            .transpose()?;
        let mediation = match (t.liid, end) {
            (Some(liid), end) => Some(Mediation {
                liid,
                start: None,
                end,
            }),
            (None, Some(_)) => bail!("--end needs --liid (both go into mediationDetails)"),
            (None, None) => None,
        };
        Ok(TaskDetails {
            xid: t.xid,
            targets,
            delivery: DeliveryType::parse(&t.delivery)?,
            dids: t.dids,
            mediation,
        })
    };
    let (kind, request) = match cmd {
        X1Cmd::Activate(t) => (Kind::ActivateTask, Request::ActivateTask(task(t)?)),
        X1Cmd::Modify(t) => (Kind::ModifyTask, Request::ModifyTask(task(t)?)),
        X1Cmd::Deactivate { xid } => (Kind::DeactivateTask, Request::Xid(xid)),
        X1Cmd::Show { xid } => (Kind::GetTaskDetails, Request::Xid(xid)),
        X1Cmd::List => (Kind::ListAllDetails, Request::Empty),
        X1Cmd::Status => (Kind::GetNeStatus, Request::Empty),
        X1Cmd::Ping => (Kind::Ping, Request::Empty),
        X1Cmd::CreateDestination { did, address } => (
            Kind::CreateDestination,
            Request::Destination(DestinationDetails {
                did,
                friendly_name: None,
                delivery: DeliveryType::X2AndX3,
                address: DeliveryAddress::Tcp(address.ip(), address.port()),
            }),
        ),
        X1Cmd::RemoveDestination { did } => (Kind::RemoveDestination, Request::Did(did)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let (_, a) = rt
        .block_on(client.send(kind, request))
        .context("X1 exchange")?;
    if let Some((code, text)) = &a.error {
        println!("{} error {code}: {text}", kind.as_str());
        return Ok(std::process::ExitCode::FAILURE);
    }
    println!(
        "{}{}",
        a.type_name,
        a.ok.map(|o| format!(" {o}")).unwrap_or_default()
    );
    if let Some(s) = &a.ne_status {
        println!("neStatus {s}");
    }
    for x in &a.xids {
        println!("xId {x}");
    }
    for d in &a.dids {
        println!("dId {d}");
    }
    for (t, status) in &a.tasks {
        println!(
            "task {} {} {} targets={} dIds={}",
            t.xid,
            status,
            t.delivery.as_str(),
            t.targets.len(),
            t.dids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
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

async fn static_assignment(c: ApiClient, cmd: StaticCmd, out: Output) -> Result<()> {
    let value = match cmd {
        StaticCmd::List => c
            .list_static_assignments()
            .await
            .context("listing static assignments")?,
        StaticCmd::Set {
            subscriber_id,
            addresses,
        } => c
            .put_static_assignment(&subscriber_id, &addresses)
            .await
            .context("setting static assignment")?,
        StaticCmd::Remove { subscriber_id } => c
            .remove_static_assignment(&subscriber_id)
            .await
            .context("removing static assignment")?,
    };
    print(&value, out, &["subscriber_id", "addresses"]);
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
