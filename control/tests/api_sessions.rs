//! Identity targets and static assignments through the real daemon's API
//! (child process, real TLS certificates, real SQLite): created, listed,
//! patched, refused by role and audited.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use control::client::ClientError;
use daemon_harness::{free_port, Probe, Setup};
use serde_json::{json, Value};

fn api_code(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other}"),
    }
}

/// (actor, action, object) of every audit record.
async fn audit(setup: &Setup) -> Vec<(String, String, String)> {
    let records = setup.client("admin").audit(0, 1000).await.unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("actor"), s("action"), s("object"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_targets_and_static_assignments_over_the_api() {
    let setup = Setup::new();
    dataplane::synth::write_pcap(setup.path("in.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lab", free_port());
    let probe = Probe::start(&setup.write_config("in.pcap", &dest));
    let prov = setup.client("prov");
    let viewer = setup.client("viewer");

    // An intercept on a subscriber: identities next to an address.
    let created = prov
        .create_intercept(&json!({
            "liid": "LI-SUB-1",
            "warrant_ref": "W-1",
            "issuing_authority": "Court",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2099-01-01T00:00:00Z",
            "mode": "content",
            "targets": ["username:alice@ISP.example", "dhcp-client-mac:02-00-5E-00-53-01", "198.51.100.7"],
            "destinations": ["lab"],
        }))
        .await
        .unwrap();
    assert_eq!(created["state"], "active", "{created}");
    let listed = prov.list_intercepts().await.unwrap();
    assert_eq!(
        listed[0]["targets"],
        json!([
            "198.51.100.7",
            "username:alice@isp.example",
            "dhcp-client-mac:02:00:5e:00:53:01"
        ])
    );
    let seen = viewer.list_intercepts().await.unwrap();
    assert!(
        seen[0].get("targets").is_none(),
        "viewers never see targets"
    );

    // Patch: add one identity, remove another; a duplicate or unknown is refused.
    let patched = prov
        .modify_intercept(
            "LI-SUB-1",
            &json!({"add_targets": ["subscriber-id:acme"], "remove_targets": ["username:alice@isp.example"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        patched["targets"],
        json!([
            "198.51.100.7",
            "dhcp-client-mac:02:00:5e:00:53:01",
            "subscriber-id:acme"
        ])
    );
    let dup = prov
        .modify_intercept("LI-SUB-1", &json!({"add_targets": ["subscriber-id:acme"]}))
        .await
        .unwrap_err();
    assert_eq!(api_code(dup), (400, "duplicate_target".into()));
    let unknown = prov
        .modify_intercept("LI-SUB-1", &json!({"remove_targets": ["username:bob"]}))
        .await
        .unwrap_err();
    assert_eq!(api_code(unknown), (400, "unknown_target".into()));
    let bad = prov
        .create_intercept(&json!({
            "liid": "LI-SUB-2", "warrant_ref": "W", "issuing_authority": "C",
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
            "mode": "content", "targets": ["dhcp-circuit-id:xyz"], "destinations": ["lab"],
        }))
        .await
        .unwrap_err();
    assert_eq!(api_code(bad), (400, "invalid_field".into()));

    // Static assignments: provisioners write, viewers may neither read nor write.
    let put = prov
        .put_static_assignment(
            "acme corp/1",
            &["192.0.2.10".into(), "2001:db8:10::/48".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        put,
        json!({"subscriber_id": "acme corp/1", "addresses": ["192.0.2.10", "2001:db8:10::/48"]})
    );
    let refused = viewer
        .put_static_assignment("other", &["192.0.2.11".into()])
        .await
        .unwrap_err();
    assert_eq!(api_code(refused).0, 403);
    assert_eq!(
        api_code(viewer.list_static_assignments().await.unwrap_err()).0,
        403
    );
    // One address, one static holder: the same address, a prefix inside
    // another's or around it is refused, and nothing is stored.
    for addresses in [
        vec!["192.0.2.10"],
        vec!["198.51.100.1", "192.0.2.8/30"],
        vec!["2001:db8:10:ff::/64"],
        vec!["2001:db8::/32"],
    ] {
        let addresses: Vec<String> = addresses.iter().map(|a| (*a).to_owned()).collect();
        let e = prov
            .put_static_assignment("globex", &addresses)
            .await
            .unwrap_err();
        assert_eq!(
            api_code(e),
            (409, "assignment_overlap".into()),
            "{addresses:?}"
        );
    }
    // Beside them: fine (and removed again below).
    prov.put_static_assignment("initech", &["192.0.2.11".into(), "2001:db8:11::/48".into()])
        .await
        .unwrap();
    prov.remove_static_assignment("initech").await.unwrap();
    for (addresses, code) in [
        (vec!["192.0.2.10", "192.0.2.10"], "duplicate_target"),
        (vec!["0.0.0.0/0"], "refused_target"),
        (vec!["02:00:5e:00:53:01"], "invalid_field"),
        (vec![], "invalid_field"),
    ] {
        let addresses: Vec<String> = addresses.iter().map(|a| (*a).to_owned()).collect();
        let e = prov
            .put_static_assignment("globex", &addresses)
            .await
            .unwrap_err();
        assert_eq!(api_code(e), (400, code.into()), "{addresses:?}");
    }
    prov.put_static_assignment("acme corp/1", &["192.0.2.12".into()])
        .await
        .unwrap();
    let all: Value = setup
        .client("auditor")
        .list_static_assignments()
        .await
        .unwrap();
    assert_eq!(
        all,
        json!([{"subscriber_id": "acme corp/1", "addresses": ["192.0.2.12"]}])
    );
    let removed = prov.remove_static_assignment("acme corp/1").await.unwrap();
    assert_eq!(removed["addresses"], json!(["192.0.2.12"]));
    let gone = prov
        .remove_static_assignment("acme corp/1")
        .await
        .unwrap_err();
    assert_eq!(api_code(gone).0, 404);
    assert_eq!(prov.list_static_assignments().await.unwrap(), json!([]));

    let records = audit(&setup).await;
    let statics: Vec<_> = records
        .iter()
        .filter(|(_, action, _)| action.starts_with("static_assignment"))
        .map(|(actor, action, object)| (actor.as_str(), action.as_str(), object.as_str()))
        .collect();
    assert_eq!(
        statics,
        [
            ("prov", "static_assignment_put", "subscriber-id:acme corp/1"),
            ("prov", "static_assignment_put", "subscriber-id:initech"),
            ("prov", "static_assignment_remove", "subscriber-id:initech"),
            ("prov", "static_assignment_put", "subscriber-id:acme corp/1"),
            (
                "prov",
                "static_assignment_remove",
                "subscriber-id:acme corp/1"
            ),
        ]
    );
    let refusals = records
        .iter()
        .filter(|(actor, action, _)| actor == "viewer" && action == "request_refused")
        .count();
    assert_eq!(refusals, 2, "both viewer refusals audited");
    let records = setup.client("admin").audit(0, 1000).await.unwrap();
    let overlaps = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["action"] == "request_refused" && r["details"]["code"] == "assignment_overlap"
        })
        .count();
    assert_eq!(overlaps, 4, "every overlap refusal audited");
    probe.stop();
    setup.assert_audit_verifies();
}
