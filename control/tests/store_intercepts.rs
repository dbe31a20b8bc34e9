//! Intercept and destination lifecycle in the real SQLite store, with the
//! audit records each mutation must leave.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use control::audit::{verify, AuditAction};
use control::model::{InterceptPatch, InterceptState, Liid, TargetPolicy};
use control::store::StoreError;
use dataplane::targets::{Mode, Target};
use store_support::{destination, now, open, open_with_destination, paths, validated};

fn liid(s: &str) -> Liid {
    Liid::try_from(s).unwrap()
}

#[test]
fn create_stores_every_field_and_audits_it() {
    let p = paths();
    let store = open_with_destination(&p);
    let created = store
        .create_intercept(
            &validated("LI-1", &["198.51.100.7", "2001:db8::/48"]),
            "desk",
            now(),
        )
        .unwrap();
    assert_eq!(created.key, 1);
    assert_eq!(created.state, InterceptState::Scheduled);
    assert_eq!(created.mode, Mode::Content);
    assert_eq!(created.xid.get_version_num(), 4);
    assert_eq!(created.created_by, "desk");
    assert_eq!(
        created.targets,
        vec![
            Target::Ipv4("198.51.100.7".parse().unwrap()),
            Target::Ipv6Net("2001:db8::".parse().unwrap(), 48)
        ]
    );
    assert_eq!(store.get(&liid("LI-1")).unwrap(), created);
    assert_eq!(store.list().unwrap(), vec![created.clone()]);

    let records = store.audit().list(1, 100).unwrap();
    let actions: Vec<_> = records.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [AuditAction::DestinationCreate, AuditAction::InterceptCreate]
    );
    let rec = &records[1];
    assert_eq!((rec.actor.as_str(), rec.object.as_str()), ("desk", "LI-1"));
    assert_eq!(rec.details["key"], 1);
    assert_eq!(rec.details["xid"], created.xid.to_string());
    assert_eq!(rec.details["targets"][1], "2001:db8::/48");
    assert_eq!(rec.details["mode"], "content");
}

#[test]
fn refused_creations_change_nothing() {
    let p = paths();
    let store = open_with_destination(&p);
    store
        .create_intercept(&validated("LI-1", &["198.51.100.7"]), "desk", now())
        .unwrap();
    let seq = store.audit().last_seq().unwrap();

    let err = store
        .create_intercept(&validated("LI-1", &["198.51.100.8"]), "desk", now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Duplicate {
                what: "intercept",
                ..
            }
        ),
        "{err}"
    );

    let mut req = validated("LI-2", &["198.51.100.8"]);
    req.destinations = vec!["lea".into(), "nowhere".into()];
    let err = store.create_intercept(&req, "desk", now()).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownDestination(ref d) if d == "nowhere"),
        "{err}"
    );

    assert_eq!(store.audit().last_seq().unwrap(), seq);
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(matches!(
        store.get(&liid("LI-2")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn keys_and_liids_are_never_reused_even_across_reopen() {
    let p = paths();
    {
        let store = open_with_destination(&p);
        let a = store
            .create_intercept(&validated("A", &["10.0.0.1"]), "desk", now())
            .unwrap();
        store.delete(&a.liid, "desk").unwrap();
        let b = store
            .create_intercept(&validated("B", &["10.0.0.1"]), "desk", now())
            .unwrap();
        assert_eq!((a.key, b.key), (1, 2));
    }
    let store = open_with_destination(&p);
    let err = store
        .create_intercept(&validated("A", &["10.0.0.1"]), "desk", now())
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }));
    let c = store
        .create_intercept(&validated("C", &["10.0.0.1"]), "desk", now())
        .unwrap();
    assert_eq!(c.key, 3);
    assert_eq!(
        store.get(&liid("A")).unwrap().state,
        InterceptState::Deactivated
    );
}

#[test]
fn modify_applies_patch_and_audits_changes() {
    let p = paths();
    let store = open_with_destination(&p);
    store
        .create_destination(&destination("lea2", p.dir.path()), "admin")
        .unwrap();
    let before = store
        .create_intercept(&validated("LI-1", &["10.0.0.1", "10.0.0.2"]), "desk", now())
        .unwrap();
    let until = before.valid_until + time::Duration::days(2);
    let patch = InterceptPatch {
        valid_until: Some(control::model::format_time(until)),
        add_targets: vec!["02:00:5E:00:53:01".into()],
        remove_targets: vec!["10.0.0.1".into()],
        destinations: Some(vec!["lea2".into()]),
    }
    .validate(&TargetPolicy::default())
    .unwrap();
    let after = store.modify(&before.liid, &patch, "desk2", now()).unwrap();
    assert_eq!(after.valid_until, until);
    assert_eq!(
        after.targets,
        vec![
            Target::Ipv4("10.0.0.2".parse().unwrap()),
            Target::Mac([2, 0, 0x5e, 0, 0x53, 1])
        ]
    );
    assert_eq!(after.destinations, ["lea2"]);
    assert_eq!((after.key, after.xid), (before.key, before.xid));
    assert_eq!(store.get(&before.liid).unwrap(), after);

    let rec = store.audit().list(1, 100).unwrap().pop().unwrap();
    assert_eq!(rec.action, AuditAction::InterceptModify);
    assert_eq!(rec.actor, "desk2");
    assert_eq!(rec.details["add_targets"][0], "02:00:5e:00:53:01");
    assert_eq!(rec.details["remove_targets"][0], "10.0.0.1");
    assert_eq!(rec.details["destinations"]["old"][0], "lea");
    assert_eq!(
        rec.details["valid_until"]["new"],
        control::model::format_time(until)
    );
}

#[test]
fn invalid_patches_are_refused_without_change() {
    let p = paths();
    let store = open_with_destination(&p);
    let it = store
        .create_intercept(&validated("LI-1", &["10.0.0.1"]), "desk", now())
        .unwrap();
    let seq = store.audit().last_seq().unwrap();
    let patch = |f: &dyn Fn(&mut InterceptPatch)| {
        let mut p = InterceptPatch::default();
        f(&mut p);
        p.validate(&TargetPolicy::default()).unwrap()
    };
    let cases: Vec<(_, &str)> = vec![
        (
            patch(&|p| p.remove_targets = vec!["10.9.9.9".into()]),
            "unknown_target",
        ),
        (
            patch(&|p| p.add_targets = vec!["10.0.0.1".into()]),
            "duplicate_target",
        ),
        (
            patch(&|p| p.remove_targets = vec!["10.0.0.1".into()]),
            "invalid_field",
        ),
        (
            patch(&|p| p.valid_until = Some(control::model::format_time(it.valid_from))),
            "invalid_window",
        ),
    ];
    for (patch, code) in cases {
        match store.modify(&it.liid, &patch, "desk", now()) {
            Err(StoreError::Invalid(e)) => assert_eq!(e.code(), code, "{e}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    let bad_dest = InterceptPatch {
        destinations: Some(vec!["nowhere".into()]),
        ..InterceptPatch::default()
    };
    let err = store
        .modify(
            &it.liid,
            &bad_dest.validate(&TargetPolicy::default()).unwrap(),
            "desk",
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownDestination(_)));
    assert_eq!(store.get(&it.liid).unwrap(), it);
    assert_eq!(store.audit().last_seq().unwrap(), seq);
}

#[test]
fn state_transitions_follow_the_lifecycle() {
    let p = paths();
    let store = open_with_destination(&p);
    let it = store
        .create_intercept(&validated("LI-1", &["10.0.0.1"]), "desk", now())
        .unwrap();
    assert_eq!(it.due_transition(now()), Some(InterceptState::Active));

    let active = store
        .set_state(&it.liid, InterceptState::Active, "system")
        .unwrap();
    assert_eq!(active.state, InterceptState::Active);
    let seq = store.audit().last_seq().unwrap();
    // Same state again: no change, no record.
    store
        .set_state(&it.liid, InterceptState::Active, "system")
        .unwrap();
    assert_eq!(store.audit().last_seq().unwrap(), seq);
    let err = store
        .set_state(&it.liid, InterceptState::Scheduled, "system")
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code() == "invalid_state"));

    let expired = store
        .set_state(&it.liid, InterceptState::Expired, "system")
        .unwrap();
    assert_eq!(expired.state, InterceptState::Expired);
    for to in [InterceptState::Active, InterceptState::Deactivated] {
        assert!(store.set_state(&it.liid, to, "system").is_err(), "{to}");
    }
    assert!(store.delete(&it.liid, "desk").is_err());
    // A terminal intercept can no longer be modified.
    let patch = InterceptPatch {
        add_targets: vec!["10.0.0.2".into()],
        ..InterceptPatch::default()
    };
    match store.modify(
        &it.liid,
        &patch.validate(&TargetPolicy::default()).unwrap(),
        "desk",
        now(),
    ) {
        Err(StoreError::Invalid(e)) => assert_eq!(e.code(), "invalid_state"),
        other => panic!("{other:?}"),
    }

    let actions: Vec<_> = store
        .audit()
        .list(1, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.action, r.details["from"].clone(), r.details["to"].clone()))
        .collect();
    assert_eq!(
        actions[2],
        (
            AuditAction::InterceptActivate,
            "scheduled".into(),
            "active".into()
        )
    );
    assert_eq!(
        actions[3],
        (
            AuditAction::InterceptExpire,
            "active".into(),
            "expired".into()
        )
    );
    assert_eq!(actions.len(), 4);
}

#[test]
fn delete_deactivates_and_keeps_rows() {
    let p = paths();
    let store = open_with_destination(&p);
    let it = store
        .create_intercept(&validated("LI-1", &["10.0.0.1"]), "desk", now())
        .unwrap();
    let gone = store.delete(&it.liid, "desk").unwrap();
    assert_eq!(gone.state, InterceptState::Deactivated);
    assert_eq!(gone.targets, it.targets);
    let rec = store.audit().list(3, 1).unwrap().remove(0);
    assert_eq!(rec.action, AuditAction::InterceptRemove);
    assert_eq!(rec.object, "LI-1");
    assert_eq!(gone.due_transition(now()), None);
}

#[test]
fn destinations_crud_and_in_use_protection() {
    let p = paths();
    let store = open_with_destination(&p);
    let mut lea = destination("lea", p.dir.path());
    assert!(matches!(
        store.create_destination(&lea, "admin"),
        Err(StoreError::Duplicate {
            what: "destination",
            ..
        })
    ));
    lea.keepalive_secs = 5;
    store.update_destination(&lea, "admin").unwrap();
    assert_eq!(store.get_destination("lea").unwrap(), lea);
    lea.keepalive_secs = 0;
    assert!(matches!(
        store.update_destination(&lea, "admin"),
        Err(StoreError::Invalid(_))
    ));

    let it = store
        .create_intercept(&validated("LI-1", &["10.0.0.1"]), "desk", now())
        .unwrap();
    assert!(matches!(
        store.delete_destination("lea", "admin"),
        Err(StoreError::InUse(_))
    ));
    store.delete(&it.liid, "desk").unwrap();
    store.delete_destination("lea", "admin").unwrap();
    assert!(store.list_destinations().unwrap().is_empty());
    // The removed intercept still names its historical destination.
    assert_eq!(store.get(&it.liid).unwrap().destinations, ["lea"]);

    let a = destination("a", p.dir.path());
    let mut b = destination("b", p.dir.path());
    assert_eq!(
        store
            .sync_destinations(&[a.clone(), b.clone()], "config")
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .sync_destinations(&[a.clone(), b.clone()], "config")
            .unwrap(),
        0
    );
    b.keepalive_secs = 60;
    assert_eq!(
        store.sync_destinations(&[a, b.clone()], "config").unwrap(),
        1
    );
    assert_eq!(store.get_destination("b").unwrap(), b);
    let actions: Vec<_> = store
        .audit()
        .list(1, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            AuditAction::DestinationCreate,
            AuditAction::DestinationModify,
            AuditAction::InterceptCreate,
            AuditAction::InterceptRemove,
            AuditAction::DestinationRemove,
            AuditAction::DestinationCreate,
            AuditAction::DestinationCreate,
            AuditAction::DestinationModify,
        ]
    );
}

#[test]
fn state_survives_reopen_and_audit_verifies() {
    let p = paths();
    let (a, b) = {
        let store = open_with_destination(&p);
        let a = store
            .create_intercept(
                &validated("LI-A", &["10.0.0.1", "10.0.1.0/24"]),
                "desk",
                now(),
            )
            .unwrap();
        let b = store
            .create_intercept(&validated("LI-B", &["2001:db8::7"]), "desk", now())
            .unwrap();
        let b = store
            .set_state(&b.liid, InterceptState::Active, "system")
            .unwrap();
        store
            .audit()
            .append("system", AuditAction::ProbeStop, "", serde_json::json!({}))
            .unwrap();
        (a, b)
    };
    let store = open(&p);
    assert_eq!(store.list().unwrap(), vec![a, b]);
    assert_eq!(store.audit().last_seq().unwrap(), 5);
    let report = verify(&p.db, &p.mirror).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.db_records, report.mirror_records), (5, 5));
}

#[test]
fn holds_the_maximum_number_of_targets() {
    let p = paths();
    let store = open_with_destination(&p);
    let targets: Vec<String> = (0..control::model::MAX_TARGETS as u32)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
        .collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let it = store
        .create_intercept(&validated("BIG", &refs), "desk", now())
        .unwrap();
    println!(
        "create with {} targets: {:?}",
        refs.len(),
        started.elapsed()
    );
    let back = store.get(&it.liid).unwrap();
    assert_eq!(back.targets.len(), control::model::MAX_TARGETS);
    assert_eq!(
        back.targets[99_999],
        Target::Ipv4("10.1.134.159".parse().unwrap())
    );
}

#[test]
fn content_scope_is_stored_audited_and_defaults_for_rows_without_it() {
    use control::model::ContentScope;
    let p = paths();
    let store = open(&p);
    let mut d = destination("lea", p.dir.path());
    d.content_scope = ContentScope::AsCaptured;
    store.create_destination(&d, "admin").unwrap();
    assert_eq!(store.get_destination("lea").unwrap(), d);
    d.content_scope = ContentScope::TargetPacket;
    store.update_destination(&d, "admin").unwrap();
    let records = store.audit().list(1, 100).unwrap();
    let details: Vec<_> = records.iter().map(|r| &r.details).collect();
    assert_eq!(details[0]["destination"]["content_scope"], "as-captured");
    assert_eq!(details[1]["old"]["content_scope"], "as-captured");
    assert_eq!(details[1]["new"]["content_scope"], "target-packet");
    drop(store);
    // A row written before the option existed reads as the default.
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    let spec: String = conn
        .query_row(
            "SELECT spec FROM destinations WHERE name = 'lea'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&spec).unwrap();
    old.as_object_mut().unwrap().remove("content_scope");
    conn.execute(
        "UPDATE destinations SET spec = ?1 WHERE name = 'lea'",
        [old.to_string()],
    )
    .unwrap();
    drop(conn);
    assert_eq!(open(&p).get_destination("lea").unwrap(), d);
}
