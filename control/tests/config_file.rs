//! Config loading: the documented example parses; every mistake is named.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use control::config::{Config, ConfigError, PortRef, Role, Timestamps};
use control::model::DestinationFormat;
use dataplane::dpdk::Mtu;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/probe.toml")
}

fn example_text() -> String {
    std::fs::read_to_string(example_path()).unwrap()
}

/// Writes `text` as probe.toml in a temp dir and loads it.
fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.toml");
    std::fs::write(&path, text).unwrap();
    Config::from_file(&path)
}

fn load_err(text: &str) -> String {
    load(text).expect_err("config must be refused").to_string()
}

/// For each `(from, to, want)`: `ex` with `from` replaced by `to` is refused
/// with an error containing `want`.
fn assert_refusals(ex: &str, cases: &[(&str, &str, &str)]) {
    for (from, to, want) in cases {
        assert!(ex.contains(from), "fixture {from}");
        let err = load_err(&ex.replacen(from, to, 1));
        assert!(
            err.contains(want),
            "{from} -> {to}: got {err:?}, want {want:?}"
        );
    }
}

#[test]
fn example_parses_with_every_section() {
    let path = example_path();
    let c = Config::from_file(&path).unwrap();
    let base = path.parent().unwrap();
    assert_eq!(c.probe.name, "probe-nyc-01");
    assert_eq!(c.probe.country_code, "US");
    assert_eq!(c.dataplane.ports, vec![PortRef::Name("net_pcap0".into())]);
    assert_eq!(c.dataplane.cores, vec![1]);
    assert_eq!(c.dataplane.burst, 32);
    assert_eq!(c.dataplane.timestamps, Timestamps::System);
    assert_eq!(c.api.identities.len(), 3);
    assert_eq!(c.api.identities[2].role, Role::Auditor);
    assert_eq!(c.api.cert, base.join("pki/api.crt"));
    assert_eq!(c.state.database, base.join("state/probe.db"));
    assert_eq!(c.handover.pcap_dir_max_open_liids, 1024);
    assert_eq!(c.destinations.len(), 2);
    let tls = c.destinations[0].tls.as_ref().unwrap();
    assert_eq!(tls.ca, base.join("pki/lea-east-ca.crt"));
    assert_eq!(
        c.destinations[0].spool_dir,
        Some(base.join("spool/lea-east"))
    );
    assert_eq!(c.destinations[1].format, DestinationFormat::PcapDir);
    assert_eq!(c.destinations[1].directory, Some(base.join("out/pcap")));
}

#[test]
fn example_documents_every_key_with_a_comment() {
    // Each `key = value` line must follow a comment line (or another documented
    // key of the same block, for the compact [[api.identities]] entries).
    let text = example_text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let prev = lines[..i].iter().rev().find(|l| !l.is_empty()).unwrap();
        let in_identity = lines[..i]
            .iter()
            .rev()
            .find(|l| l.starts_with('['))
            .is_some_and(|h| *h == "[[api.identities]]");
        assert!(
            prev.starts_with('#') || in_identity,
            "undocumented key on line {}: {line}",
            i + 1
        );
    }
}

#[test]
fn unknown_key_names_file_key_and_table() {
    let text = example_text().replace(
        "listen = \"127.0.0.1:8443\"",
        "listen = \"127.0.0.1:8443\"\nfoo = 1",
    );
    let err = load_err(&text);
    assert!(
        err.starts_with("probe.toml: unknown field `foo` in [api]"),
        "{err}"
    );
    let text = example_text().replace("directory = \"out/pcap\"", "directory = \"o\"\ncolour = 1");
    let err = load_err(&text);
    assert!(
        err.contains("unknown field `colour` in [[destinations]]"),
        "{err}"
    );
    let text = example_text().replace("[metrics]\n", "[metric]\n");
    let err = load_err(&text);
    assert!(
        err.contains("unknown field `metric` in the top level (line"),
        "{err}"
    );
    let text = example_text().replace("[destinations.tls]", "[destinations.tsl]");
    let err = load_err(&text);
    assert!(
        err.contains("unknown field `tsl` in [destinations]"),
        "{err}"
    );
    let text = format!("surprise = true\n{}", example_text());
    let err = load_err(&text);
    assert!(
        err.contains("unknown field `surprise` in the top level (line 1)"),
        "{err}"
    );
}

#[test]
fn missing_and_mistyped_keys_are_named() {
    let text = example_text().replace("operator_id = \"EXAMPLE-ISP\"\n", "");
    let err = load_err(&text);
    assert!(err.contains("missing field `operator_id`"), "{err}");
    assert!(err.contains("[probe]"), "{err}");
    let text = example_text().replace("burst = 32", "burst = \"lots\"");
    let err = load_err(&text);
    assert!(err.contains("[dataplane]") && err.contains("line"), "{err}");
    let text = example_text().replace("role = \"auditor\"", "role = \"god\"");
    let err = load_err(&text);
    assert!(
        err.contains("god") && err.contains("[[api.identities]]"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_key() {
    let ex = example_text();
    let cases: &[(&str, &str, &str)] = &[
        (
            "burst = 32",
            "burst = 1024",
            "probe.toml: dataplane.burst: 1024 not in 1..=512",
        ),
        ("burst = 32", "burst = 0", "dataplane.burst"),
        (
            "pcap_dir_max_open_liids = 1024",
            "pcap_dir_max_open_liids = 0",
            "probe.toml: handover.pcap_dir_max_open_liids: must be at least 1",
        ),
        (
            "country_code = \"US\"",
            "country_code = \"usa\"",
            "probe.country_code",
        ),
        (
            "name = \"probe-nyc-01\"",
            "name = \"a-name-far-too-long\"",
            "probe.name",
        ),
        (
            "cores = [1]",
            "cores = []\nworkers_per_port = 0",
            "duplicate key",
        ),
        (
            "workers_per_port = 1",
            "workers_per_port = 2",
            "dataplane.cores: 1 cores for 2 workers",
        ),
        (
            "handoff_capacity = 4096",
            "handoff_capacity = 8",
            "dataplane.handoff_capacity",
        ),
        (
            "frame_capacity = 9216",
            "frame_capacity = 10",
            "dataplane.frame_capacity",
        ),
        ("mbufs = 8191", "mbufs = 10", "dataplane.mbufs"),
        (
            "# mtu = 9000",
            "mtu = 9195",
            "dataplane.mtu: 9195 not in 68..=9194",
        ),
        ("# mtu = 9000", "mtu = 67", "dataplane.mtu"),
        (
            "listen = \"127.0.0.1:9464\"",
            "listen = \"127.0.0.1:8443\"",
            "metrics.listen",
        ),
        (
            "subject_cn = \"compliance\"",
            "subject_cn = \"ops-admin\"",
            "api.identities.subject_cn",
        ),
        ("ports = [\"net_pcap0\"]", "ports = []", "dataplane.ports"),
        (
            "insecure_plaintext = false",
            "insecure_plaintext = true",
            "destinations.lea-east.tls",
        ),
        (
            "keepalive_secs = 30",
            "keepalive_secs = 0",
            "destinations.lea-east.keepalive_secs",
        ),
        (
            "spool_dir = \"spool/lea-east\"",
            "",
            "destinations.lea-east.spool_dir",
        ),
        (
            "address = \"lea-east.example.net:6543\"",
            "address = \"nohost\"",
            "destinations.lea-east.address",
        ),
        (
            "directory = \"out/pcap\"",
            "",
            "destinations.lab-pcap.directory",
        ),
        (
            "name = \"lab-pcap\"",
            "name = \"lea-east\"",
            "defined twice",
        ),
        (
            "name = \"lab-pcap\"",
            "name = \"lab pcap\"",
            "destinations.name",
        ),
        (
            "listen = \"127.0.0.1:8443\"",
            "listen = \"localhost\"",
            "`listen`: invalid socket address syntax in [api]",
        ),
    ];
    assert_refusals(&ex, cases);
}

#[test]
fn pcap_file_replaces_ports_and_resolves_relative() {
    let text = example_text()
        .replace("ports = [\"net_pcap0\"]", "ports = []")
        .replace(
            "# pcap_file = \"capture.pcap\"",
            "pcap_file = \"capture.pcap\"",
        );
    let base = Path::new("/etc/calea");
    let c = Config::from_str(&text, base).unwrap();
    assert_eq!(c.dataplane.pcap_file, Some(base.join("capture.pcap")));
    let text = text.replace(
        "pcap_file = \"capture.pcap\"",
        "pcap_file = \"/abs/c.pcap\"",
    );
    let c = Config::from_str(&text, base).unwrap();
    assert_eq!(c.dataplane.pcap_file, Some(PathBuf::from("/abs/c.pcap")));
}

#[test]
fn ports_by_id_and_defaults() {
    let text = example_text()
        .replace("ports = [\"net_pcap0\"]", "ports = [0, \"net_null0\"]")
        .replace("cores = [1]", "cores = [0, 1]")
        .replace("burst = 32\n", "")
        .replace("timestamps = \"system\"", "timestamps = \"device\"");
    let c = Config::from_str(&text, Path::new("/")).unwrap();
    assert_eq!(
        c.dataplane.ports,
        vec![PortRef::Id(0), PortRef::Name("net_null0".into())]
    );
    assert_eq!(c.dataplane.burst, 32);
    assert_eq!(c.dataplane.timestamps, Timestamps::Device);
}

#[test]
fn the_port_mtu_defaults_to_the_largest_whose_frames_fit_frame_capacity() {
    let c = load(&example_text()).unwrap();
    assert_eq!(c.dataplane.mtu, None);
    assert_eq!(c.dataplane.port_mtu(), Mtu::UpTo(9216 - 22));
    let c = load(&example_text().replace("# mtu = 9000", "mtu = 1500")).unwrap();
    assert_eq!(c.dataplane.port_mtu(), Mtu::Exactly(1500));
    let c =
        load(&example_text().replace("frame_capacity = 9216", "frame_capacity = 1522")).unwrap();
    assert_eq!(c.dataplane.port_mtu(), Mtu::UpTo(1500));
}

#[test]
fn unreadable_file_is_named() {
    let err = Config::from_file(Path::new("/nonexistent/probe.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/probe.toml"), "{err}");
}

/// The example with its `[voice]` section uncommented.
fn example_with_voice() -> String {
    const KEYS: [&str; 6] = [
        "[voice]",
        "sip_servers =",
        "sip_ports =",
        "call_timeout_secs =",
        "setup_timeout_secs =",
        "max_calls =",
    ];
    example_text()
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if KEYS.iter().any(|k| rest.starts_with(k)) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn voice_section_parses_and_is_off_when_absent() {
    assert_eq!(load(&example_text()).unwrap().voice, None);
    let c = load(&example_with_voice()).unwrap();
    let v = c.voice.unwrap();
    assert_eq!(
        v.sip_servers,
        vec![
            "192.0.2.50".parse::<std::net::IpAddr>().unwrap(),
            "2001:db8::5060".parse().unwrap()
        ]
    );
    assert_eq!(v.sip_ports, vec![5060, 5080]);
    assert_eq!(
        (v.call_timeout_secs, v.setup_timeout_secs, v.max_calls),
        (14_400, 180, 1_000_000)
    );
    // Only the servers are required.
    let text = example_with_voice()
        .replace("sip_ports = [5060, 5080]\n", "")
        .replace("max_calls = 1000000", "");
    let v = load(&text).unwrap().voice.unwrap();
    assert_eq!((v.sip_ports, v.max_calls), (vec![5060], 1_000_000));
}

#[test]
fn bad_voice_values_name_the_key() {
    let ex = example_with_voice();
    let cases: &[(&str, &str, &str)] = &[
        (
            "sip_servers = [\"192.0.2.50\", \"2001:db8::5060\"]",
            "sip_servers = []",
            "probe.toml: voice.sip_servers: name at least one SIP server",
        ),
        (
            "sip_servers = [\"192.0.2.50\", \"2001:db8::5060\"]",
            "sip_servers = [\"sip.example.net\"]",
            "[voice]",
        ),
        (
            "sip_servers = [\"192.0.2.50\", \"2001:db8::5060\"]",
            "",
            "missing field `sip_servers`",
        ),
        (
            "sip_ports = [5060, 5080]",
            "sip_ports = [0]",
            "voice.sip_ports",
        ),
        (
            "sip_ports = [5060, 5080]",
            "sip_ports = []",
            "voice.sip_ports",
        ),
        ("sip_ports = [5060, 5080]", "sip_ports = [70000]", "[voice]"),
        (
            "call_timeout_secs = 14400",
            "call_timeout_secs = 0",
            "voice.call_timeout_secs",
        ),
        (
            "setup_timeout_secs = 180",
            "setup_timeout_secs = 0",
            "voice.call_timeout_secs",
        ),
        ("max_calls = 1000000", "max_calls = 0", "voice.max_calls"),
        (
            "max_calls = 1000000",
            "max_call = 1",
            "unknown field `max_call` in [voice]",
        ),
    ];
    assert_refusals(&ex, cases);
}
