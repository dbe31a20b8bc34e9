//! The intercept's origin (REST or X1) and its XID chosen by the ADMF, in the
//! store: a version-1 database (before origins) opens with its intercepts
//! intact and marked `rest`; a given XID is stored and never reused.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use control::model::{Liid, Origin};
use control::store::{StoreError, SCHEMA_VERSION};
use store_support::{now, open_with_destination, paths, validated};

#[test]
fn a_version_1_database_keeps_its_intercepts_as_rest() {
    let p = paths();
    let store = open_with_destination(&p);
    let before = store
        .create_intercept(&validated("LI-OLD", &["198.51.100.7"]), "desk", now())
        .unwrap();
    drop(store);
    // Take the database back to schema version 1 (no origin column).
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    conn.execute_batch(
        "ALTER TABLE intercepts DROP COLUMN origin; DROP TABLE bindings; \
         DROP TABLE static_assignments; DROP TABLE nas_restarts; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = open_with_destination(&p);
    let after = store.get(&Liid::try_from("LI-OLD").unwrap()).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.origin, Origin::Rest);
    let conn = rusqlite::Connection::open(&p.db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // The audit chain written before the migration still verifies.
    drop(store);
    let report = control::audit::verify(&p.db, &p.mirror).unwrap();
    assert!(report.first_bad.is_none(), "{report:?}");
}

#[test]
fn an_x1_xid_is_stored_and_never_reused() {
    let p = paths();
    let store = open_with_destination(&p);
    let xid = uuid::Uuid::new_v4();
    let mut req = validated("LI-X1", &["198.51.100.7"]);
    req.xid = Some(xid);
    req.origin = Origin::X1;
    let created = store.create_intercept(&req, "admf1", now()).unwrap();
    assert_eq!((created.xid, created.origin), (xid, Origin::X1));
    assert_eq!(store.liid_by_xid(xid).unwrap(), Some(created.liid.clone()));
    store.delete(&created.liid, "admf1").unwrap();
    let mut again = validated("LI-X1-2", &["198.51.100.8"]);
    again.xid = Some(xid);
    match store.create_intercept(&again, "admf1", now()) {
        Err(StoreError::Duplicate { what: "xid", .. }) => {}
        other => panic!("reused XID: {other:?}"),
    }
    assert!(store.get(&Liid::try_from("LI-X1-2").unwrap()).is_err());
}
