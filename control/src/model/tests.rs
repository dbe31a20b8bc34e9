//! Table-driven validation tests: every rule accepts its edge and refuses
//! just past it, with the right code and the offending value named.

use dataplane::targets::{Mode, Target};
use time::macros::datetime;

use super::*;

fn request() -> InterceptRequest {
    InterceptRequest {
        liid: "LI-0001".into(),
        warrant_ref: "W-1".into(),
        issuing_authority: "Court".into(),
        valid_from: "2026-01-01T00:00:00Z".into(),
        valid_until: "2026-12-31T00:00:00+02:00".into(),
        mode: "headers".into(),
        targets: vec!["198.51.100.7".into()],
        destinations: vec!["lea".into()],
    }
}

const NOW: time::OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

#[test]
fn accepts_a_valid_request_and_normalises_to_utc() {
    let v = request().validate(NOW, &TargetPolicy::default()).unwrap();
    assert_eq!(v.liid.as_str(), "LI-0001");
    assert_eq!(v.mode, Mode::Headers);
    assert_eq!(v.valid_until, datetime!(2026-12-30 22:00 UTC));
    assert_eq!(v.valid_until.offset(), time::UtcOffset::UTC);
}

#[test]
fn every_request_rule() {
    type Edit = fn(&mut InterceptRequest);
    type Want = Option<(&'static str, &'static str)>;
    let cases: &[(&str, Edit, Want)] = &[
        ("liid 25 chars", |r| r.liid = "A".repeat(25), None),
        (
            "liid 26 chars",
            |r| r.liid = "A".repeat(26),
            Some(("invalid_field", "liid")),
        ),
        (
            "liid empty",
            |r| r.liid = String::new(),
            Some(("invalid_field", "liid")),
        ),
        (
            "liid space",
            |r| r.liid = "LI 1".into(),
            Some(("invalid_field", "' '")),
        ),
        (
            "liid slash",
            |r| r.liid = "LI/1".into(),
            Some(("invalid_field", "'/'")),
        ),
        (
            "liid backslash",
            |r| r.liid = "LI\\1".into(),
            Some(("invalid_field", "liid")),
        ),
        (
            "liid dotdot",
            |r| r.liid = "..".into(),
            Some(("invalid_field", "liid")),
        ),
        (
            "liid non-ascii",
            |r| r.liid = "LIé".into(),
            Some(("invalid_field", "liid")),
        ),
        ("warrant 128", |r| r.warrant_ref = "w".repeat(128), None),
        (
            "warrant 129",
            |r| r.warrant_ref = "w".repeat(129),
            Some(("invalid_field", "warrant_ref")),
        ),
        (
            "warrant blank",
            |r| r.warrant_ref = "  ".into(),
            Some(("invalid_field", "warrant_ref")),
        ),
        (
            "warrant control",
            |r| r.warrant_ref = "a\nb".into(),
            Some(("invalid_field", "warrant_ref")),
        ),
        (
            "authority empty",
            |r| r.issuing_authority = String::new(),
            Some(("invalid_field", "issuing_authority")),
        ),
        (
            "from not rfc3339",
            |r| r.valid_from = "2026-01-01".into(),
            Some(("invalid_field", "valid_from")),
        ),
        (
            "until garbage",
            |r| r.valid_until = "soon".into(),
            Some(("invalid_field", "\"soon\"")),
        ),
        (
            "until == from",
            |r| r.valid_until = r.valid_from.clone(),
            Some(("invalid_window", "not after")),
        ),
        (
            "until < from",
            |r| r.valid_until = "2025-01-01T00:00:00Z".into(),
            Some(("invalid_window", "not after")),
        ),
        (
            "until past",
            |r| {
                r.valid_from = "2020-01-01T00:00:00Z".into();
                r.valid_until = "2026-05-31T00:00:00Z".into()
            },
            Some(("invalid_window", "already past")),
        ),
        (
            "from in past ok",
            |r| r.valid_from = "2020-01-01T00:00:00Z".into(),
            None,
        ),
        ("mode content", |r| r.mode = "content".into(), None),
        (
            "mode case",
            |r| r.mode = "Content".into(),
            Some(("invalid_field", "\"Content\"")),
        ),
        (
            "mode other",
            |r| r.mode = "all".into(),
            Some(("invalid_field", "mode")),
        ),
        (
            "no targets",
            |r| r.targets.clear(),
            Some(("invalid_field", "targets")),
        ),
        (
            "duplicate target",
            |r| r.targets = vec!["10.0.0.1".into(), "10.0.0.1".into()],
            Some(("duplicate_target", "10.0.0.1")),
        ),
        (
            "duplicate mac spelling",
            |r| r.targets = vec!["02:00:5E:00:53:01".into(), "02-00-5e-00-53-01".into()],
            Some(("duplicate_target", "02:00:5e:00:53:01")),
        ),
        (
            "too many targets",
            |r| {
                r.targets = (0..=MAX_TARGETS as u32)
                    .map(|i| std::net::Ipv4Addr::from(i).to_string())
                    .collect()
            },
            Some(("invalid_field", "at most")),
        ),
        (
            "bad target names index",
            |r| r.targets = vec!["10.0.0.1".into(), "10.0.0.300".into()],
            Some(("invalid_field", "targets[1]")),
        ),
        (
            "no destinations",
            |r| r.destinations.clear(),
            Some(("invalid_field", "destinations")),
        ),
        (
            "destination twice",
            |r| r.destinations = vec!["a".into(), "a".into()],
            Some(("invalid_field", "twice")),
        ),
        (
            "destination bad name",
            |r| r.destinations = vec!["a b".into()],
            Some(("invalid_field", "destinations[0]")),
        ),
    ];
    for (name, edit, want) in cases {
        let mut r = request();
        edit(&mut r);
        match (r.validate(NOW, &TargetPolicy::default()), want) {
            (Ok(_), None) => {}
            (Err(e), Some((code, text))) => {
                assert_eq!(e.code(), *code, "{name}: {e}");
                assert!(e.to_string().contains(text), "{name}: {e:?} lacks {text:?}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn every_target_form() {
    let ok: &[(&str, Target, &str)] = &[
        (
            "198.51.100.7",
            Target::Ipv4([198, 51, 100, 7].into()),
            "198.51.100.7",
        ),
        (
            "2001:DB8::7",
            Target::Ipv6("2001:db8::7".parse().unwrap()),
            "2001:db8::7",
        ),
        (
            "203.0.113.0/24",
            Target::Ipv4Net([203, 0, 113, 0].into(), 24),
            "203.0.113.0/24",
        ),
        (
            "0.0.0.0/0",
            Target::Ipv4Net([0, 0, 0, 0].into(), 0),
            "0.0.0.0/0",
        ),
        (
            "10.0.0.1/32",
            Target::Ipv4Net([10, 0, 0, 1].into(), 32),
            "10.0.0.1/32",
        ),
        (
            "2001:db8:1::/48",
            Target::Ipv6Net("2001:db8:1::".parse().unwrap(), 48),
            "2001:db8:1::/48",
        ),
        ("::/0", Target::Ipv6Net("::".parse().unwrap(), 0), "::/0"),
        (
            "02:00:5e:00:53:01",
            Target::Mac([2, 0, 0x5e, 0, 0x53, 1]),
            "02:00:5e:00:53:01",
        ),
        (
            "02-00-5E-00-53-0A",
            Target::Mac([2, 0, 0x5e, 0, 0x53, 0xa]),
            "02:00:5e:00:53:0a",
        ),
        (
            "udp:198.51.100.7:5004",
            Target::Ipv4Udp([198, 51, 100, 7].into(), 5004),
            "udp:198.51.100.7:5004",
        ),
        (
            "udp:[2001:DB8:0::7]:65535",
            Target::Ipv6Udp("2001:db8::7".parse().unwrap(), 65535),
            "udp:[2001:db8::7]:65535",
        ),
        (
            "udp:[::ffff:198.51.100.7]:00053",
            Target::Ipv6Udp("::ffff:198.51.100.7".parse().unwrap(), 53),
            "udp:[::ffff:198.51.100.7]:53",
        ),
        (
            "tcp:198.51.100.7:443",
            Target::Ipv4Tcp([198, 51, 100, 7].into(), 443),
            "tcp:198.51.100.7:443",
        ),
        (
            "tcp:[2001:DB8:0::7]:08080",
            Target::Ipv6Tcp("2001:db8::7".parse().unwrap(), 8080),
            "tcp:[2001:db8::7]:8080",
        ),
    ];
    for (text, target, canonical) in ok {
        let t = parse_target("t", text).unwrap();
        assert_eq!(t, *target, "{text}");
        assert_eq!(target_to_string(&t), *canonical);
        assert_eq!(
            parse_target("t", canonical).unwrap(),
            t,
            "round trip {text}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("203.0.113.1/24", "host bits"),
        ("2001:db8:1::1/48", "host bits"),
        ("10.0.0.0/33", "0..=32"),
        ("2001:db8::/129", "0..=128"),
        ("10.0.0.0/", "prefix length"),
        ("10.0.0.0/+8", "prefix length"),
        ("10.0.0.0/08x", "prefix length"),
        ("10.0.0/8", "not an IP prefix"),
        ("02:00:5e:00:53", "not an IPv4"),
        ("02:00:5e:00:53:01:02", "not an IPv4"),
        ("02:00:5e:00:53:zz", "not an IPv4"),
        ("02:00:5e-00:53:01", "not an IPv4"),
        ("2:0:5e:0:53:1", "not an IPv4"),
        (" 10.0.0.1", "spaces"),
        ("", "empty"),
        ("host.example", "not an IPv4"),
        ("udp:198.51.100.7", "not a UDP endpoint"),
        ("udp:198.51.100.7:", "not a UDP endpoint"),
        ("udp:198.51.100.7:65536", "not a UDP endpoint"),
        ("udp:198.51.100.7:+5004", "not a UDP endpoint"),
        ("udp:198.51.100.7:050040", "not a UDP endpoint"),
        ("udp:2001:db8::7:5004", "not a UDP endpoint"),
        ("udp:[198.51.100.7]:5004", "not a UDP endpoint"),
        ("udp:[2001:db8::7]5004", "not a UDP endpoint"),
        ("udp:198.51.100.0/24:5004", "not a UDP endpoint"),
        ("udp:[2001:db8::7]:", "not a UDP endpoint"),
        ("tcp:198.51.100.7", "not a TCP endpoint"),
        ("tcp:198.51.100.7:65536", "not a TCP endpoint"),
        ("tcp:2001:db8::7:443", "not a TCP endpoint"),
        ("tcp:[198.51.100.7]:443", "not a TCP endpoint"),
        ("TCP:198.51.100.7:443", "not an IPv4/IPv6 address"),
    ];
    for (text, why) in bad {
        let e = parse_target("targets[4]", text).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.code(), "invalid_field");
        assert!(msg.starts_with("targets[4]: "), "{msg}");
        assert!(
            msg.contains(&format!("{text:?}")) && msg.contains(why),
            "{text}: {msg}"
        );
    }
}

#[test]
fn patch_rules() {
    assert_eq!(
        InterceptPatch::default()
            .validate(&TargetPolicy::default())
            .unwrap_err()
            .code(),
        "invalid_field"
    );
    let p = InterceptPatch {
        add_targets: vec!["10.0.0.1".into()],
        remove_targets: vec!["10.0.0.1".into()],
        ..InterceptPatch::default()
    };
    assert_eq!(
        p.validate(&TargetPolicy::default()).unwrap_err().code(),
        "duplicate_target"
    );
    let p = InterceptPatch {
        valid_until: Some("tomorrow".into()),
        ..InterceptPatch::default()
    };
    assert!(p
        .validate(&TargetPolicy::default())
        .unwrap_err()
        .to_string()
        .contains("valid_until"));
    let json = r#"{"valid_until":"2027-01-01T00:00:00Z","colour":"red"}"#;
    let err = serde_json::from_str::<InterceptPatch>(json).unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    let err = serde_json::from_str::<InterceptRequest>(r#"{"liid":"x","extra":1}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

/// Targets that would intercept everyone (a short prefix, a group address) or
/// no one (unspecified, loopback): refused on create and on modify.
const CATCH_ALL: &[(&str, &str)] = &[
    ("0.0.0.0/0", "shorter than the minimum /8"),
    ("::/0", "shorter than the minimum /32"),
    ("10.0.0.0/7", "shorter than the minimum /8"),
    ("2001:db8::/31", "shorter than the minimum /32"),
    ("224.0.0.0/4", "shorter than the minimum /8"),
    ("239.0.0.0/8", "multicast prefix"),
    ("ff00::/8", "shorter than the minimum /32"),
    ("ff02::/32", "multicast prefix"),
    ("127.0.0.0/8", "loopback prefix"),
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("01:00:5e:00:00:fb", "multicast"),
    ("33:33:00:00:00:01", "multicast"),
    ("03:00:00:00:00:01", "multicast"),
    ("00:00:00:00:00:00", "all-zero"),
    ("udp:198.51.100.7:0", "UDP port 0"),
    ("udp:[2001:db8::7]:0", "UDP port 0"),
    ("udp:0.0.0.0:5004", "unspecified"),
    ("udp:[::1]:5004", "loopback"),
    ("udp:224.0.0.251:5004", "multicast"),
    ("udp:[ff02::1]:5004", "multicast"),
    ("udp:255.255.255.255:5004", "broadcast"),
    ("tcp:198.51.100.7:0", "TCP port 0"),
    ("tcp:[2001:db8::7]:0", "TCP port 0"),
    ("tcp:[::]:443", "unspecified"),
    ("tcp:127.0.0.1:443", "loopback"),
    ("tcp:239.1.1.1:443", "multicast"),
];

#[test]
fn catch_all_targets_are_refused_on_create_and_modify() {
    let policy = TargetPolicy::default();
    for (text, why) in CATCH_ALL {
        let mut r = request();
        r.targets = vec!["198.51.100.7".into(), (*text).into()];
        let e = r.validate(NOW, &policy).unwrap_err();
        assert_eq!(e.code(), "refused_target", "{text}: {e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("targets[1]: ") && msg.contains(why),
            "{text}: {msg}"
        );
        let p = InterceptPatch {
            add_targets: vec![(*text).into()],
            ..InterceptPatch::default()
        };
        let e = p.validate(&policy).unwrap_err();
        assert_eq!(e.code(), "refused_target", "{text}: {e}");
        assert!(e.to_string().starts_with("add_targets[0]: "), "{e}");
        // A stored intercept naming it (an older version accepted it) is refused too,
        // and may still shed it.
        let mut stored = intercept();
        stored.targets.push(parse_target("t", text).unwrap());
        assert_eq!(
            stored.check_targets(&policy).unwrap_err().code(),
            "refused_target"
        );
        let shed = InterceptPatch {
            remove_targets: vec![(*text).into()],
            ..InterceptPatch::default()
        };
        let shed = stored
            .apply_patch(&shed.validate(&policy).unwrap(), NOW)
            .unwrap();
        shed.check_targets(&policy).unwrap();
    }
}

#[test]
fn ordinary_targets_and_prefixes_at_the_minimum_pass() {
    let policy = TargetPolicy::default();
    for text in [
        "10.0.0.0/8",
        "2001:db8::/32",
        "0.0.0.0/8",
        "1.0.0.0/8",
        "128.0.0.0/8",
        "198.51.100.7/32",
        "223.255.255.255",
        "240.0.0.1",
        "fe80::1",
        "2001:db8::7",
        "02:00:5e:00:53:01",
        "00:00:00:00:00:01",
        "fe:ff:ff:ff:ff:ff",
    ] {
        let t = parse_target("t", text).unwrap();
        policy
            .check("t", &t)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn the_minimum_prefix_is_configurable_within_bounds() {
    let strict = TargetPolicy {
        min_prefix_v4: 24,
        min_prefix_v6: 64,
    };
    let refused = |text: &str| {
        strict
            .check("t", &parse_target("t", text).unwrap())
            .is_err()
    };
    assert!(refused("203.0.112.0/23") && !refused("203.0.113.0/24"));
    assert!(refused("2001:db8::/63") && !refused("2001:db8::/64"));
    let lax = TargetPolicy {
        min_prefix_v4: 1,
        min_prefix_v6: 1,
    };
    lax.validate().unwrap();
    let t = parse_target("t", "128.0.0.0/1").unwrap();
    lax.check("t", &t).unwrap();
    // /0 is every address: no configuration allows it.
    for (v4, v6, key) in [
        (0, 32, "intercepts.min_prefix_v4"),
        (33, 32, "intercepts.min_prefix_v4"),
        (8, 0, "intercepts.min_prefix_v6"),
        (8, 129, "intercepts.min_prefix_v6"),
    ] {
        let p = TargetPolicy {
            min_prefix_v4: v4,
            min_prefix_v6: v6,
        };
        assert_eq!(p.validate().unwrap_err().0, key);
    }
    assert_eq!(TargetPolicy::default().validate(), Ok(()));
}

fn intercept() -> Intercept {
    let v = request().validate(NOW, &TargetPolicy::default()).unwrap();
    Intercept {
        key: 7,
        liid: v.liid,
        xid: uuid::Uuid::nil(),
        warrant_ref: v.warrant_ref,
        issuing_authority: v.issuing_authority,
        valid_from: v.valid_from,
        valid_until: v.valid_until,
        mode: v.mode,
        targets: v.targets,
        identities: v.identities,
        destinations: v.destinations,
        created_by: "desk".into(),
        created_at: NOW,
        state: InterceptState::Scheduled,
        origin: crate::model::Origin::Rest,
    }
}

#[test]
fn window_state_and_spec() {
    let it = intercept();
    let from = it.valid_from;
    let until = it.valid_until;
    let ns = time::Duration::nanoseconds(1);
    assert_eq!(it.window_state(from - ns), InterceptState::Scheduled);
    assert_eq!(it.window_state(from), InterceptState::Active);
    assert_eq!(it.window_state(until - ns), InterceptState::Active);
    assert_eq!(it.window_state(until), InterceptState::Expired);
    assert_eq!(it.due_transition(from - ns), None);
    assert_eq!(it.due_transition(until), Some(InterceptState::Expired));
    let spec = it.spec();
    assert_eq!(spec.key, 7);
    assert_eq!(spec.valid_from_ns, 1_767_225_600_000_000_000);
    assert_eq!(
        spec.valid_until_ns - spec.valid_from_ns,
        (until - from).whole_nanoseconds() as u64
    );
    let mut old = it.clone();
    old.valid_from = datetime!(1960-01-01 00:00 UTC);
    assert_eq!(old.valid_from_ns(), 0, "saturates before the epoch");
    let mut done = it;
    done.state = InterceptState::Deactivated;
    assert_eq!(done.due_transition(from), None);
}

#[test]
fn intercept_json_uses_text_forms() {
    let it = intercept();
    let v = serde_json::to_value(&it).unwrap();
    assert_eq!(v["mode"], "headers");
    assert_eq!(v["state"], "scheduled");
    assert_eq!(v["targets"][0], "198.51.100.7");
    assert_eq!(v["valid_until"], "2026-12-30T22:00:00Z");
    let back: Intercept = serde_json::from_value(v).unwrap();
    assert_eq!(back, it);
}

#[test]
fn destination_rules() {
    let tls = DestTls {
        ca: "ca.pem".into(),
        cert: "c.pem".into(),
        key: "k.pem".into(),
        server_name: "lea.example".into(),
    };
    let base = Destination {
        name: "lea".into(),
        address: "lea.example:6543".into(),
        format: DestinationFormat::Etsi102232,
        tls: Some(tls),
        insecure_plaintext: false,
        keepalive_secs: 30,
        spool_dir: Some("spool".into()),
        spool_max_bytes: 1 << 20,
        directory: None,
        content_scope: ContentScope::default(),
    };
    base.validate().unwrap();
    type Edit = fn(&mut Destination);
    let cases: &[(&str, Edit, Option<&str>)] = &[
        (
            "ipv6 address",
            |d| d.address = "[2001:db8::1]:6543".into(),
            None,
        ),
        (
            "plaintext without tls",
            |d| {
                d.tls = None;
                d.insecure_plaintext = true
            },
            None,
        ),
        ("no tls", |d| d.tls = None, Some("destinations.lea.tls")),
        (
            "tls and plaintext",
            |d| d.insecure_plaintext = true,
            Some("not both"),
        ),
        (
            "empty server name",
            |d| {
                if let Some(t) = &mut d.tls {
                    t.server_name = String::new()
                }
            },
            Some("tls.server_name"),
        ),
        (
            "empty ca",
            |d| {
                if let Some(t) = &mut d.tls {
                    t.ca = "".into()
                }
            },
            Some("tls.ca"),
        ),
        (
            "no port",
            |d| d.address = "lea.example".into(),
            Some("host:port"),
        ),
        (
            "port 0",
            |d| d.address = "lea.example:0".into(),
            Some("port"),
        ),
        ("no host", |d| d.address = ":6543".into(), Some("host")),
        (
            "keepalive 0",
            |d| d.keepalive_secs = 0,
            Some("keepalive_secs"),
        ),
        (
            "keepalive 3601",
            |d| d.keepalive_secs = 3601,
            Some("keepalive_secs"),
        ),
        ("no spool", |d| d.spool_dir = None, Some("spool_dir")),
        (
            "small spool",
            |d| d.spool_max_bytes = 1000,
            Some("spool_max_bytes"),
        ),
        (
            "directory on network",
            |d| d.directory = Some("x".into()),
            Some("directory"),
        ),
        ("bad name", |d| d.name = ".hidden".into(), Some("name")),
        ("long name", |d| d.name = "n".repeat(65), Some("name")),
        (
            "pcap without directory",
            |d| d.format = DestinationFormat::PcapDir,
            Some("directory"),
        ),
    ];
    for (name, edit, want) in cases {
        let mut d = base.clone();
        edit(&mut d);
        match (d.validate(), want) {
            (Ok(()), None) => {}
            (Err(e), Some(text)) => {
                assert!(e.to_string().contains(text), "{name}: {e}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    let pcap = Destination {
        address: String::new(),
        format: DestinationFormat::PcapDir,
        tls: None,
        directory: Some("out".into()),
        content_scope: ContentScope::default(),
        spool_dir: None,
        ..base
    };
    pcap.validate().unwrap();
    let json = serde_json::to_value(&pcap).unwrap();
    assert_eq!(json["format"], "pcap-dir");
}

#[test]
fn identity_targets_split_from_addresses() {
    let mut r = request();
    r.targets = vec![
        "username:alice@ISP.example".into(),
        "198.51.100.7".into(),
        "dhcp-client-mac:02-00-5E-00-53-01".into(),
    ];
    let v = r.validate(NOW, &TargetPolicy::default()).unwrap();
    assert_eq!(
        v.targets,
        vec![Target::Ipv4("198.51.100.7".parse().unwrap())]
    );
    let ids: Vec<String> = v.identities.iter().map(ToString::to_string).collect();
    assert_eq!(
        ids,
        [
            "username:alice@isp.example",
            "dhcp-client-mac:02:00:5e:00:53:01"
        ]
    );

    r.targets = vec!["subscriber-id:acme".into()];
    let only = r.validate(NOW, &TargetPolicy::default()).unwrap();
    assert!(only.targets.is_empty(), "an identity alone is a target");
    assert_eq!(only.identities.len(), 1);

    for (targets, code, named) in [
        (
            vec!["username:bob", "username:bob"],
            "duplicate_target",
            "username:bob",
        ),
        (
            vec![
                "dhcp-client-mac:02:00:5e:00:53:01",
                "dhcp-client-mac:0200.5e00.5301",
            ],
            "duplicate_target",
            "dhcp-client-mac:02:00:5e:00:53:01",
        ),
        (vec!["dhcp-circuit-id:xyz"], "invalid_field", "targets[0]"),
        (vec!["imsi:001010123456789"], "invalid_field", "imsi"),
    ] {
        r.targets = targets.iter().map(|t| (*t).to_owned()).collect();
        let e = r.validate(NOW, &TargetPolicy::default()).unwrap_err();
        assert_eq!(e.code(), code, "{targets:?}");
        assert!(e.to_string().contains(named), "{e}");
    }
    r.targets = Vec::new();
    let e = r.validate(NOW, &TargetPolicy::default()).unwrap_err();
    assert!(e.to_string().contains("1 to"), "{e}");
}

#[test]
fn patches_add_and_remove_identities() {
    let mut it = intercept();
    it.identities = vec![Identity::parse("t", "username:alice").unwrap().unwrap()];
    let patch = |add: &[&str], remove: &[&str]| {
        InterceptPatch {
            add_targets: add.iter().map(|t| (*t).to_owned()).collect(),
            remove_targets: remove.iter().map(|t| (*t).to_owned()).collect(),
            ..InterceptPatch::default()
        }
        .validate(&TargetPolicy::default())
    };
    let p = patch(&["dhcpv6-duid:00:03:AB"], &["username:alice"]).unwrap();
    assert_eq!(p.add_identities.len(), 1);
    assert!(p.add_targets.is_empty());
    let next = it.apply_patch(&p, NOW).unwrap();
    assert_eq!(next.identities[0].to_string(), "dhcpv6-duid:0003ab");
    assert_eq!(next.targets, it.targets);

    let dup = it.apply_patch(&patch(&["username:alice"], &[]).unwrap(), NOW);
    assert_eq!(dup.unwrap_err().code(), "duplicate_target");
    let unknown = it.apply_patch(&patch(&[], &["username:bob"]).unwrap(), NOW);
    assert_eq!(unknown.unwrap_err().code(), "unknown_target");
    let both = patch(&["username:bob"], &["username:bob"]).unwrap_err();
    assert_eq!(both.code(), "duplicate_target");
    // Removing every target and identity leaves nothing to intercept.
    let all = patch(&[], &["198.51.100.7", "username:alice"]).unwrap();
    assert_eq!(
        it.apply_patch(&all, NOW).unwrap_err().code(),
        "invalid_field"
    );
}

#[test]
fn intercept_json_lists_identities_among_targets() {
    let mut it = intercept();
    it.identities = vec![Identity::parse("t", "nas-port-id:bras1/0/1")
        .unwrap()
        .unwrap()];
    let v = serde_json::to_value(&it).unwrap();
    assert_eq!(
        v["targets"],
        serde_json::json!(["198.51.100.7", "nas-port-id:bras1/0/1"])
    );
    assert!(v.get("identities").is_none());
    let back: Intercept = serde_json::from_value(v).unwrap();
    assert_eq!(back, it);
}
