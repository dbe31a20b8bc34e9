//! `calea-probe doctor`: a prepared two-node host and a bare one (fixture
//! sysfs/procfs trees under tests/fixtures/doctor), and this machine itself.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use control::config::Config;
use control::doctor::{check, Finding, Host, Report, Severity};
use control::pki::{generate_bundle, Bundle};
use time::{Duration, OffsetDateTime};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

/// A probe.toml in `dir` with these `[dataplane]` lines, the bundle's API
/// certificates and one TLS destination spooling to `dir/spool`.
fn config(dir: &Path, certs: &Bundle, dataplane: &str, spool_max: u64) -> PathBuf {
    let (client, client_key) = certs.client("probe").unwrap();
    let text = format!(
        r#"
[probe]
name = "probe-test"
operator_id = "TESTOP"
country_code = "US"
[dataplane]
{dataplane}
[api]
listen = "127.0.0.1:18443"
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
[metrics]
listen = "127.0.0.1:19464"
[state]
database = "state/probe.db"
audit_mirror = "state/audit.jsonl"
[[destinations]]
name = "lea"
address = "127.0.0.1:6543"
format = "etsi-102232"
spool_dir = "spool/lea"
spool_max_bytes = {spool_max}
[destinations.tls]
ca = "{ca}"
cert = "{client}"
key = "{client_key}"
server_name = "localhost"
"#,
        cert = certs.server_cert.display(),
        key = certs.server_key.display(),
        ca = certs.ca.display(),
        client = client.display(),
        client_key = client_key.display(),
    );
    let path = dir.join("probe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn bundle(dir: &Path) -> Bundle {
    generate_bundle(dir, &["probe"]).unwrap()
}

/// The one finding of `check` whose message contains `needle`.
fn find<'a>(report: &'a Report, check: &str, needle: &str) -> &'a Finding {
    let found: Vec<&Finding> = report
        .of(check)
        .filter(|f| f.message.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "{check} ~ {needle:?} in\n{report}");
    found[0]
}

fn assert_finding(report: &Report, check: &str, needle: &str, severity: Severity, fix: &str) {
    let f = find(report, check, needle);
    assert_eq!(f.severity, severity, "{f:?}");
    assert!(
        f.fix.as_deref().unwrap_or_default().contains(fix),
        "fix of {f:?} lacks {fix:?}"
    );
}

/// An E810 on vfio-pci (node 0) and a ConnectX on mlx5_core (node 1), two workers each.
const TWO_NICS: &str = r#"
eal_args = ["-l", "0,2-3,10-11", "-a", "0000:3b:00.0", "-a", "0000:af:00.0"]
ports = ["0000:3b:00.0", "0000:af:00.0"]
workers_per_port = 2
cores = [2, 3, 10, 11]
mbufs = 65535
"#;

#[test]
fn a_prepared_host_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let certs = bundle(dir.path());
    let cfg = Config::from_file(&config(dir.path(), &certs, TWO_NICS, 1 << 20)).unwrap();
    let r = check(
        &cfg,
        &Host::new(&fixture("good")),
        OffsetDateTime::now_utc(),
    );
    assert!(r.can_run, "{r}");
    assert_eq!((r.fatal, r.warnings), (0, 0), "{r}");
    let ok = |check, needle| assert_eq!(find(&r, check, needle).severity, Severity::Ok);
    ok("hugepages", "node0: 4 x 1 GiB (4 free)");
    ok("hugepages", "node1: 4 x 1 GiB (4 free)");
    ok("hugetlbfs", "/dev/hugepages (pagesize=1024M)");
    ok("iommu", "IOMMU on (1 groups, iommu=pt)");
    ok("vfio-pci", "loaded");
    ok("port", "0000:3b:00.0 bound to vfio-pci");
    ok("port", "0000:af:00.0 on mlx5_core");
    ok("isolcpus", "2,3,10,11");
    ok("nohz_full", "2,3,10,11");
    ok("rcu_nocbs", "2,3,10,11");
    ok("numa", "worker 1 on core 3, node0");
    ok("numa", "worker 3 on core 11, node1");
    ok("thp", "madvise");
    ok("nofile", "65536");
    ok("memlock", "unlimited");
    ok("clock", "chronyd");
    ok("disk", "destinations.lea.spool_dir");
    ok("cert", "destinations.lea.tls.cert");
    ok("key", "api.key");
}

/// A certificate for localhost valid from a year ago until `until`.
fn cert_until(dir: &Path, name: &str, until: OffsetDateTime) -> PathBuf {
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    p.not_before = until - Duration::days(365);
    p.not_after = until;
    let cert = p.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, cert.pem()).unwrap();
    path
}

#[test]
fn a_bare_host_reports_each_problem_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut certs = bundle(dir.path());
    let now = OffsetDateTime::now_utc();
    certs.server_cert = cert_until(dir.path(), "soon.pem", now + Duration::days(10));
    certs.ca = cert_until(dir.path(), "expired.pem", now - Duration::days(1));
    certs.server_key = dir.path().join("missing.key");
    let dataplane = r#"
eal_args = ["-a", "0000:3b:00.0", "-a", "0000:af:00.0", "-a", "0000:d8:00.0"]
ports = ["0000:3b:00.0", "0000:af:00.0", "0000:d8:00.0"]
cores = [0, 9, 20]
"#;
    let cfg = Config::from_file(&config(dir.path(), &certs, dataplane, u64::MAX >> 2)).unwrap();
    let r = check(&cfg, &Host::new(&fixture("bad")), now);
    assert!(!r.can_run, "{r}");
    use Severity::{Fatal, Info, Warning};
    let a = |check, needle, severity, fix| assert_finding(&r, check, needle, severity, fix);
    a("hugepages", "node0: none reserved", Fatal, "hugepagesz=1G");
    a(
        "hugepages",
        "node1: 1 x 2 MiB (0 free): below the mbuf pool",
        Warning,
        "reserve more",
    );
    a(
        "hugetlbfs",
        "no hugetlbfs mounted",
        Fatal,
        "mount -t hugetlbfs",
    );
    a("thp", "never", Warning, "echo madvise >");
    a("iommu", "no IOMMU", Fatal, "intel_iommu=on iommu=pt");
    a("vfio-pci", "not loaded", Fatal, "modprobe vfio-pci");
    a(
        "port",
        "0000:3b:00.0 is bound to the kernel driver ice (interface ens1f0)",
        Fatal,
        "ip link set ens1f0 down; modprobe vfio-pci; dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0",
    );
    a(
        "port",
        "0000:af:00.0 is bound to no driver",
        Fatal,
        "--bind=vfio-pci 0000:af:00.0",
    );
    a(
        "port",
        "0000:d8:00.0: no such PCI device",
        Fatal,
        "dpdk-devbind.py --status",
    );
    a(
        "cores",
        "worker cores 20 are not online",
        Fatal,
        "online cores",
    );
    a(
        "isolcpus",
        "worker cores 0,9,20 not isolated",
        Warning,
        "isolcpus=0,9,20 nohz_full=0,9,20",
    );
    a(
        "nohz_full",
        "worker cores 0,9,20 not free of the timer tick",
        Warning,
        "update-grub",
    );
    a(
        "rcu_nocbs",
        "worker cores 0,20 not free of RCU",
        Warning,
        "rcu_nocbs=0,9,20",
    );
    a(
        "numa",
        "worker 0 on core 0 (node0) polls 0000:3b:00.0 on node1",
        Warning,
        "cores of node1: 8,9,10",
    );
    a(
        "numa",
        "worker 1 on core 9 (node1) polls 0000:af:00.0 on node0",
        Warning,
        "cores of node0: 0,1,2,3,4,5,6,7",
    );
    assert_eq!(find(&r, "numa", "worker 2").severity, Info);
    a("nofile", "RLIMIT_NOFILE 1024", Warning, "LimitNOFILE=65536");
    a(
        "memlock",
        "RLIMIT_MEMLOCK 64 KiB without CAP_IPC_LOCK",
        Fatal,
        "LimitMEMLOCK=infinity",
    );
    a(
        "clock",
        "only systemd-timesyncd",
        Warning,
        "apt-get install chrony",
    );
    a(
        "disk",
        "destinations.lea.spool_dir",
        Warning,
        "lower spool_max_bytes",
    );
    a("cert", "api.cert", Warning, "renew");
    a("cert", "api.client_ca", Fatal, "renew");
    a("cert", "destinations.lea.tls.ca", Fatal, "renew");
    a("key", "api.key", Fatal, "readable");
    // Every warning and fatal finding says what to do.
    for f in &r.findings {
        assert!(f.severity < Warning || f.fix.is_some(), "{f:?}");
    }
}

fn doctor(config: &Path, json: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calea-probe"));
    cmd.args(["doctor", "--config"]).arg(config);
    if json {
        cmd.args(["--output", "json"]);
    }
    let out = cmd.output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// Whether this machine has any hugepage reserved.
fn has_hugepages() -> bool {
    let sum = |dir: &str| -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                std::fs::read_to_string(e.path().join("nr_hugepages"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            })
            .sum()
    };
    sum("/sys/kernel/mm/hugepages") > 0
}

/// A PCI function here bound to no DPDK-capable driver (this VM has no NIC for DPDK).
fn unbound_pci_device() -> Option<String> {
    let mut devs: Vec<_> = std::fs::read_dir("/sys/bus/pci/devices")
        .ok()?
        .flatten()
        .collect();
    devs.sort_by_key(std::fs::DirEntry::file_name);
    devs.into_iter().find_map(|e| {
        let driver = std::fs::read_link(e.path().join("driver")).ok();
        let name = driver
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let usable = [
            "vfio-pci",
            "uio_pci_generic",
            "igb_uio",
            "mlx5_core",
            "mlx4_core",
        ];
        (!name.is_some_and(|n| usable.contains(&n.as_str())))
            .then(|| e.file_name().to_string_lossy().into_owned())
    })
}

#[test]
fn this_machine_runs_the_vdev_configuration_but_not_a_nic() {
    let dir = tempfile::tempdir().unwrap();
    let certs = bundle(dir.path());
    // The vdev setup tests and the demo use: no hugepages, no PCI.
    let vdev = r#"
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--vdev", "net_pcap0,rx_pcap=/dev/null"]
ports = ["net_pcap0"]
"#;
    let path = config(dir.path(), &certs, vdev, 1 << 20);
    let (code, out) = doctor(&path, true);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(v["can_run"], true);
    assert_eq!(v["fatal"], 0);
    let findings = v["findings"].as_array().unwrap();
    let of = |check: &str| -> Vec<&serde_json::Value> {
        findings.iter().filter(|f| f["check"] == check).collect()
    };
    let hp = of("hugepages");
    assert_eq!(hp.len(), 1);
    assert_eq!(hp[0]["severity"], "info");
    assert!(
        hp[0]["message"].as_str().unwrap().contains("--no-huge"),
        "{out}"
    );
    assert_eq!(of("port")[0]["severity"], "ok");
    assert!(of("port")[0]["message"]
        .as_str()
        .unwrap()
        .contains("virtual device net_pcap0"));
    assert_eq!(of("iommu")[0]["severity"], "info");
    // Unpinned workers on a VM: a warning with its fix, not a refusal.
    assert_eq!(of("cores")[0]["severity"], "warning");
    assert!(of("cores")[0]["fix"]
        .as_str()
        .unwrap()
        .contains("[dataplane] cores"));

    // The same machine asked to drive a PCI device with hugepages: refused.
    let Some(addr) = unbound_pci_device() else {
        panic!("no PCI device on this machine to point the config at");
    };
    let nic = format!("eal_args = [\"-a\", \"{addr}\"]\nports = [\"{addr}\"]\ncores = [1]\n");
    let path = config(dir.path(), &certs, &nic, 1 << 20);
    let (code, out) = doctor(&path, false);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.ends_with("the probe cannot run on this host\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("dpdk-devbind.py --bind=vfio-pci {addr}")),
        "{out}"
    );
    assert_eq!(
        out.contains("FATAL hugepages"),
        !has_hugepages(),
        "hugepages finding disagrees with /sys:\n{out}"
    );
}
