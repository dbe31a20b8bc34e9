//! `calea-probe doctor`: checks a host against a configuration before the probe
//! runs there, and says for each finding how to fix it. Every sysfs/procfs file
//! is read through [`Host`], whose root is `/` on a real host and a fixture
//! tree in tests. Nothing here changes the host.

mod certs;
mod clock;
mod cpu;
mod devices;
mod limits;
mod memory;
mod plan;
mod storage;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Config;
pub use cpu::{cpu_list, node_of_cpu};
pub use plan::Plan;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// As it should be.
    Ok,
    /// Not needed by this configuration, or nothing to judge.
    Info,
    /// The probe runs, but may drop packets, lose time accuracy or fail later.
    Warning,
    /// The probe cannot start (or cannot capture) on this host.
    Fatal,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Ok => "ok",
            Self::Info => "info",
            Self::Warning => "WARN",
            Self::Fatal => "FATAL",
        })
    }
}

/// One thing found on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check (stable identifier, e.g. `hugepages`, `port-driver`).
    pub check: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// What to do about it (for warnings and fatal findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(check: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            check,
            severity,
            message: message.into(),
            fix: None,
        }
    }

    fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Severity::Ok, message)
    }

    fn info(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Severity::Info, message)
    }

    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Severity::Warning, message).with_fix(fix)
    }

    fn fatal(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Severity::Fatal, message).with_fix(fix)
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Every finding, in check order.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// No fatal finding: the probe can start here.
    pub can_run: bool,
    /// Number of fatal findings.
    pub fatal: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(findings: Vec<Finding>) -> Self {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let fatal = count(Severity::Fatal);
        Self {
            can_run: fatal == 0,
            fatal,
            warnings: count(Severity::Warning),
            findings,
        }
    }

    /// The findings of one check.
    pub fn of(&self, check: &str) -> impl Iterator<Item = &Finding> + '_ {
        let check = check.to_owned();
        self.findings.iter().filter(move |f| f.check == check)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            writeln!(f, "{:<5} {:<14} {}", x.severity, x.check, x.message)?;
            if let Some(fix) = &x.fix {
                writeln!(f, "{:<20} fix: {fix}", "")?;
            }
        }
        let verdict = if self.can_run {
            "the probe can run on this host"
        } else {
            "the probe cannot run on this host"
        };
        write!(
            f,
            "{} fatal, {} warnings: {verdict}",
            self.fatal, self.warnings
        )
    }
}

/// The host's files, read below `root` (`/` on a real host).
#[derive(Clone, Debug)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// A host whose `/` is `root`.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// A file's text, trimmed; `None` when it cannot be read.
    fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// The last component of a symlink's target (a device's driver name).
    fn link_name(&self, abs: &str) -> Option<String> {
        let target = std::fs::read_link(self.path(abs)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// Entry names of a directory, sorted; empty when it cannot be read. Dot
    /// files (which sysfs never has) are skipped: fixtures keep empty directories
    /// in git with one.
    fn list(&self, abs: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The kernel command line's value of `key=` (last one wins, as in the kernel).
    fn cmdline(&self, key: &str) -> Option<String> {
        let line = self.read("/proc/cmdline")?;
        line.split_whitespace()
            .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .next_back()
            .map(str::to_owned)
    }
}

/// Runs every check of `config` against `host` at `now` (certificate expiry).
#[must_use]
pub fn check(config: &Config, host: &Host, now: OffsetDateTime) -> Report {
    let plan = Plan::new(&config.dataplane);
    let mut findings = Vec::new();
    findings.extend(memory::hugepages(host, &plan));
    findings.extend(memory::transparent_hugepages(host));
    findings.extend(devices::iommu_and_vfio(host, &plan));
    findings.extend(devices::ports(host, &plan));
    findings.extend(cpu::isolation(host, &plan));
    findings.extend(cpu::numa(host, &plan));
    findings.extend(limits::rlimits(host, &plan));
    findings.extend(clock::sync(host, config.dataplane.timestamps));
    findings.extend(storage::space(config));
    findings.extend(certs::expiry(config, now));
    Report::new(findings)
}
