//! Subscriber sessions in the real SQLite store: identity targets stored and
//! listed with the addresses, a version-2 database migrated, bindings read back
//! exactly (and fast enough for a login storm), static assignments audited.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use std::time::Instant;

use control::audit::AuditAction;
use control::model::{Identity, InterceptPatch, Liid, TargetPolicy};
use control::sessions::{Binding, BindingId, Nas, NasRestart, Protocol};
use control::store::{StaticAssignment, StoreError, SCHEMA_VERSION};
use dataplane::targets::Target;
use store_support::{now, open, open_with_destination, paths, user_version, validated};

fn id(text: &str) -> Identity {
    Identity::parse("t", text).unwrap().unwrap()
}

fn binding(n: u32) -> Binding {
    Binding {
        id: BindingId(format!("radius/192.0.2.1/sess-{n}")),
        protocol: Protocol::Radius,
        identities: vec![
            id(&format!("username:user{n}@isp.example")),
            id("calling-station-id:02-00-5e-00-53-01"),
        ],
        addresses: vec![
            Target::Ipv4(std::net::Ipv4Addr::from(0xc633_6400 + n)),
            Target::Ipv6Net("2001:db8:1::".parse().unwrap(), 56),
        ],
        nas: Some(Nas {
            address: "192.0.2.1".parse().unwrap(),
            identifier: Some("bras-1".into()),
        }),
        session_id: Some(format!("sess-{n}")),
        started_ns: 1_767_225_600_000_000_000 + u64::from(n),
        updated_ns: 1_767_225_700_000_000_000,
        expires_ns: 1_767_229_200_000_000_000,
    }
}

#[test]
fn identity_targets_are_stored_listed_patched_and_audited() {
    let p = paths();
    let store = open_with_destination(&p);
    let created = store
        .create_intercept(
            &validated(
                "LI-SUB",
                &[
                    "username:alice@ISP.example",
                    "198.51.100.7",
                    "dhcp-client-mac:0200.5e00.5301",
                ],
            ),
            "desk",
            now(),
        )
        .unwrap();
    assert_eq!(
        created.identities,
        [
            id("username:alice@isp.example"),
            id("dhcp-client-mac:02:00:5e:00:53:01")
        ]
    );
    assert_eq!(
        created.targets,
        [Target::Ipv4("198.51.100.7".parse().unwrap())]
    );
    assert_eq!(store.list().unwrap(), std::slice::from_ref(&created));

    let patch = InterceptPatch {
        add_targets: vec!["dhcpv6-duid:00030001".into()],
        remove_targets: vec!["username:alice@isp.example".into()],
        ..InterceptPatch::default()
    }
    .validate(&TargetPolicy::default())
    .unwrap();
    let liid = Liid::try_from("LI-SUB").unwrap();
    let modified = store.modify(&liid, &patch, "desk", now()).unwrap();
    assert_eq!(
        modified.identities,
        [
            id("dhcp-client-mac:02:00:5e:00:53:01"),
            id("dhcpv6-duid:00030001")
        ]
    );
    drop(store);
    let store = open_with_destination(&p);
    assert_eq!(
        store.get(&liid).unwrap(),
        modified,
        "identities survive reopening"
    );

    let records = store.audit().list(1, 100).unwrap();
    let create = records
        .iter()
        .find(|r| r.action == AuditAction::InterceptCreate)
        .unwrap();
    assert_eq!(
        create.details["targets"],
        serde_json::json!([
            "198.51.100.7",
            "username:alice@isp.example",
            "dhcp-client-mac:02:00:5e:00:53:01"
        ])
    );
    let modify = records
        .iter()
        .find(|r| r.action == AuditAction::InterceptModify)
        .unwrap();
    assert_eq!(
        modify.details["add_targets"],
        serde_json::json!(["dhcpv6-duid:00030001"])
    );
    assert_eq!(
        modify.details["remove_targets"],
        serde_json::json!(["username:alice@isp.example"])
    );
}

#[test]
fn a_version_2_database_migrates_with_its_intercepts_intact() {
    let p = paths();
    let store = open_with_destination(&p);
    let before = store
        .create_intercept(&validated("LI-V2", &["198.51.100.7"]), "desk", now())
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    conn.execute_batch(
        "DROP TABLE bindings; DROP TABLE static_assignments; DROP TABLE nas_restarts; \
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);

    let store = open_with_destination(&p);
    let after = store.get(&Liid::try_from("LI-V2").unwrap()).unwrap();
    assert_eq!(after, before);
    assert!(after.identities.is_empty());
    assert!(store.bindings().unwrap().is_empty());
    assert!(store.static_assignments().unwrap().is_empty());
    store.put_binding(&binding(1)).unwrap();
    assert_eq!(user_version(&p), SCHEMA_VERSION);
    drop(store);
    let report = control::audit::verify(&p.db, &p.mirror).unwrap();
    assert!(report.first_bad.is_none(), "{report:?}");
}

#[test]
fn a_version_3_database_keeps_its_bindings_and_gains_nas_restarts() {
    let p = paths();
    let store = open(&p);
    store.put_binding(&binding(1)).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    conn.execute_batch("DROP TABLE nas_restarts; PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);

    let store = open(&p);
    assert_eq!(store.bindings().unwrap(), [binding(1)]);
    assert!(store.nas_restarts().unwrap().is_empty());
    let on = NasRestart {
        nas: "192.0.2.1".parse().unwrap(),
        at_ns: 1_767_225_800_000_000_000,
    };
    store.write_sessions(&[], &[], &[on], &[]).unwrap();
    assert_eq!(user_version(&p), SCHEMA_VERSION);
    drop(store);
    assert_eq!(open(&p).nas_restarts().unwrap(), [on]);
}

/// A NAS restart is stored with the first ends written for it and deleted
/// with the last, in their transactions.
#[test]
fn nas_restarts_are_written_and_deleted_with_binding_ends() {
    let p = paths();
    let store = open(&p);
    let all: Vec<Binding> = (0..4).map(binding).collect();
    store.write_bindings(&all, &[]).unwrap();
    let nas = "192.0.2.1".parse().unwrap();
    let (on, off) = (NasRestart { nas, at_ns: 20 }, NasRestart { nas, at_ns: 10 });
    let ids: Vec<BindingId> = all.iter().map(|b| b.id.clone()).collect();
    store
        .write_sessions(&[], &ids[..1], &[on, off], &[])
        .unwrap();
    store.write_sessions(&[], &ids[1..2], &[on], &[]).unwrap();
    assert_eq!(
        store.nas_restarts().unwrap(),
        [off, on],
        "earliest first, once"
    );
    store.write_sessions(&[], &ids[2..], &[], &[on]).unwrap();
    drop(store);
    let store = open(&p);
    assert!(store.bindings().unwrap().is_empty());
    assert_eq!(store.nas_restarts().unwrap(), [off]);
    let mut far = off;
    far.at_ns = u64::MAX;
    assert!(matches!(
        store.write_sessions(&[], &[], &[far], &[off]),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.nas_restarts().unwrap(), [off], "nothing written then");
}

#[test]
fn bindings_round_trip_exactly_and_are_not_audited() {
    let p = paths();
    let store = open(&p);
    let mut a = binding(1);
    let mut never = binding(2);
    never.protocol = Protocol::Static;
    never.nas = None;
    never.session_id = None;
    never.expires_ns = u64::MAX;
    let mut no_name = binding(3);
    no_name.protocol = Protocol::Dhcp6;
    no_name.nas = Some(Nas {
        address: "2001:db8::547".parse().unwrap(),
        identifier: None,
    });
    for b in [&a, &never, &no_name] {
        store.put_binding(b).unwrap();
    }
    assert_eq!(
        store.bindings().unwrap(),
        [a.clone(), never.clone(), no_name.clone()]
    );

    // An update replaces the row; a removal deletes it, twice is no error.
    a.addresses = vec![Target::Ipv4("198.51.100.99".parse().unwrap())];
    a.updated_ns += 1;
    store.put_binding(&a).unwrap();
    store.remove_binding(&never.id).unwrap();
    store.remove_binding(&never.id).unwrap();
    drop(store);
    let store = open(&p);
    assert_eq!(store.bindings().unwrap(), [a.clone(), no_name]);
    assert!(
        store.audit().list(1, 100).unwrap().is_empty(),
        "bindings are not audited"
    );

    let mut far = binding(4);
    far.started_ns = u64::MAX - 1;
    assert!(matches!(
        store.put_binding(&far),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn a_corrupt_binding_row_is_a_typed_error() {
    let p = paths();
    let store = open(&p);
    store.put_binding(&binding(1)).unwrap();
    for (column, value) in [
        ("identities", "'not json'"),
        ("identities", "'[\"imsi:1\"]'"),
        ("addresses", "'[\"300.1.2.3\"]'"),
        ("nas_address", "'bras'"),
        ("started_ns", "-1"),
        (
            "protocol",
            "'static'; UPDATE bindings SET nas_address = NULL",
        ),
    ] {
        let conn = rusqlite::Connection::open(&p.db).unwrap();
        conn.execute_batch(&format!("UPDATE bindings SET {column} = {value}"))
            .unwrap();
        drop(conn);
        match store.bindings() {
            Err(StoreError::Corrupt(why)) => {
                assert!(!why.contains("user1"), "no identifier in {why}");
            }
            other => panic!("{column} = {value}: {other:?}"),
        }
        store.put_binding(&binding(1)).unwrap();
    }
}

/// A login storm's worth of bindings written as the session glue batches
/// them (one transaction per drain pass), then half of them ended.
#[test]
fn ten_thousand_binding_puts_take_well_under_a_second() {
    let p = paths();
    let store = open(&p);
    let bindings: Vec<Binding> = (0..10_000).map(binding).collect();
    let started = Instant::now();
    for batch in bindings.chunks(500) {
        store.write_bindings(batch, &[]).unwrap();
    }
    let took = started.elapsed();
    eprintln!("10k bindings in batches of 500: {took:?}");
    assert!(took.as_millis() < 1000, "10k puts took {took:?}");
    assert_eq!(store.bindings().unwrap().len(), 10_000);
    let ended: Vec<BindingId> = bindings.iter().step_by(2).map(|b| b.id.clone()).collect();
    let mut renewed = bindings[1].clone();
    renewed.updated_ns += 1;
    store
        .write_bindings(std::slice::from_ref(&renewed), &ended)
        .unwrap();
    let left = store.bindings().unwrap();
    assert_eq!(left.len(), 5_000);
    assert!(left.contains(&renewed));
}

#[test]
fn static_assignments_crud_refusals_and_audit() {
    let p = paths();
    let store = open(&p);
    let acme = StaticAssignment {
        subscriber: id("subscriber-id:acme"),
        addresses: vec![
            Target::Ipv4("192.0.2.10".parse().unwrap()),
            Target::Ipv6Net("2001:db8:10::".parse().unwrap(), 48),
        ],
    };
    assert_eq!(store.put_static_assignment(&acme, "desk").unwrap(), None);
    assert_eq!(
        store.static_assignments().unwrap(),
        std::slice::from_ref(&acme)
    );
    assert_eq!(
        store.static_assignment(&acme.subscriber).unwrap(),
        Some(acme.clone())
    );

    let mut replaced = acme.clone();
    replaced.addresses.truncate(1);
    assert_eq!(
        store.put_static_assignment(&replaced, "desk").unwrap(),
        Some(acme.clone())
    );

    let mut other = StaticAssignment {
        subscriber: id("subscriber-id:globex"),
        addresses: vec![Target::Ipv4("192.0.2.10".parse().unwrap())],
    };
    let taken = store.put_static_assignment(&other, "desk").unwrap_err();
    assert!(taken.to_string().contains("192.0.2.10"), "{taken}");
    other.addresses = vec![Target::Mac([2, 0, 0x5e, 0, 0x53, 1])];
    assert!(matches!(
        store.put_static_assignment(&other, "desk"),
        Err(StoreError::Invalid(_))
    ));
    other.addresses = vec![];
    assert!(matches!(
        store.put_static_assignment(&other, "desk"),
        Err(StoreError::Invalid(_))
    ));
    let not_sub = StaticAssignment {
        subscriber: id("username:acme"),
        addresses: acme.addresses.clone(),
    };
    assert!(store.put_static_assignment(&not_sub, "desk").is_err());
    assert_eq!(store.static_assignments().unwrap(), [replaced.clone()]);

    assert_eq!(
        store
            .delete_static_assignment(&acme.subscriber, "desk")
            .unwrap(),
        replaced
    );
    assert!(matches!(
        store.delete_static_assignment(&acme.subscriber, "desk"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.static_assignments().unwrap().is_empty());

    let records = store.audit().list(1, 100).unwrap();
    let got: Vec<_> = records
        .iter()
        .map(|r| (r.action, r.actor.as_str(), r.object.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                AuditAction::StaticAssignmentPut,
                "desk",
                "subscriber-id:acme"
            ),
            (
                AuditAction::StaticAssignmentPut,
                "desk",
                "subscriber-id:acme"
            ),
            (
                AuditAction::StaticAssignmentRemove,
                "desk",
                "subscriber-id:acme"
            ),
        ]
    );
    assert_eq!(records[1].details["old"][1], "2001:db8:10::/48");
    assert_eq!(records[1].details["new"], serde_json::json!(["192.0.2.10"]));
}
